import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';
import { createBullmqQueue } from './bullmq-queue.ts';
import type { JobQueue } from './job-queue.ts';
import { createMemoryQueue } from './memory-queue.ts';

/**
 * The delivery job queue of the configuration: BullMQ on redis.url when queue.driver is
 * 'redis' (several nodes), else the in-process scheduler.
 */
export function createJobQueue(
  config: Pick<Config, 'queue' | 'redis'>,
  deps: { logger: Logger; prefix?: string },
): JobQueue {
  const log = deps.logger.child({ mod: 'queue' });
  if (config.queue.driver === 'redis') {
    // The configuration check guarantees the URL when the driver is redis.
    return createBullmqQueue({
      url: config.redis.url!,
      ...(deps.prefix ? { prefix: deps.prefix } : {}),
      onError: (err, id) => log.error({ err, job: id }, 'delivery queue error'),
    });
  }
  return createMemoryQueue({ onError: (err, id) => log.error({ err, job: id }, 'delivery job failed') });
}
