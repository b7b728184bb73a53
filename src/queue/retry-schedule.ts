/*
 * When to try again. Pure: the spool gives the number of attempts made, the schedule and the
 * expiry of the message; this says when the next attempt is, or that the message has expired.
 */

/** Exponential delays (seconds): base, base·factor, … capped at max, `count` values. */
export function exponentialDelays(baseSeconds: number, factor: number, maxSeconds: number, count: number) {
  const delays: number[] = [];
  for (let i = 0, d = baseSeconds; i < count; i++, d *= factor) delays.push(Math.min(d, maxSeconds));
  return delays;
}

/** Used when no schedule is configured: 1 min, 2, 4, … capped at 4 h. */
export const DEFAULT_RETRY_DELAYS_SECONDS: readonly number[] = exponentialDelays(60, 2, 4 * 3600, 9);

/** Default lifetime of a message in the spool: 5 days. */
export const DEFAULT_EXPIRE_HOURS = 120;

/**
 * Delay after the `attempts`-th failed attempt (1 = the first one). The last delay of the
 * schedule repeats.
 */
export function retryDelaySeconds(attempts: number, delays: readonly number[]): number {
  if (delays.length === 0) throw new RangeError('the retry schedule needs at least one delay');
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError(`attempts must be ≥ 1 (${attempts})`);
  return delays[Math.min(attempts, delays.length) - 1]!;
}

export type NextStep = { kind: 'retry'; at: Date } | { kind: 'expire' };

/**
 * After a temporary failure: retry after the scheduled delay, but never later than the expiry
 * (the last attempt happens at the expiry instant); once the expiry has passed, give up.
 */
export function nextStep(args: {
  now: Date;
  attempts: number;
  delays: readonly number[];
  expiresAt: Date;
}): NextStep {
  const { now, attempts, delays, expiresAt } = args;
  if (now.getTime() >= expiresAt.getTime()) return { kind: 'expire' };
  const at = now.getTime() + retryDelaySeconds(attempts, delays) * 1000;
  return { kind: 'retry', at: new Date(Math.min(at, expiresAt.getTime())) };
}

/** Expiry of a message received at `receivedAt`. */
export function expiryOf(receivedAt: Date, expireHours: number): Date {
  return new Date(receivedAt.getTime() + expireHours * 3600_000);
}
