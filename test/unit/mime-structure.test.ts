import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { parseHeaderBlock } from '../../src/mail/mime/headers.ts';
import { toCrlf } from '../../src/mail/mime/line-endings.ts';
import { decodeParam, parseParameterized } from '../../src/mail/mime/params.ts';
import {
  countLines,
  findPart,
  type MimePart,
  parseStructure,
  splitMultipart,
} from '../../src/mail/mime/structure.ts';

const CRLF = '\r\n';
const msg = (lines: string[], eol = CRLF) => Buffer.from(lines.join(eol), 'utf8');
const slice = (raw: Buffer, r: { start: number; end: number }) =>
  raw.subarray(r.start, r.end).toString('utf8');

/** Every node of the tree, embedded messages included. */
function walk(p: MimePart): MimePart[] {
  return [p, ...(p.children ?? []).flatMap(walk), ...(p.message ? walk(p.message.body) : [])];
}

/** Invariants every tree must keep, whatever the input. */
function checkRanges(raw: Buffer, root: MimePart): void {
  for (const p of walk(root)) {
    expect(p.header.start).toBeGreaterThanOrEqual(0);
    expect(p.header.start).toBeLessThanOrEqual(p.header.end);
    expect(p.header.end).toBe(p.body.start);
    expect(p.body.start).toBeLessThanOrEqual(p.body.end);
    expect(p.body.end).toBeLessThanOrEqual(raw.length);
    expect(p.size).toBe(p.body.end - p.body.start);
    if (p.children) expect(p.children.length).toBeGreaterThan(0);
  }
}

async function zipOf(files: Record<string, string>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, content] of Object.entries(files)) zip.addBuffer(Buffer.from(content), name);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const base64Lines = (b: Buffer) => b.toString('base64').match(/.{1,76}/g) ?? [];

describe('parseHeaderBlock', () => {
  it('unfolds values, keeps exact byte ranges and stops after the empty line', () => {
    const raw = msg(['Subject: a', ' folded\tline', 'X-Empty:', 'Subject : obsolete', '', 'body']);
    const block = parseHeaderBlock(raw);
    expect(block.fields.map((f) => [f.name, f.key, f.value])).toEqual([
      ['Subject', 'subject', 'a folded\tline'],
      ['X-Empty', 'x-empty', ''],
      ['Subject', 'subject', 'obsolete'],
    ]);
    expect(slice(raw, block.fields[0]!)).toBe('Subject: a\r\n folded\tline\r\n');
    expect(slice(raw, { start: block.bodyStart, end: raw.length })).toBe('body');
    expect(raw.subarray(block.bodyStart - 4, block.bodyStart).toString()).toBe('\r\n\r\n');
  });

  it.each([
    ['no header at all: the first line is not a field', ['just text', 'more'], 0, 0],
    ['an empty first line: empty header, the rest is body', ['', 'body'], 0, 2],
    ['headers and no empty line: all header, empty body', ['A: 1', 'B: 2'], 2, 10],
  ])('%s', (_title, lines, fieldCount, bodyStart) => {
    const raw = msg(lines);
    const block = parseHeaderBlock(raw);
    expect(block.fields).toHaveLength(fieldCount);
    expect(block.bodyStart).toBe(bodyStart);
  });

  it('skips junk lines in the middle and reads bare LF line ends', () => {
    const raw = msg(['A: 1', 'not a field', 'B: 2', '  cont', '', 'x'], '\n');
    const block = parseHeaderBlock(raw);
    expect(block.fields.map((f) => `${f.key}=${f.value}`)).toEqual(['a=1', 'b=2  cont']);
    expect(slice(raw, { start: block.bodyStart, end: raw.length })).toBe('x');
  });

  it('decodes raw 8-bit values as UTF-8, else Latin-1', () => {
    const utf8 = parseHeaderBlock(Buffer.from('Subject: Résultat\r\n\r\n', 'utf8'));
    const latin1 = parseHeaderBlock(Buffer.from('Subject: Résultat\r\n\r\n', 'latin1'));
    expect(utf8.fields[0]?.value).toBe('Résultat');
    expect(latin1.fields[0]?.value).toBe('Résultat');
  });
});

