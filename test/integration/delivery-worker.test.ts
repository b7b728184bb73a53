import { Redis } from 'ioredis';
import { simpleParser } from 'mailparser';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { createBullmqQueue } from '../../src/queue/bullmq-queue.ts';
import type { JobQueue } from '../../src/queue/job-queue.ts';
import { createMemoryQueue } from '../../src/queue/memory-queue.ts';
import { createSpool, type EnqueueInput, type Spool, type SpoolOptions } from '../../src/queue/spool.ts';
import {
  createDeliveryWorker,
  type DeliveryRequest,
  type DeliveryWorker,
  type RecipientResult,
} from '../../src/queue/worker.ts';
import type { Store } from '../../src/store/open.ts';
import {
  describeEachStore,
  postgresKind,
  sqliteKind,
  TEST_POSTGRES_URL,
  TEST_REDIS_URL,
} from '../support/stores.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

const RAW = Buffer.from(
  'From: a@ch-a.mssante.fr\r\nTo: b@ch-b.mssante.fr\r\nSubject: CR\r\nMessage-ID: <m1@ch-a.mssante.fr>\r\n\r\nCompte rendu\r\n',
);

type Answer = 'ok' | 'temp' | 'perm' | 'hang';

/**
 * A scripted peer MTA: per domain, the answer to each successive transaction (the last one
 * repeats). 'hang' never answers until release() — a worker stuck in the middle of a delivery.
 */
function scriptedDeliverer(script: Record<string, Answer[]>) {
  const calls: DeliveryRequest[] = [];
  const accepted: { rcpt: string; raw: Buffer }[] = [];
  const hanging: ((r: RecipientResult[] | Error) => void)[] = [];
  return {
    calls,
    accepted,
    /** Ends the hanging transactions with this outcome. */
    release(outcome: RecipientResult[] | Error) {
      for (const h of hanging.splice(0)) h(outcome);
    },
    async deliver(req: DeliveryRequest): Promise<RecipientResult[]> {
      calls.push(req);
      const seq = script[req.domain] ?? ['perm'];
      const n = calls.filter((c) => c.domain === req.domain).length;
      const answer = seq[Math.min(n, seq.length) - 1]!;
      const remoteMta = `mx.${req.domain}`;
      switch (answer) {
        case 'ok':
          for (const r of req.recipients) accepted.push({ rcpt: r.rcpt, raw: req.raw });
          return req.recipients.map(() => ({ ok: true, remoteMta }));
        case 'temp':
          return req.recipients.map(() => ({
            ok: false,
            permanent: false,
            code: 451,
            enhanced: '4.3.0',
            message: 'Temporary local problem, try later',
            remoteMta,
          }));
        case 'perm':
          return req.recipients.map(() => ({
            ok: false,
            permanent: true,
            code: 550,
            enhanced: '5.1.1',
            message: 'User unknown',
            remoteMta,
          }));
        case 'hang': {
          const outcome = await new Promise<RecipientResult[] | Error>((resolve) => hanging.push(resolve));
          if (outcome instanceof Error) throw outcome;
          for (const r of req.recipients) accepted.push({ rcpt: r.rcpt, raw: req.raw });
          return outcome;
        }
      }
    },
  };
}

interface Harness {
  spool: Spool;
  worker: DeliveryWorker;
  deliverer: ReturnType<typeof scriptedDeliverer>;
  bounces: { raw: Buffer; to: string }[];
}

const logger = createLogger('silent');

function harness(
  store: Store,
  opts: {
    script: Record<string, Answer[]>;
    spool?: SpoolOptions;
    queue?: JobQueue;
    reconcileEverySeconds?: number;
    clock?: () => Date;
    bounceSink?: (dsn: { raw: Buffer; to: string }) => Promise<void>;
  },
): Harness {
  const clock = opts.clock ?? (() => new Date());
  const spool = createSpool(store, {
    clock,
    retryDelaysSeconds: [0.05],
    expireHours: 1,
    leaseSeconds: 60,
    ...opts.spool,
  });
  const deliverer = scriptedDeliverer(opts.script);
  const bounces: { raw: Buffer; to: string }[] = [];
  const worker = createDeliveryWorker({
    spool,
    queue: opts.queue ?? createMemoryQueue({ now: () => clock().getTime() }),
    deliverer,
    loadBlob: async (id) => {
      if (id !== 'blob-1') throw new Error(`no blob ${id}`);
      return RAW;
    },
    bounces:
      opts.bounceSink ??
      (async (dsn) => {
        bounces.push(dsn);
      }),
    logger,
    reportingMta: 'mx.ch-a.mssante.fr',
    mailerDaemonDomain: 'ch-a.mssante.fr',
    reconcileEverySeconds: opts.reconcileEverySeconds ?? 0.05,
    concurrency: 4,
    clock,
  });
  return { spool, worker, deliverer, bounces };
}

