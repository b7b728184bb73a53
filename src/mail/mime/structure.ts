/**
 * The MIME tree of a raw message, with exact byte offsets, for IMAP BODYSTRUCTURE, BODY[section],
 * BODY[section.MIME|HEADER|TEXT]<partial> and RFC822.SIZE without parsing the message again.
 *
 * Every node gives its header and body byte ranges in the original buffer, content type and
 * parameters (RFC 2231 continuations joined), id, description, transfer encoding, md5,
 * disposition, language, location, body size and, for text/* and message/rfc822, its line
 * count. A multipart has `children`; a message/rfc822 part has `message` (the envelope and tree
 * of the embedded message).
 *
 * Section numbers (`part`) follow RFC 3501 6.4.5: children of a multipart are numbered from 1;
 * a message's top-level entity is `1` when it is not multipart (the top-level multipart is '');
 * inside a message/rfc822 part numbered N, the embedded multipart is numbered N too (its
 * children N.1, N.2…) and a single embedded part is N.1. `findPart()` resolves a section number.
 *
 * Never throws on broken input: a missing end boundary ends the last part at the end of the
 * body; a multipart without a boundary parameter, or whose boundary never appears, is read as a
 * single text/plain part; nesting deeper than `maxDepth`, or more than `maxParts` parts, are
 * kept as opaque leaves; a message/rfc822 part with a base64 or quoted-printable encoding (not
 * allowed by RFC 2046 5.2.1) is an opaque application/octet-stream leaf.
 */
import { buildEnvelope, type Envelope } from './envelope.ts';
import { type HeaderField, headerValue, parseHeaderBlock } from './headers.ts';
import { decodeParam, type MimeParam, paramValue, parseParameterized } from './params.ts';

export type { MimeParam } from './params.ts';

export interface ByteRange {
  start: number;
  end: number;
}

export interface MimeDisposition {
  /** Lower case: `attachment`, `inline`… */
  type: string;
  params: MimeParam[];
}

export interface MimePart {
  /** IMAP section number of this entity ('' for a top-level multipart). */
  part: string;
  /** Header section, its terminating empty line included. */
  header: ByteRange;
  body: ByteRange;
  /** Lower case, e.g. `text` / `plain`. */
  type: string;
  subtype: string;
  params: MimeParam[];
  /** Content-ID, raw. */
  id: string | null;
  /** Content-Description, raw (encoded-words not decoded). */
  description: string | null;
  /** Content-Transfer-Encoding in lower case; `7bit` when absent. */
  encoding: string;
  /** Content-MD5, raw. */
  md5: string | null;
  /** Body size in octets. */
  size: number;
  /** Lines of the body, for text/* and message/rfc822; null otherwise. */
  lines: number | null;
  disposition: MimeDisposition | null;
  /** Content-Language tags. */
  language: string[] | null;
  /** Content-Location, raw. */
  location: string | null;
  /** Decoded file name (disposition `filename`, else content-type `name`), for display and checks. */
  filename: string | null;
  /** Children of a multipart, else null. */
  children: MimePart[] | null;
  /** The embedded message of a message/rfc822 part, else null. */
  message: { envelope: Envelope; body: MimePart } | null;
}

export interface StructureOptions {
  /** Nesting levels of multiparts and embedded messages read; deeper ones are opaque. Default 32. */
  maxDepth?: number;
  /** Parts read in one message; the rest are not split. Default 2000. */
  maxParts?: number;
}

const LF = 0x0a;
const CR = 0x0d;

/** Lines in [start, end): line ends, plus one for a last line without one. */
export function countLines(buf: Buffer, start: number, end: number): number {
  let lines = 0;
  let pos = start;
  for (;;) {
    const lf = buf.indexOf(LF, pos);
    if (lf < 0 || lf >= end) break;
    lines++;
    pos = lf + 1;
  }
  if (end > start && buf[end - 1] !== LF) lines++;
  return lines;
}

/**
 * Byte ranges of the parts of a multipart body (RFC 2046 5.1.1). A delimiter line is
 * `--boundary` at the start of a line, optionally `--` (the close delimiter), optional white
 * space, then the line end; the line end before it belongs to the delimiter.
 */
