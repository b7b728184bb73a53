/**
 * Mailboxes and messages: metadata in SQL, bytes in the blob store.
 *
 * Delivery is all-or-nothing. The message is parsed once (envelope, MIME tree with byte
 * offsets, decoded header copies for SEARCH/SORT), its blob is registered unreferenced and
 * written durably, then ONE transaction, for every recipient BAL, takes the next UID and MODSEQ
 * of the target mailbox (`update … returning`, which locks the mailbox row: concurrent
 * deliveries queue on it, on PostgreSQL and on SQLite), inserts the message row, appends to the
 * change journal, and counts the references on the blob. Any error rolls all of it back; the
 * blob then stays registered with no reference, and `collectGarbage()` removes it after a grace
 * period.
 *
 * Locks are always taken in the same order (the blob row, then mailboxes by address), so
 * concurrent deliveries cannot deadlock. A collection deletes a blob's row and file inside one
 * transaction; a delivery that references the blob again re-checks the file inside its own
 * transaction, after its lock on the row, and writes it back if a collection got there first.
 *
 * The blob bookkeeping (register, retain, release, collect) is `createBlobReferences`, shared
 * with the other users of the blob store (outbound spool, IMAP expunge).
 *
 * An ORG BAL's mailboxes belong to the BAL address, so every member sees the same INBOX and the
 * same flags; who may open which BAL is decided by authentication, not here.
 */
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import type { Store } from '../store/open.ts';
import type {
  Database,
  MailboxChangeKind,
  MailboxChangesTable,
  MailboxesTable,
  MessagesTable,
  SpecialUse,
} from '../store/schema/index.ts';
import { sha256Hex } from './blob-crypto.ts';
import type { BlobPutResult, BlobStore } from './blob-store.ts';
import type { Envelope } from './mime/envelope.ts';
import { toCrlf } from './mime/line-endings.ts';
import type { MimePart } from './mime/structure.ts';
import { summarizeMessage } from './mime/summary.ts';

export interface Mailbox {
  id: number;
  balAddress: string;
  name: string;
  specialUse: SpecialUse | null;
  uidValidity: number;
  uidNext: number;
  highestModseq: number;
  subscribed: boolean;
  createdAt: string;
}

export interface StoredMessage {
  id: number;
  mailboxId: number;
  uid: number;
  modseq: number;
  blobId: string;
  /** RFC822.SIZE. */
  size: number;
  /** INTERNALDATE, ISO-8601 UTC. */
  internalDate: string;
  flags: string[];
  subject: string | null;
  from: string | null;
  to: string | null;
  cc: string | null;
  messageId: string | null;
  inReplyTo: string | null;
  references: string | null;
  sentDate: string | null;
  envelope: Envelope;
  structure: MimePart;
}

export interface MailboxChange {
  mailboxId: number;
  modseq: number;
  uid: number;
  kind: MailboxChangeKind;
  at: string;
}

export interface DeliveryResult {
  address: string;
  mailboxId: number;
  uid: number;
  modseq: number;
}

export interface DeliverOptions {
  /** INTERNALDATE; default: now. */
  internalDate?: Date;
  /** Initial flags (APPEND); `\Recent` is dropped, system flags are put in canonical case. */
  flags?: readonly string[];
  /** Target mailbox of every recipient; default INBOX. The default mailboxes are created when missing. */
  mailbox?: string;
}

export interface CollectOptions {
  /** Unreferenced blobs younger than this are kept (a delivery may be about to reference them). Default 1 h. */
  graceMs?: number;
  /** Most blobs examined in one call. Default 500. */
  limit?: number;
}

