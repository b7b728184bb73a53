import { describe, expect, it } from 'vitest';
import type { ImapLimits } from '../../src/imap/protocol/limits.ts';
import { parseCommand } from '../../src/imap/protocol/parser.ts';
import { ImapReader, literalAnnouncement, type ReaderEvent } from '../../src/imap/protocol/reader.ts';

function drain(r: ImapReader): ReaderEvent[] {
  const out: ReaderEvent[] = [];
  for (let ev = r.next(); ev; ev = r.next()) out.push(ev);
  return out;
}

function feed(text: string | Buffer, limits: Partial<ImapLimits> = {}, chunk = 0): ReaderEvent[] {
  const r = new ImapReader(limits);
  const buf = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  if (chunk <= 0) {
    r.push(buf);
    return drain(r);
  }
  const out: ReaderEvent[] = [];
  for (let i = 0; i < buf.length; i += chunk) {
    r.push(buf.subarray(i, i + chunk));
    out.push(...drain(r));
  }
  return out;
}

const summary = (evs: ReaderEvent[]) =>
  evs.map((e) => {
    switch (e.type) {
      case 'command':
        return `cmd ${e.tag} ${e.lines.map((l) => l.toString('latin1')).join(' | ')} [${e.literals.map((l) => l.data.toString('latin1')).join('][')}]`;
      case 'continue':
        return `+ ${e.tag} ${e.size}`;
      case 'line':
        return `line ${e.line.toString('latin1')}`;
      default:
        return `${e.tag ?? '*'} ${e.status}${e.code ? ` [${e.code}]` : ''}${e.fatal ? ' fatal' : ''}`;
    }
  });

describe('literal announcements', () => {
  it.each([
    ['a LOGIN {5}', { size: 5, binary: false, nonSync: false, huge: false }],
    ['a LOGIN {5+}', { size: 5, binary: false, nonSync: true, huge: false }],
    ['a APPEND x ~{12}', { size: 12, binary: true, nonSync: false, huge: false }],
    ['a APPEND x ~{0+}', { size: 0, binary: true, nonSync: true, huge: false }],
    ['a APPEND x {99999999999999999999}', { size: 0, binary: false, nonSync: false, huge: true }],
    ['a LOGIN {}', null],
    ['a LOGIN {+}', null],
    ['a LOGIN {5} ', null],
    ['a LOGIN 5}', null],
    ['a LOGIN {5++}', null],
  ])('%s', (line, expected) => {
    expect(literalAnnouncement(Buffer.from(line))).toEqual(expected);
  });
});

