import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe } from 'vitest';
import { openStore, type Store } from '../../src/store/open.ts';

/** PostgreSQL URL for the PostgreSQL-backed tests; .ci/run sets it. Without it those tests are skipped, visibly. */
export const TEST_POSTGRES_URL = process.env['MSS_TEST_POSTGRES_URL'] ?? '';
export const TEST_REDIS_URL = process.env['MSS_TEST_REDIS_URL'] ?? '';

export interface StoreKind {
  name: 'sqlite' | 'postgres';
  /** A fresh, migrated, empty store. */
  open(): Promise<Store>;
}

/** A unique schema name, so that test files running in parallel never share tables. */
export function uniqueSchema(prefix = 't'): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

export const sqliteKind: StoreKind = {
  name: 'sqlite',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'mss-store-'));
    const store = await openStore({
      driver: 'sqlite',
      path: join(dir, 'test.sqlite'),
      synchronous: 'NORMAL',
    });
    const close = store.close;
    return Object.assign(store, {
      close: async () => {
        await close();
        rmSync(dir, { recursive: true, force: true });
      },
    });
  },
};

export const postgresKind: StoreKind = {
  name: 'postgres',
  async open() {
    const schema = uniqueSchema();
    let store: Store;
    try {
      store = await openStore({ driver: 'postgres', url: TEST_POSTGRES_URL, schema, poolSize: 4 });
    } catch (e) {
      await dropSchema(TEST_POSTGRES_URL, schema);
      throw e;
    }
    const close = store.close;
    return Object.assign(store, {
      close: async () => {
        await close();
        await dropSchema(TEST_POSTGRES_URL, schema);
      },
    });
  },
};

/**
 * Runs a suite once per store engine. The PostgreSQL run is registered as skipped, with the
 * reason in its name, when MSS_TEST_POSTGRES_URL is not set.
 */
export function describeEachStore(title: string, body: (kind: StoreKind) => void): void {
  describe(`${title} [sqlite]`, () => body(sqliteKind));
  if (TEST_POSTGRES_URL) describe(`${title} [postgres]`, () => body(postgresKind));
  else
    describe.skip(`${title} [postgres] — skipped: set MSS_TEST_POSTGRES_URL to run`, () =>
      body(postgresKind));
}
