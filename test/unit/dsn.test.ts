import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import {
  buildDsn,
  type DsnInput,
  dsnStatus,
  encodeWord,
  explain,
  headerBlock,
  normalizeNotify,
  noticeOwed,
  notifyAllows,
  quotedPrintable,
  rfc5322Date,
} from '../../src/smtp/dsn.ts';

const ORIGINAL = Buffer.from(
  [
    'From: Dr A <a@ch-a.mssante.fr>',
    'To: b@ch-b.mssante.fr',
    'Subject: Compte rendu',
    'Message-ID: <orig.1@ch-a.mssante.fr>',
    'X-MSS-NIL: logiciel-1',
    '',
    'Bonjour, voici le compte rendu.',
    '',
  ].join('\r\n'),
);

const base: DsnInput = {
  reportingMta: 'mx.ch-a.mssante.fr',
  mailerDaemonDomain: 'ch-a.mssante.fr',
  to: 'a@ch-a.mssante.fr',
  envid: 'ENV-42',
  arrivalDate: new Date('2025-07-01T10:00:00Z'),
  date: new Date('2025-07-01T10:05:00Z'),
  recipients: [
    {
      recipient: 'b@ch-b.mssante.fr',
      originalRecipient: 'rfc822;B@ch-b.mssante.fr',
      action: 'failed',
      status: '5.1.1',
      remoteMta: 'mx.ch-b.mssante.fr',
      diagnostic: { code: 550, text: '5.1.1 User unknown' },
      lastAttemptAt: new Date('2025-07-01T10:04:00Z'),
    },
  ],
  original: ORIGINAL,
  ret: 'FULL',
};

/** Splits a multipart body on its boundary: [headers, body] of each part. */
function parts(raw: Buffer): { headers: string; body: string }[] {
  const text = raw.toString('latin1');
  const boundary = /boundary="([^"]+)"/.exec(text)![1]!;
  const pieces = text.split(`\r\n--${boundary}`);
  expect(pieces.at(-1)).toBe('--\r\n'); // closing delimiter
  return pieces.slice(1, -1).map((p) => {
    const body = p.replace(/^\r\n/, '');
    const end = body.indexOf('\r\n\r\n');
    return { headers: body.slice(0, end), body: body.slice(end + 4) };
  });
}

function topHeaders(raw: Buffer): string {
  const text = raw.toString('latin1');
  return text.slice(0, text.indexOf('\r\n\r\n'));
}

describe('RFC 3461 NOTIFY', () => {
  it.each([
    [null, null],
    [undefined, null],
    ['', null],
    ['failure', 'FAILURE'],
    ['DELAY,FAILURE', 'FAILURE,DELAY'],
    [' delay , success ', 'SUCCESS,DELAY'],
    [['SUCCESS', 'failure', 'DELAY'], 'SUCCESS,FAILURE,DELAY'],
    ['NEVER', 'NEVER'],
    [['never'], 'NEVER'],
  ] as const)('normalises %j to %j', (input, expected) => {
    expect(normalizeNotify(input)).toBe(expected);
  });

  it.each(['NEVER,FAILURE', 'SOMETIMES', 'FAILURE;DELAY'])('refuses %j', (input) => {
    expect(() => normalizeNotify(input)).toThrow(RangeError);
  });

  it.each([
    [null, 'FAILURE', true],
    [null, 'DELAY', true],
    [null, 'SUCCESS', false],
    ['NEVER', 'FAILURE', false],
    ['NEVER', 'DELAY', false],
    ['SUCCESS', 'FAILURE', false],
    ['SUCCESS', 'SUCCESS', true],
    ['FAILURE,DELAY', 'DELAY', true],
    ['FAILURE,DELAY', 'SUCCESS', false],
  ] as const)('NOTIFY=%s allows %s: %s', (notify, event, allowed) => {
    expect(notifyAllows(notify, event)).toBe(allowed);
  });

  it.each([
    ['failed', null, 'a@x.fr', true],
    ['failed', 'NEVER', 'a@x.fr', false],
    ['failed', null, '', false], // no bounce of a bounce
    ['relayed', 'SUCCESS', '', false],
    ['relayed', 'SUCCESS', 'a@x.fr', true],
    ['relayed', null, 'a@x.fr', false],
    ['delayed', 'FAILURE', 'a@x.fr', false],
  ] as const)('a %s notice with NOTIFY=%s to <%s> is owed: %s', (action, notify, from, owed) => {
    expect(noticeOwed(action, notify, from)).toBe(owed);
  });
});

