import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { createJobQueue } from '../../src/queue/from-config.ts';
import { createMemoryQueue } from '../../src/queue/memory-queue.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const soon = (ms: number) => new Date(Date.now() + ms);

/** Polls until check() is true (bounded). */
async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('in-process job queue', () => {
  it('runs a job at its time, not before, and jobs in time order', async () => {
    const q = createMemoryQueue();
    const ran: [string, number][] = [];
    const t0 = Date.now();
    q.start(async (id) => void ran.push([id, Date.now() - t0]), { concurrency: 1 });
    await q.schedule({ id: 'late', runAt: soon(120) });
    await q.schedule({ id: 'early', runAt: soon(60) });
    await q.schedule({ id: 'past', runAt: new Date(0) });
    await sleep(30);
    expect(ran.map((r) => r[0])).toEqual(['past']);
    await until(() => ran.length === 3);
    expect(ran.map((r) => r[0])).toEqual(['past', 'early', 'late']);
    expect(ran[1]![1]).toBeGreaterThanOrEqual(55);
    expect(ran[2]![1]).toBeGreaterThanOrEqual(115);
    await q.stop();
  });

  it('runs the same (id, time) once however often it is scheduled; another time is another job', async () => {
    const q = createMemoryQueue();
    const ran: string[] = [];
    const at = soon(20);
    for (let i = 0; i < 3; i++) await q.schedule({ id: 'g', runAt: at });
    await q.schedule({ id: 'g', runAt: soon(40) });
    q.start(async (id) => void ran.push(id), { concurrency: 4 });
    await until(() => ran.length === 2);
    await sleep(60);
    expect(ran).toEqual(['g', 'g']);
    await q.stop();
  });

  it('runs scheduled jobs only once started, at most `concurrency` at a time', async () => {
    const q = createMemoryQueue();
    let running = 0;
    let peak = 0;
    let done = 0;
    for (let i = 0; i < 10; i++) await q.schedule({ id: `j${i}`, runAt: new Date() });
    await sleep(20);
    expect(done).toBe(0);
    q.start(
      async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(15);
        running--;
        done++;
      },
      { concurrency: 3 },
    );
    await until(() => done === 10);
    expect(peak).toBe(3);
    await q.stop();
  });

  it('stop() waits for running jobs, then runs nothing more', async () => {
    const q = createMemoryQueue();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const ran: string[] = [];
    q.start(
      async (id) => {
        ran.push(id);
        if (id === 'slow') await gate;
      },
      { concurrency: 1 },
    );
    await q.schedule({ id: 'slow', runAt: new Date() });
    await q.schedule({ id: 'next', runAt: soon(30) });
    await until(() => ran.length === 1);
    let stopped = false;
    const stopping = q.stop().then(() => {
      stopped = true;
    });
    await sleep(50);
    expect(stopped).toBe(false);
    release();
    await stopping;
    await q.schedule({ id: 'after', runAt: new Date() });
    await sleep(50);
    expect(ran).toEqual(['slow']);
  });

  it('reports a failing handler and goes on', async () => {
    const errors: [string, string][] = [];
    const q = createMemoryQueue({ onError: (e, id) => errors.push([id, (e as Error).message]) });
    const ran: string[] = [];
    q.start(
      async (id) => {
        if (id === 'bad') throw new Error('boom');
        ran.push(id);
      },
      { concurrency: 1 },
    );
    await q.schedule({ id: 'bad', runAt: new Date() });
    await q.schedule({ id: 'good', runAt: soon(5) });
    await until(() => ran.length === 1);
    expect(errors).toEqual([['bad', 'boom']]);
    await q.stop();
  });

  it('follows a shifted clock (the same one as the spool in tests)', async () => {
    const offset = 5 * 24 * 3600_000; // five days ahead
    const q = createMemoryQueue({ now: () => Date.now() + offset });
    const ran: string[] = [];
    q.start(async (id) => void ran.push(id), { concurrency: 1 });
    await q.schedule({ id: 'now-in-shifted-time', runAt: new Date(Date.now() + offset) });
    await q.schedule({ id: 'real-now', runAt: new Date() });
    await until(() => ran.length === 2);
    await q.schedule({ id: 'shifted+1h', runAt: new Date(Date.now() + offset + 3600_000) });
    await sleep(40);
    expect(ran).toEqual(['now-in-shifted-time', 'real-now']);
    await q.stop();
  });

  it('does not keep the process alive while waiting for a far job (unref timer)', async () => {
    const module = resolve(import.meta.dirname, '../../src/queue/memory-queue.ts');
    const code = `
      import { createMemoryQueue } from ${JSON.stringify(module)};
      const q = createMemoryQueue();
      q.start(async () => {}, { concurrency: 1 });
      await q.schedule({ id: 'far', runAt: new Date(Date.now() + 3600_000) });
      console.log('scheduled');`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code_ = await new Promise<number | null>((res, rej) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        rej(new Error(`the process stayed alive: ${out}`));
      }, 8000);
      child.on('exit', (c) => {
        clearTimeout(t);
        res(c);
      });
    });
    expect(out).toContain('scheduled');
    expect(code_).toBe(0);
  });

  it('is what the configuration gives with queue.driver memory', async () => {
    const q = createJobQueue(
      { queue: { driver: 'memory' }, redis: { url: null } },
      { logger: createLogger('silent') },
    );
    const ran: string[] = [];
    q.start(async (id) => void ran.push(id), { concurrency: 1 });
    await q.schedule({ id: '1/a.fr', runAt: new Date() });
    await until(() => ran.length === 1);
    await q.stop();
  });
});
