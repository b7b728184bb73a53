import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  type MigrationResultSet,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  sql,
  type TransactionSettings,
} from 'kysely';
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
  /** PostgreSQL schema holding our tables (null: the search_path default, or SQLite). */
  readonly schema: string | null;
  close(): Promise<void>;
}

/**
 * SQLite transactions start with BEGIN IMMEDIATE: the write lock is taken up front, so a
 * writer waits (busy_timeout) for another process's transaction instead of failing with
 * SQLITE_BUSY_SNAPSHOT when its read snapshot turns out to be stale at its first write.
 * Read-only transactions (`setAccessMode('read only')`) begin DEFERRED: they take no write
 * lock and never wait for a writer (WAL gives them a stable snapshot).
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(
    connection: DatabaseConnection,
    settings?: TransactionSettings,
  ): Promise<void> {
    const mode = settings?.accessMode === 'read only' ? 'begin deferred' : 'begin immediate';
    await connection.executeQuery(CompiledQuery.raw(mode));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #driverConfig: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#driverConfig = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#driverConfig);
  }
}

function openSqlite(opts: SqliteOptions): Store {
  if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
  const database = new SQLite(opts.path);
  database.pragma('journal_mode = WAL');
  database.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
  database.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
  database.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database }) });
  return { db, dialect: 'sqlite', location: opts.path, schema: null, close: () => db.destroy() };
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
  return { db, dialect: 'postgres', location, schema, close: () => db.destroy() };
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** Applies every pending migration. Returns the names applied now. */
export async function migrate(store: Store): Promise<string[]> {
  // With a schema, Kysely's own tables live in it too; without migrationTableSchema Kysely
  // would take a kysely_migration_lock table of any other schema for its own.
  const migrator = new Migrator({
    db: store.db,
    provider: migrationProvider,
    ...(store.schema ? { migrationTableSchema: store.schema } : {}),
  });
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