describe('parseParameterized', () => {
  it.each([
    [
      'text/plain; charset="utf-8"; format=flowed',
      'text/plain',
      [
        ['charset', 'utf-8'],
        ['format', 'flowed'],
      ],
    ],
    ['Text/HTML (comment) ; Charset = ISO-8859-1 (c)', 'text/html', [['charset', 'ISO-8859-1']]],
    ['attachment; filename="a \\"b\\".pdf"', 'attachment', [['filename', 'a "b".pdf']]],
    [
      'attachment; filename=my file.pdf; size=12',
      'attachment',
      [
        ['filename', 'my file.pdf'],
        ['size', '12'],
      ],
    ],
    ['text/plain; charset=utf-8; charset=latin1', 'text/plain', [['charset', 'utf-8']]],
    ['text/plain; broken; a=1', 'text/plain', [['a', '1']]],
    ['attachment; filename="unterminated', 'attachment', [['filename', 'unterminated']]],
    // RFC 2231 continuations, plain and extended
    ['application/x; name*0="long"; name*1="-name.pdf"', 'application/x', [['name', 'long-name.pdf']]],
    [
      "attachment; filename*0*=utf-8''r%C3%A9sul; filename*1*=tat%20final; filename*2=.pdf",
      'attachment',
      [['filename*', "utf-8''r%C3%A9sultat%20final.pdf"]],
    ],
    ['attachment; filename*1="b"; filename*0="a"', 'attachment', [['filename', 'ab']]],
    ['attachment; filename*0="a"; filename*2="gap"', 'attachment', [['filename', 'a']]],
  ])('%s', (input, value, params) => {
    const parsed = parseParameterized(input);
    expect(parsed.value).toBe(value);
    expect(parsed.params.map((p) => [p.name, p.value])).toEqual(params);
  });

  it.each([
    ["attachment; filename*=iso-8859-1'fr'r%E9sultat.pdf", 'résultat.pdf'],
    ["attachment; filename*0*=utf-8''%C3%A9; filename*1*=t%C3%A9.txt", 'été.txt'],
    ['attachment; filename="=?utf-8?B?w6l0w6kucGRm?="', 'été.pdf'],
    ['attachment; filename="plain.pdf"; filename*=utf-8\'\'%C3%A9.pdf', 'é.pdf'],
    ['attachment', null],
  ])('decodeParam(%s)', (input, expected) => {
    expect(decodeParam(parseParameterized(input).params, 'filename')).toBe(expected);
  });
});

describe('splitMultipart and countLines', () => {
  it('does not take a longer boundary, or a boundary inside a line, for a delimiter', () => {
    const raw = Buffer.from(['--b', 'one', '--bx', 'x --b', '--b  ', 'two', '--b--', 'epilogue'].join(CRLF));
    const parts = splitMultipart(raw, 0, raw.length, 'b');
    expect(parts.map((r) => slice(raw, r))).toEqual(['one\r\n--bx\r\nx --b', 'two']);
  });

  it('keeps empty parts and ends an unclosed last part at the end of the body', () => {
    const raw = Buffer.from(['--b', '--b', 'last', 'line'].join(CRLF));
    expect(splitMultipart(raw, 0, raw.length, 'b').map((r) => slice(raw, r))).toEqual(['', 'last\r\nline']);
  });

  it.each([
    ['', 0],
    ['a', 1],
    ['a\r\n', 1],
    ['a\r\nb', 2],
    ['a\nb\n\n', 3],
  ])('countLines(%j) = %i', (text, lines) => {
    const b = Buffer.from(text);
    expect(countLines(b, 0, b.length)).toBe(lines);
  });
});

