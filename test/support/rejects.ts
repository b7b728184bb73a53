import { expect } from 'vitest';

/** Awaits `p`, expecting it to reject with that error class and rule; returns the error. */
export async function rejects<E extends Error>(
  p: Promise<unknown>,
  cls: new (...a: never[]) => E,
  rule?: string,
): Promise<E> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(cls);
    if (rule) expect((e as unknown as { rule: string }).rule).toBe(rule);
    return e as E;
  }
  throw new Error(`expected a ${cls.name}${rule ? ` (${rule})` : ''}, the call succeeded`);
}
