import type { Kysely } from 'kysely';

// mail tables: see src/store/schema/mail.ts.
// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the schema of their time
export async function up(_db: Kysely<any>): Promise<void> {}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(_db: Kysely<any>): Promise<void> {}
