import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import { normalizeNotify, noticeOwed } from '../smtp/dsn.ts';
import type { Store } from '../store/open.ts';
import type { Database, SpoolDsnRet, SpoolNotice, SpoolRecipientStatus } from '../store/schema/index.ts';
import { DEFAULT_EXPIRE_HOURS, DEFAULT_RETRY_DELAYS_SECONDS, expiryOf, nextStep } from './retry-schedule.ts';

/*
 * The outbound spool: durable state of every recipient in flight, in SQL. Workers take a
 * recipient group (one message, one domain: one SMTP transaction) with an atomic lease; a
 * live lease is never taken, an expired one (dead worker) is. Whatever runs the jobs (BullMQ,
 * the in-process scheduler) only has to call claim() at least once after each due time:
 * claim() makes the work happen exactly once.
 */

export interface SpoolOptions {
  clock?: () => Date;
  /** Delays before each retry, in seconds; the last one repeats. */
  retryDelaysSeconds?: readonly number[];
  /** Recipients still undelivered this long after arrival are given up and bounced. */
  expireHours?: number;
  /** How long a claim holds its recipients; longer than any delivery attempt. Default 900 s. */
  leaseSeconds?: number;
  /** How long a worker holds the DSNs it sends. Default 300 s. */
  noticeLeaseSeconds?: number;
  /** Send one delay notice (NOTIFY permitting) once a recipient is this late; null: never (default). */
  delayNoticeAfterSeconds?: number | null;
  /** Most recipients taken by one claim (one SMTP transaction). Default 100 (RFC 5321 §4.5.3.1.8). */
  maxRecipientsPerClaim?: number;
}

export interface EnqueueRecipient {
  rcpt: string;
  /** RFC 3461 ORCPT, decoded: 'rfc822;a@b.fr'. */
  orcpt?: string | null;
  /** RFC 3461 NOTIFY: 'NEVER', 'SUCCESS,FAILURE', or a list. */
  notify?: string | readonly string[] | null;
}

export interface EnqueueInput {
  blobId: string;
  /** '' for the null sender. */
  mailFrom: string;
  size: number;
  recipients: readonly EnqueueRecipient[];
  envid?: string | null;
  ret?: SpoolDsnRet | null;
  source: string;
  authIdentity?: string | null;
}

/** A job for the queue: a recipient group to look at from runAt on. */
export interface SpoolJob {
  id: string;
  runAt: Date;
}

export interface EnqueueResult {
  messageId: number;
  /** One per given recipient, in order (an address given twice gets the same id). */
  recipientIds: number[];
  /** One per domain; schedule them once the transaction has committed (the reconciler would, later). */
  jobs: SpoolJob[];
}

export interface SpoolMessage {
  id: number;
  blobId: string;
  mailFrom: string;
  size: number;
  envid: string | null;
  ret: SpoolDsnRet | null;
  receivedAt: Date;
  expiresAt: Date;
}

export interface ClaimedRecipient {
  id: number;
  rcpt: string;
  orcpt: string | null;
  notify: string | null;
  /** Attempts including this one. */
  attempts: number;
}

/** Recipients leased to one owner, to deliver in one SMTP transaction. */
export interface SpoolWork {
  groupId: string;
  owner: string;
  domain: string;
  leaseUntil: Date;
  message: SpoolMessage;
  recipients: ClaimedRecipient[];
  /** The claim was full: more due recipients may remain in the group. */
  more: boolean;
}

export interface FailureInput {
  permanent: boolean;
  /** SMTP reply code, null when there was no reply. */
  code: number | null;
  enhanced?: string | null;
  message: string;
  remoteMta?: string | null;
  /**
   * When the attempt ended (default: now). Give the same instant for every recipient of one
   * transaction, so that they stay due together and are retried in one transaction again.
   */
  at?: Date;
}

export type FailOutcome =
  | { status: 'queued'; nextAttemptAt: Date; notice: SpoolNotice | null }
  | { status: 'failed' | 'expired'; notice: SpoolNotice | null };

export interface NoticeRecipient {
  id: number;
  rcpt: string;
  orcpt: string | null;
  notice: SpoolNotice;
  status: SpoolRecipientStatus;
  lastCode: number | null;
  lastEnhanced: string | null;
  lastError: string | null;
  remoteMta: string | null;
  lastAttemptAt: Date;
}

/** DSNs owed for one message, leased to one owner. */
export interface NoticeWork {
  owner: string;
  message: SpoolMessage;
  recipients: NoticeRecipient[];
}

