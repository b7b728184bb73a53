/**
 * Mailboxes and messages: metadata in SQL, bytes in the blob store.
 *
 * Delivery is all-or-nothing. The message is parsed once (envelope, MIME tree with byte
 * offsets, decoded header copies for SEARCH/SORT) and its blob written durably (fsynced, with
 * its folder); then ONE transaction registers the blob row with its references and, for every
 * recipient BAL, takes the next UID and MODSEQ of the target mailbox (`update … returning`,
 * which locks the mailbox row: concurrent deliveries queue on it, on PostgreSQL and on SQLite),
 * inserts the message row and appends to the change journal. Any error rolls all of it back;
 * the blob is then registered with no reference, and `collectGarbage()` removes it after a
 * grace period. A crash between the blob write and the commit leaves a file that no row knows:
 * the sweep of `collectGarbage()` registers such files, unreferenced, and collects them later.
 *
 * Group commit: deliveries ready at about the same time (see createCommitter) are committed in
 * one transaction, each in its own savepoint. One that fails is rolled back to its savepoint
 * (its UIDs and MODSEQs too: no gap) and rejected; the others are committed. Every caller's
 * promise settles only after the commit, so the MX still answers 250 only once the message is
 * durable; one commit (one WAL fsync on SQLite) serves the whole group. The statements of a
 * delivery are compiled once (Kysely builds nothing per message). `inTransaction` lets the
 * caller write its own rows in the delivery's savepoint (the MX's ENVID de-duplication record).
 *
 * Locks: within a delivery, the blob row, then mailboxes by address. Deliveries of one group
 * take them one after the other, so two groups on two nodes (PostgreSQL) can deadlock; the
 * delivery that PostgreSQL picks as the victim is rolled back to its savepoint and tried again
 * in the next group. A collection deletes a blob's row and file inside one transaction; a
 * delivery that references the blob again re-checks the file inside its own transaction, after
 * its lock on the row, and writes it back if a collection got there first.
 *
 * The blob bookkeeping (register, retain, release, collect) is `createBlobReferences`, shared
 * with the other users of the blob store (outbound spool, IMAP expunge).
 *
 * An ORG BAL's mailboxes belong to the BAL address, so every member sees the same INBOX and the
 * same flags; who may open which BAL is decided by authentication, not here.
 */
import { CompiledQuery, type Insertable, type Kysely, type Selectable, sql, type Transaction } from 'kysely';
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
  /**
   * Runs inside the delivery's transaction, after its rows are written (the SMTP de-duplication
   * record, for one): what it writes is committed with the messages, or not at all. A failure
   * fails this delivery only.
   */
  inTransaction?: (trx: Transaction<Database>, results: readonly DeliveryResult[]) => Promise<void>;
}

export interface CollectOptions {
  /** Unreferenced blobs younger than this are kept (a delivery may be about to reference them). Default 1 h. */
  graceMs?: number;
  /** Most blobs examined in one call. Default 500. */
  limit?: number;
  /**
   * Shards of the blob store (of 256, by the id's first byte) searched in this call for files
   * that have no row (left by a crash between a put and the commit that references it); they
   * are registered unreferenced, and collected by a later call once the grace period is over.
   * The next call goes on with the next shards. Default 8 (the whole store in 32 calls).
   */
  sweepShards?: number;
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
  collectGarbage(options?: CollectOptions): Promise<{ deleted: number; adopted: number }>;
}

export interface MailStoreOptions {
  clock?: () => Date;
  /** Most deliveries committed in one transaction (group commit). Default 100. */
  maxGroup?: number;
  /**
   * Longest wait, in ms, of a delivery ready to commit for the others being prepared at the same
   * time (group commit); a lone delivery never waits. Default 2.
   */
  groupWindowMs?: number;
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
const DEFAULT_SWEEP_SHARDS = 8;
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
  /**
   * Deletes unreferenced blobs (rows and files) older than the grace period; registers files
   * that have no row (see CollectOptions.sweepShards).
   */
  collectGarbage(options?: CollectOptions): Promise<{ deleted: number; adopted: number }>;
}

