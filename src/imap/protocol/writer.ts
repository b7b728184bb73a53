/**
 * IMAP response serialisation (RFC 9051 section 7 and 9, RFC 3501, and the extensions' response
 * data). Values in, octets out; no I/O.
 *
 * Strings: a text of printable US-ASCII without `"` and `\` is written quoted; anything else (8-bit,
 * CR, LF, NUL, `"`, `\`, or longer than `QUOTED_MAX`) is written as a literal `{n}`, and a BINARY
 * value holding NUL as a literal8 `~{n}`. With `utf8` (IMAP4rev2 or UTF8=ACCEPT enabled),
 * well-formed UTF-8 may also be quoted and mailbox names are written in UTF-8, otherwise in
 * modified UTF-7. null is NIL. Response text is reduced to TEXT-CHAR (CR/LF and, without
 * `utf8`, 8-bit characters become "?" / " ").
 */
import type { Envelope, EnvelopeAddress } from '../../mail/mime/envelope.ts';
import type { SectionSpec, StatusItem } from './parser.ts';
import { formatNumberSet, formatOrderedSet } from './sequence.ts';
import { encodeMailboxUtf7 } from './utf7.ts';

export interface WriteOptions {
  /** UTF-8 allowed in quoted strings and mailbox names (IMAP4rev2 / UTF8=ACCEPT). */
  utf8?: boolean;
}

/** Longest string written quoted; longer ones are literals. */
export const QUOTED_MAX = 1024;

// ---------------------------------------------------------------------------------------------
// Values

export interface AtomValue {
  kind: 'atom';
  value: string;
}
export interface LiteralValue {
  kind: 'literal';
  data: Buffer;
  binary: boolean;
}
/** Written as it is (already serialised; the caller guarantees the grammar). */
export interface RawValue {
  kind: 'raw';
  value: string | Buffer;
}
export type ImapValue =
  | null
  | number
  | bigint
  | string
  | Buffer
  | AtomValue
  | LiteralValue
  | RawValue
  | readonly ImapValue[];

export const atom = (value: string): AtomValue => ({ kind: 'atom', value });
export const literal = (data: Buffer | string): LiteralValue => ({
  kind: 'literal',
  data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data,
  binary: false,
});
export const literal8 = (data: Buffer): LiteralValue => ({ kind: 'literal', data, binary: true });
export const raw = (value: string | Buffer): RawValue => ({ kind: 'raw', value });

const CRLF = Buffer.from('\r\n');

class Out {
  parts: Buffer[] = [];
  private text = '';
  constructor(readonly opts: WriteOptions) {}
  str(s: string): void {
    this.text += s;
  }
  buf(b: Buffer): void {
    this.flush();
    this.parts.push(b);
  }
  flush(): void {
    if (this.text) {
      this.parts.push(Buffer.from(this.text, 'utf8'));
      this.text = '';
    }
  }
  done(): Buffer {
    this.flush();
    return this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
  }
}

function isUtf8(buf: Buffer): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return true;
  } catch {
    return false;
  }
}

/** True when `data` can be written as a quoted string. */
export function canQuote(data: Buffer, utf8 = false): boolean {
  if (data.length > QUOTED_MAX) return false;
  let high = false;
  for (const b of data) {
    if (b === 0x22 || b === 0x5c || b < 0x20 || b === 0x7f) return false;
    if (b >= 0x80) {
      if (!utf8) return false;
      high = true;
    }
  }
  return !high || isUtf8(data);
}

function writeString(out: Out, data: Buffer): void {
  if (canQuote(data, out.opts.utf8)) {
    out.str(`"${data.toString(out.opts.utf8 ? 'utf8' : 'latin1')}"`);
    return;
  }
  writeLiteral(out, data, false);
}

function writeLiteral(out: Out, data: Buffer, binary: boolean): void {
  out.str(`${binary ? '~' : ''}{${data.length}}\r\n`);
  out.buf(data);
}