describe('framing', () => {
  it('frames pipelined commands, byte by byte or at once', () => {
    const wire = 'a1 NOOP\r\na2 LOGIN {3}\r\nfoo {3+}\r\nbar\r\na3 LOGOUT\r\n';
    const expected = [
      'cmd a1 a1 NOOP []',
      '+ a2 3',
      'cmd a2 a2 LOGIN {3} |  {3+} |  [foo][bar]',
      'cmd a3 a3 LOGOUT []',
    ];
    for (const chunk of [0, 1, 2, 5, 7]) expect(summary(feed(wire, {}, chunk))).toEqual(expected);
  });
  it('accepts a bare LF as end of line and keeps CR-less lines', () => {
    expect(summary(feed('a NOOP\nb NOOP\r\n'))).toEqual(['cmd a a NOOP []', 'cmd b b NOOP []']);
  });
  it('literal8 and zero-length literals', () => {
    const evs = feed(
      Buffer.concat([Buffer.from('a APPEND x ~{2}\r\n'), Buffer.from([0, 255]), Buffer.from(' {0}\r\n\r\n')]),
    );
    expect(evs.map((e) => e.type)).toEqual(['continue', 'continue', 'command']);
    const cmd = evs[2]!;
    if (cmd.type !== 'command') throw new Error();
    expect(cmd.literals.map((l) => [l.binary, l.data.length])).toEqual([
      [true, 2],
      [false, 0],
    ]);
    expect(cmd.size).toBe(17 + 2 + 6 + 2);
  });
  it('a continuation line after expectLine (IDLE DONE, SASL)', () => {
    const r = new ImapReader();
    r.push(Buffer.from('a IDLE\r\nDONE\r\nb NOOP\r\n'));
    const first = r.next();
    expect(first).toMatchObject({ type: 'command', tag: 'a' });
    r.expectLine();
    expect(r.next()).toEqual({ type: 'line', line: Buffer.from('DONE') });
    expect(r.next()).toMatchObject({ type: 'command', tag: 'b' });
    // A line that looks like a literal announcement is still a raw line.
    r.expectLine();
    r.push(Buffer.from('abc{5}\r\n'));
    expect(r.next()).toEqual({ type: 'line', line: Buffer.from('abc{5}') });
  });
  it('takeRemaining hands back unframed octets (STARTTLS, COMPRESS)', () => {
    const r = new ImapReader();
    r.push(Buffer.from('a STARTTLS\r\nb LOGIN x y\r\n'));
    expect(r.next()).toMatchObject({ type: 'command', tag: 'a' });
    expect(r.takeRemaining().toString()).toBe('b LOGIN x y\r\n');
    expect(r.next()).toBeNull();
    expect(r.idle).toBe(true);
  });
  it('refuses lines without a tag, then resynchronises', () => {
    expect(summary(feed('\r\n+ NOOP\r\n* x\r\na NOOP\r\n'))).toEqual([
      '* BAD',
      '* BAD',
      '* BAD',
      'cmd a a NOOP []',
    ]);
    // An untagged line with a non-synchronising literal: the literal is skipped, not executed.
    expect(summary(feed('{8+}\r\nb LOGOUT\r\nc NOOP\r\n'))).toEqual(['* BAD', 'cmd c c NOOP []']);
  });
});

