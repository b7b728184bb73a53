import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { type Job, type JobHandler, type JobQueue, jobKey } from './job-queue.ts';

/*
 * The job queue on Redis with BullMQ, for several nodes: delayed jobs hold the retry times,
 * the job id (group + time) de-duplicates what the nodes' reconcilers schedule, and finished
 * jobs are removed so that the same id can be scheduled again. Redis is not the truth: the
 * spool is, and the reconciler rebuilds lost jobs from it.
 */

export interface BullmqQueueOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Queue name. Default 'delivery'. */
  name?: string;
  /** Key prefix in Redis (tests use a unique one). Default 'mss'. */
  prefix?: string;
  /** Milliseconds since the epoch, to turn runAt into a delay. */
  now?: () => number;
  /** A handler threw, or Redis reported an error. */
  onError?: (error: unknown, id?: string) => void;
}

interface JobData {
  id: string;
}

export function createBullmqQueue(options: BullmqQueueOptions): JobQueue {
  const name = options.name ?? 'delivery';
  const prefix = options.prefix ?? 'mss';
  const now = options.now ?? Date.now;
  const onError = options.onError ?? (() => {});
  // BullMQ's workers block on Redis: commands must wait for a reconnection, not fail.
  const connection = new Redis(options.url, {
    maxRetriesPerRequest: null,
    connectionName: `${prefix}:${name}`,
  });
  connection.on('error', (e) => onError(e));
  const queue = new Queue<JobData>(name, { connection, prefix });
  queue.on('error', (e) => onError(e));
  let worker: Worker<JobData> | null = null;
  let stopped = false;

  return {
    async schedule(job: Job) {
      if (stopped) return;
      await queue.add(
        'deliver',
        { id: job.id },
        {
          jobId: jobKey(job),
          delay: Math.max(0, job.runAt.getTime() - now()),
          attempts: 1,
          // Gone once done, so that the same id can be scheduled again; failures are in the spool.
          removeOnComplete: true,
          removeOnFail: true,
        },
      );
    },
    start(handler: JobHandler, opts) {
      if (worker) throw new Error('the queue is already started');
      if (stopped) throw new Error('the queue is stopped');
      worker = new Worker<JobData>(name, async (job) => handler(job.data.id), {
        connection,
        prefix,
        concurrency: opts.concurrency,
      });
      worker.on('error', (e) => onError(e));
      worker.on('failed', (job, e) => onError(e, job?.data.id));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await worker?.close();
        await queue.close();
      } finally {
        await connection.quit().catch(() => connection.disconnect());
      }
    },
  };
}
