import { describe, expect, it } from 'vitest';
import { type Command, parseCommand, parseCommandLine } from '../../src/imap/protocol/parser.ts';
import { ImapReader } from '../../src/imap/protocol/reader.ts';
import {
  aclResponse,
  astring,
  atom,
  bodyStructureValue,
  capabilityResponse,
  continuation,
  continuationBase64,
  enabledResponse,
  esearchResponse,
  existsResponse,
  expungeResponse,
  fetchResponse,
  flagsResponse,
  formatDateTime,
  formatResponseCode,
  formatSection,
  idResponse,
  listResponse,
  listRightsResponse,
  lsubResponse,
  myRightsResponse,
  namespaceResponse,
  quotaResponse,
  quotaRootResponse,
  type ResponseCode,
  searchResponse,
  serialize,
  sortResponse,
  statusResponse,
  tagged,
  threadResponse,
  untagged,
  untaggedStatus,
  vanishedResponse,
} from '../../src/imap/protocol/writer.ts';
import { parseEnvelope } from '../../src/mail/mime/envelope.ts';
import { parseStructure } from '../../src/mail/mime/structure.ts';

const s = (b: Buffer) => b.toString('utf8');

describe('strings: atom, quoted, literal, NIL', () => {
  it.each<[unknown, string]>([
    [null, 'NIL'],
    [42, '42'],
    [12345678901234n, '12345678901234'],
    ['hello world', '"hello world"'],
    ['', '""'],
    ['say "hi"', '{8}\r\nsay "hi"'],
    ['back\\slash', '{10}\r\nback\\slash'],
    ['two\r\nlines', '{10}\r\ntwo\r\nlines'],
    ['caf\u00e9', '{5}\r\ncaf\u00e9'],
    [Buffer.from([0x61, 0x00]), '{2}\r\na\u0000'],
    [atom('\\Seen'), '\\Seen'],
    [['a', null, [1, 2]], '("a" NIL (1 2))'],
  ])('%#: %s', (value, wire) => {
    expect(s(serialize([value as never]))).toBe(wire);
  });
  it('UTF-8 is quoted only when allowed (UTF8=ACCEPT / IMAP4rev2)', () => {
    expect(s(serialize(['caf\u00e9'], { utf8: true }))).toBe('"caf\u00e9"');
    expect(serialize([Buffer.from([0xc3])], { utf8: true }).toString('latin1')).toBe('{1}\r\n\u00c3');
    expect(s(listResponse({ attributes: [], delimiter: '\\', name: 'x' }))).toBe('* LIST () "\\\\" "x"\r\n');
    expect(s(namespaceResponse([{ prefix: 'é', delimiter: '\\' }], null, null, { utf8: true }))).toBe(
      '* NAMESPACE (("é" "\\\\")) NIL NIL\r\n',
    );
  });
  it('long strings become literals', () => {
    expect(s(serialize(['x'.repeat(2000)]))).toMatch(/^\{2000\}\r\n/);
  });
  it('astring: atom when possible', () => {
    expect(
      s(serialize([astring('INBOX'), astring('a b'), astring('NIL'), astring(''), astring('x]y')])),
    ).toBe('INBOX "a b" "NIL" "" x]y');
  });
});

