import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openStore, type Store } from '../../src/store/open.ts';
import { describeEachStore } from '../support/stores.ts';

describeEachStore('store', (kind) => {
  let store: Store;
  beforeAll(async () => {
    store = await kind.open();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('applies the migrations once; a second run has nothing to do', async () => {
    expect(await migrate(store)).toEqual([]);
  });

  it('keeps the audit log append-only: UPDATE and DELETE are refused by the engine', async () => {
    await store.db
      .insertInto('audit_log')
      .values({
        at: new Date().toISOString(),
        actor: 'test',
        action: 'test.write',
        subject: 's',
        details: '{}',
      })
      .execute();
    await expect(store.db.updateTable('audit_log').set({ actor: 'someone else' }).execute()).rejects.toThrow(
      /append-only/,
    );
    await expect(store.db.deleteFrom('audit_log').execute()).rejects.toThrow(/append-only/);
    const rows = await store.db.selectFrom('audit_log').select(['actor']).execute();
    expect(rows).toEqual([{ actor: 'test' }]);
  });

  it('rolls back a failed transaction completely', async () => {
    await expect(
      store.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('structures')
          .values({ structure_id: '1750000002', kind: 'FINESS', name: 'X', created_at: 'now' })
          .execute();
        await sql`select * from no_such_table`.execute(trx);
      }),
    ).rejects.toThrow();
    const count = await store.db
      .selectFrom('structures')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    expect(Number(count?.n)).toBe(0);
  });
});

describe('SQLite between processes', () => {
  it('a writer waits for (or, without busy time, is refused by) another process’s write; a read-only transaction is not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mss-lock-'));
    const file = join(dir, 'db.sqlite');
    const store = await openStore({ driver: 'sqlite', path: file, busyTimeoutMs: 0 });
    try {
      // Another process takes the write lock and keeps it until we close its stdin.
      const holder = spawn(
        process.execPath,
        [
          '-e',
          `const D = require('better-sqlite3'); const db = new D(${JSON.stringify(file)});
           db.exec('begin immediate'); db.exec("insert into structures values ('31111111111111', 'SIRET', 'x', 'now')");
           process.stdout.write('locked\\n'); process.stdin.on('end', () => { db.exec('rollback'); process.exit(0); });
           setTimeout(() => process.exit(1), 20000).unref(); process.stdin.resume();`,
        ],
        { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve, reject) => {
        holder.stdout!.once('data', () => resolve());
        holder.once('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
      });

      const read = await store.db
        .transaction()
        .setAccessMode('read only')
        .execute((trx) => trx.selectFrom('structures').selectAll().execute());
      expect(read).toEqual([]);
      await expect(
        store.db
          .transaction()
          .execute((trx) =>
            trx
              .insertInto('structures')
              .values({ structure_id: '1750000002', kind: 'FINESS', name: null, created_at: 'now' })
              .execute(),
          ),
      ).rejects.toThrow(/locked|busy/i);

      holder.stdin!.end();
      await new Promise((resolve) => holder.once('exit', resolve));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
