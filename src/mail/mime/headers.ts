/**
 * The header section of a message or MIME part, read from a byte range of the raw message.
 *
 * Every field keeps its exact byte range (IMAP BODY[HEADER.FIELDS] returns the fields as they
 * were written) and an unfolded text value (CRLF or LF before white space removed, RFC 5322
 * 2.2.3). Lines may end with CRLF or a bare LF. Never throws:
 *  - the header section ends at the first empty line (which belongs to it, as in IMAP
 *    BODY[HEADER]) or at the end of the range when there is none;
 *  - when the first line is not a header field at all, the entity has no header and the whole
 *    range is body;
 *  - a later line that is neither a field nor a continuation is skipped (kept in the header
 *    section's bytes, not a field).
 */
import { decodeUnknown } from './charset.ts';

export interface HeaderField {
  /** The name as written, e.g. `Content-Type`. */
  name: string;
  /** The name in lower case, for lookups. */
  key: string;
  /** Unfolded value without the leading white space after the colon nor trailing white space. */
  value: string;
  /** Byte offset of the field's first byte in the message. */
  start: number;
  /** Byte offset just after the field's last line end. */
  end: number;
}

export interface HeaderBlock {
  fields: HeaderField[];
  /** Header section, the terminating empty line included: [headerStart, bodyStart). */
  headerStart: number;
  bodyStart: number;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

/** Length of the field name at `pos` when the line is `name [WSP] ":" …`, else -1 (colon offset on success). */
function fieldColon(buf: Buffer, pos: number, lineEnd: number): number {
  let i = pos;
  while (i < lineEnd) {
    const c = buf[i]!;
    if (c === COLON) break;
    // ftext: printable US-ASCII except the colon (RFC 5322 3.6.8).
    if (c < 33 || c > 126) break;
    i++;
  }
  if (i === pos) return -1;
  let j = i;
  // Obsolete syntax allows white space between the name and the colon.
  while (j < lineEnd && (buf[j] === SP || buf[j] === HT)) j++;
  return j < lineEnd && buf[j] === COLON ? j : -1;
}

/** Unfolds bytes [start, end) and decodes them as text. */
function unfoldValue(buf: Buffer, start: number, end: number): string {
  const raw = buf.subarray(start, end);
  const text = decodeUnknown(raw);
  return text
    .replace(/\r?\n(?=[ \t])/g, '')
    .replace(/[\r\n]+/g, '')
    .replace(/^[ \t]+|[ \t]+$/g, '');
}

/** Reads the header section that starts at `start`, not looking past `end`. */
export function parseHeaderBlock(buf: Buffer, start = 0, end = buf.length): HeaderBlock {
  const fields: HeaderField[] = [];
  let pos = start;
  let current: { name: string; start: number; valueStart: number; end: number } | null = null;
  const close = () => {
    if (!current) return;
    fields.push({
      name: current.name,
      key: current.name.toLowerCase(),
      value: unfoldValue(buf, current.valueStart, current.end),
      start: current.start,
      end: current.end,
    });
    current = null;
  };

  while (pos < end) {
    const lf = buf.indexOf(LF, pos);
    const next = lf < 0 || lf >= end ? end : lf + 1;
    let contentEnd = next;
    if (contentEnd > pos && buf[contentEnd - 1] === LF) contentEnd--;
    if (contentEnd > pos && buf[contentEnd - 1] === CR) contentEnd--;

    if (contentEnd === pos) {
      // The empty line: end of the header section.
      close();
      return { fields, headerStart: start, bodyStart: next };
    }
    const first = buf[pos]!;
    if (first === SP || first === HT) {
      if (current) (current as { end: number }).end = next;
      pos = next;
      continue;
    }
    const colon = fieldColon(buf, pos, contentEnd);
    if (colon < 0) {
      if (pos === start) return { fields, headerStart: start, bodyStart: start };
      close();
      pos = next;
      continue;
    }
    close();
    let nameEnd = colon;
    while (nameEnd > pos && (buf[nameEnd - 1] === SP || buf[nameEnd - 1] === HT)) nameEnd--;
    current = { name: buf.toString('latin1', pos, nameEnd), start: pos, valueStart: colon + 1, end: next };
    pos = next;
  }
  close();
  return { fields, headerStart: start, bodyStart: end };
}

/** Value of the first field named `name` (case-insensitive), or null. */
export function headerValue(fields: readonly HeaderField[], name: string): string | null {
  const key = name.toLowerCase();
  for (const f of fields) if (f.key === key) return f.value;
  return null;
}

/** Values of every field named `name`, in order. */
export function headerValues(fields: readonly HeaderField[], name: string): string[] {
  const key = name.toLowerCase();
  return fields.filter((f) => f.key === key).map((f) => f.value);
}
