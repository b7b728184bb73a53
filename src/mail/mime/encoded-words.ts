/**
 * RFC 2047 encoded-words (`=?charset?B|Q?text?=`) to text. Used for the decoded copies of
 * headers kept for SEARCH and SORT, and for file names; IMAP ENVELOPE keeps the raw form.
 *
 * Lenient like mail clients: white space between two encoded-words is dropped, adjacent words
 * in the same charset are joined before decoding (senders split multi-byte characters across
 * words), a language suffix (`charset*lang`, RFC 2231) is ignored, and an encoded-word that
 * cannot be decoded is left as it is.
 */
import { decodeCharset } from './charset.ts';

const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Q encoding (RFC 2047 4.2): `_` is a space, `=XX` a byte. */
export function decodeQ(text: string): Buffer {
  const out = Buffer.alloc(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5f) {
      out[n++] = 0x20;
    } else if (c === 0x3d && i + 2 < text.length) {
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        out[n++] = hi * 16 + lo;
        i += 2;
      } else {
        out[n++] = c;
      }
    } else {
      out[n++] = c & 0xff;
    }
  }
  return out.subarray(0, n);
}

interface Word {
  start: number;
  end: number;
  charset: string;
  bytes: Buffer;
}

/** `value` with its encoded-words replaced by the text they encode. */
export function decodeEncodedWords(value: string): string {
  if (!value.includes('=?')) return value;
  const words: Word[] = [];
  for (const m of value.matchAll(ENCODED_WORD)) {
    const [whole, rawCharset = '', encoding = '', text = ''] = m;
    const charset = rawCharset.split('*')[0]!.toLowerCase();
    const bytes = encoding.toLowerCase() === 'b' ? Buffer.from(text, 'base64') : decodeQ(text);
    words.push({ start: m.index, end: m.index + whole.length, charset, bytes });
  }
  if (words.length === 0) return value;

  let out = '';
  let pos = 0;
  let pending: { charset: string; chunks: Buffer[] } | null = null;
  const flush = () => {
    if (pending) out += decodeCharset(Buffer.concat(pending.chunks), pending.charset);
    pending = null;
  };
  for (const w of words) {
    const gap = value.slice(pos, w.start);
    const onlySpace = pending !== null && /^[ \t\r\n]*$/.test(gap);
    if (!onlySpace) {
      flush();
      out += gap;
    }
    const current = pending as { charset: string; chunks: Buffer[] } | null;
    if (current && current.charset === w.charset) current.chunks.push(w.bytes);
    else {
      flush();
      pending = { charset: w.charset, chunks: [w.bytes] };
    }
    pos = w.end;
  }
  flush();
  return out + value.slice(pos);
}
