import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { createBullmqQueue } from '../../src/queue/bullmq-queue.ts';
import { createJobQueue } from '../../src/queue/from-config.ts';
import type { JobQueue } from '../../src/queue/job-queue.ts';
import { TEST_REDIS_URL } from '../support/stores.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const soon = (ms: number) => new Date(Date.now() + ms);

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** A key prefix of our own, so that parallel test files never share queues. */
function uniquePrefix(): string {
  return `mss-test-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

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

const suite = TEST_REDIS_URL ? describe : describe.skip;
const title = TEST_REDIS_URL
  ? 'BullMQ job queue'
  : 'BullMQ job queue — skipped: set MSS_TEST_REDIS_URL to run';

suite(title, () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const open: JobQueue[] = [];
  const queue = (prefix: string, onError?: (e: unknown, id?: string) => void) => {
    const q = createBullmqQueue({ url: TEST_REDIS_URL, prefix, ...(onError ? { onError } : {}) });
    open.push(q);
    return q;
  };
  const fresh = () => {
    const p = uniquePrefix();
    prefixes.push(p);
    return p;
  };
  const ourClients = async (prefix: string) =>
    ((await redis.client('LIST')) as string).split('\n').filter((l) => l.includes(` name=${prefix}:`)).length;

  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    for (const q of open) await q.stop();
    for (const p of prefixes) await deleteKeys(redis, p);
    await redis?.quit();
  });

  it('runs a delayed job at its time, once per (id, time)', async () => {
    const q = queue(fresh());
    const ran: [string, number][] = [];
    const t0 = Date.now();
    q.start(async (id) => void ran.push([id, Date.now() - t0]), { concurrency: 2 });
    const at = soon(300);
    for (let i = 0; i < 3; i++) await q.schedule({ id: '7/ch-b.mssante.fr', runAt: at });
    await q.schedule({ id: '7/ch-b.mssante.fr', runAt: soon(400) });
    await sleep(150);
    expect(ran).toEqual([]);
    await until(() => ran.length === 2);
    await sleep(200);
    expect(ran.map((r) => r[0])).toEqual(['7/ch-b.mssante.fr', '7/ch-b.mssante.fr']);
    expect(ran[0]![1]).toBeGreaterThanOrEqual(280);
    await q.stop();
  });

  it('keeps jobs in Redis: one node schedules, another runs them', async () => {
    const prefix = fresh();
    const producer = queue(prefix);
    await producer.schedule({ id: '1/a.fr', runAt: new Date() });
    await producer.schedule({ id: '2/b.fr', runAt: soon(50) });
    await producer.stop();
    const consumer = queue(prefix);
    const ran: string[] = [];
    consumer.start(async (id) => void ran.push(id), { concurrency: 1 });
    await until(() => ran.length === 2);
    expect(ran.sort()).toEqual(['1/a.fr', '2/b.fr']);
    await consumer.stop();
  });

  it('runs at most `concurrency` jobs at a time on a node', async () => {
    const q = queue(fresh());
    let running = 0;
    let peak = 0;
    let done = 0;
    for (let i = 0; i < 8; i++) await q.schedule({ id: `${i}/x.fr`, runAt: new Date() });
    q.start(
      async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(40);
        running--;
        done++;
      },
      { concurrency: 3 },
    );
    await until(() => done === 8);
    expect(peak).toBe(3);
    await q.stop();
  });

  it('lets a finished or failed job be scheduled again under the same id', async () => {
    const errors: string[] = [];
    const q = queue(fresh(), (e) => errors.push((e as Error).message));
    const ran: string[] = [];
    q.start(
      async (id) => {
        ran.push(id);
        if (ran.length === 1) throw new Error('first run fails');
      },
      { concurrency: 1 },
    );
    const job = { id: '3/c.fr', runAt: new Date(Date.now() - 1000) };
    await q.schedule(job);
    await until(() => ran.length === 1 && errors.length === 1);
    await sleep(50);
    await q.schedule(job); // removed on failure: accepted again
    await until(() => ran.length === 2);
    await sleep(50);
    await q.schedule(job); // removed on completion: accepted again
    await until(() => ran.length === 3);
    expect(errors).toEqual(['first run fails']);
    await q.stop();
  });

  it('stop() waits for the running job and closes its Redis connections', async () => {
    const prefix = fresh();
    const q = queue(prefix);
    let finished = false;
    let started = false;
    q.start(
      async () => {
        started = true;
        await sleep(200);
        finished = true;
      },
      { concurrency: 1 },
    );
    await q.schedule({ id: '4/d.fr', runAt: new Date() });
    await until(() => started);
    expect(await ourClients(prefix)).toBeGreaterThan(0);
    await q.stop();
    expect(finished).toBe(true);
    await sleep(50);
    expect(await ourClients(prefix)).toBe(0);
    await q.schedule({ id: '5/e.fr', runAt: new Date() }); // ignored after stop
  });

  it('is what the configuration gives with queue.driver redis: jobs land in Redis', async () => {
    const prefix = fresh();
    const q = createJobQueue(
      { queue: { driver: 'redis' }, redis: { url: TEST_REDIS_URL } },
      { logger: createLogger('silent'), prefix },
    );
    open.push(q);
    await q.schedule({ id: '6/f.fr', runAt: soon(60_000) });
    expect(await redis.zcard(`${prefix}:delivery:delayed`)).toBe(1);
    await q.stop();
  });
});