describe('status responses and response codes', () => {
  it('RFC 9051 section 8 server lines', () => {
    expect(s(untaggedStatus('OK', 'IMAP4rev2 Service Ready'))).toBe('* OK IMAP4rev2 Service Ready\r\n');
    expect(s(tagged('a001', 'OK', 'LOGIN completed'))).toBe('a001 OK LOGIN completed\r\n');
    expect(s(existsResponse(172))).toBe('* 172 EXISTS\r\n');
    expect(
      s(untaggedStatus('OK', 'Unique identifiers valid', { code: 'UIDVALIDITY', value: 3857529045 })),
    ).toBe('* OK [UIDVALIDITY 3857529045] Unique identifiers valid\r\n');
    expect(s(untaggedStatus('OK', 'Predicted next UID', { code: 'UIDNEXT', value: 4392 }))).toBe(
      '* OK [UIDNEXT 4392] Predicted next UID\r\n',
    );
    expect(s(flagsResponse(['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft']))).toBe(
      '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n',
    );
    expect(
      s(untaggedStatus('OK', 'Limited', { code: 'PERMANENTFLAGS', flags: ['\\Deleted', '\\Seen', '\\*'] })),
    ).toBe('* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n');
    expect(s(tagged('a002', 'OK', 'SELECT completed', { code: 'READ-WRITE' }))).toBe(
      'a002 OK [READ-WRITE] SELECT completed\r\n',
    );
    expect(s(untaggedStatus('BYE', 'IMAP4rev2 server terminating connection'))).toBe(
      '* BYE IMAP4rev2 server terminating connection\r\n',
    );
    expect(s(expungeResponse(3))).toBe('* 3 EXPUNGE\r\n');
  });
  it.each<[ResponseCode, string]>([
    [{ code: 'ALERT' }, 'ALERT'],
    [{ code: 'TRYCREATE' }, 'TRYCREATE'],
    [{ code: 'BADCHARSET' }, 'BADCHARSET'],
    [{ code: 'BADCHARSET', charsets: ['UTF-8', 'US-ASCII'] }, 'BADCHARSET (UTF-8 US-ASCII)'],
    [
      { code: 'CAPABILITY', capabilities: ['IMAP4rev2', 'IMAP4rev1', 'IDLE'] },
      'CAPABILITY IMAP4rev2 IMAP4rev1 IDLE',
    ],
    [{ code: 'APPENDUID', uidValidity: 38505, uids: [3955] }, 'APPENDUID 38505 3955'],
    [
      { code: 'APPENDUID', uidValidity: 38505, uids: [3955, 3956, 3957, 3960] },
      'APPENDUID 38505 3955:3957,3960',
    ],
    [
      { code: 'COPYUID', uidValidity: 38505, source: [304, 319, 320], destination: [3956, 3957, 3958] },
      'COPYUID 38505 304,319:320 3956:3958',
    ],
    [{ code: 'HIGHESTMODSEQ', value: 715194045007n }, 'HIGHESTMODSEQ 715194045007'],
    [{ code: 'NOMODSEQ' }, 'NOMODSEQ'],
    [{ code: 'MODIFIED', numbers: [7, 9] }, 'MODIFIED 7,9'],
    [{ code: 'CLOSED' }, 'CLOSED'],
    [{ code: 'UIDNOTSTICKY' }, 'UIDNOTSTICKY'],
    [{ code: 'TOOBIG' }, 'TOOBIG'],
    [{ code: 'OVERQUOTA' }, 'OVERQUOTA'],
    [{ code: 'UNSEEN', value: 12 }, 'UNSEEN 12'],
    [{ code: 'COMPRESSIONACTIVE' }, 'COMPRESSIONACTIVE'],
    [{ code: 'USEATTR' }, 'USEATTR'],
    [{ code: 'UNKNOWN-CTE' }, 'UNKNOWN-CTE'],
    [{ code: 'OTHER', atom: 'X-FOO', text: 'a]b' }, 'X-FOO a)b'],
  ])('%#: %s', (code, text) => {
    expect(formatResponseCode(code)).toBe(text);
  });
  it('response text is TEXT-CHAR', () => {
    expect(s(tagged('a', 'NO', 'bad\r\nthing \u00e9'))).toBe('a NO bad  thing ?\r\n');
    expect(s(tagged('a', 'NO', ''))).toBe('a NO completed\r\n');
    expect(s(tagged('a', 'NO', '[not a code]'))).toBe('a NO (not a code]\r\n');
    expect(s(continuation())).toBe('+ Ready\r\n');
    expect(s(continuation('idling'))).toBe('+ idling\r\n');
    expect(s(continuationBase64(Buffer.alloc(0)))).toBe('+ \r\n');
    expect(s(continuationBase64(Buffer.from('challenge')))).toBe('+ Y2hhbGxlbmdl\r\n');
  });
});

