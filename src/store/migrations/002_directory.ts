import { type Kysely, sql } from 'kysely';
import { dialectOf, serialType } from '../dialect.ts';

const textColumns = (names: string[]) => names;

const MAILBOX_TEXT = textColumns([
  'pp_id_type',
  'pp_id',
  'id_nat',
  'structure_id_type',
  'structure_id',
  'service',
  'civility',
  'last_name',
  'first_name',
  'category_code',
  'category_label',
  'profession_code',
  'profession_label',
  'skill_code',
  'skill_label',
  'digitization',
  'org_name',
  'org_trade_name',
  'addr_complement',
  'addr_distribution',
  'addr_number',
  'addr_number_complement',
  'addr_street_type',
  'addr_street',
  'addr_locality',
  'addr_routing',
  'postal_code',
  'department',
  'country',
]);
const PROFESSIONAL_TEXT = textColumns([
  'pp_id_type',
  'pp_id',
  'civility_code',
  'civility_label',
  'exercise_civility_code',
  'exercise_civility_label',
  'last_name',
  'first_name',
]);
const ACTIVITY_TEXT = textColumns([
  'profession_code',
  'profession_label',
  'category_code',
  'category_label',
  'skill_code',
  'skill_label',
  'mode_code',
  'mode_label',
  'siret',
  'siren',
  'finess_site',
  'finess_ej',
  'structure_tech_id',
  'org_name',
  'org_trade_name',
  'postal_code',
  'city',
  'department',
  'phone',
  'email',
  'role_code',
  'role_label',
]);

// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the schema of their time
export async function up(db: Kysely<any>): Promise<void> {
  // Search keys are compared byte-wise (C collation on PostgreSQL, BINARY on SQLite) so that a
  // prefix search is a range scan on the index in both engines.
  const keyType = dialectOf(db) === 'postgres' ? sql`text collate "C"` : sql`text`;

  await db.schema
    .createTable('directory_snapshots')
    .addColumn('id', serialType(db), (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('mss', 'ps')`))
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('loading', 'current', 'retired', 'failed')`),
    )
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .addColumn('rows_read', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rows_imported', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rows_rejected', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createIndex('directory_snapshots_kind_idx')
    .on('directory_snapshots')
    .columns(['kind', 'status'])
    .execute();

  let mailboxes = db.schema
    .createTable('directory_mailboxes')
    .addColumn('snapshot_id', 'integer', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('bal_type', 'text', (c) => c.notNull());
  for (const name of MAILBOX_TEXT) mailboxes = mailboxes.addColumn(name, 'text');
  await mailboxes
    .addColumn('name_key', keyType)
    .addColumn('given_key', keyType)
    .addPrimaryKeyConstraint('directory_mailboxes_pk', ['snapshot_id', 'address'])
    .execute();
  await db.schema
    .createIndex('directory_mailboxes_id_nat_idx')
    .on('directory_mailboxes')
    .columns(['snapshot_id', 'id_nat'])
    .execute();
  await db.schema
    .createIndex('directory_mailboxes_name_idx')
    .on('directory_mailboxes')
    .columns(['snapshot_id', 'name_key'])
    .execute();
  await db.schema
    .createIndex('directory_mailboxes_given_idx')
    .on('directory_mailboxes')
    .columns(['snapshot_id', 'given_key'])
    .execute();
  await db.schema
    .createIndex('directory_mailboxes_structure_idx')
    .on('directory_mailboxes')
    .columns(['snapshot_id', 'structure_id'])
    .execute();

  let professionals = db.schema
    .createTable('directory_professionals')
    .addColumn('snapshot_id', 'integer', (c) => c.notNull())
    .addColumn('id_nat', 'text', (c) => c.notNull());
  for (const name of PROFESSIONAL_TEXT) professionals = professionals.addColumn(name, 'text');
  await professionals
    .addColumn('name_key', keyType)
    .addColumn('given_key', keyType)
    .addPrimaryKeyConstraint('directory_professionals_pk', ['snapshot_id', 'id_nat'])
    .execute();
  await db.schema
    .createIndex('directory_professionals_name_idx')
    .on('directory_professionals')
    .columns(['snapshot_id', 'name_key'])
    .execute();
  await db.schema
    .createIndex('directory_professionals_given_idx')
    .on('directory_professionals')
    .columns(['snapshot_id', 'given_key'])
    .execute();

  let activities = db.schema
    .createTable('directory_activities')
    .addColumn('snapshot_id', 'integer', (c) => c.notNull())
    .addColumn('id_nat', 'text', (c) => c.notNull());
  for (const name of ACTIVITY_TEXT) activities = activities.addColumn(name, 'text');
  await activities.execute();
  await db.schema
    .createIndex('directory_activities_id_nat_idx')
    .on('directory_activities')
    .columns(['snapshot_id', 'id_nat'])
    .execute();
  await db.schema
    .createIndex('directory_activities_finess_idx')
    .on('directory_activities')
    .columns(['snapshot_id', 'finess_site'])
    .execute();
  await db.schema
    .createIndex('directory_activities_siret_idx')
    .on('directory_activities')
    .columns(['snapshot_id', 'siret'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    'directory_activities',
    'directory_professionals',
    'directory_mailboxes',
    'directory_snapshots',
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
