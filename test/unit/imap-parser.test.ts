import { describe, expect, it } from 'vitest';
import {
  type Command,
  isIdleDone,
  type ParseOptions,
  type ParseResult,
  parseCommand,
  parseCommandLine,
  parseSaslResponse,
} from '../../src/imap/protocol/parser.ts';
import { ImapReader } from '../../src/imap/protocol/reader.ts';
import {
  expandSequenceSet,
  filterBySequenceSet,
  formatNumberSet,
  formatOrderedSet,
  formatSequenceSet,
  parseSequenceSet,
  resolveSaved,
  sequenceSetInRange,
} from '../../src/imap/protocol/sequence.ts';

/** Frames `wire` (literals included) with the reader and parses the single command it holds. */
function parseWire(wire: string | Buffer, options: ParseOptions = {}): ParseResult {
  const reader = new ImapReader();
  reader.push(typeof wire === 'string' ? Buffer.from(wire, 'utf8') : wire);
  for (let ev = reader.next(); ev; ev = reader.next()) {
    if (ev.type === 'command') return parseCommand(ev, options);
    if (ev.type === 'error') throw new Error(`framing error: ${ev.text}`);
  }
  throw new Error('incomplete command');
}

function ok(wire: string | Buffer, options: ParseOptions = {}): Command {
  const text = typeof wire === 'string' && !wire.endsWith('\r\n') ? `${wire}\r\n` : wire;
  const r = parseWire(text, options);
  if (!r.ok) throw new Error(`${JSON.stringify(wire)}: ${r.text}`);
  return r.command;
}

function bad(
  line: string,
  options: ParseOptions = {},
): { status: string; code: string | null; text: string } {
  const r = parseCommandLine(line, options);
  if (r.ok) throw new Error(`${JSON.stringify(line)} parsed: ${JSON.stringify(r.command, replacer)}`);
  return { status: r.status, code: r.code, text: r.text };
}

const replacer = (_k: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v);

describe('RFC 9051 section 8 / RFC 3501 section 8 sample exchange', () => {
  it('parses every client command of the sample', () => {
    expect(ok('a001 login mrc secret')).toEqual({
      tag: 'a001',
      name: 'LOGIN',
      username: 'mrc',
      password: 'secret',
    });
    expect(ok('a002 select inbox')).toEqual({
      tag: 'a002',
      name: 'SELECT',
      mailbox: 'INBOX',
      condstore: false,
      qresync: null,
    });
    expect(ok('a003 fetch 12 full')).toEqual({
      tag: 'a003',
      name: 'FETCH',
      uid: false,
      sequence: [{ start: 12, end: 12 }],
      macro: 'FULL',
      items: [
        { type: 'FLAGS' },
        { type: 'INTERNALDATE' },
        { type: 'RFC822.SIZE' },
        { type: 'ENVELOPE' },
        { type: 'BODY' },
      ],
      changedSince: null,
      vanished: false,
    });
    expect(ok('a004 fetch 12 body[header]')).toMatchObject({
      name: 'FETCH',
      items: [
        { type: 'BODY[]', peek: false, section: { part: [], text: 'HEADER', fields: [] }, partial: null },
      ],
    });
    expect(ok('a005 store 12 +flags \\deleted')).toEqual({
      tag: 'a005',
      name: 'STORE',
      uid: false,
      sequence: [{ start: 12, end: 12 }],
      unchangedSince: null,
      operation: 'add',
      silent: false,
      flags: ['\\Deleted'],
    });
    expect(ok('a006 logout')).toEqual({ tag: 'a006', name: 'LOGOUT' });
  });
});

describe('commands without arguments', () => {
  it.each(['CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS', 'CHECK', 'CLOSE', 'UNSELECT', 'IDLE', 'NAMESPACE'])(
    '%s',
    (n) => {
      expect(ok(`t1 ${n.toLowerCase()}`)).toEqual({ tag: 't1', name: n });
      expect(bad(`t1 ${n} x`).text).toMatch(/Unexpected/);
    },
  );
  it('EXPUNGE and UID EXPUNGE (UIDPLUS)', () => {
    expect(ok('A202 EXPUNGE')).toEqual({ tag: 'A202', name: 'EXPUNGE', uid: false });
    expect(ok('A003 UID EXPUNGE 3000:3002')).toEqual({
      tag: 'A003',
      name: 'EXPUNGE',
      uid: true,
      sequence: [{ start: 3000, end: 3002 }],
    });
  });
});

