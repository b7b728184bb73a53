/**
 * Incremental IMAP command framer (RFC 9051 section 2.2 and 4.3, RFC 7888 LITERAL+/LITERAL-,
 * RFC 3516 literal8).
 *
 * Push the octets as they arrive (`push`), then pull events (`next`) until it returns null.
 * Pulling lets the session change how the next octets are read between two events: after IDLE
 * or AUTHENTICATE it calls `expectLine()` so that the next line (DONE, a SASL response) comes
 * back raw; after STARTTLS or COMPRESS it calls `takeRemaining()` to get the octets that were
 * pushed but not framed.
 *
 * A command is framed as its lines (CRLF removed, the literal announcement `{n}` kept at the end
 * of a line) and its literals: `lines[i]` is followed by `literals[i]`. The framer only looks at
 * the tag, the command name (to choose the literal limit of APPEND) and the announcements; the
 * parser does the rest.
 *
 * Limits (see limits.ts) are enforced with bounded memory: an over-long line or an over-large
 * literal produces an `error` event at once, and the rest of the command is skipped by counting,
 * never buffered (a non-synchronising literal announced in a skipped part is skipped too). A
 * synchronising literal over the limit is refused before the client sends it (tagged NO
 * [TOOBIG], no continuation), which ends the command. After `next()` returned null, the framer
 * holds at most one partial line (≤ maxLineLength + a few octets) plus the command being
 * assembled (≤ maxCommandSize). Never throws.
 */
import { isTagChar } from './chars.ts';
import { type ImapLimits, resolveLimits } from './limits.ts';

export interface FramedLiteral {
  data: Buffer;
  /** `~{n}` (RFC 3516). */
  binary: boolean;
  /** `{n+}` (RFC 7888). */
  nonSync: boolean;
}

export interface FramedCommand {
  type: 'command';
  /** The tag as sent, or null when the first line has no valid tag. */
  tag: string | null;
  /** Lines without CRLF; `lines.length === literals.length + 1`. */
  lines: Buffer[];
  literals: FramedLiteral[];
  /** Octets of the command, CRLFs and literals included. */
  size: number;
}

/** The client waits for `+ …` before sending a synchronising literal of `size` octets. */
export interface ContinueEvent {
  type: 'continue';
  tag: string | null;
  size: number;
}

/** A raw line read after `expectLine()` (IDLE's DONE, a SASL response), CRLF removed. */
export interface LineEvent {
  type: 'line';
  line: Buffer;
}

/**
 * A command (or expected line) refused by the framer. The session writes
 * `${tag ?? '*'} ${status} [${code}] ${text}`; when `fatal` it should answer BYE and close (the
 * framer cannot find the end of the command), otherwise the framer resynchronises by itself.
 */
export interface ErrorEvent {
  type: 'error';
  tag: string | null;
  status: 'BAD' | 'NO';
  code: 'TOOBIG' | 'LIMIT' | null;
  text: string;
  fatal: boolean;
}

export type ReaderEvent = FramedCommand | ContinueEvent | LineEvent | ErrorEvent;

type State =
  | { kind: 'line' }
  | { kind: 'literal'; remaining: number; chunks: Buffer[]; binary: boolean; nonSync: boolean }
  | { kind: 'skipLine' }
  | { kind: 'skipLiteral'; remaining: number }
  | { kind: 'dead' };

const CR = 0x0d;
const LF = 0x0a;
/** Octets of a line kept after the limit is passed, to find a `{n+}` announcement at its end. */
const TAIL_KEEP = 40;

interface Announcement {
  size: number;
  binary: boolean;
  nonSync: boolean;
  /** More digits than a safe integer, or a size that cannot be honoured. */
  huge: boolean;
}

/** A literal announcement at the end of `line` (`{n}`, `{n+}`, `~{n}`, `~{n+}`), else null. */
export function literalAnnouncement(line: Buffer): Announcement | null {
  const len = line.length;
  if (len < 3 || line[len - 1] !== 0x7d) return null;
  let i = len - 2;
  let nonSync = false;
  if (line[i] === 0x2b) {
    nonSync = true;
    i--;
  }
  const digitsEnd = i + 1;
  while (i >= 0 && line[i]! >= 0x30 && line[i]! <= 0x39) i--;
  const digitsStart = i + 1;
  if (digitsStart === digitsEnd || i < 0 || line[i] !== 0x7b) return null;
  const binary = i > 0 && line[i - 1] === 0x7e;
  const digits = line.toString('latin1', digitsStart, digitsEnd);
  const size = Number(digits);
  const huge = !Number.isSafeInteger(size);
  return { size: huge ? 0 : size, binary, nonSync, huge };
}

