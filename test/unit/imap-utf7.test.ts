import { describe, expect, it } from 'vitest';
import { decodeMailboxUtf7, encodeMailboxUtf7 } from '../../src/imap/protocol/utf7.ts';

/** Small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('modified UTF-7 (RFC 3501 5.1.3)', () => {
  const pairs: Array<[string, string]> = [
    ['INBOX', 'INBOX'],
    ['', ''],
    ['&', '&-'],
    ['a&b', 'a&-b'],
    // RFC 3501 5.1.3 example
    ['~peter/mail/台北/日本語', '~peter/mail/&U,BTFw-/&ZeVnLIqe-'],
    ['Éléments envoyés', '&AMk-l&AOk-ments envoy&AOk-s'],
    ['Брошенные', '&BBEEQAQ+BEgENQQ9BD0ESwQ1-'],
    ['😀', '&2D3eAA-'],
    ['tab\there', 'tab&AAk-here'],
  ];
  it.each(pairs)('encodes %j as %j and back', (plain, wire) => {
    expect(encodeMailboxUtf7(plain)).toBe(wire);
    expect(decodeMailboxUtf7(wire)).toBe(plain);
  });

  it.each([
    ['unterminated shift', '&U,BTFw'],
    ['8-bit character', 'caf\u00e9'],
    ['control character', 'a\rb'],
    ['adjacent shifts (RFC example split in two)', '&U,BTFw-&ZeVnLIqe-'],
    ['printable ASCII encoded', '&AGE-'],
    ['"&" encoded instead of &-', '&ACY-'],
    ['standard base64 "/"', '&U/BTFw-'],
    ['padding', '&AOk=-'],
    ['non-zero padding bits', '&AOl-'],
    ['odd octet count', '&AOkA-'],
    ['lone high surrogate', '&2D0-'],
    ['lone low surrogate', '&3gA-'],
    ['reversed surrogates', '&3gDYPQ-'],
  ])('rejects %s', (_what, wire) => {
    expect(decodeMailboxUtf7(wire)).toBeNull();
  });

  it('round-trips random Unicode names (2000 seeded cases)', () => {
    const rnd = prng(7);
    const pool = [
      'a',
      'Z',
      '&',
      '-',
      '/',
      ' ',
      '~',
      'é',
      'ß',
      '台',
      '北',
      '😀',
      '\u0001',
      '\u00a0',
      '+',
      ',',
    ];
    for (let n = 0; n < 2000; n++) {
      let s = '';
      const len = Math.floor(rnd() * 12);
      for (let i = 0; i < len; i++) s += pool[Math.floor(rnd() * pool.length)];
      const wire = encodeMailboxUtf7(s);
      expect(wire).toMatch(/^[\x20-\x7e]*$/);
      expect(decodeMailboxUtf7(wire)).toBe(s);
      // Strict decoding accepts only the canonical form.
      expect(encodeMailboxUtf7(decodeMailboxUtf7(wire)!)).toBe(wire);
    }
  });
});
