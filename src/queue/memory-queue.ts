import { type Job, type JobHandler, type JobQueue, jobKey } from './job-queue.ts';

/*
 * In-process scheduler for a single node: a min-heap of jobs by time, one unref'd timer for
 * the earliest, at most `concurrency` handlers at once. Jobs live in memory only: after a
 * restart the reconciler schedules again whatever the spool says is due.
 */

export interface MemoryQueueOptions {
  /** Milliseconds since the epoch (tests may shift it along with the spool's clock). */
  now?: () => number;
  /** A handler threw (the job is dropped: the spool still has it). */
  onError?: (error: unknown, id: string) => void;
}

interface Entry {
  key: string;
  id: string;
  at: number;
}

/** setTimeout's ceiling (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function createMemoryQueue(options: MemoryQueueOptions = {}): JobQueue {
  const now = options.now ?? Date.now;
  const heap: Entry[] = [];
  const pending = new Set<string>();
  const running = new Map<string, Promise<void>>();
  let handler: JobHandler | null = null;
  let concurrency = 1;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  const pump = () => {
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (!handler || stopped) return;
    const t = now();
    while (running.size < concurrency && heap.length > 0 && heap[0]!.at <= t) {
      const entry = pop(heap);
      pending.delete(entry.key);
      run(entry);
    }
    if (running.size < concurrency && heap.length > 0) {
      timer = setTimeout(pump, Math.min(Math.max(0, heap[0]!.at - t), MAX_TIMER_MS));
      timer.unref();
    }
  };

  const run = (entry: Entry) => {
    const h = handler!;
    const p = (async () => {
      try {
        await h(entry.id);
      } catch (e) {
        options.onError?.(e, entry.id);
      }
    })().finally(() => {
      running.delete(entry.key);
      pump();
    });
    running.set(entry.key, p);
  };

  return {
    async schedule(job: Job) {
      if (stopped) return;
      const key = jobKey(job);
      if (pending.has(key) || running.has(key)) return;
      pending.add(key);
      push(heap, { key, id: job.id, at: job.runAt.getTime() });
      pump();
    },
    start(h, opts) {
      if (handler) throw new Error('the queue is already started');
      if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1)
        throw new RangeError('concurrency ≥ 1');
      handler = h;
      concurrency = opts.concurrency;
      pump();
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      while (running.size > 0) await Promise.all([...running.values()]);
    },
  };
}

// A binary min-heap on `at` (ties: insertion order is not kept, which nothing needs).
function push(heap: Entry[], e: Entry) {
  heap.push(e);
  for (let i = heap.length - 1; i > 0; ) {
    const parent = (i - 1) >> 1;
    if (heap[parent]!.at <= heap[i]!.at) break;
    [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
    i = parent;
  }
}

function pop(heap: Entry[]): Entry {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length > 0) {
    heap[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && heap[l]!.at < heap[m]!.at) m = l;
      if (r < heap.length && heap[r]!.at < heap[m]!.at) m = r;
      if (m === i) break;
      [heap[m], heap[i]] = [heap[i]!, heap[m]!];
      i = m;
    }
  }
  return top;
}
