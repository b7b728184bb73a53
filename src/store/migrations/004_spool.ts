import { type Kysely, sql } from 'kysely';
import { serialType } from '../dialect.ts';

// Outbound spool: see src/store/schema/spool.ts.
// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the schema of their time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('spool_messages')
    .addColumn('id', serialType(db), (c) => c.primaryKey())
    .addColumn('blob_id', 'text', (c) => c.notNull())
    .addColumn('mail_from', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('auth_identity', 'text')
    .addColumn('dsn_envid', 'text')
    .addColumn('dsn_ret', 'text', (c) => c.check(sql`dsn_ret in ('FULL', 'HDRS')`))
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('spool_recipients')
    .addColumn('id', serialType(db), (c) => c.primaryKey())
    .addColumn('message_id', 'integer', (c) =>
      c.notNull().references('spool_messages.id').onDelete('cascade'),
    )
    .addColumn('rcpt', 'text', (c) => c.notNull())
    .addColumn('domain', 'text', (c) => c.notNull())
    .addColumn('orcpt', 'text')
    .addColumn('notify', 'text')
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('queued', 'delivering', 'delivered', 'failed', 'expired')`),
    )
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text', (c) => c.notNull())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'text')
    .addColumn('last_code', 'integer')
    .addColumn('last_enhanced', 'text')
    .addColumn('last_error', 'text')
    .addColumn('remote_mta', 'text')
    .addColumn('notice', 'text', (c) => c.check(sql`notice in ('failed', 'delayed', 'relayed')`))
    .addColumn('notice_owner', 'text')
    .addColumn('notice_until', 'text')
    .addColumn('notice_sent_at', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('delivered_at', 'text')
    .addCheckConstraint(
      'spool_recipients_lease',
      sql`status <> 'delivering' or (lease_owner is not null and lease_until is not null)`,
    )
    .execute();
  await db.schema
    .createIndex('spool_recipients_rcpt_uq')
    .unique()
    .on('spool_recipients')
    .columns(['message_id', 'rcpt'])
    .execute();
  // Claims by group (message, domain).
  await db.schema
    .createIndex('spool_recipients_group_idx')
    .on('spool_recipients')
    .columns(['message_id', 'domain'])
    .execute();
  // Due scans: queued by next_attempt_at, delivering by lease expiry.
  await db.schema
    .createIndex('spool_recipients_due_idx')
    .on('spool_recipients')
    .columns(['status', 'next_attempt_at'])
    .execute();
  await db.schema
    .createIndex('spool_recipients_lease_idx')
    .on('spool_recipients')
    .columns(['status', 'lease_until'])
    .execute();
  // Owed DSNs: few rows at any time, so a partial index.
  await db.schema
    .createIndex('spool_recipients_notice_idx')
    .on('spool_recipients')
    .columns(['notice_until', 'message_id'])
    .where(sql.ref('notice'), 'is not', null)
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('spool_recipients').ifExists().execute();
  await db.schema.dropTable('spool_messages').ifExists().execute();
}