export interface MailStore {
  /** Creates INBOX, Sent, Drafts, Trash and Archive (with SPECIAL-USE) where missing; returns all mailboxes of the BAL. */
  ensureDefaultMailboxes(balAddress: string): Promise<Mailbox[]>;
  /**
   * Stores `raw` (line ends normalised to CRLF) in the target mailbox of each recipient (local
   * BAL addresses; duplicates count once). One result per distinct recipient, in the order given.
   * Throws UnknownRecipientError when a recipient is not a BAL; nothing is stored then.
   */
  deliver(raw: Buffer, recipients: readonly string[], options?: DeliverOptions): Promise<DeliveryResult[]>;
  /** The message's bytes. Throws NotFoundError. */
  readMessage(mailboxId: number, uid: number): Promise<Buffer>;
  /** The BAL's mailboxes, INBOX first, then by name. */
  listMailboxes(balAddress: string): Promise<Mailbox[]>;
  getMailbox(balAddress: string, name: string): Promise<Mailbox | null>;
  /** Messages by UID; with `sinceUid`, only those with a greater UID (the last one the caller has). */
  getMessages(mailboxId: number, options?: { sinceUid?: number; limit?: number }): Promise<StoredMessage[]>;
  /** Journal entries with a MODSEQ greater than `sinceModseq`, oldest first. */
  getChanges(mailboxId: number, sinceModseq: number): Promise<MailboxChange[]>;
  /** Deletes unreferenced blobs (rows and files) older than the grace period. */
  collectGarbage(options?: CollectOptions): Promise<{ deleted: number }>;
}

export interface MailStoreOptions {
  clock?: () => Date;
}

/** A recipient that is not a BAL of this operator (foreign key on bals.address). */
export class UnknownRecipientError extends NotFoundError {
  constructor(
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(`no BAL at address ${address}: cannot deliver to it`, options);
  }
}

export const DEFAULT_MAILBOXES: readonly { name: string; specialUse: SpecialUse | null }[] = [
  { name: 'INBOX', specialUse: null },
  { name: 'Sent', specialUse: '\\Sent' },
  { name: 'Drafts', specialUse: '\\Drafts' },
  { name: 'Trash', specialUse: '\\Trash' },
  { name: 'Archive', specialUse: '\\Archive' },
];

const DEFAULT_GRACE_MS = 60 * 60 * 1000;
const SYSTEM_FLAGS = ['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'];

/**
 * Flags as stored: system flags in canonical case and order, then keywords as given; duplicates
 * (case-insensitive) and `\Recent` (a session flag) dropped. Throws ValidationError on an unknown
 * system flag or a keyword that is not an IMAP atom.
 */