describe('DSN status and explanation', () => {
  it.each([
    [{ action: 'failed', code: 550, enhanced: '5.1.1' }, '5.1.1'],
    [{ action: 'failed', code: 554, enhanced: null }, '5.0.0'],
    [{ action: 'failed', code: null, enhanced: null }, '5.0.0'],
    [{ action: 'failed', code: 450, enhanced: '4.2.0', expired: true }, '4.4.7'],
    [{ action: 'failed', code: 550, enhanced: 'bogus' }, '5.0.0'],
    [{ action: 'delayed', code: 421, enhanced: null }, '4.0.0'],
    [{ action: 'delayed', code: null, enhanced: null }, '4.0.0'],
    [{ action: 'delayed', code: 451, enhanced: '4.4.1' }, '4.4.1'],
    [{ action: 'relayed', code: 250, enhanced: '2.1.5' }, '2.0.0'],
  ] as const)('%j → %s', (args, status) => {
    expect(dsnStatus(args)).toBe(status);
  });

  it.each([
    ['failed', '5.1.1', /adresse du destinataire invalide/, /address is invalid or unknown/],
    ['failed', '5.2.2', /boîte aux lettres/, /mailbox is unavailable or full/],
    ['failed', '5.7.1', /liste blanche MSSanté/, /security or policy/],
    ['failed', '4.4.7', /délai de remise dépassé/, /delivery time expired/],
    ['failed', '5.9.9', /remise impossible/, /delivery failed/],
    [
      'delayed',
      '4.4.1',
      /pas encore remis \(le serveur du destinataire est injoignable\)/,
      /not delivered yet/,
    ],
    ['relayed', '2.0.0', /transmis/, /relayed/],
    ['delivered', '2.0.0', /remis/, /delivered/],
  ] as const)('%s %s is explained in French and English', (action, status, fr, en) => {
    const e = explain({ action, status });
    expect(e.fr).toMatch(fr);
    expect(e.en).toMatch(en);
  });
});

