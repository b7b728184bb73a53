import { describe, expect, it } from 'vitest';
import { type EnvelopeAddress, parseAddressList } from '../../src/mail/mime/addresses.ts';
import { parseMailDate } from '../../src/mail/mime/date.ts';
import { decodeEncodedWords } from '../../src/mail/mime/encoded-words.ts';
import { parseEnvelope } from '../../src/mail/mime/envelope.ts';
import { summarizeMessage } from '../../src/mail/mime/summary.ts';

const msg = (lines: string[]) => Buffer.from(lines.join('\r\n'), 'utf8');
const addr = (name: string | null, mailbox: string | null, host: string | null): EnvelopeAddress => ({
  name,
  adl: null,
  mailbox,
  host,
});
const groupStart = (name: string) => addr(null, name, null);
const groupEnd = addr(null, null, null);

describe('parseEnvelope', () => {
  it('reads every field raw (encoded-words kept, values unfolded)', () => {
    const raw = msg([
      'Return-Path: <bounce@ch-a.mssante.fr>',
      'Date: Tue, 4 Mar 2025 10:15:00 +0100',
      'From: =?utf-8?Q?Dr_Jean_Dupr=C3=A9?= <jean.dupre@ch-a.mssante.fr>',
      'Sender: secretariat@ch-a.mssante.fr',
      'Reply-To: "Service de cardiologie" <cardiologie@ch-a.mssante.fr>',
      'To: dr.durand@ch-b.mssante.fr,',
      '  "Martin, Anne" <anne.martin@ch-b.mssante.fr>',
      'Cc: <archives@ch-a.mssante.fr>',
      'Bcc: copie@ch-a.mssante.fr',
      'Subject: =?utf-8?B?Q29tcHRlIHJlbmR1?=',
      '  =?utf-8?Q?_op=C3=A9ratoire?=',
      'In-Reply-To: <prev@ch-b.mssante.fr>',
      'Message-ID: <20250304101500.1@ch-a.mssante.fr>',
      'Subject: second subject ignored',
      '',
      'body',
    ]);
    expect(parseEnvelope(raw)).toEqual({
      date: 'Tue, 4 Mar 2025 10:15:00 +0100',
      subject: '=?utf-8?B?Q29tcHRlIHJlbmR1?=  =?utf-8?Q?_op=C3=A9ratoire?=',
      from: [addr('=?utf-8?Q?Dr_Jean_Dupr=C3=A9?=', 'jean.dupre', 'ch-a.mssante.fr')],
      sender: [addr(null, 'secretariat', 'ch-a.mssante.fr')],
      replyTo: [addr('Service de cardiologie', 'cardiologie', 'ch-a.mssante.fr')],
      to: [
        addr(null, 'dr.durand', 'ch-b.mssante.fr'),
        addr('Martin, Anne', 'anne.martin', 'ch-b.mssante.fr'),
      ],
      cc: [addr(null, 'archives', 'ch-a.mssante.fr')],
      bcc: [addr(null, 'copie', 'ch-a.mssante.fr')],
      inReplyTo: '<prev@ch-b.mssante.fr>',
      messageId: '<20250304101500.1@ch-a.mssante.fr>',
    });
  });

  it.each([
    ['absent', []],
    ['present but empty', ['Sender:', 'Reply-To:   ']],
  ])('Sender and Reply-To default to From when %s (RFC 3501)', (_title, extra) => {
    const env = parseEnvelope(msg(['From: Jean <jean@ch-a.mssante.fr>', ...extra, '', 'x']));
    const from = [addr('Jean', 'jean', 'ch-a.mssante.fr')];
    expect(env.from).toEqual(from);
    expect(env.sender).toEqual(from);
    expect(env.replyTo).toEqual(from);
  });

  it('gives NIL for everything on a message without header', () => {
    expect(parseEnvelope(Buffer.from('no header here\r\n'))).toEqual({
      date: null,
      subject: null,
      from: null,
      sender: null,
      replyTo: null,
      to: null,
      cc: null,
      bcc: null,
      inReplyTo: null,
      messageId: null,
    });
  });

  it('keeps raw UTF-8 header text (RFC 6532)', () => {
    const env = parseEnvelope(
      msg(['From: Hélène Dupré <helene@ch-a.mssante.fr>', 'Subject: Résultats', '', '']),
    );
    expect(env.subject).toBe('Résultats');
    expect(env.from).toEqual([addr('Hélène Dupré', 'helene', 'ch-a.mssante.fr')]);
  });
});