describe('limits', () => {
  const small: Partial<ImapLimits> = {
    maxLineLength: 50,
    maxLiteralSize: 10,
    maxMessageSize: 100,
    maxCommandSize: 150,
  };

  it('over-long line: tagged BAD [TOOBIG], rest skipped without buffering', () => {
    const r = new ImapReader(small);
    r.push(Buffer.from(`a1 SEARCH ${'X'.repeat(60)}`));
    expect(summary(drain(r))).toEqual(['a1 BAD [TOOBIG]']);
    for (let i = 0; i < 1000; i++) {
      r.push(Buffer.from('Y'.repeat(1000)));
      expect(drain(r)).toEqual([]);
      expect(r.bufferedBytes).toBeLessThanOrEqual(100);
    }
    r.push(Buffer.from(' {5}\r\na2 NOOP\r\n'));
    // A synchronising literal at the end of a refused line is never sent by the client.
    expect(summary(drain(r))).toEqual(['cmd a2 a2 NOOP []']);
  });
  it('over-long line ending with a non-synchronising literal: the literal is skipped', () => {
    const wire = `a1 SEARCH ${'X'.repeat(60)} {12+}\r\nA2 LOGOUT\r\n\r\na3 NOOP\r\n`;
    for (const chunk of [0, 1, 3, 64])
      expect(summary(feed(wire, small, chunk))).toEqual(['a1 BAD [TOOBIG]', 'cmd a3 a3 NOOP []']);
  });
  it('synchronising literal too large: NO [TOOBIG] instead of the continuation', () => {
    expect(summary(feed('a LOGIN {11}\r\nb NOOP\r\n', small))).toEqual(['a NO [TOOBIG]', 'cmd b b NOOP []']);
    // APPEND has its own limit (APPENDLIMIT).
    expect(summary(feed('a APPEND x {100}\r\n', small))).toEqual(['+ a 100']);
    expect(summary(feed('a APPEND x {101}\r\n', small))).toEqual(['a NO [TOOBIG]']);
    expect(summary(feed('a APPEND x {99999999999999999999999}\r\nb NOOP\r\n', small))).toEqual([
      'a NO [TOOBIG]',
      'cmd b b NOOP []',
    ]);
  });
  it('non-synchronising literal too large: BAD [TOOBIG], literal and rest of command skipped', () => {
    const wire = `a LOGIN {20+}\r\n${'z'.repeat(20)} {3+}\r\nabc\r\nb NOOP\r\n`;
    expect(summary(feed(wire, small))).toEqual(['a BAD [TOOBIG]', 'cmd b b NOOP []']);
    expect(summary(feed('a LOGIN {99999999999999999999+}\r\nb NOOP\r\n', small))).toEqual([
      'a BAD [TOOBIG] fatal',
    ]);
  });
  it('LITERAL- (RFC 7888): non-synchronising literals up to 4096 octets', () => {
    const lim: Partial<ImapLimits> = { nonSyncLiterals: 'minus', maxLiteralSize: 10_000 };
    expect(summary(feed(`a LOGIN {4096+}\r\n${'x'.repeat(4096)} y\r\n`, lim))[0]).toMatch(/^cmd a/);
    expect(summary(feed(`a LOGIN {4097+}\r\n${'x'.repeat(4097)} y\r\nb NOOP\r\n`, lim))).toEqual([
      'a BAD [TOOBIG]',
      'cmd b b NOOP []',
    ]);
    // Synchronising literals are not bound by LITERAL-.
    expect(summary(feed('a LOGIN {5000}\r\n', lim))).toEqual(['+ a 5000']);
  });
  it('no LITERAL+: non-synchronising literals are refused and skipped', () => {
    expect(summary(feed('a LOGIN {3+}\r\nabc x\r\nb NOOP\r\n', { nonSyncLiterals: 'none' }))).toEqual([
      'a BAD',
      'cmd b b NOOP []',
    ]);
  });
  it('whole command size (MULTIAPPEND) and number of literals', () => {
    const wire = 'a APPEND x {90}\r\n' + 'm'.repeat(90) + ' {90}\r\n';
    expect(summary(feed(wire, small))).toEqual(['+ a 90', 'a NO [TOOBIG]']);
    const many = `a SEARCH${' TEXT {1+}\r\nx'.repeat(5)}\r\nb NOOP\r\n`;
    expect(summary(feed(many, { maxLiterals: 3 }))).toEqual(['a BAD [LIMIT]', 'cmd b b NOOP []']);
  });
  it('over-long continuation line after expectLine', () => {
    const r = new ImapReader(small);
    r.expectLine();
    r.push(Buffer.from(`${'A'.repeat(80)}\r\nb NOOP\r\n`));
    expect(summary(drain(r))).toEqual(['* BAD [TOOBIG]', 'cmd b b NOOP []']);
  });
  it('setLimits applies to the next command', () => {
    const r = new ImapReader({ maxLiteralSize: 10 });
    r.push(Buffer.from('a LOGIN {20}\r\n'));
    expect(summary(drain(r))).toEqual(['a NO [TOOBIG]']);
    r.setLimits({ maxLiteralSize: 100 });
    r.push(Buffer.from('b LOGIN {20}\r\n'));
    expect(summary(drain(r))).toEqual(['+ b 20']);
  });
});

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