export function normalizeFlags(flags: readonly string[]): string[] {
  const system = new Set<string>();
  const keywords: string[] = [];
  const seen = new Set<string>();
  for (const raw of flags) {
    const flag = raw.trim();
    if (flag === '') continue;
    if (flag.startsWith('\\')) {
      if (flag.toLowerCase() === '\\recent') continue;
      const canonical = SYSTEM_FLAGS.find((s) => s.toLowerCase() === flag.toLowerCase());
      if (!canonical) throw new ValidationError('flags', 'flags.system', `unknown system flag ${flag}`);
      system.add(canonical);
      continue;
    }
    if (!/^[\x21-\x7e]+$/.test(flag) || /[(){%*"\\\]]/.test(flag)) {
      throw new ValidationError('flags', 'flags.keyword', `not an IMAP keyword: ${JSON.stringify(flag)}`);
    }
    if (seen.has(flag.toLowerCase())) continue;
    seen.add(flag.toLowerCase());
    keywords.push(flag);
  }
  return [...SYSTEM_FLAGS.filter((f) => system.has(f)), ...keywords];
}

/** INBOX is case-insensitive (RFC 3501 5.1); other names are kept as given. */
export function normalizeMailboxName(name: string): string {
  if (name.toUpperCase() === 'INBOX') return 'INBOX';
  if (name === '' || /[\r\n\0]/.test(name)) {
    throw new ValidationError('mailbox', 'mailbox.name', `not a mailbox name: ${JSON.stringify(name)}`);
  }
  return name;
}

function isForeignKeyViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

function toMailbox(row: Selectable<MailboxesTable>): Mailbox {
  return {
    id: row.id,
    balAddress: row.bal_address,
    name: row.name,
    specialUse: row.special_use,
    uidValidity: row.uid_validity,
    uidNext: row.uid_next,
    highestModseq: row.highest_modseq,
    subscribed: row.subscribed === 1,
    createdAt: row.created_at,
  };
}

function toMessage(row: Selectable<MessagesTable>): StoredMessage {
  return {
    id: row.id,
    mailboxId: row.mailbox_id,
    uid: row.uid,
    modseq: row.modseq,
    blobId: row.blob_id,
    size: row.size,
    internalDate: row.internal_date,
    flags: row.flags === '' ? [] : row.flags.split(' '),
    subject: row.subject,
    from: row.from_header,
    to: row.to_header,
    cc: row.cc_header,
    messageId: row.message_id,
    inReplyTo: row.in_reply_to,
    references: row.references_header,
    sentDate: row.sent_date,
    envelope: JSON.parse(row.envelope_json) as Envelope,
    structure: JSON.parse(row.structure_json) as MimePart,
  };
}

function toChange(row: Selectable<MailboxChangesTable>): MailboxChange {
  return { mailboxId: row.mailbox_id, modseq: row.modseq, uid: row.uid, kind: row.kind, at: row.at };
}

type Db = Kysely<Database>;

/**
 * Reference counting of blobs in the `blobs` table. The blob store is shared and
 * content-addressed: the same bytes delivered locally and queued for another operator are one
 * file. Every user of a blob (mailbox messages here, spool entries, …) counts its references
 * through this, in its own transaction, and nobody deletes blob files directly: only
 * `collectGarbage()` does, once a blob has had no reference for the grace period.
 */
export interface BlobReferences {
  /** Registers `bytes` (unreferenced) and writes them durably. Call before the transaction that references them. */
  store(bytes: Buffer): Promise<BlobPutResult>;
  /**
   * Inside the transaction that creates `count` references to a blob `store()` returned. Call
   * it before inserting the rows that point to the blob (they need its row).
   */
  retain(trx: Transaction<Database>, bytes: Buffer, put: BlobPutResult, count: number): Promise<void>;
  /** Inside the transaction that removes `count` references (expunge, spool purge). */
  release(trx: Transaction<Database>, blobId: string, count?: number): Promise<void>;
  /** Deletes unreferenced blobs (rows and files) older than the grace period. */
  collectGarbage(options?: CollectOptions): Promise<{ deleted: number }>;
}

export function createBlobReferences(
  store: Store,
  blobs: BlobStore,
  options: { clock?: () => Date } = {},
): BlobReferences {
  const db: Db = store.db;
  const clock = options.clock ?? (() => new Date());

  return {
    async store(bytes) {
      const id = sha256Hex(bytes);
      const nowIso = clock().toISOString();
      // Registered before the bytes exist: whatever fails later leaves a collectable row, never an
      // orphan file. A row that is still unreferenced gets a fresh date (its grace period restarts).
      await db
        .insertInto('blobs')
        .values({
          id,
          size: bytes.length,
          stored_size: bytes.length,
          encrypted: 0,
          ref_count: 0,
          created_at: nowIso,
        })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet({ created_at: nowIso }).where('blobs.ref_count', '=', 0),
        )
        .execute();
      return blobs.put(bytes);
    },

    async retain(trx, bytes, put, count) {
      if (!Number.isInteger(count) || count < 1)
        throw new RangeError(`reference count must be >= 1, got ${count}`);
      await trx
        .insertInto('blobs')
        .values({
          id: put.id,
          size: put.size,
          stored_size: put.storedSize,
          encrypted: put.encrypted ? 1 : 0,
          ref_count: count,
          created_at: clock().toISOString(),
        })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            ref_count: eb('blobs.ref_count', '+', count),
            stored_size: eb.ref('excluded.stored_size'),
            encrypted: eb.ref('excluded.encrypted'),
          })),
        )
        .execute();
      // The row is locked now. A collection may have removed the file between the put and this
      // lock: write it back (the reference is only committed with the file on disk).
      if (!(await blobs.has(put.id))) await blobs.put(bytes);
    },

    async release(trx, blobId, count = 1) {
      if (!Number.isInteger(count) || count < 1)
        throw new RangeError(`reference count must be >= 1, got ${count}`);
      const nowIso = clock().toISOString();
      // The last release restarts the grace period; going below zero violates ref_count >= 0.
      const result = await trx
        .updateTable('blobs')
        .set((eb) => ({
          ref_count: eb('ref_count', '-', count),
          created_at: sql<string>`case when ref_count - ${count} <= 0 then ${nowIso} else created_at end`,
        }))
        .where('id', '=', blobId)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) throw new NotFoundError(`no blob ${blobId} to release`);
    },

    async collectGarbage(opts = {}) {
      const cutoff = new Date(clock().getTime() - (opts.graceMs ?? DEFAULT_GRACE_MS)).toISOString();
      const candidates = await db
        .selectFrom('blobs')
        .select('id')
        .where('ref_count', '=', 0)
        .where('created_at', '<', cutoff)
        .orderBy('created_at')
        .limit(opts.limit ?? 500)
        .execute();
      let deleted = 0;
      for (const { id } of candidates) {
        // Row and file go together, under the row's lock: a delivery referencing the blob again
        // waits for this transaction, then finds the file missing and writes it back.
        const gone = await db.transaction().execute(async (trx) => {
          const result = await trx
            .deleteFrom('blobs')
            .where('id', '=', id)
            .where('ref_count', '=', 0)
            .where('created_at', '<', cutoff)
            .executeTakeFirst();
          if (Number(result.numDeletedRows) === 0) return false;
          await blobs.delete(id);
          return true;
        });
        if (gone) deleted++;
      }
      return { deleted };
    },
  };
}

