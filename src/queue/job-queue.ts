/*
 * The job queue port: decides who works on which spool group when. It is not the truth (the
 * SQL spool is): jobs may be lost (Redis flushed, process killed) or run twice, and the
 * spool's leases plus the reconciler make delivery happen exactly once anyway.
 */

export interface Job {
  /** A spool group id ('<messageId>/<domain>'). */
  id: string;
  /** Not before this instant. */
  runAt: Date;
}

export type JobHandler = (id: string) => Promise<void>;

export interface JobQueue {
  /**
   * Asks for handler(id) to be called at or after runAt, at least once. Scheduling the same
   * (id, runAt) again while it is pending or running does nothing.
   */
  schedule(job: Job): Promise<void>;
  /** Starts taking jobs, at most `concurrency` at a time on this node. */
  start(handler: JobHandler, options: { concurrency: number }): void;
  /** Takes no new jobs, waits for the running ones, releases connections. */
  stop(): Promise<void>;
}

/** Key of a job for de-duplication: the same group at the same instant is one job. */
export function jobKey(job: Job): string {
  return `${encodeURIComponent(job.id)}@${job.runAt.getTime()}`;
}