const message = (over: Partial<EnqueueInput> = {}): EnqueueInput => ({
  blobId: 'blob-1',
  mailFrom: 'a@ch-a.mssante.fr',
  size: RAW.length,
  source: 'submission',
  recipients: [{ rcpt: 'b@ch-b.mssante.fr' }],
  ...over,
});

const statusOf = async (store: Store, id: number) =>
  await store.db.selectFrom('spool_recipients').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

/** The message/delivery-status part of a DSN, as text. */
function deliveryStatus(raw: Buffer): string {
  const text = raw.toString();
  const start = text.indexOf('Content-Type: message/delivery-status');
  return text.slice(start, text.indexOf('\r\n--', start));
}

describeEachStore('delivery worker', (kind) => {
  let store: Store;
  const workers: DeliveryWorker[] = [];
  const start = (h: Harness) => {
    workers.push(h.worker);
    h.worker.start();
    return h;
  };
  beforeAll(async () => {
    store = await kind.open();
  });
  beforeEach(async () => {
    await store.db.deleteFrom('spool_recipients').execute();
    await store.db.deleteFrom('spool_messages').execute();
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('retries temporary failures on the schedule, then delivers once, without a DSN', async () => {
    // A slow reconciler: the retries must come from the jobs the worker schedules itself.
    const h = start(
      harness(store, { script: { 'ch-b.mssante.fr': ['temp', 'temp', 'ok'] }, reconcileEverySeconds: 60 }),
    );
    const r = await h.spool.enqueue(
      message({
        envid: 'ENV-7',
        ret: 'HDRS',
        recipients: [
          { rcpt: 'b@ch-b.mssante.fr', orcpt: 'rfc822;B@ch-b.mssante.fr', notify: 'FAILURE' },
          { rcpt: 'b2@ch-b.mssante.fr' },
        ],
      }),
    );
    await h.worker.schedule(r.jobs);
    await until(async () => (await h.spool.stats()).delivered === 2);
    expect(h.deliverer.calls).toHaveLength(3);
    // One SMTP transaction per attempt for both recipients of the domain, with the DSN parameters.
    expect(h.deliverer.calls[2]).toMatchObject({
      mailFrom: 'a@ch-a.mssante.fr',
      domain: 'ch-b.mssante.fr',
      envid: 'ENV-7',
      ret: 'HDRS',
      recipients: [
        { rcpt: 'b@ch-b.mssante.fr', orcpt: 'rfc822;B@ch-b.mssante.fr', notify: 'FAILURE' },
        { rcpt: 'b2@ch-b.mssante.fr', orcpt: null, notify: null },
      ],
    });
    expect(h.deliverer.accepted.map((a) => a.rcpt)).toEqual(['b@ch-b.mssante.fr', 'b2@ch-b.mssante.fr']);
    expect(h.deliverer.accepted[0]!.raw.equals(RAW)).toBe(true);
    expect(await statusOf(store, r.recipientIds[1]!)).toMatchObject({
      status: 'delivered',
      attempts: 3,
      remote_mta: 'mx.ch-b.mssante.fr',
    });
    await sleep(100);
    expect(h.deliverer.calls).toHaveLength(3);
    expect(h.bounces).toEqual([]);
  });

  it('sends one DSN to the sender on a permanent failure, covering the failed recipients only', async () => {
    const h = start(harness(store, { script: { 'ch-b.mssante.fr': ['perm'], 'ch-c.mssante.fr': ['ok'] } }));
    const r = await h.spool.enqueue(
      message({
        envid: 'ENV-8',
        recipients: [
          { rcpt: 'b@ch-b.mssante.fr', orcpt: 'rfc822;B@ch-b.mssante.fr' },
          { rcpt: 'b2@ch-b.mssante.fr' },
          { rcpt: 'c@ch-c.mssante.fr' },
        ],
      }),
    );
    await h.worker.schedule(r.jobs);
    await until(() => h.bounces.length === 1);
    await sleep(150); // reconciler passes: nothing more is sent
    expect(h.bounces).toHaveLength(1);
    const dsn = h.bounces[0]!;
    expect(dsn.to).toBe('a@ch-a.mssante.fr');
    const status = deliveryStatus(dsn.raw);
    expect(status).toContain('Original-Envelope-Id: ENV-8');
    expect(status).toContain(
      'Final-Recipient: rfc822; b@ch-b.mssante.fr\r\nOriginal-Recipient: rfc822; B@ch-b.mssante.fr\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.ch-b.mssante.fr\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown',
    );
    expect(status).toContain('Final-Recipient: rfc822; b2@ch-b.mssante.fr');
    expect(status).not.toContain('c@ch-c.mssante.fr');
    const parsed = await simpleParser(dsn.raw);
    expect(parsed.from?.value[0]?.address).toBe('MAILER-DAEMON@ch-a.mssante.fr');
    expect(parsed.headers.get('auto-submitted')).toBe('auto-replied');
    expect(parsed.attachments.find((a) => a.contentType === 'message/rfc822')?.content.equals(RAW)).toBe(
      true,
    );
    expect(await statusOf(store, r.recipientIds[0]!)).toMatchObject({
      status: 'failed',
      attempts: 1,
      notice: null,
    });
    expect(await statusOf(store, r.recipientIds[2]!)).toMatchObject({ status: 'delivered' });
    expect((await h.spool.stats()).noticesPending).toBe(0);
  });

  it('gives up at expiry and sends a DSN saying so (4.4.7, with the last error)', async () => {
    const h = start(
      harness(store, {
        script: { 'ch-b.mssante.fr': ['temp'] },
        spool: { expireHours: 0.4 / 3600, retryDelaysSeconds: [0.1] },
      }),
    );
    const r = await h.spool.enqueue(message());
    await h.worker.schedule(r.jobs);
    await until(() => h.bounces.length === 1);
    const row = await statusOf(store, r.recipientIds[0]!);
    expect(row.status).toBe('expired');
    expect(row.attempts).toBeGreaterThanOrEqual(3);
    const status = deliveryStatus(h.bounces[0]!.raw);
    expect(status).toContain('Action: failed\r\nStatus: 4.4.7');
    expect(status).toContain('Diagnostic-Code: smtp; 451 4.3.0 Temporary local problem, try later');
    expect((await simpleParser(h.bounces[0]!.raw)).text).toContain('délai de remise dépassé');
    const calls = h.deliverer.calls.length;
    await sleep(200);
    expect(h.deliverer.calls).toHaveLength(calls);
    expect(h.bounces).toHaveLength(1);
  });

  it('sends no DSN with NOTIFY=NEVER, nor for a bounce (null sender)', async () => {
    const h = start(harness(store, { script: { 'ch-b.mssante.fr': ['perm'] } }));
    const never = await h.spool.enqueue(
      message({ recipients: [{ rcpt: 'b@ch-b.mssante.fr', notify: 'NEVER' }] }),
    );
    const bounce = await h.spool.enqueue(message({ mailFrom: '' }));
    await h.worker.schedule([...never.jobs, ...bounce.jobs]);
    await until(
      async () =>
        (await statusOf(store, never.recipientIds[0]!)).status === 'failed' &&
        (await statusOf(store, bounce.recipientIds[0]!)).status === 'failed',
    );
    await sleep(150);
    expect(h.bounces).toEqual([]);
    expect(h.deliverer.calls.map((c) => c.mailFrom).sort()).toEqual(['', 'a@ch-a.mssante.fr']);
  });

  it('reports "relayed" to a NOTIFY=SUCCESS sender when the next hop does not take DSN requests', async () => {
    const h = start(harness(store, { script: { 'ch-b.mssante.fr': ['ok'] } }));
    const r = await h.spool.enqueue(
      message({ recipients: [{ rcpt: 'b@ch-b.mssante.fr', notify: 'SUCCESS' }] }),
    );
    await h.worker.schedule(r.jobs);
    await until(() => h.bounces.length === 1);
    expect(deliveryStatus(h.bounces[0]!.raw)).toContain('Action: relayed\r\nStatus: 2.0.0');
  });

  it('keeps a DSN owed while the bounce sink fails, and sends it once the sink works', async () => {
    let failures = 0;
    const sent: { raw: Buffer; to: string }[] = [];
    const h = start(
      harness(store, {
        script: { 'ch-b.mssante.fr': ['perm'] },
        spool: { noticeLeaseSeconds: 0.1 },
        bounceSink: async (dsn) => {
          if (failures++ < 2) throw new Error('local delivery unavailable');
          sent.push(dsn);
        },
      }),
    );
    const r = await h.spool.enqueue(message());
    await h.worker.schedule(r.jobs);
    await until(() => sent.length === 1);
    await sleep(200);
    expect(sent).toHaveLength(1);
    expect(failures).toBe(3);
    expect((await h.spool.stats()).noticesPending).toBe(0);
  });

  it('a worker stuck mid-delivery keeps its lease; once it has expired another worker delivers, exactly once', async () => {
    let offset = 0;
    const clock = () => new Date(Date.now() + offset);
    // Its reconciler only runs at start: a dead worker takes no new work.
    const stuck = start(
      harness(store, { clock, script: { 'ch-b.mssante.fr': ['hang'] }, reconcileEverySeconds: 600 }),
    );
    try {
      const r = await stuck.spool.enqueue(message());
      const [id] = r.recipientIds as [number];
      await stuck.worker.schedule(r.jobs);
      await until(() => stuck.deliverer.calls.length === 1);
      expect(await statusOf(store, id)).toMatchObject({
        status: 'delivering',
        lease_owner: stuck.worker.owner,
      });

      const heir = start(harness(store, { clock, script: { 'ch-b.mssante.fr': ['ok'] } }));
      await sleep(200); // several reconciler passes: the live lease is left alone
      expect(heir.deliverer.calls).toHaveLength(0);

      offset = 61_000; // the lease (60 s) has run out: the stuck worker is presumed dead
      await until(async () => (await statusOf(store, id)).status === 'delivered');
      expect(heir.deliverer.accepted.map((a) => a.rcpt)).toEqual(['b@ch-b.mssante.fr']);

      // The "dead" worker's connection finally breaks: its report is refused, nothing changes.
      stuck.deliverer.release(new Error('socket closed'));
      await sleep(100);
      expect(await statusOf(store, id)).toMatchObject({
        status: 'delivered',
        attempts: 2,
        lease_owner: null,
        last_error: null,
      });
      expect(stuck.deliverer.calls).toHaveLength(1);
      expect(stuck.deliverer.accepted).toEqual([]);
      expect(heir.deliverer.calls).toHaveLength(1);
      expect(heir.bounces).toEqual([]);
    } finally {
      stuck.deliverer.release(new Error('test over'));
    }
    expect(stuck.bounces).toEqual([]);
  });
});

/** Deletes every key under the prefix: what a Redis flush does to our queue. */
async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) n += await redis.del(...keys);
  } while (cursor !== '0');
  return n;
}