describe('authentication', () => {
  it('AUTHENTICATE with and without SASL-IR (RFC 4959)', () => {
    expect(ok('A001 AUTHENTICATE GSSAPI')).toEqual({
      tag: 'A001',
      name: 'AUTHENTICATE',
      mechanism: 'GSSAPI',
      initialResponse: null,
    });
    const c = ok('a AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=');
    expect(c).toMatchObject({ mechanism: 'PLAIN' });
    expect((c as { initialResponse: Buffer }).initialResponse.toString()).toBe('test\0test\0test');
    expect((ok('a AUTHENTICATE PLAIN =') as { initialResponse: Buffer }).initialResponse.length).toBe(0);
    expect(bad('a AUTHENTICATE PLAIN dGVzd').text).toMatch(/base64/);
    expect(bad('a AUTHENTICATE PLAIN dGVzdA==x').text).toMatch(/base64/);
  });
  it('SASL continuation lines and IDLE DONE', () => {
    expect(parseSaslResponse('*')).toEqual({ cancel: true });
    expect(parseSaslResponse('')).toEqual({ cancel: false, data: Buffer.alloc(0) });
    expect(parseSaslResponse('dGVzdA==')).toEqual({ cancel: false, data: Buffer.from('test') });
    expect(parseSaslResponse('not base64!')).toBeNull();
    expect(isIdleDone('DONE')).toBe(true);
    expect(isIdleDone(Buffer.from('done'))).toBe(true);
    expect(isIdleDone('DONE ')).toBe(false);
  });
  it('LOGIN with quoted strings and literals', () => {
    expect(ok('a LOGIN "fred smith" "p\\"w\\\\d"')).toMatchObject({
      username: 'fred smith',
      password: 'p"w\\d',
    });
    expect(ok('a LOGIN {4}\r\nfred {6+}\r\nsecr t\r\n')).toMatchObject({
      username: 'fred',
      password: 'secr t',
    });
    expect(ok('a LOGIN "jos\u00e9" "mot de passe \u00e9t\u00e9"')).toMatchObject({ username: 'jos\u00e9' });
    expect(bad('a LOGIN fred').text).toMatch(/space/);
    expect(bad('a LOGIN "fred" "x\\y"').text).toMatch(/escape/);
    expect(parseCommandLine(Buffer.from('a LOGIN "\xff" x', 'latin1'))).toMatchObject({
      ok: false,
      text: /UTF-8/,
    });
  });
  it('ENABLE (RFC 5161)', () => {
    expect(ok('t2 ENABLE CONDSTORE X-GOOD-IDEA')).toEqual({
      tag: 't2',
      name: 'ENABLE',
      capabilities: ['CONDSTORE', 'X-GOOD-IDEA'],
    });
    expect(ok('a ENABLE utf8=accept')).toMatchObject({ capabilities: ['UTF8=ACCEPT'] });
    expect(bad('a ENABLE').text).toMatch(/space/);
  });
});