export function createBlobReferences(
  store: Store,
  blobs: BlobStore,
  options: { clock?: () => Date } = {},
): BlobReferences {
  const db: Db = store.db;
  const clock = options.clock ?? (() => new Date());
  let sweepCursor = Math.floor(Math.random() * 256);

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
      const cutoffDate = new Date(clock().getTime() - (opts.graceMs ?? DEFAULT_GRACE_MS));
      const cutoff = cutoffDate.toISOString();
      const adopted = await adoptOrphans(opts.sweepShards ?? DEFAULT_SWEEP_SHARDS, cutoffDate);
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
      return { deleted, adopted };
    },
  };

  /**
   * Files without a row (a crash after a put, before the commit that references the blob) are
   * registered unreferenced, with a fresh date: the collection takes them after the grace
   * period, by the usual path (row and file together, under the row's lock). Registering never
   * harms a delivery in progress: its upsert only adds references to the row.
   */
  async function adoptOrphans(shards: number, olderThan: Date): Promise<number> {
    if (!blobs.sweep || shards <= 0) return 0;
    let adopted = 0;
    for (let i = 0; i < Math.min(shards, 256); i++) {
      const shard = (sweepCursor++ % 256).toString(16).padStart(2, '0');
      const files = await blobs.sweep(shard, olderThan);
      for (let at = 0; at < files.length; at += 500) {
        const chunk = files.slice(at, at + 500);
        const known = new Set(
          (
            await db
              .selectFrom('blobs')
              .select('id')
              .where(
                'id',
                'in',
                chunk.map((f) => f.id),
              )
              .execute()
          ).map((r) => r.id),
        );
        for (const file of chunk) {
          if (known.has(file.id)) continue;
          let size: number;
          try {
            size = (await blobs.get(file.id)).length;
          } catch {
            continue; // Damaged or unreadable (no key): left for an operator to look at.
          }
          const result = await db
            .insertInto('blobs')
            .values({
              id: file.id,
              size,
              stored_size: file.storedSize,
              encrypted: file.storedSize !== size ? 1 : 0,
              ref_count: 0,
              created_at: clock().toISOString(),
            })
            .onConflict((oc) => oc.column('id').doNothing())
            .executeTakeFirst();
          if (Number(result.numInsertedOrUpdatedRows ?? 0) > 0) adopted++;
        }
      }
    }
    return adopted;
  }
}

const DEFAULT_MAX_GROUP = 100;
const DEFAULT_GROUP_WINDOW_MS = 2;
const SAVEPOINT = CompiledQuery.raw('savepoint mss_delivery');
const RELEASE = CompiledQuery.raw('release savepoint mss_delivery');
const ROLLBACK_TO = CompiledQuery.raw('rollback to savepoint mss_delivery');

/** A deadlock or serialization failure (PostgreSQL): the transaction may be tried again. */
function isTransient(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** A delivery waiting for its group's commit. */
interface DeliveryJob {
  message: Buffer;
  put: BlobPutResult;
  addresses: string[];
  mailbox: string;
  now: Date;
  /** The message row's columns that are the same for every recipient. */
  values: Omit<Insertable<MessagesTable>, 'id' | 'mailbox_id' | 'uid' | 'modseq' | 'blob_id'>;
  hook: DeliverOptions['inTransaction'] | null;
  attempts: number;
  resolve(results: DeliveryResult[]): void;
  reject(error: unknown): void;
}

/**
 * Group commit. Deliveries are counted from their start (parse, blob write) to their submission.
 * A submitted delivery is committed:
 *  - at the next turn of the event loop (setImmediate: after this turn's I/O callbacks) when no
 *    other delivery is being prepared: a lone delivery waits for nothing;
 *  - otherwise once the others have been submitted too, or `windowMs` after it was submitted,
 *    whichever comes first (their blob writes end within a few milliseconds of each other);
 *  - while a group is being committed, with the next group, right after that commit.
 * At most `maxGroup` deliveries go in one transaction.
 */
function createCommitter(
  commit: (group: DeliveryJob[]) => Promise<void>,
  opts: { maxGroup: number; windowMs: number },
) {
  const queue: DeliveryJob[] = [];
  let preparing = 0;
  let running = false;
  let timer: NodeJS.Timeout | null = null;
  let immediate = false;
  const runSoon = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (immediate) return;
    immediate = true;
    setImmediate(() => {
      immediate = false;
      void run();
    });
  };
  const kick = () => {
    if (running || queue.length === 0) return;
    if (preparing === 0 || queue.length >= opts.maxGroup || opts.windowMs <= 0) return runSoon();
    if (!timer && !immediate) timer = setTimeout(runSoon, opts.windowMs);
  };
  const run = async () => {
    if (running || queue.length === 0) return;
    running = true;
    try {
      await commit(queue.splice(0, opts.maxGroup));
    } finally {
      running = false;
      kick();
    }
  };
  return {
    /** A delivery starts being prepared (call `submit` or `abandon` once for each). */
    begin() {
      preparing++;
    },
    abandon() {
      preparing--;
      kick();
    },
    submit(job: DeliveryJob, prepared = true) {
      if (prepared) preparing--;
      queue.push(job);
      kick();
    },
  };
}

