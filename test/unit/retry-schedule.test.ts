import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETRY_DELAYS_SECONDS,
  expiryOf,
  exponentialDelays,
  nextStep,
  retryDelaySeconds,
} from '../../src/queue/retry-schedule.ts';

const CONFIG_DEFAULT = [60, 300, 900, 1800, 3600, 7200, 14400]; // config/default.yaml

describe('retry schedule', () => {
  it.each([
    [1, 60],
    [2, 300],
    [3, 900],
    [7, 14400],
    [8, 14400], // the last delay repeats
    [500, 14400],
  ])('after failed attempt %i: wait %i s', (attempts, seconds) => {
    expect(retryDelaySeconds(attempts, CONFIG_DEFAULT)).toBe(seconds);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses attempt number %s', (attempts) => {
    expect(() => retryDelaySeconds(attempts, CONFIG_DEFAULT)).toThrow(RangeError);
  });

  it('refuses an empty schedule', () => {
    expect(() => retryDelaySeconds(1, [])).toThrow(/at least one delay/);
  });

  it('builds exponential schedules, capped', () => {
    expect(exponentialDelays(60, 2, 14400, 9)).toEqual([60, 120, 240, 480, 960, 1920, 3840, 7680, 14400]);
    expect(exponentialDelays(10, 3, 100, 4)).toEqual([10, 30, 90, 100]);
    expect(DEFAULT_RETRY_DELAYS_SECONDS).toEqual(exponentialDelays(60, 2, 4 * 3600, 9));
  });

  it('expires 120 hours (5 days) after arrival by default configuration', () => {
    expect(expiryOf(new Date('2025-07-01T10:00:00Z'), 120).toISOString()).toBe('2025-07-06T10:00:00.000Z');
  });

  const received = new Date('2025-07-01T10:00:00Z');
  const expiresAt = expiryOf(received, 1); // 11:00
  it.each([
    [
      'first failure: retry after the first delay',
      '2025-07-01T10:00:00Z',
      1,
      { retryAt: '2025-07-01T10:01:00.000Z' },
    ],
    ['third failure', '2025-07-01T10:06:00Z', 3, { retryAt: '2025-07-01T10:21:00.000Z' }],
    [
      'a retry past the expiry is moved to the expiry',
      '2025-07-01T10:50:00Z',
      5,
      { retryAt: '2025-07-01T11:00:00.000Z' },
    ],
    ['failing at the expiry instant: expired', '2025-07-01T11:00:00Z', 6, 'expire'],
    ['failing after the expiry: expired', '2025-07-02T00:00:00Z', 1, 'expire'],
  ] as const)('%s', (_label, now, attempts, expected) => {
    const step = nextStep({ now: new Date(now), attempts, delays: CONFIG_DEFAULT, expiresAt });
    if (expected === 'expire') expect(step).toEqual({ kind: 'expire' });
    else expect(step).toEqual({ kind: 'retry', at: new Date(expected.retryAt) });
  });

  it('with the default configuration, a message always failing is tried until the 5th day, then expires', () => {
    const expiry = expiryOf(received, 120);
    let now = received;
    const times: Date[] = [now];
    for (let attempts = 1; ; attempts++) {
      const step = nextStep({ now, attempts, delays: CONFIG_DEFAULT, expiresAt: expiry });
      if (step.kind === 'expire') break;
      now = step.at;
      times.push(now);
      expect(attempts).toBeLessThan(100);
    }
    // 1 + 6 growing delays (13,860 s) + 29 × 4 h, then one last attempt at the expiry instant.
    expect(times).toHaveLength(1 + 6 + 29 + 1);
    expect(times.at(-1)).toEqual(expiry);
    const gaps = times.slice(1).map((t, i) => (t.getTime() - times[i]!.getTime()) / 1000);
    expect(gaps.slice(0, 7)).toEqual(CONFIG_DEFAULT);
    expect(Math.max(...gaps)).toBe(14400);
  });
});
