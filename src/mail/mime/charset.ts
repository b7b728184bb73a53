/**
 * Bytes to text for header values, encoded-words and RFC 2231 parameters. Never throws: an
 * unknown charset, or bytes that are not what the charset says, fall back to UTF-8 when the
 * bytes are valid UTF-8 and to Windows-1252 otherwise (every byte maps to one character).
 *
 * Windows-1252 is decoded here rather than by TextDecoder: the labels that WHATWG maps to it
 * (iso-8859-1, latin1, us-ascii, windows-1252) lose the bytes 0x80-0x9F in Node 20's decoder,
 * and those are where French text keeps '€', 'œ' and typographic quotes.
 */
import { TextDecoder } from 'node:util';

/** Windows-1252 characters of bytes 0x80-0x9F (the five unassigned ones map to C1 controls). */
const CP1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

const WINDOWS_1252_LABELS = new Set([
  'windows-1252',
  'cp1252',
  'x-cp1252',
  'iso-8859-1',
  'iso8859-1',
  'iso_8859-1',
  'latin1',
  'l1',
]);
/** Labels of charsets that cannot hold 8-bit bytes: such bytes mean the label is wrong. */
const ASCII_LABELS = new Set(['us-ascii', 'ascii', 'ansi_x3.4-1968']);
const utf8Lenient = new TextDecoder('utf-8');

export function decodeWindows1252(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b >= 0x80 && b <= 0x9f ? CP1252_HIGH[b - 0x80] : String.fromCharCode(b);
  return out;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const decoders = new Map<string, TextDecoder | null>();

function isAscii(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b > 0x7f) return false;
  return true;
}

/** Bytes of unknown charset (raw 8-bit headers): UTF-8 when valid (RFC 6532), else Latin-1. */
export function decodeUnknown(bytes: Uint8Array): string {
  if (isAscii(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return decodeWindows1252(bytes);
  }
}

function decoderFor(charset: string): TextDecoder | null {
  const label = charset.trim().toLowerCase();
  let decoder = decoders.get(label);
  if (decoder === undefined) {
    try {
      decoder = new TextDecoder(label, { fatal: true });
    } catch {
      decoder = null;
    }
    decoders.set(label, decoder);
  }
  return decoder;
}

/** `bytes` decoded as `charset` (a MIME charset name; empty or unknown: guessed). */
export function decodeCharset(bytes: Uint8Array, charset: string | null | undefined): string {
  if (isAscii(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const label = (charset ?? '').trim().toLowerCase();
  if (WINDOWS_1252_LABELS.has(label)) return decodeWindows1252(bytes);
  if (label === '' || ASCII_LABELS.has(label)) return decodeUnknown(bytes);
  const decoder = decoderFor(label);
  if (decoder) {
    try {
      return decoder.decode(bytes);
    } catch {
      // Damaged UTF-8 keeps its good characters; another mislabelled charset is guessed.
      if (decoder.encoding === 'utf-8') return utf8Lenient.decode(bytes);
    }
  }
  return decodeUnknown(bytes);
}