const CORPUS = [
  'a001 login mrc secret\r\n',
  'a002 select inbox (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n',
  'a003 fetch 12 full\r\n',
  'a004 fetch 2:4 (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (DATE FROM)]<0.100> BINARY[1] MODSEQ) (CHANGEDSINCE 5)\r\n',
  'a005 uid store 1:* (UNCHANGEDSINCE 7) +flags.silent (\\deleted $Junk)\r\n',
  'a006 SEARCH RETURN (MIN SAVE) CHARSET UTF-8 OR (SEEN FLAGGED) NOT HEADER X-A {3+}\r\nabc SINCE 1-Feb-1994\r\n',
  'a007 APPEND INBOX (\\Seen) " 7-Feb-1994 21:52:25 -0800" {10}\r\n0123456789 ~{3+}\r\n\0\0\0\r\n',
  'a008 LIST (SUBSCRIBED RECURSIVEMATCH) "" ("%" "&U,BTFw-/*") RETURN (CHILDREN STATUS (MESSAGES SIZE))\r\n',
  'a009 UID SORT (REVERSE DATE) UTF-8 ALL\r\n',
  'a010 SETACL INBOX fred +lrs\r\n',
  'a011 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n',
  'a012 ID ("name" "x" "os" NIL)\r\n',
  'a013 THREAD REFERENCES US-ASCII TEXT "gewp"\r\n',
  'a014 SETQUOTA "" (STORAGE 512)\r\n',
];
const ALPHABET = Buffer.from(' ()[]{}<>"\\*%$+-~.:,0123456789\r\n\0\xffAaZz', 'latin1');

describe('randomised: reader + parser never throw, always answer, stay bounded', () => {
  it('20,000 mutated and random inputs (seeded)', () => {
    const rnd = prng(20260101);
    const limits: Partial<ImapLimits> = {
      maxLineLength: 200,
      maxLiteralSize: 64,
      maxMessageSize: 512,
      maxCommandSize: 1024,
      maxLiterals: 8,
      maxNestingDepth: 8,
      maxCommandArgs: 64,
    };
    const bound = 200 + 1024 + 64;
    const int = (n: number) => Math.floor(rnd() * n);
    let commands = 0;
    let parsed = 0;
    let errors = 0;
    for (let iter = 0; iter < 20_000; iter++) {
      let input: Buffer;
      const mode = int(4);
      if (mode === 0) {
        input = Buffer.from(Array.from({ length: int(400) }, () => ALPHABET[int(ALPHABET.length)]!));
      } else {
        const bytes = [...Buffer.from(CORPUS[int(CORPUS.length)]!, 'latin1')];
        const edits = 1 + int(mode === 3 ? 20 : 4);
        for (let e = 0; e < edits; e++) {
          const at = int(bytes.length + 1);
          const op = int(5);
          if (op === 0) bytes.splice(at, 1);
          else if (op === 1) bytes.splice(at, 0, ALPHABET[int(ALPHABET.length)]!);
          else if (op === 2) bytes[at] = int(256);
          else if (op === 3)
            bytes.splice(
              at,
              0,
              ...Buffer.from(`{${int(3) === 0 ? int(100000) : int(80)}${int(2) ? '+' : ''}}\r\n`),
            );
          else bytes.splice(at, 0, ...bytes.slice(0, int(bytes.length)));
        }
        input = Buffer.from(bytes);
      }
      const reader = new ImapReader(limits);
      let events = 0;
      let pos = 0;
      const push = (buf: Buffer) => {
        reader.push(buf);
        for (let ev = reader.next(); ev; ev = reader.next()) {
          events++;
          if (ev.type === 'command') {
            commands++;
            const r = parseCommand(ev, { limits, utf8Mailboxes: int(2) === 0 });
            if (r.ok) parsed++;
            else {
              errors++;
              expect(r.text.length).toBeGreaterThan(0);
              expect(r.text).not.toMatch(/[\r\n]/);
            }
          } else if (ev.type === 'error') {
            if (ev.fatal) return;
          } else if (ev.type === 'line') {
            // not requested in this test
            throw new Error('unexpected line event');
          }
        }
        expect(reader.heldBytes).toBeLessThanOrEqual(bound);
      };
      while (pos < input.length) {
        const n = 1 + int(64);
        push(input.subarray(pos, pos + n));
        pos += n;
      }
      push(Buffer.from('\r\n'));
      // Always answers: a terminated input produced an event unless a literal is still awaited.
      if (events === 0) expect(reader.idle).toBe(false);
    }
    expect(commands).toBeGreaterThan(5000);
    expect(parsed).toBeGreaterThan(100);
    expect(errors).toBeGreaterThan(100);
  });
});