export interface SpoolStats {
  queued: number;
  delivering: number;
  delivered: number;
  failed: number;
  expired: number;
  noticesPending: number;
  /** Arrival of the oldest message still queued or delivering. */
  oldestPendingAt: Date | null;
}

export interface Spool {
  enqueue(input: EnqueueInput, db?: Kysely<Database>): Promise<EnqueueResult>;
  /** Leases the due recipients of a group ('<messageId>/<domain>') or one recipient (its id). */
  claim(target: string | number, owner: string): Promise<SpoolWork | null>;
  /** Delivered. False when the lease was lost (another worker took the recipient over). */
  complete(
    id: number,
    owner: string,
    info?: { remoteMta?: string | null; dsnRelayed?: boolean; at?: Date },
  ): Promise<boolean>;
  /** Not delivered: queued again, failed or expired. Null when the lease was lost. */
  fail(id: number, owner: string, failure: FailureInput): Promise<FailOutcome | null>;
  /** Groups that need a worker now (due, or leased by a dead one), oldest first. */
  due(limit: number): Promise<SpoolJob[]>;
  /** Messages with DSNs owed and nobody sending them. */
  dueNotices(limit: number): Promise<number[]>;
  claimNotices(messageId: number, owner: string): Promise<NoticeWork | null>;
  /** The claimed DSNs went out. Returns how many were marked. */
  noticesSent(ids: readonly { id: number; notice: SpoolNotice }[], owner: string): Promise<number>;
  /** Deletes messages finished before `before` (nothing queued, no DSN owed). Returns their blob ids. */
  purge(before: Date, limit?: number): Promise<{ messages: number; blobIds: string[] }>;
  stats(): Promise<SpoolStats>;
}

/** '<messageId>/<domain>'. Contains neither ':' nor '@'. */
export function groupId(messageId: number, domain: string): string {
  return `${messageId}/${domain}`;
}

export function parseGroupId(id: string): { messageId: number; domain: string } | null {
  const m = /^(\d+)\/([^/\s]+)$/.exec(id);
  return m ? { messageId: Number(m[1]), domain: m[2]! } : null;
}

/** Lower-case domain of an address (after the last '@'). */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) throw new RangeError(`not an address: ${address}`);
  return address.slice(at + 1).toLowerCase();
}

const iso = (d: Date) => d.toISOString();
const addSeconds = (d: Date, s: number) => new Date(d.getTime() + s * 1000);

type RecipientsEb = ExpressionBuilder<Database, 'spool_recipients'>;