describe('mailbox commands', () => {
  it('mailbox names: INBOX in any case, modified UTF-7 or UTF-8', () => {
    expect(ok('a SELECT iNbOx')).toMatchObject({ mailbox: 'INBOX' });
    expect(ok('a SELECT "INBOX.Sent"')).toMatchObject({ mailbox: 'INBOX.Sent' });
    expect(ok('a EXAMINE "~peter/mail/&U,BTFw-/&ZeVnLIqe-"')).toMatchObject({
      name: 'EXAMINE',
      mailbox: '~peter/mail/台北/日本語',
    });
    expect(bad('a SELECT "&U,BTFw"').text).toMatch(/modified UTF-7/);
    expect(bad('a SELECT "台北"').text).toMatch(/modified UTF-7/);
    const utf8 = { utf8Mailboxes: true };
    expect(ok('a SELECT "台北"', utf8)).toMatchObject({ mailbox: '台北' });
    expect(ok('a SELECT "&U,BTFw-"', utf8)).toMatchObject({ mailbox: '&U,BTFw-' });
    expect(ok('a CREATE {6}\r\n台北\r\n', utf8)).toMatchObject({ mailbox: '台北' });
  });
  it('SELECT with CONDSTORE and QRESYNC (RFC 7162)', () => {
    expect(ok('a SELECT INBOX (CONDSTORE)')).toMatchObject({ condstore: true, qresync: null });
    expect(ok('A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))')).toMatchObject({
      qresync: {
        uidValidity: 67890007,
        modseq: 20050715194045000n,
        knownUids: [
          { start: 41, end: 41 },
          { start: 43, end: 211 },
          { start: 214, end: 541 },
        ],
        seqMatch: null,
      },
    });
    const c = ok(
      'B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))',
    );
    expect(c).toMatchObject({ qresync: { seqMatch: { seqs: [{ start: 5000, end: 5000 }, {}, {}, {}] } } });
    expect(ok('a SELECT INBOX (QRESYNC (1 2))')).toMatchObject({
      qresync: { knownUids: null, seqMatch: null },
    });
    expect(bad('a SELECT INBOX (QRESYNC (1 2 1:*))').text).toMatch(/known-uids/);
    expect(bad('a SELECT INBOX (QRESYNC (0 2))').text).toMatch(/non-zero/);
    expect(bad('a SELECT INBOX (QRESYNC (1 0))').text).toMatch(/non-zero/);
    expect(bad('a SELECT INBOX (FOO)').text).toMatch(/Unknown select parameter/);
    expect(bad('a SELECT INBOX ()').text).toMatch(/Empty/);
  });
  it('CREATE with USE (RFC 6154), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE', () => {
    expect(ok('t1 CREATE "Important Messages" (USE (\\Important))')).toEqual({
      tag: 't1',
      name: 'CREATE',
      mailbox: 'Important Messages',
      specialUse: ['\\Important'],
    });
    expect(ok('a CREATE Trash (USE (\\trash))')).toMatchObject({ specialUse: ['\\Trash'] });
    expect(ok('A003 CREATE owatagusiam/')).toMatchObject({ mailbox: 'owatagusiam/', specialUse: null });
    expect(bad('a CREATE x (FOO)').text).toMatch(/Unknown create parameter/);
    expect(ok('A683 DELETE blurdybloop')).toEqual({ tag: 'A683', name: 'DELETE', mailbox: 'blurdybloop' });
    expect(ok('A683 RENAME blurdybloop sarasoop')).toEqual({
      tag: 'A683',
      name: 'RENAME',
      mailbox: 'blurdybloop',
      newName: 'sarasoop',
    });
    expect(ok('A002 SUBSCRIBE #news.comp.mail.mime')).toMatchObject({ name: 'SUBSCRIBE' });
    expect(ok('A002 UNSUBSCRIBE #news.comp.mail.mime')).toMatchObject({ mailbox: '#news.comp.mail.mime' });
  });
  it('LIST, LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE', () => {
    expect(ok('A101 LIST "" ""')).toMatchObject({ reference: '', patterns: [''], extended: false });
    expect(ok('A682 LIST "" *')).toMatchObject({ patterns: ['*'] });
    expect(ok('A202 LIST ~/Mail/ %')).toMatchObject({ reference: '~/Mail/', patterns: ['%'] });
    expect(ok('A02 LIST (SUBSCRIBED) "" "*" RETURN (CHILDREN)')).toMatchObject({
      selection: { subscribed: true, remote: false, recursiveMatch: false },
      returns: { children: true, subscribed: false, status: null },
      extended: true,
    });
    expect(ok('A03 LIST () "" ("foo" "foo/*")')).toMatchObject({
      patterns: ['foo', 'foo/*'],
      extended: true,
    });
    expect(ok('A05 LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)')).toMatchObject({
      selection: { recursiveMatch: true },
    });
    expect(ok('A01 LIST "" % RETURN (STATUS (MESSAGES UNSEEN))')).toMatchObject({
      returns: { status: ['MESSAGES', 'UNSEEN'] },
    });
    expect(ok('t1 LIST (SPECIAL-USE) "" "*"')).toMatchObject({ selection: { specialUse: true } });
    expect(ok('t3 LIST "" "%" RETURN (SPECIAL-USE)')).toMatchObject({ returns: { specialUse: true } });
    expect(ok('a LIST "" "&U,BTFw-/*"')).toMatchObject({ patterns: ['台北/*'] });
    expect(bad('a LIST (RECURSIVEMATCH) "" "%"').text).toMatch(/RECURSIVEMATCH/);
    expect(bad('a LIST (FOO) "" "%"').text).toMatch(/selection option/);
    expect(bad('a LIST "" % RETURN (FOO)').text).toMatch(/return option/);
    expect(bad('a LIST "" % RETURN (STATUS ())').text).toMatch(/Empty/);
    expect(ok('A002 LSUB "#news." "comp.mail.*"')).toEqual({
      tag: 'A002',
      name: 'LSUB',
      reference: '#news.',
      pattern: 'comp.mail.*',
    });
  });
  it('STATUS with SIZE, DELETED, HIGHESTMODSEQ, APPENDLIMIT', () => {
    expect(ok('A042 STATUS blurdybloop (UIDNEXT MESSAGES)')).toEqual({
      tag: 'A042',
      name: 'STATUS',
      mailbox: 'blurdybloop',
      items: ['UIDNEXT', 'MESSAGES'],
    });
    expect(
      ok('a STATUS INBOX (size deleted highestmodseq appendlimit recent uidvalidity unseen)'),
    ).toMatchObject({
      items: ['SIZE', 'DELETED', 'HIGHESTMODSEQ', 'APPENDLIMIT', 'RECENT', 'UIDVALIDITY', 'UNSEEN'],
    });
    expect(bad('a STATUS INBOX ()').text).toMatch(/Empty/);
    expect(bad('a STATUS INBOX (FOO)').text).toMatch(/status item/);
  });
});