describe('parseAddressList', () => {
  it.each<[string, EnvelopeAddress[]]>([
    ['a@b.fr', [addr(null, 'a', 'b.fr')]],
    ['<a@b.fr>', [addr(null, 'a', 'b.fr')]],
    ['Jean Dupont <jean.dupont@ch.fr>', [addr('Jean Dupont', 'jean.dupont', 'ch.fr')]],
    ['"Dupont, Jean" <j@ch.fr>, k@ch.fr', [addr('Dupont, Jean', 'j', 'ch.fr'), addr(null, 'k', 'ch.fr')]],
    ['"Say \\"hi\\"" <x@y.z>', [addr('Say "hi"', 'x', 'y.z')]],
    ['John Q. Public <jqp@x.y>', [addr('John Q. Public', 'jqp', 'x.y')]],
    ['jean@ch.fr (Jean Dupont)', [addr('Jean Dupont', 'jean', 'ch.fr')]],
    ['Jean (the doctor) <jean@ch.fr>', [addr('Jean', 'jean', 'ch.fr')]],
    ['<@relay1.fr,@relay2.fr:user@host.fr>', [addr(null, 'user', 'host.fr')]],
    ['"john doe"@x.fr', [addr(null, '"john doe"', 'x.fr')]],
    ['jean . dupont @ ch . fr', [addr(null, 'jean.dupont', 'ch.fr')]],
    ['a@[192.0.2.1]', [addr(null, 'a', '[192.0.2.1]')]],
    ['=?utf-8?Q?Ren=C3=A9?= <r@x.fr>', [addr('=?utf-8?Q?Ren=C3=A9?=', 'r', 'x.fr')]],
    ['undisclosed-recipients:;', [groupStart('undisclosed-recipients'), groupEnd]],
    [
      'Equipe: a@x.fr, "B" <b@x.fr>; c@y.fr',
      [
        groupStart('Equipe'),
        addr(null, 'a', 'x.fr'),
        addr('B', 'b', 'x.fr'),
        groupEnd,
        addr(null, 'c', 'y.fr'),
      ],
    ],
    ['Unclosed group: a@x.fr', [groupStart('Unclosed group'), addr(null, 'a', 'x.fr'), groupEnd]],
    ['nobody', [addr(null, 'nobody', '')]],
    ['Display Name Only', [addr('Display Name Only', '', '')]],
    ['<>', []],
    ['', []],
    [' , ,a@b.c,, ', [addr(null, 'a', 'b.c')]],
    ['"unterminated <a@b.c>', [addr('unterminated <a@b.c>', '', '')]],
    ['Name <a@b.c', [addr('Name', 'a', 'b.c')]],
    ['(only a comment)', []],
  ])('%j', (input, expected) => {
    expect(parseAddressList(input)).toEqual(expected);
  });

  it('never throws on junk', () => {
    const junk = ['<<<>>>', '@@@', ':;:;', '"', '(', '\\', '[', 'a@', '@b', ',,,;;;<>', 'a:b:c@d;;e'];
    for (const s of junk) expect(() => parseAddressList(s)).not.toThrow();
  });
});

