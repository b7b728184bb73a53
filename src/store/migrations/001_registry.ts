import { type Kysely, sql } from 'kysely';
import { dialectOf, serialType } from '../dialect.ts';

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the schema of their time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('structures')
    .addColumn('structure_id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('FINESS', 'SIRET')`))
    .addColumn('name', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('bals')
    .addColumn('address', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull().check(sql`type in ('PER', 'ORG', 'APP', 'CAB')`))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('active', 'suspended', 'closed')`))
    .addColumn('holder_id_nat', 'text')
    .addColumn('structure_id', 'text', (c) => c.references('structures.structure_id'))
    .addColumn('display_name', 'text')
    .addColumn('description', 'text')
    .addColumn('service', 'text')
    .addColumn('responsible_id_nat', 'text')
    .addColumn('phone', 'text')
    .addColumn('liste_rouge', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('digitization', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('preferred_rank', 'integer')
    .addColumn('status_reason', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('suspended_at', 'text')
    .addColumn('closed_at', 'text')
    .execute();
  await db.schema.createIndex('bals_holder_idx').on('bals').column('holder_id_nat').execute();
  await db.schema.createIndex('bals_structure_idx').on('bals').column('structure_id').execute();

  await db.schema
    .createTable('bal_members')
    .addColumn('address', 'text', (c) => c.notNull().references('bals.address'))
    .addColumn('id_nat', 'text', (c) => c.notNull())
    .addColumn('added_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('bal_members_pk', ['address', 'id_nat'])
    .execute();
  await db.schema.createIndex('bal_members_id_nat_idx').on('bal_members').column('id_nat').execute();

  await db.schema
    .createTable('bal_certificates')
    .addColumn('id', serialType(db), (c) => c.primaryKey())
    .addColumn('address', 'text', (c) => c.notNull().references('bals.address'))
    .addColumn('subject_dn', 'text')
    .addColumn('fingerprint_sha256', 'text')
    .addColumn('added_at', 'text', (c) => c.notNull())
    .addCheckConstraint(
      'bal_certificates_identity',
      sql`subject_dn is not null or fingerprint_sha256 is not null`,
    )
    .execute();
  await db.schema
    .createIndex('bal_certificates_address_idx')
    .on('bal_certificates')
    .column('address')
    .execute();
  await db.schema
    .createIndex('bal_certificates_fingerprint_idx')
    .on('bal_certificates')
    .column('fingerprint_sha256')
    .execute();

  await db.schema
    .createTable('audit_log')
    .addColumn('id', serialType(db), (c) => c.primaryKey())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('details', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_log_subject_idx').on('audit_log').columns(['subject', 'id']).execute();

  // The audit log is append-only: the engine itself refuses UPDATE and DELETE.
  if (dialectOf(db) === 'postgres') {
    await sql`create or replace function audit_log_append_only() returns trigger language plpgsql as $$
      begin raise exception 'audit_log is append-only'; end $$`.execute(db);
    await sql`create trigger audit_log_no_update before update or delete on audit_log
      for each row execute function audit_log_append_only()`.execute(db);
  } else {
    await sql`create trigger audit_log_no_update before update on audit_log
      begin select raise(abort, 'audit_log is append-only'); end`.execute(db);
    await sql`create trigger audit_log_no_delete before delete on audit_log
      begin select raise(abort, 'audit_log is append-only'); end`.execute(db);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['audit_log', 'bal_certificates', 'bal_members', 'bals', 'structures']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