export function createMailStore(store: Store, blobs: BlobStore, options: MailStoreOptions = {}): MailStore {
  const db: Db = store.db;
  const clock = options.clock ?? (() => new Date());
  const refs = createBlobReferences(store, blobs, { clock });

  /** Inserts the missing default mailboxes of `address`. */
  async function insertDefaults(trx: Transaction<Database>, address: string, now: Date): Promise<void> {
    const createdAt = now.toISOString();
    const uidValidity = Math.max(1, Math.floor(now.getTime() / 1000));
    try {
      await trx
        .insertInto('mailboxes')
        .values(
          DEFAULT_MAILBOXES.map((m) => ({
            bal_address: address,
            name: m.name,
            special_use: m.specialUse,
            uid_validity: uidValidity,
            uid_next: 1,
            highest_modseq: 1,
            subscribed: 1,
            created_at: createdAt,
          })),
        )
        .onConflict((oc) => oc.columns(['bal_address', 'name']).doNothing())
        .execute();
    } catch (e) {
      if (isForeignKeyViolation(e)) throw new UnknownRecipientError(address, { cause: e });
      throw e;
    }
  }

  /** Takes the next UID and MODSEQ of a mailbox (locks its row until the transaction ends). */
  async function bump(trx: Transaction<Database>, address: string, name: string) {
    return trx
      .updateTable('mailboxes')
      .set((eb) => ({ uid_next: eb('uid_next', '+', 1), highest_modseq: eb('highest_modseq', '+', 1) }))
      .where('bal_address', '=', address)
      .where('name', '=', name)
      .returning(['id', 'uid_next', 'highest_modseq'])
      .executeTakeFirst();
  }

  async function allocate(trx: Transaction<Database>, address: string, name: string, now: Date) {
    let row = await bump(trx, address, name);
    if (!row) {
      if (!DEFAULT_MAILBOXES.some((m) => m.name === name)) {
        // The BAL may not exist either: say which.
        const bal = await trx
          .selectFrom('bals')
          .select('address')
          .where('address', '=', address)
          .executeTakeFirst();
        if (!bal) throw new UnknownRecipientError(address);
        throw new NotFoundError(`BAL ${address} has no mailbox ${JSON.stringify(name)}`);
      }
      await insertDefaults(trx, address, now);
      row = await bump(trx, address, name);
      if (!row) throw new Error(`mailbox ${name} of ${address} could not be created`);
    }
    return { mailboxId: row.id, uid: row.uid_next - 1, modseq: row.highest_modseq };
  }

  async function listMailboxes(balAddress: string): Promise<Mailbox[]> {
    const rows = await db
      .selectFrom('mailboxes')
      .selectAll()
      .where('bal_address', '=', balAddress.trim().toLowerCase())
      .execute();
    // Sorted here, by code point: the engines' collations differ.
    const boxes = rows.map(toMailbox).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return [...boxes.filter((b) => b.name === 'INBOX'), ...boxes.filter((b) => b.name !== 'INBOX')];
  }

  return {
    async ensureDefaultMailboxes(balAddress) {
      const address = balAddress.trim().toLowerCase();
      await db.transaction().execute((trx) => insertDefaults(trx, address, clock()));
      return listMailboxes(address);
    },

    async deliver(raw, recipients, opts = {}) {
      const addresses = [...new Set(recipients.map((r) => r.trim().toLowerCase()))];
      if (addresses.length === 0) return [];
      const mailbox = normalizeMailboxName(opts.mailbox ?? 'INBOX');
      const flags = normalizeFlags(opts.flags ?? []).join(' ');
      const now = clock();
      const internalDate = opts.internalDate ?? now;
      if (Number.isNaN(internalDate.getTime())) {
        throw new ValidationError(
          'internalDate',
          'message.internalDate',
          'internal date is not a valid date',
        );
      }

      const message = toCrlf(raw);
      const summary = summarizeMessage(message);
      const nowIso = now.toISOString();
      // Durable before the transaction that references it commits.
      const put = await refs.store(message);
      const blobId = put.id;

      // All recipients, or none.
      const delivered = await db.transaction().execute(async (trx) => {
        // The blob row first, then mailboxes in address order: the same lock order everywhere.
        await refs.retain(trx, message, put, addresses.length);

        const results = new Map<string, DeliveryResult>();
        for (const address of [...addresses].sort()) {
          const { mailboxId, uid, modseq } = await allocate(trx, address, mailbox, now);
          await trx
            .insertInto('messages')
            .values({
              mailbox_id: mailboxId,
              uid,
              modseq,
              blob_id: blobId,
              size: message.length,
              internal_date: internalDate.toISOString(),
              flags,
              subject: summary.subject,
              from_header: summary.from,
              to_header: summary.to,
              cc_header: summary.cc,
              message_id: summary.messageId,
              in_reply_to: summary.inReplyTo,
              references_header: summary.references,
              sent_date: summary.sentDate,
              envelope_json: JSON.stringify(summary.envelope),
              structure_json: JSON.stringify(summary.structure),
            })
            .execute();
          await trx
            .insertInto('mailbox_changes')
            .values({ mailbox_id: mailboxId, modseq, uid, kind: 'append', at: nowIso })
            .execute();
          results.set(address, { address, mailboxId, uid, modseq });
        }
        return addresses.map((a) => results.get(a)!);
      });
      return delivered;
    },

    async readMessage(mailboxId, uid) {
      const row = await db
        .selectFrom('messages')
        .select('blob_id')
        .where('mailbox_id', '=', mailboxId)
        .where('uid', '=', uid)
        .executeTakeFirst();
      if (!row) throw new NotFoundError(`no message with UID ${uid} in mailbox ${mailboxId}`);
      return blobs.get(row.blob_id);
    },

    listMailboxes,

    async getMailbox(balAddress, name) {
      const row = await db
        .selectFrom('mailboxes')
        .selectAll()
        .where('bal_address', '=', balAddress.trim().toLowerCase())
        .where('name', '=', normalizeMailboxName(name))
        .executeTakeFirst();
      return row ? toMailbox(row) : null;
    },

    async getMessages(mailboxId, opts = {}) {
      let query = db.selectFrom('messages').selectAll().where('mailbox_id', '=', mailboxId);
      if (opts.sinceUid !== undefined) query = query.where('uid', '>', opts.sinceUid);
      if (opts.limit !== undefined) query = query.limit(opts.limit);
      const rows = await query.orderBy('uid').execute();
      return rows.map(toMessage);
    },

    async getChanges(mailboxId, sinceModseq) {
      const rows = await db
        .selectFrom('mailbox_changes')
        .selectAll()
        .where('mailbox_id', '=', mailboxId)
        .where('modseq', '>', sinceModseq)
        .orderBy('modseq')
        .orderBy('id')
        .execute();
      return rows.map(toChange);
    },

    collectGarbage: (opts) => refs.collectGarbage(opts),
  };
}
