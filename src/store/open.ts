import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, type MigrationResultSet, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import type { DialectName } from './dialect.ts';
import { migrationProvider } from './migrations/index.ts';
import type { Database } from './schema/index.ts';

export interface SqliteOptions {
  driver: 'sqlite';
  /** File path, or ':memory:'. */
  path: string;
  synchronous?: 'FULL' | 'NORMAL';
  busyTimeoutMs?: number;
}

export interface PostgresOptions {
  driver: 'postgres';
  url: string;
  /** Schema for our tables, created when missing. */
  schema?: string | null;
  poolSize?: number;
}

export type StoreOptions = SqliteOptions | PostgresOptions;

/** An open store: the query builder over one engine, and how to close it. */
export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: DialectName;
  /** Where the data is, for banners and logs (never contains a password). */
  readonly location: string;
  close(): Promise<void>;
}

function openSqlite(opts: SqliteOptions): Store {
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
  const database = new SQLite(opts.path);
  database.pragma('journal_mode = WAL');
  database.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
  database.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return { db, dialect: 'sqlite', location: opts.path, close: () => db.destroy() };
}

/** The URL with its password masked, for display. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '****';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

// PostgreSQL returns bigint (int8) and numeric as strings by default; our counts fit in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

async function openPostgres(opts: PostgresOptions): Promise<Store> {
  const schema = opts.schema ?? null;
  if (schema) {
    // Create the schema with a short-lived connection so that the pool's search_path finds it.
    const client = new pg.Client({ connectionString: opts.url });
    await client.connect();
    try {
      await client.query(`create schema if not exists "${schema}"`);
    } finally {
      await client.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 10,
    ...(schema ? { options: `-c search_path="${schema}"` } : {}),
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  await sql`select 1`.execute(db);
  const location = redactUrl(opts.url) + (schema ? ` (schema ${schema})` : '');
  return { db, dialect: 'postgres', location, close: () => db.destroy() };
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** Applies every pending migration. Returns the names applied now. */
export async function migrate(store: Store): Promise<string[]> {
  const migrator = new Migrator({ db: store.db, provider: migrationProvider });
  const { error, results }: MigrationResultSet = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new MigrationError(`migration ${failed} failed: ${(error as Error).message ?? String(error)}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Opens the store and brings its schema up to date. */
export async function openStore(opts: StoreOptions, { runMigrations = true } = {}): Promise<Store> {
  const store = opts.driver === 'sqlite' ? openSqlite(opts) : await openPostgres(opts);
  if (runMigrations) {
    try {
      await migrate(store);
    } catch (e) {
      await store.close();
      throw e;
    }
  }
  return store;
}
