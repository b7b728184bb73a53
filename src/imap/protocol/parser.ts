/**
 * IMAP command parser: a framed command (reader.ts) becomes a typed command, or an error value
 * with the text of the BAD (or NO) response. Grammar: RFC 9051 section 9 with the RFC 3501
 * forms an IMAP4rev1 client may still send (NEW, OLD, RECENT, STATUS RECENT, LSUB), and the
 * ABNF of the extensions: UIDPLUS (4315), MOVE (6851), ENABLE (5161), ID (2971), UNSELECT (3691),
 * SPECIAL-USE (6154), SASL-IR (4959), CONDSTORE/QRESYNC (7162), ESEARCH (4731), SEARCHRES
 * (5182), WITHIN (5032), LIST-EXTENDED (5258), LIST-STATUS (5819), STATUS=SIZE (8438), SORT and
 * THREAD (5256), MULTIAPPEND (3502), BINARY (3516), QUOTA (9208), APPENDLIMIT (7889), UTF8=ACCEPT
 * (6855), ACL (4314), COMPRESS (4978), LITERAL+/- (7888).
 *
 * Strict: exactly one SP between arguments, no trailing space, keywords case-insensitive,
 * unknown options and modifiers refused. Whether a command is allowed in the current state, or
 * needs an extension to be enabled (QRESYNC, UTF8=ACCEPT), is the session's business.
 *
 * Mailbox names are decoded: modified UTF-7 (IMAP4rev1), or UTF-8 when the session uses
 * UTF-8 names (IMAP4rev2 or UTF8=ACCEPT enabled: `utf8Mailboxes`). "INBOX" in any case is
 * "INBOX". Strings are UTF-8 (invalid UTF-8 is refused). Never throws.
 */

import { isAstringChar, isAtomChar, isDigit, isListChar, isTagChar } from './chars.ts';
import { type ImapLimits, resolveLimits } from './limits.ts';
import type { FramedCommand, FramedLiteral } from './reader.ts';
import { parseSequenceSet, type SequenceSet } from './sequence.ts';
import { decodeMailboxUtf7 } from './utf7.ts';

// ---------------------------------------------------------------------------------------------
// Types

export interface ParseOptions {
  /** Mailbox names are UTF-8 (IMAP4rev2 or UTF8=ACCEPT), not modified UTF-7. Default false. */
  utf8Mailboxes?: boolean;
  limits?: Partial<ImapLimits>;
}

export interface ParseError {
  ok: false;
  /** The command's tag, or null when it has none (answer untagged). */
  tag: string | null;
  status: 'BAD' | 'NO';
  /** Response code text, e.g. `BADCHARSET (US-ASCII UTF-8)`. */
  code: string | null;
  text: string;
}

export interface ParseOk {
  ok: true;
  command: Command;
}

export type ParseResult = ParseOk | ParseError;

export type SystemFlag = '\\Answered' | '\\Flagged' | '\\Deleted' | '\\Seen' | '\\Draft';

export interface DateValue {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
}

export interface DateTimeValue {
  date: Date;
  /** Zone of the client's text, minutes east of UTC. */
  offsetMinutes: number;
}

export type SearchKey =
  | {
      type:
        | 'all'
        | 'answered'
        | 'deleted'
        | 'draft'
        | 'flagged'
        | 'new'
        | 'old'
        | 'recent'
        | 'seen'
        | 'unanswered'
        | 'undeleted'
        | 'undraft'
        | 'unflagged'
        | 'unseen';
    }
  | { type: 'keyword' | 'unkeyword'; flag: string }
  | { type: 'bcc' | 'body' | 'cc' | 'from' | 'subject' | 'text' | 'to'; value: string }
  | { type: 'header'; field: string; value: string }
  | { type: 'before' | 'on' | 'since' | 'sentbefore' | 'senton' | 'sentsince'; date: DateValue }
  | { type: 'larger' | 'smaller'; size: number }
  | { type: 'uid'; set: SequenceSet }
  | { type: 'seq'; set: SequenceSet }
  | { type: 'not'; key: SearchKey }
  | { type: 'or'; left: SearchKey; right: SearchKey }
  | { type: 'and'; keys: SearchKey[] }
  | {
      type: 'modseq';
      /** `"/flags/\\Seen" priv`; null when absent. */
      entry: { flag: string; entryType: 'priv' | 'shared' | 'all' } | null;
      modseq: bigint;
    }
  | { type: 'older' | 'younger'; seconds: number };

export type SearchReturnOption = 'MIN' | 'MAX' | 'ALL' | 'COUNT' | 'SAVE';

export interface SectionSpec {
  /** Part numbers, [] for the whole message. */
  part: number[];
  /** null: the whole part (`BODY[1]`, `BODY[]`). */
  text: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME' | null;
  /** Field names of HEADER.FIELDS(.NOT), as written. */
  fields: string[];
}

export interface PartialRange {
  offset: number;
  length: number;
}

export type FetchItem =
  | {
      type:
        | 'ENVELOPE'
        | 'FLAGS'
        | 'INTERNALDATE'
        | 'RFC822'
        | 'RFC822.HEADER'
        | 'RFC822.SIZE'
        | 'RFC822.TEXT'
        | 'UID'
        | 'BODYSTRUCTURE'
        | 'MODSEQ';
    }
  /** `BODY` without a section: the non-extensible BODYSTRUCTURE. */
  | { type: 'BODY' }
  | { type: 'BODY[]'; peek: boolean; section: SectionSpec; partial: PartialRange | null }
  | { type: 'BINARY'; peek: boolean; part: number[]; partial: PartialRange | null }
  | { type: 'BINARY.SIZE'; part: number[] };

export type StatusItem =
  | 'MESSAGES'
  | 'RECENT'
  | 'UIDNEXT'
  | 'UIDVALIDITY'
  | 'UNSEEN'
  | 'DELETED'
  | 'SIZE'
  | 'HIGHESTMODSEQ'
  | 'APPENDLIMIT';

export interface QresyncParams {
  uidValidity: number;
  modseq: bigint;
  knownUids: SequenceSet | null;
  /** known-sequence-set and known-uid-set. */
  seqMatch: { seqs: SequenceSet; uids: SequenceSet } | null;
}

export interface AppendMessage {
  flags: string[] | null;
  date: DateTimeValue | null;
  data: Buffer;
  /** Sent as literal8 (`~{n}`): may contain NUL octets. */
  binary: boolean;
  /** `UTF8 (~{n})` of RFC 6855. */
  utf8: boolean;
}

export type SortKey = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO';

export interface SortCriterion {
  key: SortKey;
  reverse: boolean;
}