describe('APPEND (MULTIAPPEND, BINARY, UTF8=ACCEPT)', () => {
  const msg = 'Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nSubject: afternoon meeting\r\n\r\nHello Joe\r\n';
  it('RFC 9051 example with flags and a synchronising literal', () => {
    const c = ok(`A003 APPEND saved-messages (\\Seen) {${msg.length}}\r\n${msg}\r\n`);
    expect(c).toMatchObject({ name: 'APPEND', mailbox: 'saved-messages' });
    const m = (c as Extract<Command, { name: 'APPEND' }>).messages;
    expect(m).toHaveLength(1);
    expect(m[0]!.flags).toEqual(['\\Seen']);
    expect(m[0]!.date).toBeNull();
    expect(m[0]!.data.toString()).toBe(msg);
  });
  it('date-time and MULTIAPPEND (RFC 3502)', () => {
    const c = ok(
      `A003 APPEND saved-messages (\\Seen) " 7-Feb-1994 21:52:25 -0800" {${msg.length}}\r\n${msg} (\\Seen $Forwarded) {${msg.length}+}\r\n${msg} {3}\r\nabc\r\n`,
    ) as Extract<Command, { name: 'APPEND' }>;
    expect(c.messages).toHaveLength(3);
    expect(c.messages[0]!.date!.date.toISOString()).toBe('1994-02-08T05:52:25.000Z');
    expect(c.messages[0]!.date!.offsetMinutes).toBe(-480);
    expect(c.messages[1]!.flags).toEqual(['\\Seen', '$Forwarded']);
    expect(c.messages[2]).toMatchObject({ flags: null, date: null, binary: false, utf8: false });
  });
  it('literal8 and UTF8 (RFC 3516, RFC 6855)', () => {
    const bin = Buffer.concat([
      Buffer.from('A APPEND Drafts ~{3}\r\n'),
      Buffer.from([0, 1, 2]),
      Buffer.from('\r\n'),
    ]);
    const c = ok(bin) as Extract<Command, { name: 'APPEND' }>;
    expect(c.messages[0]).toMatchObject({ binary: true, utf8: false });
    expect([...c.messages[0]!.data]).toEqual([0, 1, 2]);
    const u = ok('A APPEND Drafts () UTF8 (~{2}\r\nhi)\r\n') as Extract<Command, { name: 'APPEND' }>;
    expect(u.messages[0]).toMatchObject({ flags: [], utf8: true, binary: true });
    expect(parseWire('A APPEND Drafts UTF8 ({2}\r\nhi)\r\n')).toMatchObject({ ok: false, text: /literal8/ });
    expect(parseWire(Buffer.from('A APPEND Drafts {1}\r\n\0\r\n'))).toMatchObject({ ok: false, text: /NUL/ });
  });
  it('refuses malformed APPENDs', () => {
    expect(bad('A APPEND box "hello"').text).toMatch(/date-time|literal/);
    expect(bad('A APPEND box').text).toMatch(/space/);
    expect(bad('A APPEND box "31-Feb-2020 10:00:00 +0000" {1}').text).toMatch(/date/);
    expect(bad('A APPEND box "1-Feb-2020 10:00:00 +0000" {1}').text).toMatch(/date-time/);
    expect(parseWire('A APPEND box (\\Seen) {1}\r\nx \r\n')).toMatchObject({ ok: false });
    expect(parseWire('A LOGIN ~{1}\r\nx y\r\n')).toMatchObject({ ok: false, text: /literal8/ });
  });
});