/** The tag at the start of a line (RFC 9051: 1*<any ASTRING-CHAR except "+">) followed by SP. */
function tagOf(line: Buffer): string | null {
  let i = 0;
  while (i < line.length && isTagChar(line[i]!)) i++;
  if (i === 0 || i >= line.length || line[i] !== 0x20) return null;
  return line.toString('latin1', 0, i);
}

function commandNameOf(line: Buffer, tag: string | null): string {
  if (tag === null) return '';
  let i = tag.length + 1;
  const start = i;
  while (i < line.length && line[i] !== 0x20 && i - start < 16) i++;
  return line.toString('latin1', start, i).toUpperCase();
}

export class ImapReader {
  private limits: ImapLimits;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private state: State = { kind: 'line' };
  /** Partial line being read. */
  private lineChunks: Buffer[] = [];
  private lineBytes = 0;
  /** While skipping a line: its last octets, to recognise a trailing `{n+}`. */
  private tail: Buffer = Buffer.alloc(0);
  /** The command being assembled (null between commands). */
  private cmd: {
    tag: string | null;
    name: string;
    lines: Buffer[];
    literals: FramedLiteral[];
    size: number;
  } | null = null;
  /** Tag of the command being skipped (error already reported). */
  private skipping = false;
  private rawLine = false;

  constructor(limits: Partial<ImapLimits> = {}) {
    this.limits = resolveLimits(limits);
  }

  /** Replaces some limits; they apply from the next line or literal. */
  setLimits(limits: Partial<ImapLimits>): void {
    this.limits = resolveLimits({ ...this.limits, ...limits });
  }

  get currentLimits(): Readonly<ImapLimits> {
    return this.limits;
  }