export function createSpool(store: Store, options: SpoolOptions = {}): Spool {
  const { db, dialect } = store;
  const clock = options.clock ?? (() => new Date());
  const delays = options.retryDelaysSeconds ?? DEFAULT_RETRY_DELAYS_SECONDS;
  const expireHours = options.expireHours ?? DEFAULT_EXPIRE_HOURS;
  const leaseSeconds = options.leaseSeconds ?? 900;
  const noticeLeaseSeconds = options.noticeLeaseSeconds ?? 300;
  const delayNoticeAfter = options.delayNoticeAfterSeconds ?? null;
  const maxPerClaim = options.maxRecipientsPerClaim ?? 100;
  if (delays.length === 0) throw new RangeError('retryDelaysSeconds needs at least one delay');

  /** Queued and due, or leased by a worker whose lease has run out. */
  const claimable = (eb: RecipientsEb, now: string): Expression<SqlBool> =>
    eb.or([
      eb.and([eb('status', '=', 'queued'), eb('next_attempt_at', '<=', now)]),
      eb.and([eb('status', '=', 'delivering'), eb('lease_until', '<', now)]),
    ]);

  /** A DSN is owed and nobody holds it. */
  const noticeClaimable = (eb: RecipientsEb, now: string): Expression<SqlBool> =>
    eb.and([
      eb('notice', 'is not', null),
      eb.or([eb('notice_until', 'is', null), eb('notice_until', '<', now)]),
    ]);

  const loadMessage = async (messageId: number): Promise<SpoolMessage | null> => {
    const m = await db
      .selectFrom('spool_messages')
      .selectAll()
      .where('id', '=', messageId)
      .executeTakeFirst();
    return m
      ? {
          id: m.id,
          blobId: m.blob_id,
          mailFrom: m.mail_from,
          size: m.size,
          envid: m.dsn_envid,
          ret: m.dsn_ret,
          receivedAt: new Date(m.received_at),
          expiresAt: new Date(m.expires_at),
        }
      : null;
  };

  /**
   * An UPDATE of the first `limit` recipients matching `where`, picked once in a materialized
   * CTE. On PostgreSQL the pick locks them in id order (FOR UPDATE): a concurrent claimer
   * waits for the winner's commit, then finds the rows no longer claimable, so one claim wins
   * a whole group and claimers never deadlock. (A plain `id in (select … limit n for update)`
   * may be rescanned and then skip the rows it has just updated, leasing more than n.) SQLite
   * runs one writer at a time. The caller adds `set` and `returning`; `where` is evaluated
   * again on the locked rows.
   */
  const leaseUpdate = (where: (eb: RecipientsEb) => Expression<SqlBool>, limit: number) =>
    db
      .with(
        (cte) => cte('picked').materialized(),
        (qb) => {
          const pick = qb.selectFrom('spool_recipients').select('id').where(where).orderBy('id').limit(limit);
          return dialect === 'postgres' ? pick.forUpdate() : pick;
        },
      )
      .updateTable('spool_recipients')
      .where('id', 'in', (eb) => eb.selectFrom('picked').select('picked.id'))
      .where(where);

  return {
    async enqueue(input, into = db) {
      if (input.recipients.length === 0) throw new RangeError('a message needs at least one recipient');
      if (input.ret != null && input.ret !== 'FULL' && input.ret !== 'HDRS') {
        throw new RangeError(`RET must be FULL or HDRS (${input.ret})`);
      }
      const now = clock();
      // One row per recipient address: the same RCPT given twice is delivered once.
      const seen = new Map<string, EnqueueRecipient>();
      for (const r of input.recipients) {
        domainOf(r.rcpt);
        if (!seen.has(r.rcpt.toLowerCase())) seen.set(r.rcpt.toLowerCase(), r);
      }
      const message = await into
        .insertInto('spool_messages')
        .values({
          blob_id: input.blobId,
          mail_from: input.mailFrom,
          size: input.size,
          source: input.source,
          auth_identity: input.authIdentity ?? null,
          dsn_envid: input.envid ?? null,
          dsn_ret: input.ret ?? null,
          received_at: iso(now),
          expires_at: iso(expiryOf(now, expireHours)),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const rows = await into
        .insertInto('spool_recipients')
        .values(
          [...seen.values()].map((r) => ({
            message_id: message.id,
            rcpt: r.rcpt,
            domain: domainOf(r.rcpt),
            orcpt: r.orcpt ?? null,
            notify: normalizeNotify(r.notify),
            status: 'queued' as const,
            attempts: 0,
            next_attempt_at: iso(now),
            updated_at: iso(now),
          })),
        )
        .returning(['id', 'rcpt', 'domain'])
        .execute();
      const byRcpt = new Map(rows.map((r) => [r.rcpt.toLowerCase(), r]));
      const domains = [...new Set(rows.map((r) => r.domain))];
      return {
        messageId: message.id,
        recipientIds: input.recipients.map((r) => byRcpt.get(r.rcpt.toLowerCase())!.id),
        jobs: domains.map((d) => ({ id: groupId(message.id, d), runAt: now })),
      };
    },

    async claim(target, owner) {
      const now = clock();
      const nowIso = iso(now);
      const leaseUntil = addSeconds(now, leaseSeconds);
      let scope: (eb: RecipientsEb) => Expression<SqlBool>;
      let id: string;
      if (typeof target === 'number') {
        scope = (eb) => eb('id', '=', target);
        id = String(target);
      } else {
        const g = parseGroupId(target);
        if (!g) throw new RangeError(`not a spool group id: ${target}`);
        scope = (eb) => eb.and([eb('message_id', '=', g.messageId), eb('domain', '=', g.domain)]);
        id = target;
      }
      const eligible = (eb: RecipientsEb) => eb.and([scope(eb), claimable(eb, nowIso)]);
      const claimed = await leaseUpdate(eligible, maxPerClaim)
        .set((eb) => ({
          status: 'delivering',
          lease_owner: owner,
          lease_until: iso(leaseUntil),
          attempts: eb('attempts', '+', 1),
          updated_at: nowIso,
        }))
        .returning(['id', 'message_id', 'domain', 'rcpt', 'orcpt', 'notify', 'attempts'])
        .execute();
      if (claimed.length === 0) return null;
      claimed.sort((a, b) => a.id - b.id);
      const first = claimed[0]!;
      const message = await loadMessage(first.message_id);
      if (!message) throw new Error(`spool message ${first.message_id} is missing`);
      return {
        groupId: typeof target === 'number' ? groupId(first.message_id, first.domain) : id,
        owner,
        domain: first.domain,
        leaseUntil,
        message,
        recipients: claimed.map((r) => ({
          id: r.id,
          rcpt: r.rcpt,
          orcpt: r.orcpt,
          notify: r.notify,
          attempts: r.attempts,
        })),
        more: claimed.length >= maxPerClaim,
      };
    },

    async complete(id, owner, info = {}) {
      const row = await recipientWithMessage(db, id);
      if (!row) return false;
      const now = iso(info.at ?? clock());
      // A next hop that takes DSN parameters reports success itself; otherwise we say "relayed".
      const relayed = info.dsnRelayed !== true && noticeOwed('relayed', row.notify, row.mail_from);
      const r = await db
        .updateTable('spool_recipients')
        .set({
          status: 'delivered',
          lease_owner: null,
          lease_until: null,
          remote_mta: info.remoteMta ?? null,
          last_code: null,
          last_enhanced: null,
          last_error: null,
          delivered_at: now,
          updated_at: now,
          // A delay notice not sent yet has become pointless.
          ...(relayed
            ? { notice: 'relayed' as const, notice_owner: null, notice_until: null }
            : row.notice === 'delayed'
              ? { notice: null, notice_owner: null, notice_until: null }
              : {}),
        })
        .where('id', '=', id)
        .where('status', '=', 'delivering')
        .where('lease_owner', '=', owner)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },

    async fail(id, owner, failure) {
      const row = await recipientWithMessage(db, id);
      if (row?.status !== 'delivering' || row.lease_owner !== owner) return null;
      const now = failure.at ?? clock();
      const step: ReturnType<typeof nextStep> | { kind: 'fail' } = failure.permanent
        ? { kind: 'fail' }
        : nextStep({ now, attempts: Math.max(1, row.attempts), delays, expiresAt: new Date(row.expires_at) });
      let outcome: FailOutcome;
      if (step.kind === 'retry') {
        const late =
          delayNoticeAfter != null &&
          row.notice_sent_at == null &&
          row.notice == null &&
          now.getTime() - new Date(row.received_at).getTime() >= delayNoticeAfter * 1000;
        const notice = late && noticeOwed('delayed', row.notify, row.mail_from) ? ('delayed' as const) : null;
        outcome = { status: 'queued', nextAttemptAt: step.at, notice };
      } else {
        const notice = noticeOwed('failed', row.notify, row.mail_from) ? ('failed' as const) : null;
        outcome = { status: step.kind === 'expire' ? 'expired' : 'failed', notice };
      }
      const r = await db
        .updateTable('spool_recipients')
        .set({
          status: outcome.status,
          lease_owner: null,
          lease_until: null,
          last_code: failure.code,
          last_enhanced: failure.enhanced ?? null,
          last_error: failure.message.slice(0, 2000),
          remote_mta: failure.remoteMta ?? null,
          updated_at: iso(now),
          ...(outcome.status === 'queued' ? { next_attempt_at: iso(outcome.nextAttemptAt) } : {}),
          ...(outcome.notice ? { notice: outcome.notice, notice_owner: null, notice_until: null } : {}),
        })
        .where('id', '=', id)
        .where('status', '=', 'delivering')
        .where('lease_owner', '=', owner)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1 ? outcome : null;
    },

    async due(limit) {
      const now = iso(clock());
      const rows = await db
        .selectFrom('spool_recipients')
        .select([
          'message_id',
          'domain',
          sql<string>`min(case when status = 'queued' then next_attempt_at else lease_until end)`.as(
            'run_at',
          ),
        ])
        .where((eb) => claimable(eb, now))
        .groupBy(['message_id', 'domain'])
        .orderBy('run_at')
        .limit(limit)
        .execute();
      return rows.map((r) => ({ id: groupId(r.message_id, r.domain), runAt: new Date(r.run_at) }));
    },

    async dueNotices(limit) {
      const now = iso(clock());
      const rows = await db
        .selectFrom('spool_recipients')
        .select('message_id')
        .where((eb) => noticeClaimable(eb, now))
        .groupBy('message_id')
        .orderBy('message_id')
        .limit(limit)
        .execute();
      return rows.map((r) => r.message_id);
    },

    async claimNotices(messageId, owner) {
      const now = clock();
      const nowIso = iso(now);
      const eligible = (eb: RecipientsEb) =>
        eb.and([eb('message_id', '=', messageId), noticeClaimable(eb, nowIso)]);
      const rows = await leaseUpdate(eligible, 1000)
        .set({ notice_owner: owner, notice_until: iso(addSeconds(now, noticeLeaseSeconds)) })
        .returning([
          'id',
          'rcpt',
          'orcpt',
          'notice',
          'status',
          'last_code',
          'last_enhanced',
          'last_error',
          'remote_mta',
          'updated_at',
        ])
        .execute();
      if (rows.length === 0) return null;
      const message = await loadMessage(messageId);
      if (!message) throw new Error(`spool message ${messageId} is missing`);
      rows.sort((a, b) => a.id - b.id);
      return {
        owner,
        message,
        recipients: rows.map((r) => ({
          id: r.id,
          rcpt: r.rcpt,
          orcpt: r.orcpt,
          notice: r.notice!,
          status: r.status,
          lastCode: r.last_code,
          lastEnhanced: r.last_enhanced,
          lastError: r.last_error,
          remoteMta: r.remote_mta,
          lastAttemptAt: new Date(r.updated_at),
        })),
      };
    },

    async noticesSent(items, owner) {
      const now = iso(clock());
      let marked = 0;
      for (const { id, notice } of items) {
        // Only if the owed notice is still the one sent (a failure may have replaced a delay notice).
        const r = await db
          .updateTable('spool_recipients')
          .set({ notice: null, notice_owner: null, notice_until: null, notice_sent_at: now })
          .where('id', '=', id)
          .where('notice', '=', notice)
          .where('notice_owner', '=', owner)
          .executeTakeFirst();
        marked += Number(r.numUpdatedRows);
      }
      return marked;
    },

    async purge(before, limit = 1000) {
      const cutoff = iso(before);
      const rows = await db
        .selectFrom('spool_messages')
        .select(['id', 'blob_id'])
        .where('received_at', '<', cutoff)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('spool_recipients as r')
                .select('r.id')
                .whereRef('r.message_id', '=', 'spool_messages.id')
                .where((eb) =>
                  eb.or([
                    eb('r.status', 'in', ['queued', 'delivering']),
                    eb('r.notice', 'is not', null),
                    eb('r.updated_at', '>=', cutoff),
                  ]),
                ),
            ),
          ),
        )
        .orderBy('id')
        .limit(limit)
        .execute();
      if (rows.length === 0) return { messages: 0, blobIds: [] };
      const ids = rows.map((r) => r.id);
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('spool_recipients').where('message_id', 'in', ids).execute();
        await trx.deleteFrom('spool_messages').where('id', 'in', ids).execute();
      });
      return { messages: ids.length, blobIds: rows.map((r) => r.blob_id) };
    },

    async stats() {
      const counts = await db
        .selectFrom('spool_recipients')
        .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy('status')
        .execute();
      const notices = await db
        .selectFrom('spool_recipients')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('notice', 'is not', null)
        .executeTakeFirst();
      const oldest = await db
        .selectFrom('spool_recipients as r')
        .innerJoin('spool_messages as m', 'm.id', 'r.message_id')
        .select((eb) => eb.fn.min('m.received_at').as('at'))
        .where('r.status', 'in', ['queued', 'delivering'])
        .executeTakeFirst();
      const by = (s: SpoolRecipientStatus) => Number(counts.find((c) => c.status === s)?.n ?? 0);
      return {
        queued: by('queued'),
        delivering: by('delivering'),
        delivered: by('delivered'),
        failed: by('failed'),
        expired: by('expired'),
        noticesPending: Number(notices?.n ?? 0),
        oldestPendingAt: oldest?.at ? new Date(oldest.at) : null,
      };
    },
  };
}

function recipientWithMessage(db: Kysely<Database>, id: number) {
  return db
    .selectFrom('spool_recipients as r')
    .innerJoin('spool_messages as m', 'm.id', 'r.message_id')
    .select([
      'r.status',
      'r.lease_owner',
      'r.attempts',
      'r.notify',
      'r.notice',
      'r.notice_sent_at',
      'm.mail_from',
      'm.received_at',
      'm.expires_at',
    ])
    .where('r.id', '=', id)
    .executeTakeFirst();
}