describe('SEARCH (ESEARCH, SEARCHRES, CONDSTORE, WITHIN)', () => {
  it('RFC 9051 / RFC 4731 examples', () => {
    expect(ok('A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"')).toEqual({
      tag: 'A282',
      name: 'SEARCH',
      uid: false,
      charset: null,
      returns: ['MIN', 'COUNT'],
      criteria: [
        { type: 'flagged' },
        { type: 'since', date: { year: 1994, month: 2, day: 1 } },
        { type: 'not', key: { type: 'from', value: 'Smith' } },
      ],
    });
    expect(ok('A283 SEARCH RETURN () FLAGGED')).toMatchObject({ returns: [] });
    expect(ok('A284 SEARCH TEXT "string not in mailbox"')).toMatchObject({
      returns: null,
      criteria: [{ type: 'text', value: 'string not in mailbox' }],
    });
    const utf8 = 'Gr\u00fc\u00dfe';
    expect(ok(`A285 SEARCH CHARSET UTF-8 TEXT {${Buffer.byteLength(utf8)}}\r\n${utf8}\r\n`)).toMatchObject({
      charset: 'UTF-8',
      criteria: [{ type: 'text', value: utf8 }],
    });
    expect(ok('A286 SEARCH CHARSET "us-ascii" ALL')).toMatchObject({ charset: 'US-ASCII' });
  });
  it('unsupported charset is NO [BADCHARSET]', () => {
    expect(bad('A SEARCH CHARSET KOI8-R TEXT "x"')).toEqual({
      status: 'NO',
      code: 'BADCHARSET (US-ASCII UTF-8)',
      text: 'Unsupported charset',
    });
    // Syntax errors still win.
    expect(bad('A SEARCH CHARSET KOI8-R FOO').status).toBe('BAD');
  });
  it('every search key', () => {
    const c = ok(
      'a UID SEARCH ALL ANSWERED BCC b BEFORE "1-Jan-2000" BODY x CC c DELETED DRAFT FLAGGED FROM f ' +
        'HEADER X-Foo "" KEYWORD $Junk LARGER 100 NEW OLD ON 29-Feb-2000 RECENT SEEN SENTBEFORE 1-Jan-2000 ' +
        'SENTON 1-Jan-2000 SENTSINCE 1-Jan-2000 SINCE 1-Jan-2000 SMALLER 5 SUBJECT s TEXT t TO x UID 1:* ' +
        'UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD foo UNSEEN 1,3:5 $ OR SEEN (FLAGGED DRAFT) ' +
        'OLDER 3600 YOUNGER 60 MODSEQ 0',
    ) as Extract<Command, { name: 'SEARCH' }>;
    expect(c.uid).toBe(true);
    expect(c.criteria.map((k) => k.type)).toEqual([
      'all',
      'answered',
      'bcc',
      'before',
      'body',
      'cc',
      'deleted',
      'draft',
      'flagged',
      'from',
      'header',
      'keyword',
      'larger',
      'new',
      'old',
      'on',
      'recent',
      'seen',
      'sentbefore',
      'senton',
      'sentsince',
      'since',
      'smaller',
      'subject',
      'text',
      'to',
      'uid',
      'unanswered',
      'undeleted',
      'undraft',
      'unflagged',
      'unkeyword',
      'unseen',
      'seq',
      'seq',
      'or',
      'older',
      'younger',
      'modseq',
    ]);
    expect(c.criteria[10]).toEqual({ type: 'header', field: 'X-Foo', value: '' });
    expect(c.criteria[34]).toEqual({ type: 'seq', set: '$' });
    expect(c.criteria[35]).toEqual({
      type: 'or',
      left: { type: 'seen' },
      right: { type: 'and', keys: [{ type: 'flagged' }, { type: 'draft' }] },
    });
  });
  it('MODSEQ with an entry (RFC 7162 3.1.5) and SEARCHRES (RFC 5182)', () => {
    expect(ok('a SEARCH MODSEQ "/flags/\\\\draft" all 620162338')).toMatchObject({
      criteria: [{ type: 'modseq', entry: { flag: '\\Draft', entryType: 'all' }, modseq: 620162338n }],
    });
    expect(ok('A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"')).toMatchObject({
      returns: ['SAVE'],
    });
    expect(ok('C05 UID SEARCH UID $ SMALLER 4096')).toMatchObject({
      criteria: [
        { type: 'uid', set: '$' },
        { type: 'smaller', size: 4096 },
      ],
    });
    expect(bad('a SEARCH MODSEQ "/flags/\\\\draft" other 1').text).toMatch(/entry type/);
  });
  it('refuses malformed searches', () => {
    expect(bad('a SEARCH').text).toMatch(/space/);
    expect(bad('a SEARCH FOO').text).toMatch(/Unknown search key FOO/);
    expect(bad('a SEARCH SINCE 31-Apr-2020').text).toMatch(/date/);
    expect(bad('a SEARCH SINCE 1-Foo-2020').text).toMatch(/month/);
    expect(bad('a SEARCH ()').text).toMatch(/search key/);
    expect(bad('a SEARCH (SEEN').text).toMatch(/space/);
    expect(bad('a SEARCH KEYWORD \\Seen').text).toMatch(/system flag/);
    expect(bad('a SEARCH RETURN (FOO) ALL').text).toMatch(/return option/);
    expect(bad('a SEARCH OLDER 0').text).toMatch(/non-zero/);
    expect(bad('a SEARCH 1:2: ALL').text).toMatch(/sequence set/);
    expect(bad('a SEARCH ALL ').text).toMatch(/trailing space|search key/);
    expect(bad('a SEARCH ALL  SEEN').text).toMatch(/single space/);
    expect(bad(`a SEARCH ${'NOT '.repeat(40)}ALL`).text).toMatch(/nested/);
    expect(bad(`a SEARCH ${'('.repeat(40)}ALL${')'.repeat(40)}`).text).toMatch(/nested/);
  });
});