describe('losing the job queue loses no mail', () => {
  it('SQLite + in-process queue: a restart forgets the scheduled retry; the reconciler finds it', async () => {
    const store = await sqliteKind.open();
    try {
      const script = { 'ch-b.mssante.fr': ['temp', 'ok'] as Answer[] };
      const spool = { retryDelaysSeconds: [0.3] };
      const first = harness(store, { script, spool, reconcileEverySeconds: 60 });
      first.worker.start();
      const r = await first.spool.enqueue(message());
      await first.worker.schedule(r.jobs);
      await until(async () => (await statusOf(store, r.recipientIds[0]!)).attempts === 1);
      await until(async () => (await statusOf(store, r.recipientIds[0]!)).status === 'queued');
      await first.worker.stop(); // the process goes away with its in-memory retry job
      await sleep(400);
      expect(first.deliverer.calls).toHaveLength(1);

      const second = harness(store, {
        script: { 'ch-b.mssante.fr': ['ok'] },
        spool,
        reconcileEverySeconds: 0.1,
      });
      second.worker.start();
      try {
        await until(async () => (await statusOf(store, r.recipientIds[0]!)).status === 'delivered');
        expect(second.deliverer.accepted.map((a) => a.rcpt)).toEqual(['b@ch-b.mssante.fr']);
      } finally {
        await second.worker.stop();
      }
    } finally {
      await store.close();
    }
  });

  const both = TEST_POSTGRES_URL && TEST_REDIS_URL;
  (both ? it : it.skip)(
    `PostgreSQL + BullMQ: Redis loses the delayed retry job; the reconciler re-enqueues it and the mail goes${
      both ? '' : ' — skipped: set MSS_TEST_POSTGRES_URL and MSS_TEST_REDIS_URL to run'
    }`,
    async () => {
      const store = await postgresKind.open();
      const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
      const prefix = `mss-test-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
      const queue = createBullmqQueue({ url: TEST_REDIS_URL, prefix });
      const h = harness(store, {
        script: { 'ch-b.mssante.fr': ['temp', 'ok'] },
        spool: { retryDelaysSeconds: [0.6] },
        queue,
        reconcileEverySeconds: 0.1,
      });
      try {
        h.worker.start();
        const r = await h.spool.enqueue(message());
        await h.worker.schedule(r.jobs);
        const delayed = `${prefix}:delivery:delayed`;
        await until(async () => (await redis.zcard(delayed)) === 1); // the retry waits in Redis
        expect(h.deliverer.calls).toHaveLength(1);
        expect(await deleteKeys(redis, prefix)).toBeGreaterThan(0); // Redis is flushed
        expect(await redis.zcard(delayed)).toBe(0);

        await until(async () => (await statusOf(store, r.recipientIds[0]!)).status === 'delivered');
        expect(h.deliverer.accepted.map((a) => a.rcpt)).toEqual(['b@ch-b.mssante.fr']);
        expect(h.deliverer.calls).toHaveLength(2);
      } finally {
        await h.worker.stop();
        await deleteKeys(redis, prefix);
        await redis.quit();
        await store.close();
      }
    },
  );
});