/** Stands for a value in a statement compiled once; see `bindable`. */
const slot = (name: string) => `\u0000${name}` as never;

/** A statement compiled once; `bind` gives it with the named values in its slots. */
function bindable<R>(compiled: CompiledQuery<R>) {
  const names = compiled.parameters.map((v) =>
    typeof v === 'string' && v.charCodeAt(0) === 0 ? v.slice(1) : null,
  );
  return {
    bind(values: Record<string, unknown>): CompiledQuery<R> {
      const parameters = compiled.parameters.map((v, i) => {
        const name = names[i];
        if (name === null || name === undefined) return v;
        if (!(name in values)) throw new Error(`no value for ${name} in a compiled statement`);
        return values[name];
      });
      return { ...compiled, parameters };
    },
  };
}

/** The statements of a delivery, compiled once (Kysely builds and compiles nothing per message). */
function compileDeliveryStatements(db: Db) {
  const messageColumns = [
    'mailbox_id',
    'uid',
    'modseq',
    'blob_id',
    'size',
    'internal_date',
    'flags',
    'subject',
    'from_header',
    'to_header',
    'cc_header',
    'message_id',
    'in_reply_to',
    'references_header',
    'sent_date',
    'envelope_json',
    'structure_json',
  ] as const;
  return {
    retain: bindable(
      db
        .insertInto('blobs')
        .values({
          id: slot('id'),
          size: slot('size'),
          stored_size: slot('stored_size'),
          encrypted: slot('encrypted'),
          ref_count: slot('ref_count'),
          created_at: slot('created_at'),
        })
        .onConflict((oc) =>
          oc.column('id').doUpdateSet((eb) => ({
            ref_count: eb('blobs.ref_count', '+', eb.ref('excluded.ref_count')),
            stored_size: eb.ref('excluded.stored_size'),
            encrypted: eb.ref('excluded.encrypted'),
          })),
        )
        .compile(),
    ),
    bump: bindable(
      db
        .updateTable('mailboxes')
        .set((eb) => ({ uid_next: eb('uid_next', '+', 1), highest_modseq: eb('highest_modseq', '+', 1) }))
        .where('bal_address', '=', slot('address'))
        .where('name', '=', slot('name'))
        .returning(['id', 'uid_next', 'highest_modseq'])
        .compile(),
    ),
    insertMessage: bindable(
      db
        .insertInto('messages')
        .values(Object.fromEntries(messageColumns.map((c) => [c, slot(c)])) as never)
        .compile(),
    ),
    insertChange: bindable(
      db
        .insertInto('mailbox_changes')
        .values({
          mailbox_id: slot('mailbox_id'),
          modseq: slot('modseq'),
          uid: slot('uid'),
          kind: 'append',
          at: slot('at'),
        })
        .compile(),
    ),
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

  // -------------------------------------------------------------------------------------------
  // Delivery: statements compiled once, group commit.

  const statements = compileDeliveryStatements(db);

  /** Takes the next UID and MODSEQ (compiled statement; the slow path when the mailbox is missing). */
  async function allocateFast(trx: Transaction<Database>, address: string, name: string, now: Date) {
    const { rows } = await trx.executeQuery(statements.bump.bind({ address, name }));
    const row = rows[0];
    if (row) return { mailboxId: row.id, uid: row.uid_next - 1, modseq: row.highest_modseq };
    return allocate(trx, address, name, now);
  }

  /** One delivery's rows, in the group's transaction: blob reference, then mailboxes by address. */
  async function apply(trx: Transaction<Database>, job: DeliveryJob): Promise<DeliveryResult[]> {
    const { put, now } = job;
    const nowIso = now.toISOString();
    await trx.executeQuery(
      statements.retain.bind({
        id: put.id,
        size: put.size,
        stored_size: put.storedSize,
        encrypted: put.encrypted ? 1 : 0,
        ref_count: job.addresses.length,
        created_at: nowIso,
      }),
    );
    const results = new Map<string, DeliveryResult>();
    for (const address of [...job.addresses].sort()) {
      const { mailboxId, uid, modseq } = await allocateFast(trx, address, job.mailbox, now);
      await trx.executeQuery(
        statements.insertMessage.bind({
          ...job.values,
          mailbox_id: mailboxId,
          uid,
          modseq,
          blob_id: put.id,
        }),
      );
      await trx.executeQuery(
        statements.insertChange.bind({ mailbox_id: mailboxId, modseq, uid, at: nowIso }),
      );
      results.set(address, { address, mailboxId, uid, modseq });
    }
    const delivered = job.addresses.map((a) => results.get(a)!);
    if (job.hook) await job.hook(trx, delivered);
    return delivered;
  }

  /**
   * Commits a group of deliveries in one transaction, each in its own savepoint: one that fails
   * is rolled back to its savepoint (its UIDs and MODSEQs with it: no gap) and rejected, the
   * others are committed. Every promise settles only after the commit (or the rollback).
   */
  async function commitGroup(group: DeliveryJob[]): Promise<void> {
    type Outcome = { ok: true; results: DeliveryResult[] } | { ok: false; error: unknown };
    let outcomes: Outcome[] = [];
    try {
      await db.transaction().execute(async (trx) => {
        outcomes = [];
        if (group.length === 1) {
          outcomes.push({ ok: true, results: await apply(trx, group[0]!) });
        } else {
          for (const job of group) {
            await trx.executeQuery(SAVEPOINT);
            try {
              const results = await apply(trx, job);
              await trx.executeQuery(RELEASE);
              outcomes.push({ ok: true, results });
            } catch (error) {
              await trx.executeQuery(ROLLBACK_TO);
              await trx.executeQuery(RELEASE);
              outcomes.push({ ok: false, error });
            }
          }
        }
        // The rows are locked now. A collection may have removed a file between its put and
        // this point (a blob unreferenced for the whole grace period, delivered again): write
        // it back, so that no reference is committed without its file on disk.
        const needed = new Map<string, Buffer>();
        group.forEach((job, i) => {
          if (outcomes[i]!.ok) needed.set(job.put.id, job.message);
        });
        await Promise.all(
          [...needed].map(async ([id, bytes]) => {
            if (!(await blobs.has(id))) await blobs.put(bytes);
          }),
        );
      });
    } catch (error) {
      // Nothing of the group was committed.
      outcomes = group.map(() => ({ ok: false, error }));
    }
    const failed: { job: DeliveryJob; error: unknown }[] = [];
    for (const [i, job] of group.entries()) {
      const outcome = outcomes[i]!;
      if (outcome.ok) job.resolve(outcome.results);
      else if (isTransient(outcome.error) && job.attempts < 3) {
        // A deadlock with another node's transaction (PostgreSQL): tried again in the next group.
        job.attempts++;
        committer.submit(job, false);
      } else failed.push({ job, error: outcome.error });
    }
    // A failed delivery leaves its blob registered, unreferenced, for the collection (rare: the
    // MX checks its recipients at RCPT TO).
    for (const { job, error } of failed) {
      await registerUnreferenced(job.put, job.now).catch(() => {});
      job.reject(error);
    }
  }

  async function registerUnreferenced(put: BlobPutResult, now: Date): Promise<void> {
    const nowIso = now.toISOString();
    await db
      .insertInto('blobs')
      .values({
        id: put.id,
        size: put.size,
        stored_size: put.storedSize,
        encrypted: put.encrypted ? 1 : 0,
        ref_count: 0,
        created_at: nowIso,
      })
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({ created_at: nowIso }).where('blobs.ref_count', '=', 0),
      )
      .execute();
  }

  const committer = createCommitter(commitGroup, {
    maxGroup: options.maxGroup ?? DEFAULT_MAX_GROUP,
    windowMs: options.groupWindowMs ?? DEFAULT_GROUP_WINDOW_MS,
  });

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
      // Durable before the transaction that references it commits. No row yet: the row is
      // written with the references, in that transaction (a crash in between leaves a file that
      // no row knows; collectGarbage's sweep registers it, then collects it).
      committer.begin();
      let put: BlobPutResult;
      try {
        put = await blobs.put(message);
      } catch (e) {
        committer.abandon();
        throw e;
      }
      return new Promise<DeliveryResult[]>((resolve, reject) => {
        committer.submit({
          message,
          put,
          addresses,
          mailbox,
          now,
          values: {
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
          },
          hook: opts.inTransaction ?? null,
          attempts: 0,
          resolve,
          reject,
        });
      });
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