describe('FETCH', () => {
  type Fetch = Extract<Command, { name: 'FETCH' }>;
  it('RFC examples', () => {
    expect(ok('A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])')).toMatchObject({
      sequence: [{ start: 2, end: 4 }],
      items: [
        { type: 'FLAGS' },
        {
          type: 'BODY[]',
          peek: false,
          section: { part: [], text: 'HEADER.FIELDS', fields: ['DATE', 'FROM'] },
        },
      ],
    });
    expect(ok('A999 UID FETCH 4827313:4828442 FLAGS')).toMatchObject({
      uid: true,
      items: [{ type: 'FLAGS' }],
    });
    expect(ok('a fetch 1 all')).toMatchObject({ macro: 'ALL', items: [{}, {}, {}, { type: 'ENVELOPE' }] });
    expect((ok('a fetch 1:* fast') as Fetch).items).toHaveLength(3);
  });
  it('sections, partials, BINARY (RFC 3516)', () => {
    const c = ok(
      'a FETCH 1 (BODY.PEEK[1.2.MIME] BODY[3.HEADER.FIELDS.NOT (X-A "X-B")]<0.2048> BODY[1.TEXT] BODY[] BODY[4] ' +
        'BINARY.PEEK[1]<100.200> BINARY[] BINARY.SIZE[2.1] RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT UID ' +
        'ENVELOPE BODYSTRUCTURE BODY INTERNALDATE MODSEQ)',
    ) as Fetch;
    expect(c.items).toEqual([
      { type: 'BODY[]', peek: true, section: { part: [1, 2], text: 'MIME', fields: [] }, partial: null },
      {
        type: 'BODY[]',
        peek: false,
        section: { part: [3], text: 'HEADER.FIELDS.NOT', fields: ['X-A', 'X-B'] },
        partial: { offset: 0, length: 2048 },
      },
      { type: 'BODY[]', peek: false, section: { part: [1], text: 'TEXT', fields: [] }, partial: null },
      { type: 'BODY[]', peek: false, section: { part: [], text: null, fields: [] }, partial: null },
      { type: 'BODY[]', peek: false, section: { part: [4], text: null, fields: [] }, partial: null },
      { type: 'BINARY', peek: true, part: [1], partial: { offset: 100, length: 200 } },
      { type: 'BINARY', peek: false, part: [], partial: null },
      { type: 'BINARY.SIZE', part: [2, 1] },
      { type: 'RFC822' },
      { type: 'RFC822.HEADER' },
      { type: 'RFC822.SIZE' },
      { type: 'RFC822.TEXT' },
      { type: 'UID' },
      { type: 'ENVELOPE' },
      { type: 'BODYSTRUCTURE' },
      { type: 'BODY' },
      { type: 'INTERNALDATE' },
      { type: 'MODSEQ' },
    ]);
  });
  it('CHANGEDSINCE and VANISHED (RFC 7162)', () => {
    expect(ok('s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)')).toMatchObject({
      uid: true,
      changedSince: 12345n,
      vanished: true,
    });
    expect(ok('s100 FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)')).toMatchObject({ changedSince: 12345n });
    expect(bad('s FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)').text).toMatch(/UID FETCH/);
    expect(bad('s UID FETCH 1:* (FLAGS) (VANISHED)').text).toMatch(/CHANGEDSINCE/);
    expect(bad('s FETCH 1 FLAGS (CHANGEDSINCE 0)').text).toMatch(/non-zero/);
    expect(bad('s FETCH 1 FLAGS (FOO)').text).toMatch(/fetch modifier/);
  });
  it('refuses malformed fetches', () => {
    expect(bad('a FETCH 0 FLAGS').text).toMatch(/sequence set/);
    expect(bad('a FETCH 01 FLAGS').text).toMatch(/sequence set/);
    expect(bad('a FETCH 4294967296 FLAGS').text).toMatch(/sequence set/);
    expect(bad('a FETCH 1 BODY[MIME]').text).toMatch(/section/);
    expect(bad('a FETCH 1 BODY[0]').text).toMatch(/non-zero/);
    expect(bad('a FETCH 1 BODY[1.]').text).toMatch(/section/);
    expect(bad('a FETCH 1 BODY[HEADER.FIELDS]').text).toMatch(/space/);
    expect(bad('a FETCH 1 BODY[HEADER.FIELDS ()]').text).toMatch(/Empty/);
    expect(bad('a FETCH 1 BODY[]<0.0>').text).toMatch(/zero/);
    expect(bad('a FETCH 1 BODY[]<5>').text).toMatch(/"\."/);
    expect(bad('a FETCH 1 BINARY[TEXT]').text).toMatch(/"\]"|number/);
    expect(bad('a FETCH 1 ()').text).toMatch(/Empty/);
    expect(bad('a FETCH 1 (ALL)').text).toMatch(/Unknown fetch item/);
    expect(bad('a FETCH 1 FOO').text).toMatch(/Unknown fetch item/);
  });
});