export interface ListSelection {
  subscribed: boolean;
  remote: boolean;
  recursiveMatch: boolean;
  specialUse: boolean;
}

export interface ListReturn {
  subscribed: boolean;
  children: boolean;
  specialUse: boolean;
  /** LIST-STATUS items, null when not asked. */
  status: StatusItem[] | null;
}

interface Base {
  tag: string;
}
type Simple = Base & {
  name: 'CAPABILITY' | 'NOOP' | 'LOGOUT' | 'STARTTLS' | 'CHECK' | 'CLOSE' | 'UNSELECT' | 'IDLE' | 'NAMESPACE';
};

export type Command =
  | Simple
  | (Base & { name: 'EXPUNGE'; uid: false })
  | (Base & { name: 'EXPUNGE'; uid: true; sequence: SequenceSet })
  | (Base & { name: 'AUTHENTICATE'; mechanism: string; initialResponse: Buffer | null })
  | (Base & { name: 'LOGIN'; username: string; password: string })
  | (Base & { name: 'ENABLE'; capabilities: string[] })
  | (Base & {
      name: 'SELECT' | 'EXAMINE';
      mailbox: string;
      condstore: boolean;
      qresync: QresyncParams | null;
    })
  | (Base & { name: 'CREATE'; mailbox: string; specialUse: string[] | null })
  | (Base & { name: 'DELETE' | 'SUBSCRIBE' | 'UNSUBSCRIBE'; mailbox: string })
  | (Base & { name: 'RENAME'; mailbox: string; newName: string })
  | (Base & {
      name: 'LIST';
      reference: string;
      patterns: string[];
      selection: ListSelection;
      returns: ListReturn;
      /** Any LIST-EXTENDED syntax was used (selection options, pattern list, RETURN). */
      extended: boolean;
    })
  | (Base & { name: 'LSUB'; reference: string; pattern: string })
  | (Base & { name: 'STATUS'; mailbox: string; items: StatusItem[] })
  | (Base & { name: 'APPEND'; mailbox: string; messages: AppendMessage[] })
  | (Base & {
      name: 'SEARCH';
      uid: boolean;
      charset: string | null;
      criteria: SearchKey[];
      /** ESEARCH options; null for a plain SEARCH; [] for `RETURN ()` (= ALL). */
      returns: SearchReturnOption[] | null;
    })
  | (Base & {
      name: 'FETCH';
      uid: boolean;
      sequence: SequenceSet;
      items: FetchItem[];
      macro: 'ALL' | 'FAST' | 'FULL' | null;
      changedSince: bigint | null;
      vanished: boolean;
    })
  | (Base & {
      name: 'STORE';
      uid: boolean;
      sequence: SequenceSet;
      unchangedSince: bigint | null;
      operation: 'set' | 'add' | 'remove';
      silent: boolean;
      flags: string[];
    })
  | (Base & { name: 'COPY' | 'MOVE'; uid: boolean; sequence: SequenceSet; mailbox: string })
  | (Base & { name: 'SORT'; uid: boolean; criteria: SortCriterion[]; charset: string; search: SearchKey[] })
  | (Base & { name: 'THREAD'; uid: boolean; algorithm: string; charset: string; search: SearchKey[] })
  | (Base & { name: 'GETQUOTA'; root: string })
  | (Base & { name: 'GETQUOTAROOT'; mailbox: string })
  | (Base & { name: 'SETQUOTA'; root: string; resources: Array<{ name: string; limit: number }> })
  | (Base & { name: 'GETACL' | 'MYRIGHTS'; mailbox: string })
  | (Base & {
      name: 'SETACL';
      mailbox: string;
      identifier: string;
      mode: 'set' | 'add' | 'remove';
      rights: string;
    })
  | (Base & { name: 'DELETEACL' | 'LISTRIGHTS'; mailbox: string; identifier: string })
  | (Base & { name: 'ID'; params: Array<[string, string | null]> | null })
  | (Base & { name: 'COMPRESS'; mechanism: string });