describe('parseMailDate', () => {
  it.each([
    ['Tue, 4 Mar 2025 10:15:00 +0100', '2025-03-04T09:15:00.000Z'],
    ['4 Mar 2025 10:15 +0100', '2025-03-04T09:15:00.000Z'],
    ['Tue,  4 Mar 2025 10:15:00 -0230 (NST)', '2025-03-04T12:45:00.000Z'],
    ['Mon, 03 Mar 25 23:59:59 GMT', '2025-03-03T23:59:59.000Z'],
    ['Mon, 3 Mar 99 12:00:00 EST', '1999-03-03T17:00:00.000Z'],
    ['Mon, 3 Mar 125 12:00:00 +0000', '2025-03-03T12:00:00.000Z'],
    ['3 March 2025 08:00:00 PDT', '2025-03-03T15:00:00.000Z'],
    ['Fri, 28 Feb 2025 10:00:00 CET', '2025-02-28T09:00:00.000Z'],
    ['Fri, 28 Feb 2025 10:00:00', '2025-02-28T10:00:00.000Z'],
    ['2025-03-04T10:15:00+01:00', '2025-03-04T09:15:00.000Z'],
  ])('%s', (input, iso) => {
    expect(parseMailDate(input)?.toISOString()).toBe(iso);
  });

  it.each([
    '',
    'yesterday',
    '31 Feb 2025 10:00:00 +0000',
    '4 Foo 2025 10:00:00 +0000',
    '4 Mar 2025 25:00:00',
  ])('rejects %j', (input) => {
    expect(parseMailDate(input)).toBeNull();
  });
});

describe('decodeEncodedWords', () => {
  it.each([
    ['plain text', 'plain text'],
    ['=?utf-8?Q?Compte_rendu_op=C3=A9ratoire?=', 'Compte rendu opératoire'],
    ['=?UTF-8?B?w6l0w6k=?=', 'été'],
    ['=?iso-8859-1?q?r=E9sultat?=', 'résultat'],
    ['=?windows-1252?Q?=80_10?=', '€ 10'],
    // White space between two encoded-words disappears; around plain text it stays.
    ['=?utf-8?Q?a?= =?utf-8?Q?b?=', 'ab'],
    ['=?utf-8?Q?a?=\r\n =?iso-8859-1?Q?=E9?=', 'aé'],
    ['x =?utf-8?Q?a?= y', 'x a y'],
    // A multi-byte character split across two words (é = C3 A9).
    ['=?utf-8?B?w6k=?= =?utf-8?B?qQ==?=', 'é\uFFFD'],
    ['=?utf-8?Q?=C3?= =?utf-8?Q?=A9t=C3=A9?=', 'été'],
    ['=?utf-8*fr?Q?langue?=', 'langue'],
    ['=?x-unknown?Q?caf=E9?=', 'café'],
    ['=?utf-8?X?not-an-encoding?=', '=?utf-8?X?not-an-encoding?='],
    ['=?utf-8?Q?broken', '=?utf-8?Q?broken'],
  ])('%j', (input, expected) => {
    expect(decodeEncodedWords(input)).toBe(expected);
  });
});

describe('summarizeMessage', () => {
  it('gives decoded SEARCH/SORT fields beside the raw envelope', () => {
    const raw = msg([
      'From: =?utf-8?Q?Ren=C3=A9?= <rene@ch-a.mssante.fr>',
      'To: a@ch-b.mssante.fr, =?utf-8?Q?Z=C3=A9?= <z@ch-b.mssante.fr>',
      'Cc: c@ch-b.mssante.fr',
      'Subject: =?utf-8?Q?Re:_r=C3=A9sultats?=',
      'Date: Tue, 4 Mar 2025 10:15:00 +0100',
      'Message-ID: <m2@ch-a>',
      'In-Reply-To: <m1@ch-b>',
      'References: <m0@ch-a>',
      '  <m1@ch-b>',
      '',
      'body',
    ]);
    const s = summarizeMessage(raw);
    expect(s).toMatchObject({
      subject: 'Re: résultats',
      from: 'René <rene@ch-a.mssante.fr>',
      to: 'a@ch-b.mssante.fr, Zé <z@ch-b.mssante.fr>',
      cc: 'c@ch-b.mssante.fr',
      messageId: '<m2@ch-a>',
      inReplyTo: '<m1@ch-b>',
      references: '<m0@ch-a>  <m1@ch-b>',
      sentDate: '2025-03-04T09:15:00.000Z',
    });
    expect(s.envelope.subject).toBe('=?utf-8?Q?Re:_r=C3=A9sultats?=');
    expect(s.structure).toMatchObject({ part: '1', type: 'text', size: 4 });
  });
});