describe('STORE, COPY, MOVE', () => {
  it('STORE forms', () => {
    expect(ok('A003 STORE 2:4 +FLAGS (\\Deleted)')).toMatchObject({ operation: 'add', flags: ['\\Deleted'] });
    expect(ok('a STORE 1 -FLAGS.SILENT \\Seen $Label1 \\Foo')).toMatchObject({
      operation: 'remove',
      silent: true,
      flags: ['\\Seen', '$Label1', '\\Foo'],
    });
    expect(ok('a STORE 1 FLAGS ()')).toMatchObject({ operation: 'set', flags: [] });
    expect(ok('a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)')).toMatchObject({
      uid: true,
      sequence: [
        { start: 6, end: 6 },
        { start: 4, end: 4 },
        { start: 8, end: 8 },
      ],
      unchangedSince: 12121230045n,
      silent: true,
    });
    expect(ok('a STORE $ (UNCHANGEDSINCE 0) FLAGS (\\Seen)')).toMatchObject({
      sequence: '$',
      unchangedSince: 0n,
    });
    expect(bad('a STORE 1 +FLAGS').text).toMatch(/space/);
    expect(bad('a STORE 1 LABELS (x)').text).toMatch(/store item/);
    expect(bad('a STORE 1 FLAGS (\\Seen').text).toMatch(/space/);
    expect(bad('a STORE 1 (UNCHANGEDSINCE 99999999999999999999) FLAGS ()').text).toMatch(/range/);
  });
  it('COPY / MOVE and UID variants (RFC 6851)', () => {
    expect(ok('A003 COPY 2:4 MEETING')).toEqual({
      tag: 'A003',
      name: 'COPY',
      uid: false,
      sequence: [{ start: 2, end: 4 }],
      mailbox: 'MEETING',
    });
    expect(ok('a UID MOVE 42:69 foo')).toMatchObject({ name: 'MOVE', uid: true });
    expect(ok('a MOVE $ Trash')).toMatchObject({ sequence: '$' });
    expect(bad('a UID FOO 1').text).toMatch(/Unknown UID command/);
    expect(bad('a COPY 1').text).toMatch(/space/);
  });
});

describe('SORT and THREAD (RFC 5256)', () => {
  it('RFC examples', () => {
    expect(ok('A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994')).toMatchObject({
      name: 'SORT',
      criteria: [{ key: 'SUBJECT', reverse: false }],
      charset: 'UTF-8',
    });
    expect(ok('A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL')).toMatchObject({
      criteria: [
        { key: 'SUBJECT', reverse: false },
        { key: 'DATE', reverse: true },
      ],
    });
    expect(ok('A284 UID SORT (SUBJECT) US-ASCII TEXT "not in mailbox"')).toMatchObject({ uid: true });
    expect(ok('A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000')).toMatchObject({
      name: 'THREAD',
      algorithm: 'ORDEREDSUBJECT',
      search: [{ type: 'since', date: { year: 2000, month: 3, day: 5 } }],
    });
    expect(ok('A284 UID THREAD REFERENCES US-ASCII TEXT "gewp"')).toMatchObject({
      uid: true,
      algorithm: 'REFERENCES',
    });
    expect(bad('a SORT (SUBJECT) ALL').text).toMatch(/space/);
    expect(bad('a SORT (REVERSE) UTF-8 ALL').text).toMatch(/space|sort key/);
    expect(bad('a SORT (FOO) UTF-8 ALL').text).toMatch(/sort key/);
    expect(bad('a SORT () UTF-8 ALL').text).toMatch(/Empty/);
    expect(bad('a SORT (DATE) BIG5 ALL').code).toMatch(/BADCHARSET/);
  });
});

describe('QUOTA (RFC 9208), ACL (RFC 4314), ID (RFC 2971), COMPRESS (RFC 4978)', () => {
  it('QUOTA', () => {
    expect(ok('G GETQUOTAROOT INBOX')).toEqual({ tag: 'G', name: 'GETQUOTAROOT', mailbox: 'INBOX' });
    expect(ok('G GETQUOTA ""')).toEqual({ tag: 'G', name: 'GETQUOTA', root: '' });
    expect(ok('S SETQUOTA "" (STORAGE 512 MESSAGE 1000)')).toEqual({
      tag: 'S',
      name: 'SETQUOTA',
      root: '',
      resources: [
        { name: 'STORAGE', limit: 512 },
        { name: 'MESSAGE', limit: 1000 },
      ],
    });
    expect(ok('S SETQUOTA "" ()')).toMatchObject({ resources: [] });
    expect(bad('S SETQUOTA "" (STORAGE)').text).toMatch(/space/);
  });
  it('ACL', () => {
    expect(ok('A002 SETACL INBOX/Drafts Chris +cda')).toEqual({
      tag: 'A002',
      name: 'SETACL',
      mailbox: 'INBOX/Drafts',
      identifier: 'Chris',
      mode: 'add',
      rights: 'cda',
    });
    expect(ok('A SETACL INBOX -Fred -w')).toMatchObject({ identifier: '-Fred', mode: 'remove', rights: 'w' });
    expect(ok('A SETACL INBOX Fred ""')).toMatchObject({ mode: 'set', rights: '' });
    expect(bad('A035 SETACL INBOX/Drafts John lrQswicda').text).toMatch(/rights/);
    expect(ok('A003 GETACL INBOX/Drafts')).toMatchObject({ name: 'GETACL' });
    expect(ok('a LISTRIGHTS ~/Mail/saved smith')).toEqual({
      tag: 'a',
      name: 'LISTRIGHTS',
      mailbox: '~/Mail/saved',
      identifier: 'smith',
    });
    expect(ok('A003 MYRIGHTS INBOX')).toMatchObject({ name: 'MYRIGHTS', mailbox: 'INBOX' });
    expect(ok('A002 DELETEACL ~/Mail/saved -smith')).toMatchObject({
      name: 'DELETEACL',
      identifier: '-smith',
    });
  });
  it('ID', () => {
    expect(ok('a023 ID ("name" "sodr" "version" "19.34" "vendor" "Pink Floyd Music Limited")')).toEqual({
      tag: 'a023',
      name: 'ID',
      params: [
        ['name', 'sodr'],
        ['version', '19.34'],
        ['vendor', 'Pink Floyd Music Limited'],
      ],
    });
    expect(ok('a ID NIL')).toEqual({ tag: 'a', name: 'ID', params: null });
    expect(ok('a ID ("os" NIL)')).toMatchObject({ params: [['os', null]] });
    expect(bad('a ID (name "x")').text).toMatch(/ID field name/);
  });
  it('COMPRESS', () => {
    expect(ok('t1 COMPRESS DEFLATE')).toEqual({ tag: 't1', name: 'COMPRESS', mechanism: 'DEFLATE' });
    expect(bad('t1 COMPRESS').text).toMatch(/space/);
  });
});