export function splitMultipart(buf: Buffer, start: number, end: number, boundary: string): ByteRange[] {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const parts: ByteRange[] = [];
  let pos = start;
  let partStart = -1;
  for (;;) {
    const idx = buf.indexOf(delimiter, pos);
    if (idx < 0 || idx + delimiter.length > end) break;
    pos = idx + 1;
    if (idx !== start && buf[idx - 1] !== LF) continue;
    let q = idx + delimiter.length;
    let close = false;
    if (q + 1 < end && buf[q] === 0x2d && buf[q + 1] === 0x2d) {
      close = true;
      q += 2;
    }
    while (q < end && (buf[q] === 0x20 || buf[q] === 0x09)) q++;
    let lineEnd: number;
    if (q >= end) lineEnd = end;
    else if (buf[q] === LF) lineEnd = q + 1;
    else if (buf[q] === CR && (q + 1 >= end || buf[q + 1] === LF)) lineEnd = Math.min(q + 2, end);
    else continue; // `--boundary` followed by other text: not a delimiter
    if (partStart >= 0) {
      let partEnd = idx;
      if (partEnd > partStart && buf[partEnd - 1] === LF) {
        partEnd--;
        if (partEnd > partStart && buf[partEnd - 1] === CR) partEnd--;
      }
      parts.push({ start: partStart, end: partEnd });
    }
    if (close) return parts;
    partStart = lineEnd;
    pos = lineEnd;
  }
  // No close delimiter: the last part runs to the end of the body.
  if (partStart >= 0) parts.push({ start: partStart, end });
  return parts;
}

interface Context {
  buf: Buffer;
  maxDepth: number;
  maxParts: number;
  parts: number;
}

/** Where an entity sits: at the top of a message (root or embedded), or as a child of a multipart. */
type Place = { kind: 'message'; prefix: string } | { kind: 'child'; number: string };

function partNumber(place: Place, multipart: boolean): string {
  if (place.kind === 'child') return place.number;
  if (multipart) return place.prefix;
  return place.prefix ? `${place.prefix}.1` : '1';
}

function nullIfEmpty(v: string | null): string | null {
  return v === null || v === '' ? null : v;
}