describe('untagged data', () => {
  it('CAPABILITY, ENABLED, SEARCH, SORT, ESEARCH, VANISHED', () => {
    expect(s(capabilityResponse(['IMAP4rev2', 'STARTTLS', 'AUTH=GSSAPI']))).toBe(
      '* CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI\r\n',
    );
    expect(s(enabledResponse(['CONDSTORE']))).toBe('* ENABLED CONDSTORE\r\n');
    expect(s(searchResponse([2, 84, 882]))).toBe('* SEARCH 2 84 882\r\n');
    expect(s(searchResponse([]))).toBe('* SEARCH\r\n');
    expect(s(searchResponse([2, 5, 6, 7, 11, 12, 18, 19, 20, 23], 917162500n))).toBe(
      '* SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)\r\n',
    );
    expect(s(sortResponse([2, 84, 882]))).toBe('* SORT 2 84 882\r\n');
    expect(s(esearchResponse({ tag: 'A282', uid: false, min: 2, count: 3 }))).toBe(
      '* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n',
    );
    expect(s(esearchResponse({ tag: 'A283', uid: true, all: [2, 10, 11, 12, 20] }))).toBe(
      '* ESEARCH (TAG "A283") UID ALL 2,10:12,20\r\n',
    );
    expect(s(esearchResponse({ tag: 'A284', uid: false, all: [] }))).toBe('* ESEARCH (TAG "A284")\r\n');
    expect(s(esearchResponse({ tag: 'a', uid: true, max: 7, modseq: 5n }))).toBe(
      '* ESEARCH (TAG "a") UID MAX 7 MODSEQ 5\r\n',
    );
    expect(s(vanishedResponse([41, 43, 44, 45, 116], true))).toBe('* VANISHED (EARLIER) 41,43:45,116\r\n');
    expect(s(vanishedResponse([405, 407, 408, 409, 410], false))).toBe('* VANISHED 405,407:410\r\n');
  });
  it('THREAD (RFC 5256 example)', () => {
    expect(
      s(
        threadResponse([
          { messages: [2], branches: [] },
          {
            messages: [3, 6],
            branches: [
              { messages: [4, 23], branches: [] },
              { messages: [44, 7, 96], branches: [] },
            ],
          },
        ]),
      ),
    ).toBe('* THREAD (2)(3 6 (4 23)(44 7 96))\r\n');
    expect(
      s(
        threadResponse([
          {
            messages: [],
            branches: [
              { messages: [3], branches: [] },
              { messages: [5], branches: [] },
            ],
          },
          { messages: [1], branches: [{ messages: [2], branches: [] }] },
        ]),
      ),
    ).toBe('* THREAD ((3)(5))(1 2)\r\n');
    expect(s(threadResponse([]))).toBe('* THREAD\r\n');
  });
  it('LIST, LSUB, STATUS with modified UTF-7 or UTF-8 names', () => {
    expect(s(listResponse({ attributes: ['\\Noselect'], delimiter: '/', name: 'foo' }))).toBe(
      '* LIST (\\Noselect) "/" "foo"\r\n',
    );
    expect(s(listResponse({ attributes: [], delimiter: null, name: '台北' }))).toBe(
      '* LIST () NIL "&U,BTFw-"\r\n',
    );
    expect(s(listResponse({ attributes: [], delimiter: '.', name: '台北' }, { utf8: true }))).toBe(
      '* LIST () "." "台北"\r\n',
    );
    expect(s(listResponse({ attributes: [], delimiter: '\\', name: 'a"b' }))).toBe(
      '* LIST () "\\\\" {3}\r\na"b\r\n',
    );
    expect(
      s(
        listResponse({
          attributes: ['\\Subscribed', '\\HasChildren'],
          delimiter: '/',
          name: 'Foo',
          childInfo: ['SUBSCRIBED'],
        }),
      ),
    ).toBe('* LIST (\\Subscribed \\HasChildren) "/" "Foo" ("CHILDINFO" ("SUBSCRIBED"))\r\n');
    expect(s(listResponse({ attributes: [], delimiter: '/', name: 'New', oldName: 'Old' }))).toBe(
      '* LIST () "/" "New" ("OLDNAME" ("Old"))\r\n',
    );
    expect(s(lsubResponse({ attributes: [], delimiter: '.', name: '#news.comp.mail.mime' }))).toBe(
      '* LSUB () "." "#news.comp.mail.mime"\r\n',
    );
    expect(
      s(
        statusResponse('blurdybloop', [
          ['MESSAGES', 231],
          ['UIDNEXT', 44292],
          ['HIGHESTMODSEQ', 7011231777n],
        ]),
      ),
    ).toBe('* STATUS "blurdybloop" (MESSAGES 231 UIDNEXT 44292 HIGHESTMODSEQ 7011231777)\r\n');
    expect(s(statusResponse('INBOX', [['APPENDLIMIT', null]]))).toBe(
      '* STATUS "INBOX" (APPENDLIMIT NIL)\r\n',
    );
  });
  it('NAMESPACE, ID, QUOTA, ACL', () => {
    expect(s(namespaceResponse([{ prefix: '', delimiter: '/' }], null, null))).toBe(
      '* NAMESPACE (("" "/")) NIL NIL\r\n',
    );
    expect(
      s(
        namespaceResponse(
          [{ prefix: '', delimiter: '/' }],
          [{ prefix: '~', delimiter: '/' }],
          [
            { prefix: '#shared/', delimiter: '/' },
            { prefix: '#public/', delimiter: '/' },
          ],
        ),
      ),
    ).toBe('* NAMESPACE (("" "/")) (("~" "/")) (("#shared/" "/")("#public/" "/"))\r\n');
    expect(
      s(
        idResponse([
          ['name', 'Cyrus'],
          ['support-url', null],
        ]),
      ),
    ).toBe('* ID ("name" "Cyrus" "support-url" NIL)\r\n');
    expect(s(idResponse(null))).toBe('* ID NIL\r\n');
    expect(s(quotaResponse('', [{ name: 'STORAGE', usage: 10, limit: 512 }]))).toBe(
      '* QUOTA "" (STORAGE 10 512)\r\n',
    );
    expect(s(quotaRootResponse('INBOX', ['']))).toBe('* QUOTAROOT "INBOX" ""\r\n');
    expect(s(aclResponse('INBOX', [{ identifier: 'Fred', rights: 'rwipsldexta' }]))).toBe(
      '* ACL "INBOX" Fred rwipsldexta\r\n',
    );
    expect(s(listRightsResponse('~/Mail/saved', 'smith', 'la', ['r', 'swicdkxte']))).toBe(
      '* LISTRIGHTS "~/Mail/saved" smith "la" r swicdkxte\r\n',
    );
    expect(s(myRightsResponse('INBOX', 'rwiptsldaex'))).toBe('* MYRIGHTS "INBOX" "rwiptsldaex"\r\n');
  });
});