describe('MIME helpers', () => {
  it('formats RFC 5322 dates in UTC', () => {
    expect(rfc5322Date(new Date('2025-07-01T08:03:09Z'))).toBe('Tue, 01 Jul 2025 08:03:09 +0000');
  });

  it('keeps ASCII header text, and B-encodes the rest in words of at most 75 characters', () => {
    expect(encodeWord('Delivery report')).toBe('Delivery report');
    const encoded = encodeWord('Remise retardée — ééééééééééééééééééééééééééééééééé / Delayed');
    const words = encoded.split('\r\n ');
    expect(words.length).toBeGreaterThan(1);
    for (const w of words) {
      expect(w).toMatch(/^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/);
      expect(w.length).toBeLessThanOrEqual(75);
    }
    const decoded = words.map((w) => Buffer.from(w.slice(10, -2), 'base64').toString('utf8')).join('');
    expect(decoded).toBe('Remise retardée — ééééééééééééééééééééééééééééééééé / Delayed');
  });

  it.each([
    ['plain', 'plain'],
    ['a=b', 'a=3Db'],
    ['été', '=C3=A9t=C3=A9'],
    ['trailing space ', 'trailing space=20'],
    ['line\nbreak', 'line\r\nbreak'],
  ])('quoted-printable of %j is %j', (text, qp) => {
    expect(quotedPrintable(text)).toBe(qp);
  });

  it('wraps quoted-printable lines at 76 characters with soft breaks', () => {
    const qp = quotedPrintable('é'.repeat(100));
    for (const line of qp.split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
    expect(qp.replace(/=\r\n/g, '')).toBe('=C3=A9'.repeat(100));
  });

  it.each([
    ['CRLF', 'A: 1\r\nB: 2\r\n\r\nbody\r\n', 'A: 1\r\nB: 2\r\n'],
    ['bare LF', 'A: 1\nB: 2\n\nbody\n', 'A: 1\r\nB: 2\r\n'],
    ['no body', 'A: 1\r\n', 'A: 1\r\n'],
  ])('takes the header block (%s)', (_label, raw, headers) => {
    expect(headerBlock(Buffer.from(raw)).toString()).toBe(headers);
  });
});

describe('RFC 3464 report', () => {
  it('is a multipart/report from MAILER-DAEMON, auto-replied, with the three parts', async () => {
    const dsn = buildDsn(base);
    expect(dsn.to).toBe('a@ch-a.mssante.fr');
    const head = topHeaders(dsn.raw);
    expect(head).toMatch(/^From: Mail Delivery System <MAILER-DAEMON@ch-a\.mssante\.fr>$/m);
    expect(head).toMatch(/^To: <a@ch-a\.mssante\.fr>$/m);
    expect(head).toMatch(/^Auto-Submitted: auto-replied$/m);
    expect(head).toMatch(/^Date: Tue, 01 Jul 2025 10:05:00 \+0000$/m);
    expect(head).toMatch(/^In-Reply-To: <orig\.1@ch-a\.mssante\.fr>$/m);
    expect(head).toContain(`Message-ID: ${dsn.messageId}`);
    expect(head).toMatch(/^Content-Type: multipart\/report; report-type=delivery-status;\r\n boundary="/m);

    const [human, status, original] = parts(dsn.raw);
    expect(human!.headers).toContain('Content-Type: text/plain; charset=utf-8');
    expect(status!.headers).toBe(
      'Content-Type: message/delivery-status\r\nContent-Description: Delivery report',
    );
    expect(status!.body).toBe(
      [
        'Reporting-MTA: dns; mx.ch-a.mssante.fr',
        'Original-Envelope-Id: ENV-42',
        'Arrival-Date: Tue, 01 Jul 2025 10:00:00 +0000',
        '',
        'Final-Recipient: rfc822; b@ch-b.mssante.fr',
        'Original-Recipient: rfc822; B@ch-b.mssante.fr',
        'Action: failed',
        'Status: 5.1.1',
        'Remote-MTA: dns; mx.ch-b.mssante.fr',
        'Diagnostic-Code: smtp; 550 5.1.1 User unknown',
        'Last-Attempt-Date: Tue, 01 Jul 2025 10:04:00 +0000',
        '',
      ].join('\r\n'),
    );
    expect(original!.headers).toMatch(/^Content-Type: message\/rfc822$/m);
    expect(original!.body).toBe(ORIGINAL.toString());

    // A real parser reads it the same way.
    const parsed = await simpleParser(dsn.raw);
    expect(parsed.subject).toBe('Message non remis / Undelivered Mail Returned to Sender');
    expect(parsed.from?.value[0]?.address).toBe('MAILER-DAEMON@ch-a.mssante.fr');
    const ct = parsed.headers.get('content-type') as { value: string; params: Record<string, string> };
    expect(ct.value).toBe('multipart/report');
    expect(ct.params['report-type']).toBe('delivery-status');
    expect(parsed.text).toContain("Votre message n'a pas pu être remis aux destinataires suivants");
    expect(parsed.text).toContain('<b@ch-b.mssante.fr> : adresse du destinataire invalide ou inconnue');
    expect(parsed.text).toContain('Réponse de mx.ch-b.mssante.fr : 550 5.1.1 User unknown');
    expect(parsed.text).toContain('Your message could not be delivered to the following recipients');
    expect(parsed.text).toContain('Action: failed');
    const attached = parsed.attachments.find((a) => a.contentType === 'message/rfc822');
    expect(attached?.content.toString()).toBe(ORIGINAL.toString());
  });

  it('returns only the headers with RET=HDRS (text/rfc822-headers)', async () => {
    const dsn = buildDsn({ ...base, ret: 'HDRS' });
    const third = parts(dsn.raw)[2]!;
    expect(third.headers).toMatch(/^Content-Type: text\/rfc822-headers$/m);
    expect(third.body).toBe(headerBlock(ORIGINAL).toString());
    expect(dsn.raw.toString()).not.toContain('voici le compte rendu');
    const parsed = await simpleParser(dsn.raw);
    expect(parsed.text).toContain("Les en-têtes du message d'origine sont joints.");
    expect(parsed.text).toContain('The headers of the original message are attached.');
  });

  it('returns only the headers of an original larger than the limit, and says so', async () => {
    const dsn = buildDsn({ ...base, ret: 'FULL', maxOriginalBytes: 50 });
    expect(parts(dsn.raw)[2]!.headers).toMatch(/^Content-Type: text\/rfc822-headers$/m);
    expect((await simpleParser(dsn.raw)).text).toContain("Le message d'origine est trop volumineux");
  });

  it('returns the full message by default (no RET)', () => {
    const dsn = buildDsn({ ...base, ret: null });
    expect(parts(dsn.raw)[2]!.headers).toMatch(/^Content-Type: message\/rfc822$/m);
  });

  it('leaves the third part out when the original is gone', () => {
    const dsn = buildDsn({ ...base, original: null });
    expect(parts(dsn.raw)).toHaveLength(2);
    expect(topHeaders(dsn.raw)).not.toMatch(/In-Reply-To/);
  });

  it('marks an 8-bit original as 8bit', () => {
    const original = Buffer.from('Subject: x\r\n\r\nCompte rendu établi\r\n');
    expect(parts(buildDsn({ ...base, original }).raw)[2]!.headers).toMatch(
      /^Content-Transfer-Encoding: 8bit$/m,
    );
  });

  it('reports a delay with Will-Retry-Until, and an expiry as failed 4.4.7', async () => {
    const delayed = buildDsn({
      ...base,
      recipients: [
        {
          recipient: 'c@ch-c.mssante.fr',
          action: 'delayed',
          status: '4.4.1',
          diagnostic: { code: null, text: 'connect ECONNREFUSED 10.0.0.7:25' },
          lastAttemptAt: new Date('2025-07-01T14:00:00Z'),
          willRetryUntil: new Date('2025-07-06T10:00:00Z'),
        },
      ],
    });
    const status = parts(delayed.raw)[1]!.body;
    expect(status).toContain('Action: delayed\r\nStatus: 4.4.1\r\n');
    expect(status).toContain('Diagnostic-Code: x-local; connect ECONNREFUSED 10.0.0.7:25\r\n');
    expect(status).toContain('Will-Retry-Until: Sun, 06 Jul 2025 10:00:00 +0000\r\n');
    const parsed = await simpleParser(delayed.raw);
    expect(parsed.subject).toBe('Remise retardée / Delayed Mail (still being retried)');
    expect(parsed.text).toContain("jusqu'au Sun, 06 Jul 2025 10:00:00 +0000");

    const expired = buildDsn({
      ...base,
      recipients: [{ recipient: 'c@ch-c.mssante.fr', action: 'failed', status: '4.4.7' }],
    });
    expect(parts(expired.raw)[1]!.body).toContain('Action: failed\r\nStatus: 4.4.7\r\n');
    expect(parts(expired.raw)[1]!.body).not.toContain('Will-Retry-Until');
    expect((await simpleParser(expired.raw)).text).toContain('délai de remise dépassé');
  });

  it('reports several recipients, one block each, with the main action in the subject', async () => {
    const dsn = buildDsn({
      ...base,
      recipients: [
        {
          recipient: 'x@ch-b.mssante.fr',
          action: 'relayed',
          status: '2.0.0',
          remoteMta: 'mx.ch-b.mssante.fr',
        },
        { recipient: 'y@ch-b.mssante.fr', action: 'failed', status: '5.2.1' },
      ],
    });
    const blocks = parts(dsn.raw)[1]!.body.trimEnd().split('\r\n\r\n');
    expect(blocks).toHaveLength(3);
    expect(blocks[1]).toMatch(/Final-Recipient: rfc822; x@ch-b\.mssante\.fr\r\nAction: relayed/);
    expect(blocks[2]).toMatch(/Final-Recipient: rfc822; y@ch-b\.mssante\.fr\r\nAction: failed/);
    expect((await simpleParser(dsn.raw)).subject).toMatch(/^Message non remis/);
  });

  it('cannot be made to carry extra header lines (CR/LF in addresses, ENVID, replies)', () => {
    const dsn = buildDsn({
      ...base,
      to: 'a@ch-a.mssante.fr\r\nBcc: evil@x.fr',
      envid: 'E\r\nX-Injected: 1',
      recipients: [
        {
          recipient: 'b@ch-b.mssante.fr\r\nX-Injected: 2',
          action: 'failed',
          status: '5.0.0',
          diagnostic: { code: 550, text: 'no\r\nX-Injected: 3' },
        },
      ],
    });
    const text = dsn.raw.toString();
    expect(text).not.toMatch(/^(Bcc|X-Injected):/m);
    expect(parts(dsn.raw)[1]!.body).toContain('Original-Envelope-Id: E X-Injected: 1\r\n');
  });

  it('writes an internationalised recipient with the utf-8 address type (RFC 6533)', () => {
    const dsn = buildDsn({
      ...base,
      recipients: [{ recipient: 'élise@ch-b.mssante.fr', action: 'failed', status: '5.1.1' }],
    });
    expect(parts(dsn.raw)[1]!.body).toContain('Final-Recipient: utf-8; \\x{E9}lise@ch-b.mssante.fr\r\n');
  });

  it('uses CRLF line ends only and folds long diagnostics, even from a bare-LF original', () => {
    const dsn = buildDsn({
      ...base,
      original: Buffer.from('Subject: x\n\nline one\nline two\n'),
      recipients: [
        {
          recipient: 'b@ch-b.mssante.fr',
          action: 'failed',
          status: '5.7.1',
          diagnostic: { code: 550, text: `5.7.1 ${'policy refused '.repeat(20)}` },
        },
      ],
    });
    const text = dsn.raw.toString();
    expect(text).not.toMatch(/[^\r]\n/);
    for (const line of text.split('\r\n')) expect(line.length).toBeLessThanOrEqual(998);
    const status = parts(dsn.raw)[1]!.body;
    expect(status).toMatch(/Diagnostic-Code: smtp; 550 5\.7\.1 policy refused[^\r]*\r\n policy refused/);
    for (const line of status.split('\r\n')) expect(line.length).toBeLessThanOrEqual(78);
  });

  it('is deterministic: the same input gives the same bytes; another date another Message-ID', () => {
    expect(buildDsn(base).raw.equals(buildDsn(base).raw)).toBe(true);
    const later = buildDsn({ ...base, date: new Date('2025-07-01T10:06:00Z') });
    expect(later.messageId).not.toBe(buildDsn(base).messageId);
  });

  it('is never addressed to the null sender and always reports on someone', () => {
    expect(() => buildDsn({ ...base, to: '' })).toThrow(/null sender/);
    expect(() => buildDsn({ ...base, recipients: [] })).toThrow(/at least one recipient/);
  });
});
