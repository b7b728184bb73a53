/**
 * Modified UTF-7 for IMAP mailbox names (RFC 3501 section 5.1.3).
 *
 * Printable US-ASCII (0x20-0x7e) stands for itself, except "&" written "&-"; anything else is
 * UTF-16BE in modified base64 ("," for "/", no padding) between "&" and "-".
 *
 * The decoder is strict: it rejects control and 8-bit characters, an unterminated shift, base64
 * outside the modified alphabet, padding bits that are not zero, an odd number of octets, lone
 * surrogates, a shift that encodes a printable US-ASCII character (which must represent itself),
 * and two adjacent shifts (the encoder always merges them). Hence for every accepted input,
 * `encodeMailboxUtf7(decodeMailboxUtf7(s)) === s`.
 */

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
const B64_INDEX: Int8Array = (() => {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < B64.length; i++) t[B64.charCodeAt(i)] = i;
  return t;
})();

function isDirect(c: number): boolean {
  return c >= 0x20 && c <= 0x7e;
}

/** Encodes a Unicode mailbox name to modified UTF-7. Lone surrogates are encoded as they are. */
export function encodeMailboxUtf7(name: string): string {
  let out = '';
  let i = 0;
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (isDirect(c)) {
      out += c === 0x26 ? '&-' : name[i];
      i++;
      continue;
    }
    const units: number[] = [];
    while (i < name.length && !isDirect(name.charCodeAt(i))) {
      units.push(name.charCodeAt(i));
      i++;
    }
    let bits = 0;
    let acc = 0;
    out += '&';
    for (const u of units) {
      acc = (acc << 16) | u;
      bits += 16;
      while (bits >= 6) {
        bits -= 6;
        out += B64[(acc >> bits) & 0x3f];
      }
      acc &= (1 << bits) - 1;
    }
    if (bits > 0) out += B64[(acc << (6 - bits)) & 0x3f];
    out += '-';
  }
  return out;
}

/** Decodes a modified UTF-7 mailbox name; null when it is not valid (see the module comment). */
export function decodeMailboxUtf7(text: string): string | null {
  let out = '';
  let i = 0;
  let lastShiftEnd = -1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (!isDirect(c)) return null;
    if (c !== 0x26) {
      out += text[i];
      i++;
      continue;
    }
    const start = i + 1;
    const end = text.indexOf('-', start);
    if (end < 0) return null;
    if (end === start) {
      out += '&';
      i = end + 1;
      continue;
    }
    if (lastShiftEnd === i) return null; // adjacent shifts: not the canonical form
    let acc = 0;
    let bits = 0;
    const units: number[] = [];
    for (let j = start; j < end; j++) {
      const code = text.charCodeAt(j);
      const v = code < 128 ? B64_INDEX[code]! : -1;
      if (v < 0) return null;
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 16) {
        bits -= 16;
        units.push((acc >> bits) & 0xffff);
      }
    }
    // Leftover bits: fewer than 6 beyond the last unit, all zero.
    if (bits >= 6 || (acc & ((1 << bits) - 1)) !== 0) return null;
    if (units.length === 0) return null;
    for (let k = 0; k < units.length; k++) {
      const u = units[k]!;
      if (isDirect(u)) return null;
      if (u >= 0xd800 && u <= 0xdbff) {
        const next = units[k + 1];
        if (next === undefined || next < 0xdc00 || next > 0xdfff) return null;
        out += String.fromCharCode(u, next);
        k++;
        continue;
      }
      if (u >= 0xdc00 && u <= 0xdfff) return null;
      out += String.fromCharCode(u);
    }
    i = end + 1;
    lastShiftEnd = i;
  }
  return out;
}