function writeValue(out: Out, v: ImapValue): void {
  if (v === null) out.str('NIL');
  else if (typeof v === 'number') out.str(String(Math.trunc(v)));
  else if (typeof v === 'bigint') out.str(v.toString());
  else if (typeof v === 'string') writeString(out, Buffer.from(v, 'utf8'));
  else if (Buffer.isBuffer(v)) writeString(out, v);
  else if (Array.isArray(v)) {
    out.str('(');
    writeValues(out, v as readonly ImapValue[]);
    out.str(')');
  } else {
    const o = v as AtomValue | LiteralValue | RawValue;
    if (o.kind === 'atom') out.str(o.value);
    else if (o.kind === 'literal') writeLiteral(out, o.data, o.binary);
    else if (typeof o.value === 'string') out.str(o.value);
    else out.buf(o.value);
  }
}

function writeValues(out: Out, values: readonly ImapValue[]): void {
  values.forEach((v, i) => {
    if (i > 0) out.str(' ');
    writeValue(out, v);
  });
}

/** Values separated by SP. */
export function serialize(values: readonly ImapValue[], opts: WriteOptions = {}): Buffer {
  const out = new Out(opts);
  writeValues(out, values);
  return out.done();
}

/** An nstring: NIL, quoted or literal. */
export function nstring(value: string | Buffer | null): ImapValue {
  return value;
}

