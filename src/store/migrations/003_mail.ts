import { type Kysely, sql } from 'kysely';
import { dialectOf, serialType } from '../dialect.ts';

// Tables: see src/store/schema/mail.ts.
// biome-ignore lint/suspicious/noExplicitAny: migrations are written against the schema of their time
export async function up(db: Kysely<any>): Promise<void> {
  // Counters that only grow: 64-bit in both engines (SQLite integers are 64-bit already).
  const counter = dialectOf(db) === 'postgres' ? sql`bigint` : sql`integer`;

  await db.schema
    .createTable('blobs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('size', counter, (c) => c.notNull())
    .addColumn('stored_size', counter, (c) => c.notNull())
    .addColumn('encrypted', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('ref_count', 'integer', (c) => c.notNull().defaultTo(0).check(sql`ref_count >= 0`))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('blobs_collect_idx').on('blobs').columns(['ref_count', 'created_at']).execute();

  await db.schema
    .createTable('mailboxes')
    .addColumn('id', serialType(db), (c) => c.primaryKey())
    .addColumn('bal_address', 'text', (c) => c.notNull().references('bals.address'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('special_use', 'text', (c) =>
      c.check(sql`special_use in ('\\Sent', '\\Drafts', '\\Trash', '\\Archive')`),
    )
    .addColumn('uid_validity', counter, (c) => c.notNull())
    .addColumn('uid_next', counter, (c) => c.notNull().defaultTo(1))
    .addColumn('highest_modseq', counter, (c) => c.notNull().defaultTo(1))
    .addColumn('subscribed', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('mailboxes_bal_name_uq', ['bal_address', 'name'])
    .execute();

  await db.schema
    .createTable('messages')
    .addColumn('id', serialType(db), (c) => c.primaryKey())
    .addColumn('mailbox_id', 'integer', (c) => c.notNull().references('mailboxes.id'))
    .addColumn('uid', counter, (c) => c.notNull())
    .addColumn('modseq', counter, (c) => c.notNull())
    .addColumn('blob_id', 'text', (c) => c.notNull().references('blobs.id'))
    .addColumn('size', counter, (c) => c.notNull())
    .addColumn('internal_date', 'text', (c) => c.notNull())
    .addColumn('flags', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('subject', 'text')
    .addColumn('from_header', 'text')
    .addColumn('to_header', 'text')
    .addColumn('cc_header', 'text')
    .addColumn('message_id', 'text')
    .addColumn('in_reply_to', 'text')
    .addColumn('references_header', 'text')
    .addColumn('sent_date', 'text')
    .addColumn('envelope_json', 'text', (c) => c.notNull())
    .addColumn('structure_json', 'text', (c) => c.notNull())
    .addUniqueConstraint('messages_mailbox_uid_uq', ['mailbox_id', 'uid'])
    .execute();
  // CHANGEDSINCE / QRESYNC: messages changed after a MODSEQ.
  await db.schema
    .createIndex('messages_mailbox_modseq_idx')
    .on('messages')
    .columns(['mailbox_id', 'modseq'])
    .execute();
  // Blob references (foreign key checks when a blob row is deleted; consistency checks).
  await db.schema.createIndex('messages_blob_idx').on('messages').column('blob_id').execute();
  // Threading and duplicate detection.
  await db.schema
    .createIndex('messages_message_id_idx')
    .on('messages')
    .columns(['mailbox_id', 'message_id'])
    .execute();

  await db.schema
    .createTable('mailbox_changes')
    .addColumn('id', serialType(db), (c) => c.primaryKey())
    .addColumn('mailbox_id', 'integer', (c) => c.notNull().references('mailboxes.id'))
    .addColumn('modseq', counter, (c) => c.notNull())
    .addColumn('uid', counter, (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('append', 'flags', 'expunge')`))
    .addColumn('at', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('mailbox_changes_mailbox_modseq_idx')
    .on('mailbox_changes')
    .columns(['mailbox_id', 'modseq'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of ['mailbox_changes', 'messages', 'mailboxes', 'blobs']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