  /** Queues received octets. */
  push(chunk: Buffer): void {
    if (chunk.length === 0 || this.state.kind === 'dead') return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  /**
   * The next line is returned raw as a `line` event (no tag, no literal): IDLE's DONE, an
   * AUTHENTICATE response. Call it between commands.
   */
  expectLine(): void {
    this.rawLine = true;
  }

  /** Octets pushed but not yet framed (for STARTTLS and COMPRESS); they are dropped here. */
  takeRemaining(): Buffer {
    const out = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return out;
  }

  /** Octets held by the framer: queued input plus the partial line and command. */
  get bufferedBytes(): number {
    return this.pendingBytes + this.heldBytes;
  }

  /** Octets held by the framer's own state (partial line, command, literal, skip tail). */
  get heldBytes(): number {
    let n = this.lineBytes + this.tail.length;
    if (this.cmd) n += this.cmd.size;
    if (this.state.kind === 'literal') for (const c of this.state.chunks) n += c.length;
    return n;
  }

  /** True between commands (nothing partial held). */
  get idle(): boolean {
    return this.cmd === null && this.lineBytes === 0 && this.state.kind === 'line' && !this.skipping;
  }

  /** The next event, or null when more octets are needed. */
  next(): ReaderEvent | null {
    try {
      return this.step();
    } catch {
      // Defensive: the framer must never throw. Nothing below is expected to.
      this.state = { kind: 'dead' };
      return {
        type: 'error',
        tag: null,
        status: 'BAD',
        code: null,
        text: 'Internal framing error',
        fatal: true,
      };
    }
  }

  private step(): ReaderEvent | null {
    for (;;) {
      if (this.queued) {
        const q = this.queued;
        this.queued = null;
        return q;
      }
      const st = this.state;
      if (st.kind === 'dead') return null;
      if (this.pendingBytes === 0) return null;
      if (st.kind === 'literal' || st.kind === 'skipLiteral') {
        const ev = this.readLiteral();
        if (ev) return ev;
        continue;
      }
      const ev = this.readLine();
      if (ev) return ev;
      if (this.pendingBytes === 0) return null;
    }
  }

  /** Takes up to `max` octets from the queue. */
  private take(max: number): Buffer {
    const first = this.pending[0]!;
    if (first.length <= max) {
      this.pending.shift();
      this.pendingBytes -= first.length;
      return first;
    }
    this.pending[0] = first.subarray(max);
    this.pendingBytes -= max;
    return first.subarray(0, max);
  }

  private readLiteral(): ReaderEvent | null {
    const st = this.state;
    if (st.kind === 'skipLiteral') {
      while (st.remaining > 0 && this.pendingBytes > 0) {
        const part = this.take(Math.min(st.remaining, this.pending[0]!.length));
        st.remaining -= part.length;
      }
      if (st.remaining === 0) this.state = { kind: 'skipLine' };
      return null;
    }
    if (st.kind !== 'literal') return null;
    while (st.remaining > 0 && this.pendingBytes > 0) {
      const part = this.take(Math.min(st.remaining, this.pending[0]!.length));
      // Copy: the caller may reuse its buffers.
      st.chunks.push(Buffer.from(part));
      st.remaining -= part.length;
    }
    if (st.remaining > 0) return null;
    const data = st.chunks.length === 1 ? st.chunks[0]! : Buffer.concat(st.chunks);
    const cmd = this.cmd!;
    cmd.literals.push({ data, binary: st.binary, nonSync: st.nonSync });
    cmd.size += data.length;
    this.state = { kind: 'line' };
    return null;
  }

  /** Reads octets up to LF; returns an event when a line completes something. */
  private readLine(): ReaderEvent | null {
    const skipping = this.state.kind === 'skipLine';
    while (this.pendingBytes > 0) {
      const chunk = this.pending[0]!;
      const lf = chunk.indexOf(LF);
      const end = lf < 0 ? chunk.length : lf;
      const part = this.take(lf < 0 ? chunk.length : lf + 1).subarray(0, end);
      if (skipping || this.state.kind === 'skipLine') {
        this.keepTail(part);
        if (lf >= 0) return this.endSkippedLine();
        continue;
      }
      if (this.lineBytes + part.length > this.limits.maxLineLength + 1) {
        // +1: the CR of CRLF may be in the part.
        const ev = this.lineTooLong(Buffer.concat([...this.lineChunks, part.subarray(0, 256)]));
        this.lineChunks = [];
        this.lineBytes = 0;
        this.state = { kind: 'skipLine' };
        this.keepTail(part);
        // endSkippedLine only changes the state: the error is the event of this line.
        if (lf >= 0) this.endSkippedLine();
        return ev;
      }
      if (part.length > 0) {
        this.lineChunks.push(Buffer.from(part));
        this.lineBytes += part.length;
      }
      if (lf >= 0) {
        let line = this.lineChunks.length === 1 ? this.lineChunks[0]! : Buffer.concat(this.lineChunks);
        this.lineChunks = [];
        this.lineBytes = 0;
        if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
        if (line.length > this.limits.maxLineLength) {
          const ev = this.lineTooLong(line);
          this.state = { kind: 'skipLine' };
          this.keepTail(line);
          this.endSkippedLine();
          return ev;
        }
        return this.completeLine(line);
      }
    }
    return null;
  }

  private keepTail(part: Buffer): void {
    if (part.length >= TAIL_KEEP) {
      this.tail = Buffer.from(part.subarray(part.length - TAIL_KEEP));
    } else if (part.length > 0) {
      const joined = Buffer.concat([this.tail, part]);
      this.tail = Buffer.from(joined.subarray(Math.max(0, joined.length - TAIL_KEEP)));
    }
  }

  /** End of a skipped line: skip its non-synchronising literal, or end the command. */
  private endSkippedLine(): null {
    let tail = this.tail;
    this.tail = Buffer.alloc(0);
    if (tail.length > 0 && tail[tail.length - 1] === CR) tail = tail.subarray(0, tail.length - 1);
    if (this.rawLineSkip) {
      this.rawLineSkip = false;
      this.finishSkip();
      return null;
    }
    const ann = literalAnnouncement(tail);
    if (ann?.nonSync && !ann.huge) {
      this.state = { kind: 'skipLiteral', remaining: ann.size };
      if (ann.size === 0) this.state = { kind: 'skipLine' };
      return null;
    }
    if (ann?.nonSync && ann.huge) {
      this.state = { kind: 'dead' };
      this.queued = this.error(null, 'BAD', 'TOOBIG', 'Literal too large', true);
      return null;
    }
    // No literal follows (a synchronising one is never sent: the client got our error).
    this.finishSkip();
    return null;
  }

  private rawLineSkip = false;
  /** An event produced while another one was being returned. */
  private queued: ErrorEvent | null = null;

  private finishSkip(): void {
    this.state = { kind: 'line' };
    this.cmd = null;
    this.skipping = false;
  }

  private lineTooLong(line?: Buffer): ErrorEvent {
    if (this.rawLine) {
      this.rawLine = false;
      this.rawLineSkip = true;
      return this.error(null, 'BAD', 'TOOBIG', 'Line too long', false);
    }
    let tag = this.cmd?.tag ?? null;
    if (!this.cmd) {
      const first = line ?? (this.lineChunks.length > 0 ? this.lineChunks[0]! : Buffer.alloc(0));
      tag = tagOf(first);
    }
    this.cmd = null;
    this.skipping = true;
    return this.error(tag, 'BAD', 'TOOBIG', 'Command line too long', false);
  }

  private error(
    tag: string | null,
    status: 'BAD' | 'NO',
    code: ErrorEvent['code'],
    text: string,
    fatal: boolean,
  ): ErrorEvent {
    return { type: 'error', tag, status, code, text, fatal };
  }

  private completeLine(line: Buffer): ReaderEvent | null {
    if (this.rawLine && !this.cmd) {
      this.rawLine = false;
      return { type: 'line', line };
    }
    const L = this.limits;
    if (!this.cmd) {
      const tag = tagOf(line);
      if (tag === null) {
        // No tag: refuse the line; skip a non-synchronising literal it announces.
        this.skipping = true;
        this.state = { kind: 'skipLine' };
        this.keepTail(line);
        this.endSkippedLine();
        return this.error(
          null,
          'BAD',
          null,
          line.length === 0 ? 'Empty command line' : 'Missing or invalid tag',
          false,
        );
      }
      this.cmd = { tag, name: commandNameOf(line, tag), lines: [], literals: [], size: 0 };
    }
    const cmd = this.cmd;
    cmd.lines.push(line);
    cmd.size += line.length + 2;
    const ann = literalAnnouncement(line);
    if (!ann) {
      const done: FramedCommand = {
        type: 'command',
        tag: cmd.tag,
        lines: cmd.lines,
        literals: cmd.literals,
        size: cmd.size,
      };
      this.cmd = null;
      return done;
    }
    const isAppend = cmd.name === 'APPEND';
    const max = isAppend ? L.maxMessageSize : L.maxLiteralSize;
    const reject = (status: 'BAD' | 'NO', code: ErrorEvent['code'], text: string): ErrorEvent => {
      const tag = cmd.tag;
      if (ann.huge) {
        this.cmd = null;
        if (ann.nonSync) {
          this.state = { kind: 'dead' };
          return this.error(tag, 'BAD', code, text, true);
        }
        this.state = { kind: 'line' };
        return this.error(tag, status, code, text, false);
      }
      if (ann.nonSync) {
        // The client sends the literal anyway: skip it and the rest of the command.
        this.cmd = null;
        this.skipping = true;
        this.state = ann.size > 0 ? { kind: 'skipLiteral', remaining: ann.size } : { kind: 'skipLine' };
        return this.error(tag, 'BAD', code, text, false);
      }
      // Synchronising: refused before the client sends it; the command ends here.
      this.cmd = null;
      this.state = { kind: 'line' };
      return this.error(tag, status, code, text, false);
    };
    if (ann.nonSync && L.nonSyncLiterals === 'none') {
      return reject('BAD', null, 'Non-synchronising literals are not supported');
    }
    if (ann.huge || ann.size > max) {
      return reject('NO', 'TOOBIG', isAppend ? 'Message too large' : 'Literal too large');
    }
    if (ann.nonSync && L.nonSyncLiterals === 'minus' && ann.size > L.literalMinusMax) {
      return reject('BAD', 'TOOBIG', `Non-synchronising literal larger than ${L.literalMinusMax} octets`);
    }
    if (cmd.literals.length + 1 > L.maxLiterals) {
      return reject('BAD', 'LIMIT', 'Too many literals');
    }
    if (cmd.size + ann.size > L.maxCommandSize) {
      return reject('NO', 'TOOBIG', 'Command too large');
    }
    this.state = {
      kind: 'literal',
      remaining: ann.size,
      chunks: [],
      binary: ann.binary,
      nonSync: ann.nonSync,
    };
    if (ann.size === 0) {
      cmd.literals.push({ data: Buffer.alloc(0), binary: ann.binary, nonSync: ann.nonSync });
      this.state = { kind: 'line' };
    }
    if (!ann.nonSync) return { type: 'continue', tag: cmd.tag, size: ann.size };
    return null;
  }
}
