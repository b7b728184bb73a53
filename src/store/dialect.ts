import { type Kysely, PostgresAdapter, sql } from 'kysely';

export type DialectName = 'sqlite' | 'postgres';

/** Which engine a Kysely instance talks to (migrations need it for the few DDL differences). */
// biome-ignore lint/suspicious/noExplicitAny: works on any schema
export function dialectOf(db: Kysely<any>): DialectName {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/** Column type of an auto-incremented integer key. */
// biome-ignore lint/suspicious/noExplicitAny: works on any schema
export function serialType(db: Kysely<any>) {
  return dialectOf(db) === 'postgres' ? sql`serial` : sql`integer`;
}
