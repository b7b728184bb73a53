import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../logger.ts';
import { buildDsn, type DsnRecipientReport, dsnStatus, notifyAllows } from '../smtp/dsn.ts';
import type { JobQueue } from './job-queue.ts';
import type { FailOutcome, NoticeRecipient, Spool, SpoolJob, SpoolMessage, SpoolWork } from './spool.ts';

/*
 * The delivery worker: the queue says "look at group G now"; the worker leases G's due
 * recipients in the spool, hands them to the Deliverer (one SMTP transaction), and records
 * each outcome. A reconciler loop schedules whatever the spool says is due, so jobs lost
 * with Redis, or with a crashed node, are found again. DSNs owed to senders are recorded in
 * the spool with the outcome, then built and handed to the BounceSink.
 */

export interface DeliveryRecipient {
  rcpt: string;
  /** RFC 3461 ORCPT, decoded ('rfc822;a@b.fr'), to pass on when the next hop takes DSN. */
  orcpt: string | null;
  /** RFC 3461 NOTIFY ('NEVER' or 'SUCCESS,FAILURE,DELAY' subset), to pass on. */
  notify: string | null;
}

export interface DeliveryRequest {
  /** '' for the null sender. */
  mailFrom: string;
  recipients: DeliveryRecipient[];
  /** Every recipient is in this domain. */
  domain: string;
  raw: Buffer;
  envid: string | null;
  ret: 'FULL' | 'HDRS' | null;
  /** Aborted when the attempt runs past its deadline (before the spool lease ends). */
  signal: AbortSignal;
}

export type RecipientResult =
  | {
      ok: true;
      remoteMta?: string | null;
      /** The next hop took the DSN parameters (it will report success itself). */
      dsnRelayed?: boolean;
    }
  | {
      ok: false;
      permanent: boolean;
      /** SMTP reply code; null when there was no reply (DNS, connection, TLS). */
      code: number | null;
      enhanced: string | null;
      message: string;
      remoteMta?: string | null;
    };

/** Delivers one message to the recipients of one domain; one result per recipient, in order. */
export interface Deliverer {
  deliver(request: DeliveryRequest): Promise<RecipientResult[]>;
}

/**
 * Takes a DSN to deliver. The envelope sender must be empty (MAIL FROM:<>), the recipient is
 * `to`. Throwing leaves the DSN owed: it is tried again later.
 */
export type BounceSink = (dsn: { raw: Buffer; to: string }) => Promise<void>;

export interface DeliveryWorkerDeps {
  spool: Spool;
  queue: JobQueue;
  deliverer: Deliverer;
  loadBlob: (blobId: string) => Promise<Buffer>;
  bounces: BounceSink;
  logger: Logger;
  /** Host name of this MTA (Reporting-MTA of DSNs). */
  reportingMta: string;
  /** DSNs come from MAILER-DAEMON@ this domain. */
  mailerDaemonDomain: string;
  /** Jobs worked on at once by this node. Default 20. */
  concurrency?: number;
  /** Seconds between reconciler passes. Default 30. */
  reconcileEverySeconds?: number;
  /** Most groups and messages looked at per pass. Default 500. */
  reconcileBatch?: number;
  /** Originals larger than this are returned as headers only in DSNs. */
  dsnMaxOriginalBytes?: number;
  /** Lease owner name; unique per worker by default. */
  owner?: string;
  clock?: () => Date;
}

export interface DeliveryWorker {
  readonly owner: string;
  /** Starts the queue handler and the reconciler (which runs once at once). */
  start(): void;
  /** Stops the reconciler, waits for running deliveries, stops the queue. */
  stop(): Promise<void>;
  /** Schedules the jobs of a committed enqueue (errors are logged: the reconciler catches up). */
  schedule(jobs: readonly SpoolJob[]): Promise<void>;
  /** One reconciler pass. */
  reconcile(): Promise<{ scheduled: number; notices: number }>;
  /** Handles one job (what the queue calls). */
  handle(groupId: string): Promise<void>;
}