function languages(fields: readonly HeaderField[]): string[] | null {
  const v = headerValue(fields, 'content-language');
  if (!v) return null;
  const tags = v
    .replace(/\([^()]*\)/g, '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  return tags.length ? tags : null;
}

const IDENTITY_ENCODINGS = new Set(['7bit', '8bit', 'binary']);

function parseEntity(
  ctx: Context,
  start: number,
  end: number,
  place: Place,
  depth: number,
  defaultType: [string, string],
): { entity: MimePart; fields: HeaderField[] } {
  ctx.parts++;
  const { buf } = ctx;
  const block = parseHeaderBlock(buf, start, end);
  const fields = block.fields;

  let type = defaultType[0];
  let subtype = defaultType[1];
  let params: MimeParam[] = defaultType[0] === 'text' ? [{ name: 'charset', value: 'us-ascii' }] : [];
  const contentType = headerValue(fields, 'content-type');
  if (contentType !== null) {
    const parsed = parseParameterized(contentType);
    const m = /^([!#$%&'*+.^_`{|}~0-9a-z-]+)\/([!#$%&'*+.^_`{|}~0-9a-z-]+)$/.exec(parsed.value);
    if (m) {
      type = m[1]!;
      subtype = m[2]!;
      params = parsed.params;
    } else {
      // RFC 2045 5.2: an unusable Content-Type means text/plain; charset=us-ascii.
      type = 'text';
      subtype = 'plain';
      params = [{ name: 'charset', value: 'us-ascii' }];
    }
  }
  const encoding = (headerValue(fields, 'content-transfer-encoding') ?? '')
    .replace(/\([^()]*\)/g, '')
    .trim()
    .toLowerCase();
  const dispositionValue = headerValue(fields, 'content-disposition');
  let disposition: MimeDisposition | null = null;
  if (dispositionValue !== null) {
    const parsed = parseParameterized(dispositionValue);
    if (parsed.value) disposition = { type: parsed.value, params: parsed.params };
  }
  const body: ByteRange = { start: block.bodyStart, end: Math.max(block.bodyStart, end) };

  const canNest = depth < ctx.maxDepth && ctx.parts < ctx.maxParts;
  let children: MimePart[] | null = null;
  let message: MimePart['message'] = null;

  if (type === 'multipart') {
    const boundary = paramValue(params, 'boundary');
    const ranges = boundary && canNest ? splitMultipart(buf, body.start, body.end, boundary) : [];
    if (ranges.length > 0) {
      const number = partNumber(place, true);
      const childDefault: [string, string] = subtype === 'digest' ? ['message', 'rfc822'] : ['text', 'plain'];
      children = [];
      for (const [i, r] of ranges.entries()) {
        if (ctx.parts >= ctx.maxParts) break;
        const childNumber = number ? `${number}.${i + 1}` : `${i + 1}`;
        const child = parseEntity(
          ctx,
          r.start,
          r.end,
          { kind: 'child', number: childNumber },
          depth + 1,
          childDefault,
        );
        children.push(child.entity);
      }
    } else if (!canNest) {
      type = 'application';
      subtype = 'octet-stream';
    } else {
      type = 'text';
      subtype = 'plain';
    }
  } else if (type === 'message' && subtype === 'rfc822') {
    if (!IDENTITY_ENCODINGS.has(encoding || '7bit') || !canNest) {
      type = 'application';
      subtype = 'octet-stream';
    } else {
      const number = partNumber(place, false);
      const inner = parseEntity(ctx, body.start, body.end, { kind: 'message', prefix: number }, depth + 1, [
        'text',
        'plain',
      ]);
      message = { envelope: buildEnvelope(inner.fields), body: inner.entity };
    }
  }

  const hasLines = type === 'text' || message !== null;
  const entity: MimePart = {
    part: partNumber(place, children !== null),
    header: { start: block.headerStart, end: block.bodyStart },
    body,
    type,
    subtype,
    params,
    id: nullIfEmpty(headerValue(fields, 'content-id')),
    description: nullIfEmpty(headerValue(fields, 'content-description')),
    encoding: encoding || '7bit',
    md5: nullIfEmpty(headerValue(fields, 'content-md5')),
    size: body.end - body.start,
    lines: hasLines ? countLines(buf, body.start, body.end) : null,
    disposition,
    language: languages(fields),
    location: nullIfEmpty(headerValue(fields, 'content-location')?.replace(/\s+/g, '') ?? null),
    filename: (disposition && decodeParam(disposition.params, 'filename')) ?? decodeParam(params, 'name'),
    children,
    message,
  };
  return { entity, fields };
}

/** The MIME tree of a raw message. */
export function parseStructure(raw: Buffer, options: StructureOptions = {}): MimePart {
  const ctx: Context = {
    buf: raw,
    maxDepth: options.maxDepth ?? 32,
    maxParts: options.maxParts ?? 2000,
    parts: 0,
  };
  return parseEntity(ctx, 0, raw.length, { kind: 'message', prefix: '' }, 0, ['text', 'plain']).entity;
}

/**
 * The entity a section number designates (`1`, `2.3`, `4.2.1`…), from a message's top-level
 * entity, following RFC 3501 6.4.5; null when there is no such part. For `N.HEADER` / `N.TEXT`,
 * resolve N, then use `message.body.header` / `message.body.body` of that message/rfc822 part.
 */
export function findPart(root: MimePart, section: string): MimePart | null {
  if (section === '') return root;
  const numbers = section.split('.').map(Number);
  if (numbers.some((n) => !Number.isInteger(n) || n < 1)) return null;
  return descend(root, numbers);
}

function descend(entity: MimePart, numbers: number[]): MimePart | null {
  const [n, ...rest] = numbers;
  if (n === undefined) return entity;
  const child = entity.children ? entity.children[n - 1] : n === 1 ? entity : undefined;
  if (!child) return null;
  if (rest.length === 0) return child;
  if (child.message) return descend(child.message.body, rest);
  if (child.children && child !== entity) return descend(child, rest);
  return null;
}