describe('tags, command names and limits', () => {
  it('refuses bad tags and unknown commands with precise reasons', () => {
    expect(parseCommandLine('+a NOOP')).toMatchObject({ ok: false, tag: null });
    expect(parseCommandLine('a{ NOOP')).toMatchObject({ ok: false, tag: null });
    expect(parseCommandLine('* NOOP')).toMatchObject({ ok: false, tag: null });
    expect(parseCommandLine('a]b NOOP')).toMatchObject({ ok: true });
    expect(bad('a').text).toBe('Missing command');
    expect(bad('a FROB').text).toBe('Unknown command FROB');
    expect(bad('a NOOP ').text).toBe('Unexpected trailing space');
    expect(bad('a  NOOP').text).toMatch(/single space/);
  });
  it('maxCommandArgs', () => {
    const line = `a SEARCH ${Array.from({ length: 50 }, () => 'SEEN').join(' ')}`;
    expect(parseCommandLine(line, { limits: { maxCommandArgs: 20 } })).toMatchObject({
      ok: false,
      code: 'LIMIT',
    });
    expect(parseCommandLine(line)).toMatchObject({ ok: true });
  });
});

describe('sequence sets', () => {
  it('parses and formats', () => {
    expect(parseSequenceSet('1:*')).toEqual([{ start: 1, end: '*' }]);
    expect(parseSequenceSet('*:4,7')).toEqual([
      { start: '*', end: 4 },
      { start: 7, end: 7 },
    ]);
    expect(parseSequenceSet('$')).toBe('$');
    for (const badSet of ['', '0', '1:', ':1', '1,,2', '1:2:3', '$,1', '01', '4294967296', 'a']) {
      expect(parseSequenceSet(badSet)).toBeNull();
    }
    expect(formatSequenceSet(parseSequenceSet('3:1,5,*')!)).toBe('3:1,5,*');
    expect(formatNumberSet([5, 1, 2, 3, 9, 8])).toBe('1:3,5,8:9');
    expect(formatOrderedSet([5, 6, 7, 1, 2])).toBe('5:7,1:2');
  });
  it('expands against a maximum', () => {
    const r = (s: string) => {
      const set = parseSequenceSet(s);
      if (!set || set === '$') throw new Error(s);
      return set;
    };
    expect(expandSequenceSet(r('2:4'), 10)).toEqual([2, 3, 4]);
    expect(expandSequenceSet(r('4:2,3,9:*'), 10)).toEqual([2, 3, 4, 9, 10]);
    expect(expandSequenceSet(r('*'), 0)).toEqual([]);
    expect(expandSequenceSet(r('1:*'), 3)).toEqual([1, 2, 3]);
    expect(expandSequenceSet(r('5:7'), 3)).toEqual([]);
    expect(sequenceSetInRange(r('1:3,*'), 3)).toBe(true);
    expect(sequenceSetInRange(r('4'), 3)).toBe(false);
    // UID sets: "n:*" includes the largest UID even when n is larger.
    expect(filterBySequenceSet(r('100:*'), [3, 7, 50])).toEqual([50]);
    expect(filterBySequenceSet(r('4:8,1'), [1, 2, 5, 8, 9])).toEqual([1, 5, 8]);
    expect(resolveSaved('$', [3, 1, 2, 7])).toEqual([
      { start: 1, end: 3 },
      { start: 7, end: 7 },
    ]);
  });
});