export function createDeliveryWorker(deps: DeliveryWorkerDeps): DeliveryWorker {
  const { spool, queue, deliverer, loadBlob, bounces } = deps;
  const log = deps.logger.child({ mod: 'delivery' });
  const clock = deps.clock ?? (() => new Date());
  const owner = deps.owner ?? `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  const everyMs = (deps.reconcileEverySeconds ?? 30) * 1000;
  const batch = deps.reconcileBatch ?? 500;
  let timer: NodeJS.Timeout | null = null;
  let pass: Promise<unknown> | null = null;
  let started = false;
  let stopped = false;

  const scheduleAll = async (jobs: readonly SpoolJob[]) => {
    let n = 0;
    for (const job of jobs) {
      try {
        await queue.schedule(job);
        n++;
      } catch (err) {
        log.warn({ err, group: job.id }, 'could not schedule a delivery job; the reconciler will');
      }
    }
    return n;
  };

  const attempt = async (work: SpoolWork): Promise<{ raw: Buffer | null; results: RecipientResult[] }> => {
    const allFail = (message: string): RecipientResult[] =>
      work.recipients.map(() => ({ ok: false, permanent: false, code: null, enhanced: null, message }));
    let raw: Buffer;
    try {
      raw = await loadBlob(work.message.blobId);
    } catch (err) {
      log.error({ err, group: work.groupId, blob: work.message.blobId }, 'message body unavailable');
      return { raw: null, results: allFail('local error: message body unavailable') };
    }
    // Give up before the lease ends, so that no other worker starts while this one still sends.
    const budget = Math.max(1000, (work.leaseUntil.getTime() - clock().getTime()) * 0.9);
    const abort = new AbortController();
    let deadline: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => {
        abort.abort();
        reject(new Error(`delivery attempt timed out after ${Math.round(budget / 1000)} s`));
      }, budget);
      deadline.unref();
    });
    try {
      const results = await Promise.race([
        deliverer.deliver({
          mailFrom: work.message.mailFrom,
          recipients: work.recipients.map((r) => ({ rcpt: r.rcpt, orcpt: r.orcpt, notify: r.notify })),
          domain: work.domain,
          raw,
          envid: work.message.envid,
          ret: work.message.ret,
          signal: abort.signal,
        }),
        timeout,
      ]);
      if (!Array.isArray(results) || results.length !== work.recipients.length) {
        log.error({ group: work.groupId }, 'the deliverer returned a wrong number of results');
        return { raw, results: allFail('local error: incomplete delivery report') };
      }
      return { raw, results };
    } catch (err) {
      return { raw, results: allFail((err as Error)?.message ?? String(err)) };
    } finally {
      clearTimeout(deadline);
    }
  };

  const handle = async (groupId: string) => {
    const work = await spool.claim(groupId, owner);
    if (!work) return;
    const { raw, results } = await attempt(work);
    const at = clock(); // one instant for the whole transaction: its recipients stay together
    const retries = new Set<number>();
    let notices = false;
    for (const [i, r] of work.recipients.entries()) {
      const result = results[i]!;
      const fields = { group: groupId, rcpt: r.rcpt, attempt: r.attempts };
      if (result.ok) {
        const done = await spool.complete(r.id, owner, {
          remoteMta: result.remoteMta ?? null,
          dsnRelayed: result.dsnRelayed === true,
          at,
        });
        if (done) log.info({ ...fields, remoteMta: result.remoteMta }, 'delivered');
        else log.warn(fields, 'delivered, but the lease had been taken over');
        if (done && result.dsnRelayed !== true && notifyAllows(r.notify, 'SUCCESS')) notices = true;
        continue;
      }
      const outcome: FailOutcome | null = await spool.fail(r.id, owner, {
        permanent: result.permanent,
        code: result.code,
        enhanced: result.enhanced,
        message: result.message,
        remoteMta: result.remoteMta ?? null,
        at,
      });
      const reply = { code: result.code, enhanced: result.enhanced, error: result.message };
      if (!outcome) log.warn({ ...fields, ...reply }, 'attempt failed, and the lease had been taken over');
      else if (outcome.status === 'queued') {
        retries.add(outcome.nextAttemptAt.getTime());
        log.info({ ...fields, ...reply, next: outcome.nextAttemptAt.toISOString() }, 'deferred');
      } else log.warn({ ...fields, ...reply, status: outcome.status }, 'not delivered, given up');
      if (outcome?.notice) notices = true;
    }
    const next: SpoolJob[] = [...retries]
      .sort((a, b) => a - b)
      .map((t) => ({ id: groupId, runAt: new Date(t) }));
    if (work.more) next.push({ id: groupId, runAt: clock() });
    await scheduleAll(next);
    if (notices) await sendNotices(work.message.id, raw);
  };

  /** Builds and hands over the DSNs owed for a message. Returns how many recipients they covered. */
  const sendNotices = async (messageId: number, raw: Buffer | null = null): Promise<number> => {
    const work = await spool.claimNotices(messageId, owner);
    if (!work) return 0;
    let original = raw;
    if (!original) {
      original = await loadBlob(work.message.blobId).catch((err) => {
        log.warn({ err, message: messageId }, 'original message unavailable for the DSN');
        return null;
      });
    }
    const dsn = buildDsn({
      reportingMta: deps.reportingMta,
      mailerDaemonDomain: deps.mailerDaemonDomain,
      to: work.message.mailFrom,
      envid: work.message.envid,
      arrivalDate: work.message.receivedAt,
      date: clock(),
      recipients: work.recipients.map((r) => report(r, work.message)),
      original,
      ret: work.message.ret,
      ...(deps.dsnMaxOriginalBytes != null ? { maxOriginalBytes: deps.dsnMaxOriginalBytes } : {}),
    });
    try {
      await bounces({ raw: dsn.raw, to: dsn.to });
    } catch (err) {
      log.error({ err, message: messageId }, 'could not hand over a DSN; it will be tried again');
      return 0;
    }
    await spool.noticesSent(
      work.recipients.map((r) => ({ id: r.id, notice: r.notice })),
      owner,
    );
    log.info(
      { message: messageId, to: dsn.to, dsn: dsn.messageId, actions: work.recipients.map((r) => r.notice) },
      'DSN sent',
    );
    return work.recipients.length;
  };

  const reconcile = async () => {
    const jobs = await spool.due(batch);
    const scheduled = await scheduleAll(jobs);
    let notices = 0;
    for (const messageId of await spool.dueNotices(batch)) {
      try {
        notices += await sendNotices(messageId);
      } catch (err) {
        log.error({ err, message: messageId }, 'DSN failed');
      }
    }
    if (scheduled > 0 || notices > 0) log.debug({ scheduled, notices }, 'reconciled');
    return { scheduled, notices };
  };

  const loop = () => {
    if (stopped) return;
    pass = reconcile()
      .catch((err) => log.error({ err }, 'reconciler pass failed'))
      .finally(() => {
        pass = null;
        if (stopped) return;
        timer = setTimeout(loop, everyMs);
        timer.unref();
      });
  };

  return {
    owner,
    start() {
      if (started) throw new Error('the delivery worker is already started');
      started = true;
      queue.start(
        (id) =>
          handle(id).catch((err) => {
            log.error({ err, group: id }, 'delivery job failed');
          }),
        { concurrency: deps.concurrency ?? 20 },
      );
      loop();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await pass;
      await queue.stop();
    },
    schedule: async (jobs) => {
      await scheduleAll(jobs);
    },
    reconcile,
    handle,
  };
}

/** The DSN entry of one recipient, from what the spool recorded. */
function report(r: NoticeRecipient, message: SpoolMessage): DsnRecipientReport {
  const diagnostic = r.lastError
    ? { code: r.lastCode, text: [r.lastEnhanced, r.lastError].filter(Boolean).join(' ') }
    : null;
  const common = {
    recipient: r.rcpt,
    originalRecipient: r.orcpt,
    remoteMta: r.remoteMta,
    lastAttemptAt: r.lastAttemptAt,
  };
  switch (r.notice) {
    case 'relayed':
      return { ...common, action: 'relayed', status: '2.0.0' };
    case 'delayed':
      return {
        ...common,
        action: 'delayed',
        status: dsnStatus({ action: 'delayed', code: r.lastCode, enhanced: r.lastEnhanced }),
        diagnostic,
        willRetryUntil: message.expiresAt,
      };
    case 'failed':
      return {
        ...common,
        action: 'failed',
        status: dsnStatus({
          action: 'failed',
          code: r.lastCode,
          enhanced: r.lastEnhanced,
          expired: r.status === 'expired',
        }),
        diagnostic,
      };
  }
}