/** An astring: an atom when every character is an ASTRING-CHAR (and it is not NIL), else a string. */
export function astring(value: string): ImapValue {
  if (value !== '' && /^[!#$&'+-[\]-z|}~]+$/.test(value) && value.toUpperCase() !== 'NIL') return atom(value);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Status responses and response codes

export type ResponseCode =
  | {
      code:
        | 'ALERT'
        | 'PARSE'
        | 'READ-ONLY'
        | 'READ-WRITE'
        | 'TRYCREATE'
        | 'UIDNOTSTICKY'
        | 'UNAVAILABLE'
        | 'AUTHENTICATIONFAILED'
        | 'AUTHORIZATIONFAILED'
        | 'EXPIRED'
        | 'PRIVACYVIOLATION'
        | 'CONTACTADMIN'
        | 'NOPERM'
        | 'INUSE'
        | 'EXPUNGEISSUED'
        | 'CORRUPTION'
        | 'SERVERBUG'
        | 'CLIENTBUG'
        | 'CANNOT'
        | 'LIMIT'
        | 'OVERQUOTA'
        | 'ALREADYEXISTS'
        | 'NONEXISTENT'
        | 'NOTSAVED'
        | 'HASCHILDREN'
        | 'CLOSED'
        | 'UNKNOWN-CTE'
        | 'NOMODSEQ'
        | 'TOOBIG'
        | 'COMPRESSIONACTIVE'
        | 'USEATTR';
    }
  | { code: 'BADCHARSET'; charsets?: readonly string[] }
  | { code: 'CAPABILITY'; capabilities: readonly string[] }
  | { code: 'PERMANENTFLAGS'; flags: readonly string[] }
  | { code: 'UIDNEXT' | 'UIDVALIDITY' | 'UNSEEN'; value: number }
  | { code: 'HIGHESTMODSEQ'; value: bigint }
  | { code: 'MODIFIED'; numbers: readonly number[] }
  | { code: 'APPENDUID'; uidValidity: number; uids: readonly number[] }
  | { code: 'COPYUID'; uidValidity: number; source: readonly number[]; destination: readonly number[] }
  /** Any other code: `atom [SP 1*<any TEXT-CHAR except "]">]`. */
  | { code: 'OTHER'; atom: string; text?: string };

/** The text between "[" and "]". */
export function formatResponseCode(rc: ResponseCode): string {
  switch (rc.code) {
    case 'BADCHARSET':
      return rc.charsets && rc.charsets.length > 0
        ? `BADCHARSET (${rc.charsets.map((c) => serialize([astring(c)]).toString('latin1')).join(' ')})`
        : 'BADCHARSET';
    case 'CAPABILITY':
      return ['CAPABILITY', ...rc.capabilities].join(' ');
    case 'PERMANENTFLAGS':
      return `PERMANENTFLAGS (${rc.flags.join(' ')})`;
    case 'UIDNEXT':
    case 'UIDVALIDITY':
    case 'UNSEEN':
      return `${rc.code} ${rc.value}`;
    case 'HIGHESTMODSEQ':
      return `HIGHESTMODSEQ ${rc.value}`;
    case 'MODIFIED':
      return `MODIFIED ${formatNumberSet(rc.numbers)}`;
    case 'APPENDUID':
      return `APPENDUID ${rc.uidValidity} ${formatOrderedSet(rc.uids)}`;
    case 'COPYUID':
      return `COPYUID ${rc.uidValidity} ${formatOrderedSet(rc.source)} ${formatOrderedSet(rc.destination)}`;
    case 'OTHER': {
      const text = rc.text ? ` ${sanitizeText(rc.text, false).replace(/\]/g, ')')}` : '';
      return `${rc.atom}${text}`;
    }
    default:
      return rc.code;
  }
}

/** TEXT-CHAR only: CR, LF and other controls become spaces; 8-bit becomes "?" unless `utf8`. */
export function sanitizeText(text: string, utf8: boolean): string {
  let s = text.replace(/[\x00-\x1f\x7f]/g, ' ');
  if (!utf8) s = s.replace(/[^\x20-\x7e]/gu, '?');
  return s;
}

function respText(text: string, code: ResponseCode | null | undefined, opts: WriteOptions): string {
  let t = sanitizeText(text, opts.utf8 === true);
  if (t === '') t = 'completed';
  if (!code && t.startsWith('[')) t = `(${t.slice(1)}`;
  return code ? `[${formatResponseCode(code)}] ${t}` : t;
}

export type StatusName = 'OK' | 'NO' | 'BAD';

/** `tag OK|NO|BAD [code] text` CRLF */
export function tagged(
  tag: string,
  status: StatusName,
  text: string,
  code?: ResponseCode | null,
  opts: WriteOptions = {},
): Buffer {
  return Buffer.from(`${tag} ${status} ${respText(text, code, opts)}\r\n`, 'utf8');
}

/** `* OK|NO|BAD|PREAUTH|BYE [code] text` CRLF */
export function untaggedStatus(
  status: StatusName | 'PREAUTH' | 'BYE',
  text: string,
  code?: ResponseCode | null,
  opts: WriteOptions = {},
): Buffer {
  return Buffer.from(`* ${status} ${respText(text, code, opts)}\r\n`, 'utf8');
}

/** `+ text` CRLF (a continuation request for a literal, IDLE…). */
export function continuation(text = 'Ready', opts: WriteOptions = {}): Buffer {
  return Buffer.from(`+ ${respText(text, null, opts)}\r\n`, 'utf8');
}

/** `+ base64` CRLF (a SASL challenge; empty data gives "+ "). */
export function continuationBase64(data: Buffer): Buffer {
  return Buffer.from(`+ ${data.toString('base64')}\r\n`, 'latin1');
}

/** `* values` CRLF */
export function untagged(values: readonly ImapValue[], opts: WriteOptions = {}): Buffer {
  const out = new Out(opts);
  out.str('* ');
  writeValues(out, values);
  out.buf(CRLF);
  return out.done();
}

// ---------------------------------------------------------------------------------------------
// Untagged data

export function capabilityResponse(capabilities: readonly string[]): Buffer {
  return untagged([atom('CAPABILITY'), ...capabilities.map(atom)]);
}

export function enabledResponse(capabilities: readonly string[]): Buffer {
  return untagged([atom('ENABLED'), ...capabilities.map(atom)]);
}

export function flagsResponse(flags: readonly string[]): Buffer {
  return untagged([atom('FLAGS'), flags.map(atom)]);
}

export function existsResponse(count: number): Buffer {
  return untagged([count, atom('EXISTS')]);
}

export function recentResponse(count: number): Buffer {
  return untagged([count, atom('RECENT')]);
}

export function expungeResponse(seq: number): Buffer {
  return untagged([seq, atom('EXPUNGE')]);
}

/** `* VANISHED [(EARLIER)] uid-set` (RFC 7162 3.2.10). */
export function vanishedResponse(uids: readonly number[], earlier: boolean): Buffer {
  const set = raw(formatNumberSet(uids));
  return untagged(earlier ? [atom('VANISHED'), [atom('EARLIER')], set] : [atom('VANISHED'), set]);
}

/** `* SEARCH n…` with the CONDSTORE `(MODSEQ n)` when given (RFC 7162 3.1.5). */
export function searchResponse(numbers: readonly number[], modseq?: bigint | null): Buffer {
  const values: ImapValue[] = [atom('SEARCH'), ...numbers];
  if (modseq != null && numbers.length > 0) values.push([atom('MODSEQ'), modseq]);
  return untagged(values);
}

export interface EsearchData {
  /** The command's tag (search-correlator). */
  tag?: string | null;
  uid: boolean;
  min?: number | null;
  max?: number | null;
  count?: number | null;
  /** Matching numbers (written as a sequence set); omitted when empty. */
  all?: readonly number[] | null;
  modseq?: bigint | null;
}

/** `* ESEARCH [(TAG "t")] [UID] [MIN n] [MAX n] [COUNT n] [ALL set] [MODSEQ n]` (RFC 4731, 7162). */
export function esearchResponse(d: EsearchData): Buffer {
  const values: ImapValue[] = [atom('ESEARCH')];
  if (d.tag != null) values.push([atom('TAG'), d.tag]);
  if (d.uid) values.push(atom('UID'));
  if (d.min != null) values.push(atom('MIN'), d.min);
  if (d.max != null) values.push(atom('MAX'), d.max);
  if (d.count != null) values.push(atom('COUNT'), d.count);
  if (d.all && d.all.length > 0) values.push(atom('ALL'), raw(formatNumberSet(d.all)));
  if (d.modseq != null) values.push(atom('MODSEQ'), d.modseq);
  return untagged(values);
}

export function sortResponse(numbers: readonly number[], modseq?: bigint | null): Buffer {
  const values: ImapValue[] = [atom('SORT'), ...numbers];
  if (modseq != null && numbers.length > 0) values.push([atom('MODSEQ'), modseq]);
  return untagged(values);
}

/** A thread: messages in order, then 0 or 2+ branches (RFC 5256 thread-list). */
export interface ThreadNode {
  messages: readonly number[];
  branches: readonly ThreadNode[];
}

function threadText(t: ThreadNode): string {
  // A single branch continues the same thread.
  let messages = [...t.messages];
  let branches = t.branches;
  while (branches.length === 1) {
    messages = messages.concat(branches[0]!.messages);
    branches = branches[0]!.branches;
  }
  const nested = branches.map(threadText).join('');
  return `(${messages.join(' ')}${messages.length > 0 && nested ? ' ' : ''}${nested})`;
}

/** `* THREAD (2)(3 6 (4 23)(44 7 96))` */
export function threadResponse(threads: readonly ThreadNode[]): Buffer {
  const body = threads.map(threadText).join('');
  return Buffer.from(`* THREAD${body ? ` ${body}` : ''}\r\n`, 'latin1');
}

/** A mailbox name as written on the wire (modified UTF-7 unless `utf8`). */
export function mailboxValue(name: string, opts: WriteOptions = {}): ImapValue {
  const wire = opts.utf8 ? name : encodeMailboxUtf7(name);
  return Buffer.from(wire, 'utf8');
}

export interface ListEntry {
  attributes: readonly string[];
  /** Hierarchy delimiter, null for a flat name space. */
  delimiter: string | null;
  name: string;
  /** LIST-EXTENDED CHILDINFO (e.g. ['SUBSCRIBED']). */
  childInfo?: readonly string[] | null;
  /** RFC 9051 OLDNAME (after a RENAME, for the client's cache). */
  oldName?: string | null;
}

function listLine(kind: 'LIST' | 'LSUB', e: ListEntry, opts: WriteOptions): Buffer {
  const values: ImapValue[] = [
    atom(kind),
    e.attributes.map(atom),
    delimiterValue(e.delimiter),
    mailboxValue(e.name, opts),
  ];
  const ext: ImapValue[] = [];
  if (e.childInfo && e.childInfo.length > 0)
    ext.push(
      'CHILDINFO',
      e.childInfo.map((c) => c),
    );
  if (e.oldName != null) ext.push('OLDNAME', [mailboxValue(e.oldName, opts)]);
  if (ext.length > 0) values.push(ext);
  return untagged(values, opts);
}

export function listResponse(entry: ListEntry, opts: WriteOptions = {}): Buffer {
  return listLine('LIST', entry, opts);
}

export function lsubResponse(entry: ListEntry, opts: WriteOptions = {}): Buffer {
  return listLine('LSUB', entry, opts);
}

/** `* STATUS mailbox (ITEM n …)` */
export function statusResponse(
  mailbox: string,
  items: ReadonlyArray<readonly [StatusItem, number | bigint | null]>,
  opts: WriteOptions = {},
): Buffer {
  const list: ImapValue[] = [];
  for (const [k, v] of items) list.push(atom(k), v === null ? atom('NIL') : v);
  return untagged([atom('STATUS'), mailboxValue(mailbox, opts), list], opts);
}

export interface NamespaceDesc {
  prefix: string;
  delimiter: string | null;
}

/** `* NAMESPACE personal other shared`, each a list of (prefix delimiter) or NIL. */
export function namespaceResponse(
  personal: readonly NamespaceDesc[] | null,
  other: readonly NamespaceDesc[] | null,
  shared: readonly NamespaceDesc[] | null,
  opts: WriteOptions = {},
): Buffer {
  const ns = (list: readonly NamespaceDesc[] | null): ImapValue =>
    list && list.length > 0
      ? concatList(
          list.map((d) => [mailboxValue(d.prefix, opts), delimiterValue(d.delimiter)]),
          opts,
        )
      : null;
  return untagged([atom('NAMESPACE'), ns(personal), ns(other), ns(shared)], opts);
}

/** `* ID ("name" "value" …)` or `* ID NIL` (RFC 2971). */
export function idResponse(params: ReadonlyArray<readonly [string, string | null]> | null): Buffer {
  if (!params || params.length === 0) return untagged([atom('ID'), null]);
  return untagged([atom('ID'), params.flat()]);
}

/** `* QUOTA root (STORAGE used limit …)` (RFC 9208; STORAGE in KiB). */
export function quotaResponse(
  root: string,
  resources: ReadonlyArray<{ name: string; usage: number; limit: number }>,
): Buffer {
  return untagged([atom('QUOTA'), astring(root), resources.flatMap((r) => [atom(r.name), r.usage, r.limit])]);
}

/** `* QUOTAROOT mailbox root…` */
export function quotaRootResponse(
  mailbox: string,
  roots: readonly string[],
  opts: WriteOptions = {},
): Buffer {
  return untagged([atom('QUOTAROOT'), mailboxValue(mailbox, opts), ...roots.map(astring)], opts);
}

/** `* ACL mailbox identifier rights …` (RFC 4314). */
export function aclResponse(
  mailbox: string,
  entries: ReadonlyArray<{ identifier: string; rights: string }>,
  opts: WriteOptions = {},
): Buffer {
  return untagged(
    [
      atom('ACL'),
      mailboxValue(mailbox, opts),
      ...entries.flatMap((e) => [astring(e.identifier), astring(e.rights)]),
    ],
    opts,
  );
}

/** `* LISTRIGHTS mailbox identifier required optional…` */
export function listRightsResponse(
  mailbox: string,
  identifier: string,
  required: string,
  optional: readonly string[],
  opts: WriteOptions = {},
): Buffer {
  return untagged(
    [
      atom('LISTRIGHTS'),
      mailboxValue(mailbox, opts),
      astring(identifier),
      required,
      ...optional.map(astring),
    ],
    opts,
  );
}

/** `* MYRIGHTS mailbox rights` */
export function myRightsResponse(mailbox: string, rights: string, opts: WriteOptions = {}): Buffer {
  return untagged([atom('MYRIGHTS'), mailboxValue(mailbox, opts), rights], opts);
}

// ---------------------------------------------------------------------------------------------
// FETCH

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** date-time: `"17-Jul-1996 02:44:25 -0700"` in the zone `offsetMinutes` east of UTC. */
export function formatDateTime(date: Date, offsetMinutes = 0): string {
  const d = new Date(date.getTime() + offsetMinutes * 60_000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const day = String(d.getUTCDate()).padStart(2, ' ');
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return (
    `${day}-${MONTHS[d.getUTCMonth()]}-${String(d.getUTCFullYear()).padStart(4, '0')} ` +
    `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ` +
    `${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)}`
  );
}

/** The section text of a FETCH response: `1.2.HEADER.FIELDS (FROM TO)`, '' for the whole message. */
export function formatSection(section: SectionSpec): string {
  const parts: string[] = [];
  if (section.part.length > 0) parts.push(section.part.join('.'));
  if (section.text) parts.push(section.text);
  let s = parts.join('.');
  if (section.text === 'HEADER.FIELDS' || section.text === 'HEADER.FIELDS.NOT') {
    s += ` (${section.fields.map((f) => serialize([astring(f)]).toString('latin1')).join(' ')})`;
  }
  return s;
}

/** `"(" 1*address ")"`: the addresses follow each other without SP. */
function addressList(list: readonly EnvelopeAddress[] | null): ImapValue {
  if (!list || list.length === 0) return null;
  return concatList(list.map((a) => [a.name, a.adl, a.mailbox, a.host]));
}

/** `"(" 1*item ")"` with no SP between the items (address lists, Namespace descriptors). */
function concatList(items: readonly ImapValue[], opts: WriteOptions = {}): RawValue {
  return raw(Buffer.concat([Buffer.from('('), ...items.map((i) => serialize([i], opts)), Buffer.from(')')]));
}

/** A hierarchy delimiter: `DQUOTE QUOTED-CHAR DQUOTE / nil`. */
function delimiterValue(delimiter: string | null): ImapValue {
  if (delimiter === null) return null;
  return raw(`"${delimiter === '\\' || delimiter === '"' ? '\\' : ''}${delimiter}"`);
}

/** ENVELOPE value (RFC 9051 7.5.2). */
export function envelopeValue(env: Envelope): ImapValue {
  return [
    env.date,
    env.subject,
    addressList(env.from),
    addressList(env.sender),
    addressList(env.replyTo),
    addressList(env.to),
    addressList(env.cc),
    addressList(env.bcc),
    env.inReplyTo,
    env.messageId,
  ];
}

/** What BODYSTRUCTURE needs of a MIME part; `MimePart` of src/mail/mime/structure.ts fits. */
export interface BodyStructurePart {
  type: string;
  subtype: string;
  params: ReadonlyArray<{ name: string; value: string }>;
  id: string | null;
  description: string | null;
  encoding: string;
  md5: string | null;
  size: number;
  lines: number | null;
  disposition: { type: string; params: ReadonlyArray<{ name: string; value: string }> } | null;
  language: readonly string[] | null;
  location: string | null;
  children: readonly BodyStructurePart[] | null;
  message: { envelope: Envelope; body: BodyStructurePart } | null;
}

function paramList(params: ReadonlyArray<{ name: string; value: string }>): ImapValue {
  if (params.length === 0) return null;
  return params.flatMap((p) => [p.name.toUpperCase(), p.value]);
}

function bodyValue(part: BodyStructurePart, extensible: boolean, depth: number): RawValue {
  // The grammar joins the bodies of a multipart without SP, so each body is serialised on its own.
  if (part.children !== null && depth < 100) {
    const children =
      part.children.length > 0
        ? part.children
        : [{ ...EMPTY_TEXT, children: null, message: null } as BodyStructurePart];
    const bodies = children.map((c) => serialize([bodyValue(c, extensible, depth + 1)]));
    const tail: ImapValue[] = [part.subtype.toUpperCase()];
    if (extensible) {
      tail.push(paramList(part.params), dispositionValue(part), languageValue(part), part.location);
    }
    return raw(
      Buffer.concat([Buffer.from('('), ...bodies, Buffer.from(' '), serialize(tail), Buffer.from(')')]),
    );
  }
  const type = part.type.toUpperCase();
  const subtype = part.subtype.toUpperCase();
  const values: ImapValue[] = [
    type,
    subtype,
    paramList(part.params),
    part.id,
    part.description,
    part.encoding.toUpperCase(),
    part.size,
  ];
  if (part.message && depth < 100) {
    values.push(envelopeValue(part.message.envelope), bodyValue(part.message.body, extensible, depth + 1));
    values.push(part.lines ?? 0);
  } else if (type === 'TEXT') {
    values.push(part.lines ?? 0);
  }
  if (extensible) values.push(part.md5, dispositionValue(part), languageValue(part), part.location);
  return raw(serialize([values]));
}

const EMPTY_TEXT = {
  type: 'text',
  subtype: 'plain',
  params: [],
  id: null,
  description: null,
  encoding: '7bit',
  md5: null,
  size: 0,
  lines: 0,
  disposition: null,
  language: null,
  location: null,
};

function dispositionValue(part: BodyStructurePart): ImapValue {
  if (!part.disposition) return null;
  return [part.disposition.type.toUpperCase(), paramList(part.disposition.params)];
}

function languageValue(part: BodyStructurePart): ImapValue {
  if (!part.language || part.language.length === 0) return null;
  if (part.language.length === 1) return part.language[0]!;
  return [...part.language];
}

/** BODYSTRUCTURE (`extensible`) or BODY value of a MIME tree. */
export function bodyStructureValue(part: BodyStructurePart, extensible: boolean): ImapValue {
  return bodyValue(part, extensible, 0);
}

export type FetchResponseItem =
  | { type: 'UID'; value: number }
  | { type: 'FLAGS'; flags: readonly string[] }
  | { type: 'INTERNALDATE'; date: Date; offsetMinutes?: number }
  | { type: 'RFC822.SIZE'; value: number }
  | { type: 'MODSEQ'; value: bigint }
  | { type: 'ENVELOPE'; envelope: Envelope }
  | { type: 'BODYSTRUCTURE' | 'BODY'; structure: BodyStructurePart }
  /** `BODY[section]<origin> data`; origin only for a partial fetch. */
  | { type: 'BODY[]'; section: SectionSpec; origin: number | null; data: Buffer | null }
  /** `BINARY[part]<origin> data`, a literal8 when the data holds NUL. */
  | { type: 'BINARY'; part: readonly number[]; origin: number | null; data: Buffer | null }
  | { type: 'BINARY.SIZE'; part: readonly number[]; size: number }
  | { type: 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT'; data: Buffer | null };

function fetchItemValues(item: FetchResponseItem): ImapValue[] {
  switch (item.type) {
    case 'UID':
    case 'RFC822.SIZE':
      return [atom(item.type), item.value];
    case 'MODSEQ':
      return [atom('MODSEQ'), [item.value]];
    case 'FLAGS':
      return [atom('FLAGS'), item.flags.map(atom)];
    case 'INTERNALDATE':
      return [atom('INTERNALDATE'), raw(`"${formatDateTime(item.date, item.offsetMinutes ?? 0)}"`)];
    case 'ENVELOPE':
      return [atom('ENVELOPE'), envelopeValue(item.envelope)];
    case 'BODYSTRUCTURE':
    case 'BODY':
      return [atom(item.type), bodyStructureValue(item.structure, item.type === 'BODYSTRUCTURE')];
    case 'BODY[]': {
      const origin = item.origin === null ? '' : `<${item.origin}>`;
      return [
        atom(`BODY[${formatSection(item.section)}]${origin}`),
        item.data === null ? null : literal(item.data),
      ];
    }
    case 'BINARY': {
      const origin = item.origin === null ? '' : `<${item.origin}>`;
      const data =
        item.data === null ? null : item.data.includes(0) ? literal8(item.data) : literal(item.data);
      return [atom(`BINARY[${item.part.join('.')}]${origin}`), data];
    }
    case 'BINARY.SIZE':
      return [atom(`BINARY.SIZE[${item.part.join('.')}]`), item.size];
    case 'RFC822':
    case 'RFC822.HEADER':
    case 'RFC822.TEXT':
      return [atom(item.type), item.data === null ? null : literal(item.data)];
  }
}

/** `* seq FETCH (item value …)` */
export function fetchResponse(
  seq: number,
  items: readonly FetchResponseItem[],
  opts: WriteOptions = {},
): Buffer {
  return untagged([seq, atom('FETCH'), items.flatMap(fetchItemValues)], opts);
}
