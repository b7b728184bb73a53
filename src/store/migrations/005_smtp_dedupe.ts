import type { Kysely } from 'kysely';

// Inbound ENVID de-duplication: see src/store/schema/smtp.ts.
// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the schema of their time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('smtp_dedupe')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('peer_dn', 'text', (c) => c.notNull())
    .addColumn('envid', 'text', (c) => c.notNull())
    .addColumn('rcpt', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('smtp_dedupe_expires_idx').on('smtp_dedupe').column('expires_at').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('smtp_dedupe').ifExists().execute();
}