const RFC_MESSAGE = Buffer.from(
  [
    'Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)',
    'From: Terry Gray <gray@cac.washington.edu>',
    'Subject: IMAP4rev2 WG mtg summary and minutes',
    'To: imap@cac.washington.edu',
    'cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>',
    'Message-Id: <B27397-0100000@cac.washington.edu>',
    'MIME-Version: 1.0',
    'Content-Type: TEXT/PLAIN; CHARSET=US-ASCII',
    '',
    'Hello',
    '',
  ].join('\r\n'),
);

describe('FETCH responses', () => {
  it('the RFC 9051 section 8 FETCH FULL response', () => {
    const structure = parseStructure(RFC_MESSAGE);
    const wire = s(
      fetchResponse(12, [
        { type: 'FLAGS', flags: ['\\Seen'] },
        { type: 'INTERNALDATE', date: new Date('1996-07-17T09:44:25Z'), offsetMinutes: -420 },
        { type: 'RFC822.SIZE', value: 4286 },
        { type: 'ENVELOPE', envelope: parseEnvelope(RFC_MESSAGE) },
        { type: 'BODY', structure: { ...structure, size: 3028, lines: 92 } },
      ]),
    );
    expect(wire).toBe(
      '* 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" RFC822.SIZE 4286 ' +
        'ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev2 WG mtg summary and minutes" ' +
        '(("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) ' +
        '(("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) ' +
        '((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL ' +
        '"<B27397-0100000@cac.washington.edu>") BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92))\r\n',
    );
  });
  it('BODY[section]<origin>, BINARY, MODSEQ, UID', () => {
    const section = { part: [], text: 'HEADER.FIELDS' as const, fields: ['DATE', 'FROM'] };
    expect(
      s(
        fetchResponse(12, [
          { type: 'UID', value: 7 },
          { type: 'BODY[]', section, origin: null, data: Buffer.from('From: x\r\n\r\n') },
          { type: 'MODSEQ', value: 12121231000n },
        ]),
      ),
    ).toBe(
      '* 12 FETCH (UID 7 BODY[HEADER.FIELDS (DATE FROM)] {11}\r\nFrom: x\r\n\r\n MODSEQ (12121231000))\r\n',
    );
    expect(
      s(
        fetchResponse(1, [
          { type: 'BODY[]', section: { part: [1, 2], text: null, fields: [] }, origin: 0, data: null },
        ]),
      ),
    ).toBe('* 1 FETCH (BODY[1.2]<0> NIL)\r\n');
    expect(
      fetchResponse(1, [{ type: 'BINARY', part: [2], origin: null, data: Buffer.from([1, 0, 2]) }]).toString(
        'latin1',
      ),
    ).toBe('* 1 FETCH (BINARY[2] ~{3}\r\n\x01\x00\x02)\r\n');
    expect(s(fetchResponse(1, [{ type: 'BINARY', part: [], origin: 5, data: Buffer.from('ab') }]))).toBe(
      '* 1 FETCH (BINARY[]<5> {2}\r\nab)\r\n',
    );
    expect(s(fetchResponse(1, [{ type: 'BINARY.SIZE', part: [1, 1], size: 2000 }]))).toBe(
      '* 1 FETCH (BINARY.SIZE[1.1] 2000)\r\n',
    );
    expect(s(fetchResponse(1, [{ type: 'RFC822.HEADER', data: Buffer.from('a: b\r\n\r\n') }]))).toBe(
      '* 1 FETCH (RFC822.HEADER {8}\r\na: b\r\n\r\n)\r\n',
    );
  });
  it('BODYSTRUCTURE of a multipart with a message/rfc822 part', () => {
    const raw = Buffer.from(
      [
        'From: a@b.c',
        'Subject: test',
        'Content-Type: multipart/mixed; boundary="XX"',
        '',
        '--XX',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: quoted-printable',
        '',
        'Hello=20world',
        '--XX',
        'Content-Type: application/pdf; name="r.pdf"',
        'Content-Disposition: attachment; filename="r.pdf"',
        'Content-Transfer-Encoding: base64',
        'Content-Language: fr, en',
        '',
        'AAAA',
        '--XX',
        'Content-Type: message/rfc822',
        '',
        'Subject: inner',
        '',
        'inner body',
        '--XX--',
        '',
      ].join('\r\n'),
    );
    const part = parseStructure(raw);
    expect(s(serialize([bodyStructureValue(part, true)]))).toBe(
      '(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 13 1 NIL NIL NIL NIL)' +
        '("APPLICATION" "PDF" ("NAME" "r.pdf") NIL NIL "BASE64" 4 NIL ("ATTACHMENT" ("FILENAME" "r.pdf")) ("fr" "en") NIL)' +
        '("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 28 (NIL "inner" NIL NIL NIL NIL NIL NIL NIL NIL) ' +
        '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "XX") NIL NIL NIL)',
    );
    expect(s(serialize([bodyStructureValue(part, false)]))).toBe(
      '(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "QUOTED-PRINTABLE" 13 1)' +
        '("APPLICATION" "PDF" ("NAME" "r.pdf") NIL NIL "BASE64" 4)' +
        '("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 28 (NIL "inner" NIL NIL NIL NIL NIL NIL NIL NIL) ' +
        '("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 1) 3) "MIXED")',
    );
  });
  it('date-time format', () => {
    expect(formatDateTime(new Date('2024-03-05T08:09:10Z'))).toBe(' 5-Mar-2024 08:09:10 +0000');
    expect(formatDateTime(new Date('2024-03-05T08:09:10Z'), 90)).toBe(' 5-Mar-2024 09:39:10 +0130');
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

function frameAndParse(wire: Buffer, utf8Mailboxes = false): Command {
  const reader = new ImapReader();
  reader.push(wire);
  for (let ev = reader.next(); ev; ev = reader.next()) {
    if (ev.type === 'command') {
      const r = parseCommand(ev, { utf8Mailboxes });
      if (!r.ok) throw new Error(r.text);
      return r.command;
    }
    if (ev.type === 'error') throw new Error(ev.text);
  }
  throw new Error('incomplete');
}

describe('round trips writer -> reader -> parser', () => {
  it('any string written by the writer reads back the same (1000 seeded cases)', () => {
    const rnd = prng(42);
    const pool = [
      'a',
      ' ',
      '"',
      '\\',
      '\r',
      '\n',
      '{',
      '}',
      '(',
      ')',
      'é',
      '台',
      '😀',
      '*',
      '%',
      ']',
      '~',
      '0',
    ];
    for (let n = 0; n < 1000; n++) {
      const pick = () =>
        Array.from({ length: Math.floor(rnd() * 10) }, () => pool[Math.floor(rnd() * pool.length)]).join('');
      const user = pick();
      const pass = pick();
      const utf8 = rnd() < 0.5;
      const wire = Buffer.concat([
        Buffer.from('t LOGIN '),
        serialize([astring(user), pass], { utf8 }),
        Buffer.from('\r\n'),
      ]);
      expect(frameAndParse(wire)).toEqual({ tag: 't', name: 'LOGIN', username: user, password: pass });
    }
  });
  it('mailbox names in modified UTF-7 and UTF-8', () => {
    for (const name of ['INBOX', 'Envoyés', '台北/日本語', 'a&b', 'quote"d', 'x y']) {
      for (const utf8 of [false, true]) {
        const listed = listResponse({ attributes: [], delimiter: '/', name }, { utf8 });
        const wireName = listed.subarray(listed.indexOf('"/" ') + 4, listed.length - 2);
        const cmd = frameAndParse(
          Buffer.concat([Buffer.from('t SELECT '), wireName, Buffer.from('\r\n')]),
          utf8,
        );
        expect(cmd).toMatchObject({ name: 'SELECT', mailbox: name });
      }
    }
  });
  it('sections: parser -> formatSection -> parser', () => {
    for (const sec of [
      '',
      'HEADER',
      'TEXT',
      '1',
      '1.2.3',
      '2.MIME',
      '3.HEADER',
      '4.TEXT',
      'HEADER.FIELDS (DATE FROM)',
      '1.HEADER.FIELDS.NOT (X-A "b c")',
    ]) {
      const r = parseCommandLine(`t FETCH 1 BODY[${sec}]`);
      if (!r.ok || r.command.name !== 'FETCH') throw new Error(sec);
      const item = r.command.items[0]!;
      if (item.type !== 'BODY[]') throw new Error(sec);
      expect(formatSection(item.section)).toBe(sec);
    }
  });
  it('untagged() with a literal keeps the octets', () => {
    expect(untagged([1, atom('FETCH'), [atom('RFC822'), Buffer.from('a\r\nb')]]).toString()).toBe(
      '* 1 FETCH (RFC822 {4}\r\na\r\nb)\r\n',
    );
  });
});