describe('parseStructure', () => {
  it('reads a message without MIME headers as text/plain us-ascii, part 1', () => {
    const raw = msg(['From: a@b.fr', 'Subject: hi', '', 'line 1', 'line 2', '']);
    const root = parseStructure(raw);
    expect(root).toMatchObject({
      part: '1',
      type: 'text',
      subtype: 'plain',
      params: [{ name: 'charset', value: 'us-ascii' }],
      encoding: '7bit',
      size: 16,
      lines: 2,
      children: null,
      message: null,
    });
    expect(slice(raw, root.body)).toBe('line 1\r\nline 2\r\n');
    expect(slice(raw, root.header)).toBe('From: a@b.fr\r\nSubject: hi\r\n\r\n');
    expect(findPart(root, '1')).toBe(root);
    expect(findPart(root, '2')).toBeNull();
    expect(findPart(root, '1.1')).toBeNull();
  });

  it('multipart/mixed with a PDF attachment: ranges, disposition, RFC 2231 file name, extension fields', async () => {
    const pdf = Buffer.from('%PDF-1.4\n% fake report\n%%EOF\n');
    const raw = msg([
      'From: Dr A <a@ch-a.mssante.fr>',
      'To: b@ch-b.mssante.fr',
      'Subject: Compte rendu',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed;',
      ' boundary="----=_Part_0_1"',
      '',
      'This is a multi-part message in MIME format.',
      '------=_Part_0_1',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      'Content-Language: fr, en (second)',
      '',
      'Bonjour, voici le compte rendu.',
      'Cordialement',
      '------=_Part_0_1',
      'Content-Type: application/pdf; name="cr.pdf"',
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment;',
      "  filename*0*=utf-8''compte%20rendu%20;",
      '  filename*1*=r%C3%A9sultat.pdf',
      'Content-ID: <part2@ch-a>',
      'Content-Description: Compte rendu PDF',
      'Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==',
      'Content-Location: http://example.org/',
      '  cr.pdf',
      '',
      ...base64Lines(pdf),
      '------=_Part_0_1--',
      '',
    ]);
    const root = parseStructure(raw);
    checkRanges(raw, root);
    expect(root).toMatchObject({ part: '', type: 'multipart', subtype: 'mixed', lines: null });
    expect(root.params).toEqual([{ name: 'boundary', value: '----=_Part_0_1' }]);
    expect(root.children).toHaveLength(2);
    const [text, attachment] = root.children!;
    expect(text).toMatchObject({
      part: '1',
      type: 'text',
      subtype: 'plain',
      encoding: '8bit',
      lines: 2,
      language: ['fr', 'en'],
      disposition: null,
    });
    expect(slice(raw, text!.body)).toBe('Bonjour, voici le compte rendu.\r\nCordialement');
    expect(attachment).toMatchObject({
      part: '2',
      type: 'application',
      subtype: 'pdf',
      encoding: 'base64',
      lines: null,
      id: '<part2@ch-a>',
      description: 'Compte rendu PDF',
      md5: 'Q2hlY2sgSW50ZWdyaXR5IQ==',
      location: 'http://example.org/cr.pdf',
      filename: 'compte rendu résultat.pdf',
      disposition: {
        type: 'attachment',
        params: [{ name: 'filename*', value: "utf-8''compte%20rendu%20r%C3%A9sultat.pdf" }],
      },
    });
    expect(Buffer.from(slice(raw, attachment!.body), 'base64')).toEqual(pdf);
    expect(slice(raw, attachment!.header)).toMatch(/^Content-Type: application\/pdf.*\r\n\r\n$/s);
    expect(findPart(root, '2')).toBe(attachment);
  });

  it('multipart/alternative inside multipart/mixed: section numbers 1.1, 1.2, 2', () => {
    const raw = msg([
      'Content-Type: multipart/mixed; boundary=outer',
      '',
      '--outer',
      'Content-Type: multipart/alternative; boundary=inner',
      '',
      '--inner',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'plain text',
      '--inner',
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      '<p>html =C3=A9</p>',
      '--inner--',
      '',
      '--outer',
      'Content-Type: image/png',
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: inline; filename=logo.png',
      '',
      'iVBORw0KGgo=',
      '--outer--',
    ]);
    const root = parseStructure(raw);
    checkRanges(raw, root);
    const parts = walk(root).map((p) => [p.part, `${p.type}/${p.subtype}`]);
    expect(parts).toEqual([
      ['', 'multipart/mixed'],
      ['1', 'multipart/alternative'],
      ['1.1', 'text/plain'],
      ['1.2', 'text/html'],
      ['2', 'image/png'],
    ]);
    expect(slice(raw, findPart(root, '1.1')!.body)).toBe('plain text');
    expect(slice(raw, findPart(root, '1.2')!.body)).toBe('<p>html =C3=A9</p>');
    // The inner multipart ends where the outer delimiter starts; the blank line before it stays in.
    expect(slice(raw, findPart(root, '1')!.body)).toMatch(/--inner--\r\n$/);
    expect(findPart(root, '2')?.filename).toBe('logo.png');
    expect(findPart(root, '1.3')).toBeNull();
    expect(findPart(root, '3')).toBeNull();
    expect(findPart(root, '2.1')).toBeNull();
  });

  it('nested message/rfc822: embedded envelope and tree, sections N, N.1, N.2, N.HEADER, N.TEXT', () => {
    const inner = [
      'From: "Secretariat" <secretariat@ch-c.mssante.fr>',
      'To: a@ch-a.mssante.fr',
      'Subject: =?utf-8?Q?R=C3=A9sultats?=',
      'Date: Mon, 3 Mar 2025 09:00:00 +0100',
      'Message-ID: <inner@ch-c>',
      'Content-Type: multipart/alternative; boundary="in"',
      '',
      '--in',
      '',
      'plain',
      '--in',
      'Content-Type: text/html',
      '',
      '<b>html</b>',
      '--in--',
    ];
    const raw = msg([
      'Subject: Fwd: Résultats',
      'Content-Type: multipart/mixed; boundary=out',
      '',
      '--out',
      '',
      'See the forwarded message.',
      '--out',
      'Content-Type: message/rfc822',
      'Content-Disposition: attachment; filename="forwarded.eml"',
      '',
      ...inner,
      '--out',
      'Content-Type: message/rfc822',
      '',
      'Subject: single part inside',
      '',
      'just text',
      '--out--',
    ]);
    const root = parseStructure(raw);
    checkRanges(raw, root);
    const fwd = findPart(root, '2')!;
    expect(fwd).toMatchObject({ type: 'message', subtype: 'rfc822', lines: inner.length });
    expect(slice(raw, fwd.body)).toBe(inner.join(CRLF));
    expect(fwd.message?.envelope).toMatchObject({
      subject: '=?utf-8?Q?R=C3=A9sultats?=',
      messageId: '<inner@ch-c>',
      from: [{ name: 'Secretariat', adl: null, mailbox: 'secretariat', host: 'ch-c.mssante.fr' }],
    });
    const embedded = fwd.message!.body;
    expect(embedded).toMatchObject({ part: '2', type: 'multipart', subtype: 'alternative' });
    // N.HEADER and N.TEXT of a message/rfc822 part
    expect(slice(raw, embedded.header)).toMatch(/^From: "Secretariat".*boundary="in"\r\n\r\n$/s);
    expect(slice(raw, embedded.body)).toBe(
      ['--in', '', 'plain', '--in', 'Content-Type: text/html', '', '<b>html</b>', '--in--'].join(CRLF),
    );
    expect(findPart(root, '2.1')).toMatchObject({ part: '2.1', type: 'text', subtype: 'plain' });
    expect(slice(raw, findPart(root, '2.2')!.body)).toBe('<b>html</b>');
    expect(findPart(root, '2.3')).toBeNull();

    const single = findPart(root, '3')!;
    expect(single.message?.body).toMatchObject({ part: '3.1', type: 'text', subtype: 'plain' });
    expect(findPart(root, '3.1')).toBe(single.message!.body);
    expect(slice(raw, findPart(root, '3.1')!.body)).toBe('just text');
    expect(findPart(root, '3.2')).toBeNull();
  });

  it('IHE_XDM.ZIP attachment: the body range holds exactly the zip, as a MIME library decodes it', async () => {
    const zip = await zipOf({
      'README.TXT': 'Documents de sante',
      'INDEX.HTM': '<html><body>index</body></html>',
      'IHE_XDM/SUBSET01/METADATA.XML': '<?xml version="1.0"?><SubmitObjectsRequest/>',
      'IHE_XDM/SUBSET01/DOC0001.XML': '<ClinicalDocument/>',
    });
    const raw = msg([
      'From: "Dr Jean Martin" <jean.martin@ch-a.mssante.fr>',
      'To: dr.durand@ch-b.mssante.fr',
      'Subject: XDM/1.0/DDM+CR DUPONT Marie 19700101',
      'X-MSS-NIL: logiciel-dpi-1.2',
      'X-MSS-INS: O',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="=_xdm_boundary"',
      '',
      '--=_xdm_boundary',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'Veuillez trouver ci-joint le compte rendu de Mme DUPONT.',
      '--=_xdm_boundary',
      'Content-Type: application/zip; name="IHE_XDM.ZIP"',
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment; filename="IHE_XDM.ZIP"',
      '',
      ...base64Lines(zip),
      '--=_xdm_boundary--',
      '',
    ]);
    const root = parseStructure(raw);
    checkRanges(raw, root);
    const part = findPart(root, '2')!;
    expect(part).toMatchObject({
      type: 'application',
      subtype: 'zip',
      encoding: 'base64',
      filename: 'IHE_XDM.ZIP',
    });
    expect(part.params).toEqual([{ name: 'name', value: 'IHE_XDM.ZIP' }]);
    const decoded = Buffer.from(slice(raw, part.body), 'base64');
    expect(decoded).toEqual(zip);
    expect(decoded.subarray(0, 4)).toEqual(Buffer.from('PK\u0003\u0004', 'latin1'));

    const parsed = await simpleParser(raw);
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0]?.filename).toBe('IHE_XDM.ZIP');
    expect(parsed.attachments[0]?.content.equals(decoded)).toBe(true);
  });

  it('Outlook-style encoded-word file name: params raw, filename decoded', () => {
    const raw = msg([
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: application/octet-stream; name="=?iso-8859-1?Q?r=E9sultat_sanguin.pdf?="',
      '',
      'xx',
      '--b--',
    ]);
    const part = findPart(parseStructure(raw), '1')!;
    expect(part.params).toEqual([{ name: 'name', value: '=?iso-8859-1?Q?r=E9sultat_sanguin.pdf?=' }]);
    expect(part.filename).toBe('résultat sanguin.pdf');
  });

  it('missing end boundary: the last part runs to the end of the message', () => {
    const raw = msg([
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      '',
      'first',
      '--b',
      '',
      'second',
      'truncated',
    ]);
    const root = parseStructure(raw);
    checkRanges(raw, root);
    expect(root.children?.map((c) => slice(raw, c.body))).toEqual(['first', 'second\r\ntruncated']);
    expect(root.children?.[1]?.body.end).toBe(raw.length);
  });

  it('bare LF line ends give the same tree (offsets in the LF bytes)', () => {
    const lines = [
      'Content-Type: multipart/alternative; boundary=b',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'one',
      'two',
      '--b',
      'Content-Type: text/html',
      '',
      '<p>x</p>',
      '--b--',
      '',
    ];
    const lf = msg(lines, '\n');
    const crlf = msg(lines);
    const a = parseStructure(lf);
    const b = parseStructure(crlf);
    checkRanges(lf, a);
    const shape = (r: MimePart) => walk(r).map((p) => [p.part, p.type, p.subtype, p.lines]);
    expect(shape(a)).toEqual(shape(b));
    expect(slice(lf, a.children![0]!.body)).toBe('one\ntwo');
    expect(slice(lf, a.children![1]!.body)).toBe('<p>x</p>');
    expect(parseStructure(toCrlf(lf))).toEqual(b);
  });

  it.each([
    ['a multipart without boundary parameter', ['Content-Type: multipart/mixed', '', 'body']],
    ['a multipart whose boundary never appears', ['Content-Type: multipart/mixed; boundary=zz', '', 'body']],
    ['a multipart with only a close delimiter', ['Content-Type: multipart/mixed; boundary=zz', '', '--zz--']],
  ])('%s is read as one text/plain part', (_title, lines) => {
    const raw = msg(lines);
    const root = parseStructure(raw);
    expect(root).toMatchObject({ part: '1', type: 'text', subtype: 'plain', children: null });
    expect(findPart(root, '1')).toBe(root);
  });

  it('a base64-encoded message/rfc822 (forbidden by RFC 2046) is an opaque leaf', () => {
    const inner = Buffer.from('Subject: x\r\n\r\nbody').toString('base64');
    const raw = msg([
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: message/rfc822',
      'Content-Transfer-Encoding: base64',
      '',
      inner,
      '--b--',
    ]);
    const part = findPart(parseStructure(raw), '1')!;
    expect(part).toMatchObject({ type: 'application', subtype: 'octet-stream', message: null, lines: null });
    expect(slice(raw, part.body)).toBe(inner);
  });

  it('multipart/digest parts default to message/rfc822', () => {
    const raw = msg([
      'Content-Type: multipart/digest; boundary=d',
      '',
      '--d',
      '',
      'Subject: one',
      '',
      'first',
      '--d',
      'Content-Type: text/plain',
      '',
      'not a message',
      '--d--',
    ]);
    const root = parseStructure(raw);
    expect(root.children?.map((c) => `${c.type}/${c.subtype}`)).toEqual(['message/rfc822', 'text/plain']);
    expect(root.children?.[0]?.message?.envelope.subject).toBe('one');
    expect(root.children?.[0]?.params).toEqual([]);
  });

  it.each([
    ['no type at all', 'Content-Type: ;charset=utf-8'],
    ['no subtype', 'Content-Type: text'],
    ['garbage', 'Content-Type: ???'],
  ])('an unusable Content-Type (%s) means text/plain; charset=us-ascii', (_title, header) => {
    const root = parseStructure(msg([header, '', 'x']));
    expect(root).toMatchObject({
      type: 'text',
      subtype: 'plain',
      params: [{ name: 'charset', value: 'us-ascii' }],
    });
  });

  it('keeps 8-bit bodies and headers byte-exact', () => {
    const raw = Buffer.concat([
      Buffer.from(
        'Subject: Résumé\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
      ),
      Buffer.from('Été\r\n', 'latin1'),
    ]);
    const root = parseStructure(raw);
    expect(raw.subarray(root.body.start, root.body.end)).toEqual(Buffer.from('Été\r\n', 'latin1'));
    expect(root.size).toBe(5);
    expect(root.lines).toBe(1);
  });

  it('bounds nesting depth: deeper multiparts become opaque leaves, and it does not throw', () => {
    const depth = 200;
    let body = 'deepest';
    for (let i = depth; i > 0; i--) {
      body = `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n${body}\r\n--b${i}--`;
    }
    const raw = Buffer.from(body);
    const root = parseStructure(raw, { maxDepth: 10 });
    checkRanges(raw, root);
    const all = walk(root);
    expect(all.filter((p) => p.type === 'multipart')).toHaveLength(10);
    expect(all.at(-1)).toMatchObject({ type: 'application', subtype: 'octet-stream', children: null });
    expect(all.at(-1)?.part).toBe(Array.from({ length: 10 }, () => '1').join('.'));
  });

  it('bounds the number of parts', () => {
    const lines = ['Content-Type: multipart/mixed; boundary=b', ''];
    for (let i = 0; i < 50; i++) lines.push('--b', '', `part ${i}`);
    lines.push('--b--');
    const root = parseStructure(msg(lines), { maxParts: 10 });
    expect(walk(root)).toHaveLength(10);
  });

  it('never throws and keeps every range inside the message, on truncated and mangled input', () => {
    const base = msg([
      'From: a@b.c',
      'Content-Type: multipart/mixed; boundary=q',
      '',
      '--q',
      'Content-Type: message/rfc822',
      '',
      'Subject: in',
      'Content-Type: multipart/alternative; boundary=r',
      '',
      '--r',
      '',
      'x',
      '--r--',
      '--q',
      "Content-Disposition: attachment; filename*0*=utf-8''%C3; filename*1*=%A9",
      '',
      'y',
      '--q--',
    ]);
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let cut = 0; cut <= base.length; cut += 3) {
      const raw = base.subarray(0, cut);
      checkRanges(raw, parseStructure(raw));
    }
    for (let round = 0; round < 300; round++) {
      const raw = Buffer.from(base);
      for (let k = 0; k < 5; k++) raw[Math.floor(random() * raw.length)] = Math.floor(random() * 256);
      checkRanges(raw, parseStructure(raw));
    }
    checkRanges(Buffer.alloc(0), parseStructure(Buffer.alloc(0)));
  });
});
