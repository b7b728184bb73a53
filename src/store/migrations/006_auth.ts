import { type Kysely, sql } from 'kysely';
import { serialType } from '../dialect.ts';

// Operator-issued app passwords: see src/store/schema/auth.ts.
// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the schema of their time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('app_passwords')
    .addColumn('id', serialType(db), (c) => c.primaryKey())
    .addColumn('id_nat', 'text')
    .addColumn('bal_address', 'text', (c) => c.references('bals.address'))
    .addColumn('label', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('last_used_at', 'text')
    .addColumn('revoked_at', 'text')
    .addCheckConstraint('app_passwords_owner', sql`(id_nat is null) <> (bal_address is null)`)
    .execute();
  await db.schema.createIndex('app_passwords_id_nat_idx').on('app_passwords').column('id_nat').execute();
  await db.schema
    .createIndex('app_passwords_bal_address_idx')
    .on('app_passwords')
    .column('bal_address')
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('app_passwords').ifExists().execute();
}