export type CommandName = Command['name'];

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const SYSTEM_FLAGS: Record<string, SystemFlag> = {
  '\\ANSWERED': '\\Answered',
  '\\FLAGGED': '\\Flagged',
  '\\DELETED': '\\Deleted',
  '\\SEEN': '\\Seen',
  '\\DRAFT': '\\Draft',
};
const USE_ATTRS: Record<string, string> = {
  '\\ALL': '\\All',
  '\\ARCHIVE': '\\Archive',
  '\\DRAFTS': '\\Drafts',
  '\\FLAGGED': '\\Flagged',
  '\\JUNK': '\\Junk',
  '\\SENT': '\\Sent',
  '\\TRASH': '\\Trash',
};
const STATUS_ITEMS = new Set<string>([
  'MESSAGES',
  'RECENT',
  'UIDNEXT',
  'UIDVALIDITY',
  'UNSEEN',
  'DELETED',
  'SIZE',
  'HIGHESTMODSEQ',
  'APPENDLIMIT',
]);
const SORT_KEYS = new Set<string>(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO']);
const SUPPORTED_CHARSETS = new Set(['UTF-8', 'US-ASCII']);
const MAX_MODSEQ = 9223372036854775807n;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

class Fail {
  constructor(
    readonly text: string,
    readonly status: 'BAD' | 'NO' = 'BAD',
    readonly code: string | null = null,
  ) {}
}

// ---------------------------------------------------------------------------------------------
// Cursor over the lines and literals of a framed command

class Cursor {
  private seg = 0;
  pos = 0;
  private line: string;
  private args = 0;
  /** Charset of the SEARCH being parsed, when it is not supported. */
  badCharset = false;

  constructor(
    private readonly lines: readonly Buffer[],
    private readonly literals: readonly FramedLiteral[],
    readonly limits: ImapLimits,
    readonly utf8Mailboxes: boolean,
  ) {
    this.line = (lines[0] ?? Buffer.alloc(0)).toString('latin1');
  }

  fail(text: string): never {
    throw new Fail(text);
  }

  bump(): void {
    if (++this.args > this.limits.maxCommandArgs) throw new Fail('Too many arguments', 'BAD', 'LIMIT');
  }

  peek(): number {
    return this.line.charCodeAt(this.pos);
  }

  peek2(): number {
    return this.line.charCodeAt(this.pos + 1);
  }

  atEnd(): boolean {
    return this.pos >= this.line.length && this.seg >= this.lines.length - 1;
  }

  atLineEnd(): boolean {
    return this.pos >= this.line.length;
  }

  end(): void {
    if (!this.atEnd()) {
      if (this.peek() === 0x20 && this.pos === this.line.length - 1) this.fail('Unexpected trailing space');
      this.fail(`Unexpected characters at the end of the command: ${this.describe()}`);
    }
  }

  describe(): string {
    if (this.atLineEnd()) return 'end of line';
    return JSON.stringify(this.line.slice(this.pos, this.pos + 20)).replace(/[^\x20-\x7e]/g, '?');
  }

  sp(): void {
    if (this.peek() !== 0x20) this.fail(`Expected a space before ${this.describe()}`);
    this.pos++;
    if (this.peek() === 0x20) this.fail('Expected a single space');
  }

  /** Consumes `ch` when it is next. */
  eat(ch: string): boolean {
    if (this.line[this.pos] === ch) {
      this.pos++;
      return true;
    }
    return false;
  }

  expect(ch: string): void {
    if (!this.eat(ch)) this.fail(`Expected "${ch}" before ${this.describe()}`);
  }

  /** The next characters matching `pred`, possibly none. */
  take(pred: (c: number) => boolean): string {
    const start = this.pos;
    while (this.pos < this.line.length && pred(this.line.charCodeAt(this.pos))) this.pos++;
    return this.line.slice(start, this.pos);
  }

  atom(what = 'atom'): string {
    const s = this.take(isAtomChar);
    if (s === '') this.fail(`Expected ${what} before ${this.describe()}`);
    this.bump();
    return s;
  }

  /** An atom compared case-insensitively: the upper-case keyword. */
  keyword(what = 'keyword'): string {
    return this.atom(what).toUpperCase();
  }

  /** Peeks at the keyword at the cursor (upper case) without consuming it. */
  peekKeyword(): string {
    let i = this.pos;
    while (i < this.line.length && isAtomChar(this.line.charCodeAt(i))) i++;
    return this.line.slice(this.pos, i).toUpperCase();
  }

  /** A literal announcement at the cursor that ends the line: its literal, consumed. */
  private literal(allowBinary: boolean): FramedLiteral | null {
    const rest = this.line.slice(this.pos);
    const m = /^(~?)\{([0-9]+)(\+?)\}$/.exec(rest);
    if (!m) return null;
    const lit = this.literals[this.seg];
    if (!lit) this.fail('Literal data missing');
    if (m[1] === '~' && !allowBinary) this.fail('literal8 is not allowed here');
    if (!lit.binary && lit.data.includes(0)) this.fail('NUL octet in a literal (use literal8 in APPEND)');
    this.seg++;
    this.line = (this.lines[this.seg] ?? Buffer.alloc(0)).toString('latin1');
    this.pos = 0;
    this.bump();
    return lit;
  }

  /** quoted: DQUOTE *QUOTED-CHAR DQUOTE, as octets. */
  private quoted(): Buffer {
    this.pos++; // opening quote
    let out = '';
    for (;;) {
      if (this.pos >= this.line.length) this.fail('Unterminated quoted string');
      const c = this.line.charCodeAt(this.pos);
      if (c === 0x22) {
        this.pos++;
        break;
      }
      if (c === 0x5c) {
        const n = this.line.charCodeAt(this.pos + 1);
        if (n !== 0x22 && n !== 0x5c) this.fail('Invalid escape in a quoted string');
        out += this.line[this.pos + 1];
        this.pos += 2;
        continue;
      }
      if (c === 0 || c === 0x0d || c === 0x0a) this.fail('Invalid character in a quoted string');
      out += this.line[this.pos];
      this.pos++;
    }
    this.bump();
    return Buffer.from(out, 'latin1');
  }

  /** string = quoted / literal, as octets; null when neither is at the cursor. */
  tryString(allowBinary = false): { data: Buffer; binary: boolean } | null {
    const c = this.peek();
    if (c === 0x22) return { data: this.quoted(), binary: false };
    if (c === 0x7b || c === 0x7e) {
      const lit = this.literal(allowBinary);
      if (lit) return { data: lit.data, binary: lit.binary };
    }
    return null;
  }

  string(what = 'string'): Buffer {
    const s = this.tryString();
    if (!s) this.fail(`Expected ${what} before ${this.describe()}`);
    return s.data;
  }

  /** astring = 1*ASTRING-CHAR / string, as octets. */
  astring(what = 'string'): Buffer {
    const s = this.tryString();
    if (s) return s.data;
    const a = this.take(isAstringChar);
    if (a === '') this.fail(`Expected ${what} before ${this.describe()}`);
    this.bump();
    return Buffer.from(a, 'latin1');
  }

  /** nstring = string / NIL. */
  nstring(): Buffer | null {
    if (this.peekKeyword() === 'NIL' && !this.line.slice(this.pos + 3).startsWith('{')) {
      this.pos += 3;
      return null;
    }
    return this.string();
  }

  text(buf: Buffer, what = 'string'): string {
    if (this.badCharset) return buf.toString('latin1');
    try {
      return utf8Decoder.decode(buf);
    } catch {
      return this.fail(`Invalid UTF-8 in ${what}`);
    }
  }

  astringText(what = 'string'): string {
    return this.text(this.astring(what), what);
  }

  /** A mailbox name (decoded). */
  mailbox(inboxCase = true): string {
    const raw = this.astring('mailbox name');
    return this.mailboxName(raw, inboxCase);
  }

  mailboxName(raw: Buffer, inboxCase: boolean): string {
    let name: string;
    if (this.utf8Mailboxes) {
      name = this.text(raw, 'mailbox name');
    } else {
      const decoded = raw.some((b) => b >= 0x80) ? null : decodeMailboxUtf7(raw.toString('latin1'));
      if (decoded === null) this.fail('Mailbox name is not valid modified UTF-7');
      name = decoded;
    }
    if (inboxCase && name.length === 5 && name.toUpperCase() === 'INBOX') return 'INBOX';
    return name;
  }

  /** list-mailbox = 1*list-char / string (decoded like a mailbox name, INBOX left as is). */
  listMailbox(): string {
    const s = this.tryString();
    if (s) return this.mailboxName(s.data, false);
    const a = this.take(isListChar);
    if (a === '') this.fail(`Expected a mailbox pattern before ${this.describe()}`);
    this.bump();
    return this.mailboxName(Buffer.from(a, 'latin1'), false);
  }

  digits(): string {
    const s = this.take(isDigit);
    if (s === '') this.fail(`Expected a number before ${this.describe()}`);
    this.bump();
    return s;
  }

  /** number = 1*DIGIT, 0 to 4294967295. */
  number(): number {
    const s = this.digits();
    const n = s.length > 10 ? Number.POSITIVE_INFINITY : Number(s);
    if (n > 4294967295) this.fail('Number out of range');
    return n;
  }

  /** nz-number = digit-nz *DIGIT, 1 to 4294967295. */
  nzNumber(): number {
    if (this.peek() === 0x30) this.fail('Expected a non-zero number');
    return this.number();
  }

  /** number64 = 1*DIGIT, 0 to 2^63-1; larger than 2^53 comes back as MAX_SAFE_INTEGER. */
  number64(): number {
    const s = this.digits();
    const b = BigInt(s);
    if (b > MAX_MODSEQ) this.fail('Number out of range');
    return b > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(b);
  }

  /** mod-sequence-value (1 to 2^63-1), or mod-sequence-valzer (0 allowed) when `zero`. */
  modseq(zero: boolean): bigint {
    const s = this.digits();
    const b = BigInt(s);
    if (b > MAX_MODSEQ) this.fail('Mod-sequence out of range');
    if (!zero && b === 0n) this.fail('Expected a non-zero mod-sequence');
    return b;
  }

  sequenceSet(): SequenceSet {
    const s = this.take((c) => isDigit(c) || c === 0x2a || c === 0x3a || c === 0x2c || c === 0x24);
    const set = parseSequenceSet(s);
    if (!set)
      this.fail(s === '' ? `Expected a sequence set before ${this.describe()}` : 'Invalid sequence set');
    this.bump();
    return set;
  }

  /** flag (not \Recent-specific: any "\" atom is a flag-extension). */
  flag(allowStar = false): string {
    if (this.eat('\\')) {
      if (allowStar && this.eat('*')) return '\\*';
      const a = this.atom('flag');
      return SYSTEM_FLAGS[`\\${a.toUpperCase()}`] ?? `\\${a}`;
    }
    return this.atom('flag');
  }

  /** flag-list = "(" [flag *(SP flag)] ")" */
  flagList(): string[] {
    this.expect('(');
    const flags: string[] = [];
    if (!this.eat(')')) {
      for (;;) {
        flags.push(this.flag());
        if (this.eat(')')) break;
        this.sp();
      }
    }
    return flags;
  }

  /** "(" item *(SP item) ")" with at least one item (or none when `allowEmpty`). */
  list<T>(item: () => T, allowEmpty = false): T[] {
    this.expect('(');
    const out: T[] = [];
    if (this.eat(')')) {
      if (!allowEmpty) this.fail('Empty list');
      return out;
    }
    for (;;) {
      out.push(item());
      if (this.eat(')')) return out;
      this.sp();
    }
  }

  /** date = date-text / DQUOTE date-text DQUOTE; date-text = date-day "-" date-month "-" date-year */
  date(): DateValue {
    const quoted = this.eat('"');
    const m = /^([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})/.exec(this.line.slice(this.pos));
    if (!m) this.fail('Invalid date (expected d-Mon-yyyy)');
    this.pos += m[0].length;
    if (quoted) this.expect('"');
    const day = Number(m[1]);
    const month = MONTHS.indexOf(m[2]!.toUpperCase()) + 1;
    const year = Number(m[3]);
    if (month === 0) this.fail('Invalid month in date');
    if (!validDay(year, month, day)) this.fail('Invalid day in date');
    this.bump();
    return { year, month, day };
  }

  /** date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE */
  dateTime(): DateTimeValue {
    const m =
      /^"([ 0-9][0-9])-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"/.exec(
        this.line.slice(this.pos),
      );
    if (!m) this.fail('Invalid date-time (expected "dd-Mon-yyyy hh:mm:ss +zzzz")');
    this.pos += m[0].length;
    const day = Number(m[1]!.trim());
    const month = MONTHS.indexOf(m[2]!.toUpperCase()) + 1;
    const year = Number(m[3]);
    const [hh, mm, ss] = [Number(m[4]), Number(m[5]), Number(m[6])];
    const zh = Number(m[8]);
    const zm = Number(m[9]);
    if (month === 0 || !validDay(year, month, day)) this.fail('Invalid date in date-time');
    if (hh > 23 || mm > 59 || ss > 60 || zm > 59) this.fail('Invalid time in date-time');
    const offsetMinutes = (m[7] === '-' ? -1 : 1) * (zh * 60 + zm);
    const utc = Date.UTC(year, month - 1, day, hh, mm, Math.min(ss, 59)) - offsetMinutes * 60_000;
    this.bump();
    return { date: new Date(utc), offsetMinutes };
  }
}

function validDay(year: number, month: number, day: number): boolean {
  if (day < 1) return false;
  const days = [
    31,
    year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28,
    31,
    30,
    31,
    30,
    31,
    31,
    30,
    31,
    30,
    31,
  ];
  return day <= days[month - 1]!;
}

// ---------------------------------------------------------------------------------------------
// Commands

/** Parses a framed command. Never throws. */
export function parseCommand(
  frame: Pick<FramedCommand, 'lines' | 'literals'>,
  options: ParseOptions = {},
): ParseResult {
  const limits = resolveLimits(options.limits);
  const first = frame.lines[0] ?? Buffer.alloc(0);
  const tagEnd = first.indexOf(0x20);
  const rawTag = first.toString('latin1', 0, tagEnd < 0 ? first.length : tagEnd);
  const tagOk = rawTag.length > 0 && [...rawTag].every((ch) => isTagChar(ch.charCodeAt(0)));
  const tag = tagOk ? rawTag : null;
  if (!tag) return { ok: false, tag: null, status: 'BAD', code: null, text: 'Missing or invalid tag' };
  try {
    const cur = new Cursor(frame.lines, frame.literals, limits, options.utf8Mailboxes === true);
    cur.pos = rawTag.length;
    if (cur.atEnd()) cur.fail('Missing command');
    cur.sp();
    const name = cur.keyword('command name');
    const command = parseNamed(cur, tag, name);
    cur.end();
    if (cur.badCharset) {
      return {
        ok: false,
        tag,
        status: 'NO',
        code: 'BADCHARSET (US-ASCII UTF-8)',
        text: 'Unsupported charset',
      };
    }
    return { ok: true, command };
  } catch (e) {
    if (e instanceof Fail) return { ok: false, tag, status: e.status, code: e.code, text: e.text };
    if (e instanceof RangeError) {
      // Deep recursion on hostile input; the nesting limit should have caught it first.
      return { ok: false, tag, status: 'BAD', code: null, text: 'Command too complex' };
    }
    return { ok: false, tag, status: 'BAD', code: null, text: 'Invalid command' };
  }
}

/** Parses a single-line command given as text (tests, tools). */
export function parseCommandLine(line: string | Buffer, options: ParseOptions = {}): ParseResult {
  const buf = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  return parseCommand({ lines: [buf], literals: [] }, options);
}

function parseNamed(cur: Cursor, tag: string, name: string): Command {
  switch (name) {
    case 'CAPABILITY':
    case 'NOOP':
    case 'LOGOUT':
    case 'STARTTLS':
    case 'CHECK':
    case 'CLOSE':
    case 'UNSELECT':
    case 'IDLE':
    case 'NAMESPACE':
      return { tag, name };
    case 'EXPUNGE':
      return { tag, name, uid: false };
    case 'AUTHENTICATE': {
      cur.sp();
      const mechanism = cur.keyword('SASL mechanism');
      let initialResponse: Buffer | null = null;
      if (!cur.atEnd()) {
        cur.sp();
        const b64 = cur.take((c) => c !== 0x20);
        const decoded = decodeSaslInitial(b64);
        if (!decoded) cur.fail('Invalid base64 initial response');
        initialResponse = decoded;
      }
      return { tag, name, mechanism, initialResponse };
    }
    case 'LOGIN': {
      cur.sp();
      const username = cur.astringText('user name');
      cur.sp();
      const password = cur.astringText('password');
      return { tag, name, username, password };
    }
    case 'ENABLE': {
      const capabilities: string[] = [];
      do {
        cur.sp();
        capabilities.push(cur.keyword('capability'));
      } while (!cur.atEnd());
      return { tag, name, capabilities };
    }
    case 'SELECT':
    case 'EXAMINE': {
      cur.sp();
      const mailbox = cur.mailbox();
      let condstore = false;
      let qresync: QresyncParams | null = null;
      if (!cur.atEnd()) {
        cur.sp();
        cur.list(() => {
          const p = cur.keyword('select parameter');
          if (p === 'CONDSTORE') {
            if (condstore) cur.fail('CONDSTORE given twice');
            condstore = true;
          } else if (p === 'QRESYNC') {
            if (qresync) cur.fail('QRESYNC given twice');
            cur.sp();
            qresync = parseQresync(cur);
          } else cur.fail(`Unknown select parameter ${p}`);
        });
      }
      return { tag, name, mailbox, condstore, qresync };
    }
    case 'CREATE': {
      cur.sp();
      const mailbox = cur.mailbox();
      let specialUse: string[] | null = null;
      if (!cur.atEnd()) {
        cur.sp();
        cur.list(() => {
          const p = cur.keyword('create parameter');
          if (p !== 'USE') cur.fail(`Unknown create parameter ${p}`);
          if (specialUse) cur.fail('USE given twice');
          cur.sp();
          specialUse = cur.list(() => {
            cur.expect('\\');
            const a = cur.atom('special-use attribute');
            return USE_ATTRS[`\\${a.toUpperCase()}`] ?? `\\${a}`;
          }, true);
        });
      }
      return { tag, name, mailbox, specialUse };
    }
    case 'DELETE':
    case 'SUBSCRIBE':
    case 'UNSUBSCRIBE': {
      cur.sp();
      return { tag, name, mailbox: cur.mailbox() };
    }
    case 'RENAME': {
      cur.sp();
      const mailbox = cur.mailbox();
      cur.sp();
      return { tag, name, mailbox, newName: cur.mailbox() };
    }
    case 'LIST':
      return parseList(cur, tag);
    case 'LSUB': {
      cur.sp();
      const reference = cur.mailbox(false);
      cur.sp();
      return { tag, name, reference, pattern: cur.listMailbox() };
    }
    case 'STATUS': {
      cur.sp();
      const mailbox = cur.mailbox();
      cur.sp();
      return { tag, name, mailbox, items: statusItems(cur) };
    }
    case 'APPEND':
      return parseAppend(cur, tag);
    case 'SEARCH':
      return parseSearch(cur, tag, false);
    case 'FETCH':
      return parseFetch(cur, tag, false);
    case 'STORE':
      return parseStore(cur, tag, false);
    case 'COPY':
    case 'MOVE': {
      cur.sp();
      const sequence = cur.sequenceSet();
      cur.sp();
      return { tag, name, uid: false, sequence, mailbox: cur.mailbox() };
    }
    case 'SORT':
      return parseSort(cur, tag, false);
    case 'THREAD':
      return parseThread(cur, tag, false);
    case 'UID': {
      cur.sp();
      const sub = cur.keyword('UID command');
      switch (sub) {
        case 'FETCH':
          return parseFetch(cur, tag, true);
        case 'SEARCH':
          return parseSearch(cur, tag, true);
        case 'STORE':
          return parseStore(cur, tag, true);
        case 'SORT':
          return parseSort(cur, tag, true);
        case 'THREAD':
          return parseThread(cur, tag, true);
        case 'COPY':
        case 'MOVE': {
          cur.sp();
          const sequence = cur.sequenceSet();
          cur.sp();
          return { tag, name: sub, uid: true, sequence, mailbox: cur.mailbox() };
        }
        case 'EXPUNGE': {
          cur.sp();
          return { tag, name: 'EXPUNGE', uid: true, sequence: cur.sequenceSet() };
        }
        default:
          return cur.fail(`Unknown UID command ${sub}`);
      }
    }
    case 'GETQUOTA': {
      cur.sp();
      return { tag, name, root: cur.astringText('quota root') };
    }
    case 'GETQUOTAROOT': {
      cur.sp();
      return { tag, name, mailbox: cur.mailbox() };
    }
    case 'SETQUOTA': {
      cur.sp();
      const root = cur.astringText('quota root');
      cur.sp();
      const resources = cur.list(() => {
        const rname = cur.keyword('resource name');
        cur.sp();
        return { name: rname, limit: cur.number64() };
      }, true);
      return { tag, name, root, resources };
    }
    case 'GETACL':
    case 'MYRIGHTS': {
      cur.sp();
      return { tag, name, mailbox: cur.mailbox() };
    }
    case 'SETACL': {
      cur.sp();
      const mailbox = cur.mailbox();
      cur.sp();
      const identifier = cur.astringText('identifier');
      cur.sp();
      const rightsText = cur.astringText('rights');
      let mode: 'set' | 'add' | 'remove' = 'set';
      let rights = rightsText;
      if (rights.startsWith('+') || rights.startsWith('-')) {
        mode = rights[0] === '+' ? 'add' : 'remove';
        rights = rights.slice(1);
      }
      if (!/^[a-z0-9]*$/.test(rights)) cur.fail('Invalid rights (lower-case letters and digits)');
      return { tag, name, mailbox, identifier, mode, rights };
    }
    case 'DELETEACL':
    case 'LISTRIGHTS': {
      cur.sp();
      const mailbox = cur.mailbox();
      cur.sp();
      return { tag, name, mailbox, identifier: cur.astringText('identifier') };
    }
    case 'ID': {
      cur.sp();
      if (cur.peekKeyword() === 'NIL') {
        cur.keyword();
        return { tag, name, params: null };
      }
      const params: Array<[string, string | null]> = [];
      cur.expect('(');
      if (!cur.eat(')')) {
        for (;;) {
          const key = cur.text(cur.string('ID field name'), 'ID field');
          cur.sp();
          const v = cur.nstring();
          params.push([key, v === null ? null : cur.text(v, 'ID value')]);
          if (cur.eat(')')) break;
          cur.sp();
        }
      }
      return { tag, name, params };
    }
    case 'COMPRESS': {
      cur.sp();
      return { tag, name, mechanism: cur.keyword('compression mechanism') };
    }
    default:
      return cur.fail(`Unknown command ${name.slice(0, 40)}`);
  }
}

/** `initial-resp = (base64 / "=")`: the octets, or null when invalid. */
function decodeSaslInitial(text: string): Buffer | null {
  if (text === '=') return Buffer.alloc(0);
  return decodeBase64Strict(text);
}

/** base64 = *(4base64-char) [base64-terminal]; null when invalid (empty is invalid here). */
export function decodeBase64Strict(text: string): Buffer | null {
  if (text.length === 0 || text.length % 4 !== 0) return null;
  if (!/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return null;
  const buf = Buffer.from(text, 'base64');
  // Non-zero padding bits make a non-canonical encoding.
  if (buf.toString('base64') !== text) return null;
  return buf;
}

/**
 * A client's answer to an AUTHENTICATE challenge (a raw line from the reader): `*` cancels
 * (RFC 9051 6.2.2), otherwise base64 (an empty line is an empty response).
 */
export function parseSaslResponse(
  line: Buffer | string,
): { cancel: true } | { cancel: false; data: Buffer } | null {
  const text = typeof line === 'string' ? line : line.toString('latin1');
  if (text === '*') return { cancel: true };
  if (text === '') return { cancel: false, data: Buffer.alloc(0) };
  const data = decodeBase64Strict(text);
  return data ? { cancel: false, data } : null;
}

/** True when the raw line ends IDLE (`DONE`, case-insensitive). */
export function isIdleDone(line: Buffer | string): boolean {
  const text = typeof line === 'string' ? line : line.toString('latin1');
  return text.toUpperCase() === 'DONE';
}

function parseQresync(cur: Cursor): QresyncParams {
  cur.expect('(');
  const uidValidity = cur.nzNumber();
  cur.sp();
  const modseq = cur.modseq(false);
  let knownUids: SequenceSet | null = null;
  let seqMatch: QresyncParams['seqMatch'] = null;
  if (cur.eat(' ')) {
    if (cur.peek() !== 0x28) {
      knownUids = cur.sequenceSet();
      if (knownUids === '$' || knownUids.some((r) => r.start === '*' || r.end === '*')) {
        cur.fail('known-uids must not use "*" or "$"');
      }
      if (cur.eat(' ')) seqMatch = parseSeqMatch(cur);
    } else seqMatch = parseSeqMatch(cur);
  }
  cur.expect(')');
  return { uidValidity, modseq, knownUids, seqMatch };
}

function parseSeqMatch(cur: Cursor): { seqs: SequenceSet; uids: SequenceSet } {
  cur.expect('(');
  const seqs = cur.sequenceSet();
  cur.sp();
  const uids = cur.sequenceSet();
  cur.expect(')');
  if (seqs === '$' || uids === '$') cur.fail('"$" is not allowed in seq-match-data');
  return { seqs, uids };
}

function statusItems(cur: Cursor): StatusItem[] {
  return cur.list(() => {
    const k = cur.keyword('status item');
    if (!STATUS_ITEMS.has(k)) cur.fail(`Unknown status item ${k}`);
    return k as StatusItem;
  });
}

function parseList(cur: Cursor, tag: string): Command {
  const selection: ListSelection = {
    subscribed: false,
    remote: false,
    recursiveMatch: false,
    specialUse: false,
  };
  const returns: ListReturn = { subscribed: false, children: false, specialUse: false, status: null };
  let extended = false;
  cur.sp();
  if (cur.peek() === 0x28) {
    extended = true;
    cur.list(() => {
      const o = cur.keyword('selection option');
      if (o === 'SUBSCRIBED') selection.subscribed = true;
      else if (o === 'REMOTE') selection.remote = true;
      else if (o === 'RECURSIVEMATCH') selection.recursiveMatch = true;
      else if (o === 'SPECIAL-USE') selection.specialUse = true;
      else cur.fail(`Unknown LIST selection option ${o}`);
    }, true);
    if (selection.recursiveMatch && !selection.subscribed && !selection.specialUse) {
      cur.fail('RECURSIVEMATCH needs another selection option');
    }
    cur.sp();
  }
  const reference = cur.mailbox(false);
  cur.sp();
  let patterns: string[];
  if (cur.peek() === 0x28) {
    extended = true;
    patterns = cur.list(() => cur.listMailbox());
  } else patterns = [cur.listMailbox()];
  if (!cur.atEnd()) {
    cur.sp();
    if (cur.keyword('RETURN') !== 'RETURN') cur.fail('Expected RETURN');
    extended = true;
    cur.sp();
    cur.list(() => {
      const o = cur.keyword('return option');
      if (o === 'SUBSCRIBED') returns.subscribed = true;
      else if (o === 'CHILDREN') returns.children = true;
      else if (o === 'SPECIAL-USE') returns.specialUse = true;
      else if (o === 'STATUS') {
        if (returns.status) cur.fail('STATUS given twice');
        cur.sp();
        returns.status = statusItems(cur);
      } else cur.fail(`Unknown LIST return option ${o}`);
    }, true);
  }
  return { tag, name: 'LIST', reference, patterns, selection, returns, extended };
}

function parseAppend(cur: Cursor, tag: string): Command {
  cur.sp();
  const mailbox = cur.mailbox();
  const messages: AppendMessage[] = [];
  do {
    cur.sp();
    let flags: string[] | null = null;
    let date: DateTimeValue | null = null;
    if (cur.peek() === 0x28) {
      flags = cur.flagList();
      cur.sp();
    }
    if (cur.peek() === 0x22) {
      date = cur.dateTime();
      cur.sp();
    }
    let utf8 = false;
    if (cur.peekKeyword() === 'UTF8') {
      cur.keyword();
      cur.sp();
      cur.expect('(');
      utf8 = true;
    }
    const s = cur.peek() === 0x22 ? null : cur.tryString(true);
    if (!s) cur.fail('Expected a literal with the message');
    if (utf8) {
      if (!s.binary) cur.fail('UTF8 needs a literal8');
      cur.expect(')');
    }
    messages.push({ flags, date, data: s.data, binary: s.binary, utf8 });
  } while (!cur.atEnd());
  return { tag, name: 'APPEND', mailbox, messages };
}

function parseSearchReturn(cur: Cursor): SearchReturnOption[] {
  const opts = cur.list(() => {
    const o = cur.keyword('search return option');
    if (o !== 'MIN' && o !== 'MAX' && o !== 'ALL' && o !== 'COUNT' && o !== 'SAVE') {
      cur.fail(`Unknown search return option ${o}`);
    }
    return o as SearchReturnOption;
  }, true);
  return [...new Set(opts)];
}

function parseCharset(cur: Cursor): string {
  const cs = (cur.peek() === 0x22 ? cur.string().toString('latin1') : cur.atom('charset')).toUpperCase();
  if (!SUPPORTED_CHARSETS.has(cs)) cur.badCharset = true;
  return cs;
}

function parseSearch(cur: Cursor, tag: string, uid: boolean): Command {
  cur.sp();
  let returns: SearchReturnOption[] | null = null;
  if (cur.peekKeyword() === 'RETURN') {
    cur.keyword();
    cur.sp();
    returns = parseSearchReturn(cur);
    cur.sp();
  }
  let charset: string | null = null;
  if (cur.peekKeyword() === 'CHARSET') {
    cur.keyword();
    cur.sp();
    charset = parseCharset(cur);
    cur.sp();
  }
  const criteria = searchKeys(cur);
  return { tag, name: 'SEARCH', uid, charset, criteria, returns };
}

/** search-key *(SP search-key) up to the end of the command. */
function searchKeys(cur: Cursor): SearchKey[] {
  const keys = [searchKey(cur, 0)];
  while (!cur.atEnd()) {
    cur.sp();
    keys.push(searchKey(cur, 0));
  }
  return keys;
}

function searchKey(cur: Cursor, depth: number): SearchKey {
  if (depth >= cur.limits.maxNestingDepth) cur.fail('Search keys nested too deeply');
  const c = cur.peek();
  if (c === 0x28) {
    cur.pos++;
    const keys: SearchKey[] = [searchKey(cur, depth + 1)];
    while (!cur.eat(')')) {
      cur.sp();
      keys.push(searchKey(cur, depth + 1));
    }
    return { type: 'and', keys };
  }
  if (isDigit(c) || c === 0x2a || c === 0x24) return { type: 'seq', set: cur.sequenceSet() };
  const k = cur.keyword('search key');
  switch (k) {
    case 'ALL':
    case 'ANSWERED':
    case 'DELETED':
    case 'DRAFT':
    case 'FLAGGED':
    case 'NEW':
    case 'OLD':
    case 'RECENT':
    case 'SEEN':
    case 'UNANSWERED':
    case 'UNDELETED':
    case 'UNDRAFT':
    case 'UNFLAGGED':
    case 'UNSEEN':
      return { type: k.toLowerCase() as 'all' };
    case 'KEYWORD':
    case 'UNKEYWORD': {
      cur.sp();
      if (cur.peek() === 0x5c) cur.fail('KEYWORD takes a keyword, not a system flag');
      return { type: k === 'KEYWORD' ? 'keyword' : 'unkeyword', flag: cur.atom('keyword') };
    }
    case 'BCC':
    case 'BODY':
    case 'CC':
    case 'FROM':
    case 'SUBJECT':
    case 'TEXT':
    case 'TO': {
      cur.sp();
      return { type: k.toLowerCase() as 'bcc', value: cur.astringText('search string') };
    }
    case 'HEADER': {
      cur.sp();
      const field = cur.astringText('header field name');
      cur.sp();
      return { type: 'header', field, value: cur.astringText('search string') };
    }
    case 'BEFORE':
    case 'ON':
    case 'SINCE':
    case 'SENTBEFORE':
    case 'SENTON':
    case 'SENTSINCE': {
      cur.sp();
      return { type: k.toLowerCase() as 'before', date: cur.date() };
    }
    case 'LARGER':
    case 'SMALLER': {
      cur.sp();
      return { type: k === 'LARGER' ? 'larger' : 'smaller', size: cur.number64() };
    }
    case 'UID': {
      cur.sp();
      return { type: 'uid', set: cur.sequenceSet() };
    }
    case 'NOT': {
      cur.sp();
      return { type: 'not', key: searchKey(cur, depth + 1) };
    }
    case 'OR': {
      cur.sp();
      const left = searchKey(cur, depth + 1);
      cur.sp();
      return { type: 'or', left, right: searchKey(cur, depth + 1) };
    }
    case 'MODSEQ': {
      cur.sp();
      let entry: { flag: string; entryType: 'priv' | 'shared' | 'all' } | null = null;
      if (cur.peek() === 0x22) {
        const name = cur.string('entry name').toString('latin1');
        if (!name.toLowerCase().startsWith('/flags/')) cur.fail('Invalid MODSEQ entry name');
        const flag = name.slice(7);
        const fm = /^(\\?)([^\s(){%*"\\\]\x00-\x1f\x7f]+)$/.exec(flag);
        if (!fm) cur.fail('Invalid flag in MODSEQ entry name');
        const flagName = fm[1] ? (SYSTEM_FLAGS[`\\${fm[2]!.toUpperCase()}`] ?? `\\${fm[2]}`) : fm[2]!;
        cur.sp();
        const t = cur.keyword('entry type').toLowerCase();
        if (t !== 'priv' && t !== 'shared' && t !== 'all') cur.fail('Invalid MODSEQ entry type');
        entry = { flag: flagName, entryType: t };
        cur.sp();
      }
      return { type: 'modseq', entry, modseq: cur.modseq(true) };
    }
    case 'OLDER':
    case 'YOUNGER': {
      cur.sp();
      return { type: k === 'OLDER' ? 'older' : 'younger', seconds: cur.nzNumber() };
    }
    default:
      return cur.fail(`Unknown search key ${k.slice(0, 40)}`);
  }
}

const FETCH_SIMPLE = new Set([
  'ENVELOPE',
  'FLAGS',
  'INTERNALDATE',
  'RFC822',
  'RFC822.HEADER',
  'RFC822.SIZE',
  'RFC822.TEXT',
  'UID',
  'BODYSTRUCTURE',
  'MODSEQ',
]);

function fetchAtt(cur: Cursor): FetchItem {
  const name = cur.take((c) => isAtomChar(c) && c !== 0x5b && c !== 0x3c).toUpperCase();
  if (name === '') cur.fail(`Expected a fetch item before ${cur.describe()}`);
  cur.bump();
  if (FETCH_SIMPLE.has(name)) return { type: name as 'UID' };
  if (name === 'BODY' && cur.peek() !== 0x5b) return { type: 'BODY' };
  if (name === 'BODY' || name === 'BODY.PEEK') {
    const section = parseSection(cur);
    return { type: 'BODY[]', peek: name === 'BODY.PEEK', section, partial: parsePartial(cur) };
  }
  if (name === 'BINARY' || name === 'BINARY.PEEK' || name === 'BINARY.SIZE') {
    cur.expect('[');
    const part = cur.peek() === 0x5d ? [] : sectionPart(cur);
    cur.expect(']');
    if (name === 'BINARY.SIZE') return { type: 'BINARY.SIZE', part };
    return { type: 'BINARY', peek: name === 'BINARY.PEEK', part, partial: parsePartial(cur) };
  }
  return cur.fail(`Unknown fetch item ${name.slice(0, 40)}`);
}

function sectionPart(cur: Cursor): number[] {
  const part = [cur.nzNumber()];
  while (cur.peek() === 0x2e && isDigit(cur.peek2())) {
    cur.pos++;
    part.push(cur.nzNumber());
  }
  return part;
}

function parseSection(cur: Cursor): SectionSpec {
  cur.expect('[');
  const spec: SectionSpec = { part: [], text: null, fields: [] };
  if (cur.eat(']')) return spec;
  if (isDigit(cur.peek())) {
    spec.part = sectionPart(cur);
    if (cur.eat(']')) return spec;
    cur.expect('.');
  }
  const t = cur.take((c) => isAtomChar(c) && c !== 0x5d).toUpperCase();
  if (t === 'HEADER' || t === 'TEXT') spec.text = t;
  else if (t === 'MIME' && spec.part.length > 0) spec.text = 'MIME';
  else if (t === 'HEADER.FIELDS' || t === 'HEADER.FIELDS.NOT') {
    spec.text = t;
    cur.sp();
    spec.fields = cur.list(() => cur.astringText('header field name'));
  } else cur.fail(`Invalid section ${t.slice(0, 40)}`);
  cur.expect(']');
  return spec;
}

function parsePartial(cur: Cursor): PartialRange | null {
  if (!cur.eat('<')) return null;
  const offset = cur.number64();
  cur.expect('.');
  if (cur.peek() === 0x30) cur.fail('Partial length must not be zero');
  const length = cur.number64();
  cur.expect('>');
  return { offset, length };
}

function parseFetch(cur: Cursor, tag: string, uid: boolean): Command {
  cur.sp();
  const sequence = cur.sequenceSet();
  cur.sp();
  let macro: 'ALL' | 'FAST' | 'FULL' | null = null;
  let items: FetchItem[];
  if (cur.peek() === 0x28) items = cur.list(() => fetchAtt(cur));
  else {
    const k = cur.peekKeyword();
    if (k === 'ALL' || k === 'FAST' || k === 'FULL') {
      cur.keyword();
      macro = k;
      items = [{ type: 'FLAGS' }, { type: 'INTERNALDATE' }, { type: 'RFC822.SIZE' }];
      if (k !== 'FAST') items.push({ type: 'ENVELOPE' });
      if (k === 'FULL') items.push({ type: 'BODY' });
    } else items = [fetchAtt(cur)];
  }
  let changedSince: bigint | null = null;
  let vanished = false;
  if (!cur.atEnd()) {
    cur.sp();
    cur.list(() => {
      const m = cur.keyword('fetch modifier');
      if (m === 'CHANGEDSINCE') {
        if (changedSince !== null) cur.fail('CHANGEDSINCE given twice');
        cur.sp();
        changedSince = cur.modseq(false);
      } else if (m === 'VANISHED') {
        if (vanished) cur.fail('VANISHED given twice');
        vanished = true;
      } else cur.fail(`Unknown fetch modifier ${m}`);
    });
    if (vanished && !uid) cur.fail('VANISHED is only allowed in UID FETCH');
    if (vanished && changedSince === null) cur.fail('VANISHED needs CHANGEDSINCE');
  }
  return { tag, name: 'FETCH', uid, sequence, items, macro, changedSince, vanished };
}

function parseStore(cur: Cursor, tag: string, uid: boolean): Command {
  cur.sp();
  const sequence = cur.sequenceSet();
  cur.sp();
  let unchangedSince: bigint | null = null;
  if (cur.peek() === 0x28) {
    cur.list(() => {
      const m = cur.keyword('store modifier');
      if (m !== 'UNCHANGEDSINCE') cur.fail(`Unknown store modifier ${m}`);
      if (unchangedSince !== null) cur.fail('UNCHANGEDSINCE given twice');
      cur.sp();
      unchangedSince = cur.modseq(true);
    });
    cur.sp();
  }
  const op = cur.eat('+') ? 'add' : cur.eat('-') ? 'remove' : 'set';
  const item = cur.keyword('FLAGS');
  if (item !== 'FLAGS' && item !== 'FLAGS.SILENT') cur.fail(`Unknown store item ${item.slice(0, 40)}`);
  cur.sp();
  let flags: string[];
  if (cur.peek() === 0x28) flags = cur.flagList();
  else {
    flags = [cur.flag()];
    while (!cur.atEnd()) {
      cur.sp();
      flags.push(cur.flag());
    }
  }
  return {
    tag,
    name: 'STORE',
    uid,
    sequence,
    unchangedSince,
    operation: op,
    silent: item === 'FLAGS.SILENT',
    flags,
  };
}

function parseSort(cur: Cursor, tag: string, uid: boolean): Command {
  cur.sp();
  const criteria = cur.list(() => {
    let k = cur.keyword('sort key');
    let reverse = false;
    if (k === 'REVERSE') {
      reverse = true;
      cur.sp();
      k = cur.keyword('sort key');
    }
    if (!SORT_KEYS.has(k)) cur.fail(`Unknown sort key ${k.slice(0, 40)}`);
    return { key: k as SortKey, reverse };
  });
  cur.sp();
  const charset = parseCharset(cur);
  cur.sp();
  return { tag, name: 'SORT', uid, criteria, charset, search: searchKeys(cur) };
}

function parseThread(cur: Cursor, tag: string, uid: boolean): Command {
  cur.sp();
  const algorithm = cur.keyword('thread algorithm');
  cur.sp();
  const charset = parseCharset(cur);
  cur.sp();
  return { tag, name: 'THREAD', uid, algorithm, charset, search: searchKeys(cur) };
}
