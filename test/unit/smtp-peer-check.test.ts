import { describe, expect, it } from 'vitest';
import {
  envidOf,
  type MxRecord,
  rcptDsnArgs,
  routeFor,
  transactionResults,
  xtext,
} from '../../src/smtp/deliverer.ts';
import {
  cachingValidator,
  checkPeer,
  type Direction,
  dnDifferences,
  domainsListedFor,
} from '../../src/smtp/peer-check.ts';
import { parseReply, refusals, SmtpReplyError, safeText } from '../../src/smtp/reply.ts';
import type { Verdict } from '../../src/trust/pki/validator.ts';
import { Whitelist } from '../../src/trust/whitelist/list.ts';
import { parseWhitelist } from '../../src/trust/whitelist/parse.ts';

const NS = 'https://listeblanche.mssante.fr/schema';
const DN_A = 'CN=mx.ch-a.mssante.fr,OU=1750000002,O=CH A,ST=Paris (75),C=FR';
const DN_A2 = 'CN=mx2.ch-a.mssante.fr,OU=1750000002,O=CH A,ST=Paris (75),C=FR';
const DN_B = 'CN=mx.ch-b.mssante.fr,OU=1330781295,O=CH B,C=FR';

const xml = `<?xml version="1.0" encoding="UTF-8"?><ListeBlancheMSSante xmlns="${NS}">
  <DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration>
  <ListeDomaines>
${[
  ['ch-a.mssante.fr', DN_A],
  ['ch-a.mssante.fr', DN_A2],
  ['CH-Upper.mssante.fr', DN_A],
  ['ch-b.mssante.fr', DN_B],
]
  .map(
    ([nom, dn]) =>
      `<Domaine><Nom>${nom}</Nom><Description>d</Description><DNCertificatOperateur>${dn}</DNCertificatOperateur><ResponsableContact>r</ResponsableContact><SupportContact>s</SupportContact><DateMAJ>2025-01-02T03:04:05Z</DateMAJ></Domaine>`,
  )
  .join('\n')}
  </ListeDomaines>
</ListeBlancheMSSante>`;

const whitelist = Whitelist.from(parseWhitelist(xml));

/** A good verdict for a certificate with this subject (the validator's format: C last… as given). */
const good = (subjectDn: string): Verdict => ({
  ok: true,
  subjectDn,
  fingerprint: 'AB:CD',
  issuerDn: 'CN=TEST DEV AC',
  serial: '01',
  notAfter: new Date('2030-01-01T00:00:00Z'),
  dnsNames: [],
  revocation: 'checked',
});
const bad = (reason: Exclude<Verdict, { ok: true }>['reason']): Verdict => ({
  ok: false,
  reason,
  message: `the TLS certificate: ${reason}`,
  subjectDn: DN_A,
});

interface Row {
  name: string;
  tls?: boolean;
  verdict: Verdict | null;
  domain: string;
  direction?: Direction;
  ok: boolean;
  rule: string;
  reply?: RegExp;
}

const rows: Row[] = [
  {
    name: 'listed DN for its domain',
    verdict: good(DN_A),
    domain: 'ch-a.mssante.fr',
    ok: true,
    rule: 'listed-dn',
  },
  {
    name: 'second DN of a domain listed twice',
    verdict: good(DN_A2),
    domain: 'ch-a.mssante.fr',
    ok: true,
    rule: 'listed-dn',
  },
  {
    name: 'DN written most significant first, other case and spacing',
    verdict: good('C=FR, ST=Paris (75), O=ch a, OU=1750000002, CN=MX.CH-A.MSSANTE.FR'),
    domain: 'CH-A.mssante.fr.',
    ok: true,
    rule: 'listed-dn',
  },
  {
    name: 'domain listed in upper case',
    verdict: good(DN_A),
    domain: 'ch-upper.mssante.fr',
    ok: true,
    rule: 'listed-dn',
  },
  {
    name: 'no TLS',
    tls: false,
    verdict: null,
    domain: 'ch-a.mssante.fr',
    ok: false,
    rule: 'tls-required',
    reply: /^530 5\.7\.0 Must issue a STARTTLS command first \[tls-required\]/,
  },
  {
    name: 'domain not on the list',
    verdict: good(DN_A),
    domain: 'ailleurs.example.fr',
    ok: false,
    rule: 'domain-not-listed',
    reply: /^550 5\.7\.1 Refused \[domain-not-listed\]: the sender domain ailleurs\.example\.fr is not on/,
  },
  {
    name: 'domain not on the list (outbound)',
    direction: 'outbound',
    verdict: good(DN_A),
    domain: 'ailleurs.example.fr',
    ok: false,
    rule: 'domain-not-listed',
    reply: /^550 5\.7\.1 Not sent \[domain-not-listed\]/,
  },
  {
    name: 'no client certificate',
    verdict: bad('no-certificate'),
    domain: 'ch-a.mssante.fr',
    ok: false,
    rule: 'no-certificate',
    reply: /^550 5\.7\.1 Refused \[no-certificate\]: no TLS client certificate/,
  },
  {
    name: 'foreign CA',
    verdict: bad('untrusted-issuer'),
    domain: 'ch-a.mssante.fr',
    ok: false,
    rule: 'untrusted-issuer',
    reply:
      /^550 5\.7\.1 Refused \[untrusted-issuer\]: your TLS client certificate is not issued by a trusted IGC-Sante/,
  },
  {
    name: 'expired',
    verdict: bad('expired'),
    domain: 'ch-a.mssante.fr',
    ok: false,
    rule: 'expired',
    reply: /^550 5\.7\.1 Refused \[cert-expired\]: your TLS client certificate has expired$/,
  },
  {
    name: 'not yet valid',
    verdict: bad('not-yet-valid'),
    domain: 'ch-a.mssante.fr',
    ok: false,
    rule: 'not-yet-valid',
    reply: /\[cert-not-yet-valid\]/,
  },
  {
    name: 'revoked',
    verdict: bad('revoked'),
    domain: 'ch-a.mssante.fr',
    ok: false,
    rule: 'revoked',
    reply: /^550 5\.7\.1 Refused \[cert-revoked\]: your TLS client certificate has been revoked$/,
  },
  {
    name: 'revoked (outbound)',
    direction: 'outbound',
    verdict: bad('revoked'),
    domain: 'ch-a.mssante.fr',
    ok: false,
    rule: 'revoked',
    reply: /^550 5\.7\.1 Refused \[cert-revoked\]: the TLS server certificate has been revoked$/,
  },
  {
    name: 'wrong usage',
    verdict: bad('wrong-usage'),
    domain: 'ch-a.mssante.fr',
    ok: false,
    rule: 'wrong-usage',
    reply: /\[cert-wrong-usage\]: your TLS client certificate is not allowed for TLS client/,
  },
  {
    name: 'bad signature',
    verdict: bad('bad-signature'),
    domain: 'ch-a.mssante.fr',
    ok: false,
    rule: 'bad-signature',
    reply: /\[cert-bad-signature\]/,
  },
  {
    name: 'CN differs from the listed DN',
    verdict: good('CN=autre.ch-a.mssante.fr,OU=1750000002,O=CH A,ST=Paris (75),C=FR'),
    domain: 'ch-a.mssante.fr',
    ok: false,
    rule: 'dn-not-listed',
    reply:
      /^550 5\.7\.1 Refused \[cn-mismatch\]: the subject DN of your TLS client certificate is not listed for ch-a\.mssante\.fr .*\(CN differs from the listed DN\)$/,
  },
  {
    name: 'DN of another operator',
    verdict: good(DN_B),
    domain: 'ch-a.mssante.fr',
    ok: false,
    rule: 'dn-not-listed',
    reply: /^550 5\.7\.1 Refused \[dn-mismatch\]: .*\(CN, OU, O, ST differ from the listed DN\)$/,
  },
  {
    name: 'same CN, other O and OU',
    verdict: good('CN=mx.ch-a.mssante.fr,OU=1750000099,O=AUTRE,ST=Paris (75),C=FR'),
    domain: 'ch-a.mssante.fr',
    ok: false,
    rule: 'dn-not-listed',
    reply: /\[dn-mismatch\].*\(OU, O differ from the listed DN\)$/,
  },
  {
    name: 'null sender from a listed operator',
    verdict: good(DN_B),
    domain: '',
    ok: true,
    rule: 'listed-dn-null-sender',
  },
  {
    name: 'null sender from a DN listed nowhere',
    verdict: good('CN=x.example.fr,O=X,C=FR'),
    domain: '',
    ok: false,
    rule: 'dn-not-listed',
    reply: /^550 5\.7\.1 Refused \[dn-mismatch\]: .* not listed for any domain/,
  },
  {
    name: 'null sender with an expired certificate',
    verdict: bad('expired'),
    domain: '',
    ok: false,
    rule: 'expired',
    reply: /\[cert-expired\]/,
  },
];

describe('checkPeer', () => {
  it.each(rows)('$name', (row) => {
    const d = checkPeer({
      direction: row.direction ?? 'inbound',
      tls: row.tls ?? true,
      verdict: row.verdict,
      whitelist,
      domain: row.domain,
    });
    expect(d.ok).toBe(row.ok);
    expect(d.rule).toBe(row.rule);
    expect(d.explain.length).toBeGreaterThan(0);
    if (!d.ok) {
      expect(d.error).toBeInstanceOf(SmtpReplyError);
      expect(d.error.permanent).toBe(true);
      expect(String(d.error)).toMatch(row.reply!);
      expect(d.error.message).toBe(`${d.error.enhanced} ${d.error.text}`);
      expect(d.error.responseCode).toBe(d.error.code);
    }
  });

  it('gives the null sender the domains its DN is listed for', () => {
    const d = checkPeer({ direction: 'inbound', tls: true, verdict: good(DN_A), whitelist, domain: '' });
    expect(d.ok && d.listedFor?.sort()).toEqual(['ch-a.mssante.fr', 'ch-upper.mssante.fr']);
    expect(domainsListedFor(whitelist, 'nothing')).toEqual([]);
  });
});

describe('dnDifferences', () => {
  it.each([
    [DN_A, DN_A, []],
    [DN_A, DN_A2, ['CN']],
    ['C=FR,O=CH A,OU=1750000002,CN=mx.ch-a.mssante.fr', DN_A, ['ST']],
    [DN_A, 'not a dn', []],
  ])('%s vs %s', (a, b, expected) => {
    expect(dnDifferences(a, b)).toEqual(expected);
  });
});

describe('SMTP replies', () => {
  it('refuses an enhanced code of another class than the code', () => {
    expect(
      () => new SmtpReplyError({ code: 550, enhanced: '4.7.1', text: 'x', reason: 'local-error' }),
    ).toThrow(RangeError);
    expect(
      () => new SmtpReplyError({ code: 250, enhanced: '2.0.0', text: 'x', reason: 'local-error' }),
    ).toThrow(RangeError);
  });

  it('makes peer texts ASCII and one line', () => {
    expect(safeText('Évêché\r\n  de   Santé\u0000')).toBe('Eveche de Sante?');
    const e = new SmtpReplyError({ code: 451, enhanced: '4.3.0', text: 'a\r\nb', reason: 'local-error' });
    expect(e.text).toBe('a b');
    expect(e.temporary).toBe(true);
    expect(e.replyClass).toBe('temporary');
  });

  it.each([
    [refusals.unknownRecipient('x@a.fr'), '550 5.1.1'],
    [refusals.recipientSuspended('x@a.fr'), '450 4.2.1'],
    [refusals.recipientClosed('x@a.fr'), '550 5.1.6'],
    [refusals.relayDenied('x@b.fr'), '550 5.7.1'],
    [refusals.messageTooLarge(1000), '552 5.3.4'],
    [refusals.localError(), '451 4.3.0'],
    [refusals.trustCheckFailed(), '451 4.7.0'],
  ])('%s', (e, prefix) => {
    expect(String(e).startsWith(prefix)).toBe(true);
  });

  it.each([
    ['550 5.1.1 <x@b.fr>: unknown', null, { code: 550, enhanced: '5.1.1', text: '<x@b.fr>: unknown' }],
    ['451-4.3.0 first\n451 4.3.0 second', null, { code: 451, enhanced: '4.3.0', text: 'first second' }],
    ['554 Transaction failed', null, { code: 554, enhanced: null, text: 'Transaction failed' }],
    ['550 4.1.1 mixed classes', null, { code: 550, enhanced: null, text: 'mixed classes' }],
    ['', 421, { code: 421, enhanced: null, text: '' }],
    ['Connection closed', null, { code: null, enhanced: null, text: 'Connection closed' }],
  ])('parses %j', (response, fallback, expected) => {
    expect(parseReply(response, fallback)).toEqual(expected);
  });
});

describe('outbound helpers (smtp/deliverer.ts)', () => {
  const resolver = (answers: Record<string, MxRecord[] | string>) => ({
    async resolveMx(domain: string): Promise<MxRecord[]> {
      const a = answers[domain];
      if (typeof a === 'string') throw Object.assign(new Error(a), { code: a });
      return a ?? [];
    },
  });

  it.each([
    [
      'static route first',
      { 'CH-B.mssante.fr': '127.0.0.1:2525' },
      {},
      [{ host: '127.0.0.1', port: 2525, via: 'route' }],
    ],
    [
      'MX records, lowest preference first',
      {},
      {
        'ch-b.mssante.fr': [
          { exchange: 'mx2.ch-b.fr.', priority: 20 },
          { exchange: 'MX1.ch-b.fr', priority: 10 },
        ],
      },
      [
        { host: 'mx1.ch-b.fr', port: 25, via: 'mx' },
        { host: 'mx2.ch-b.fr', port: 25, via: 'mx' },
      ],
    ],
    [
      'no MX record: the domain itself (A/AAAA)',
      {},
      { 'ch-b.mssante.fr': 'ENODATA' },
      [{ host: 'ch-b.mssante.fr', port: 25, via: 'implicit-mx' }],
    ],
  ])('%s', async (_n, routes, answers, hops) => {
    expect(await routeFor('ch-b.mssante.fr', { routes, resolver: resolver(answers), mxPort: 25 })).toEqual(
      hops,
    );
  });

  it.each([
    ['ENOTFOUND', { permanent: true, enhanced: '5.1.2' }],
    ['ETIMEOUT', { permanent: false, enhanced: '4.4.3' }],
    ['ESERVFAIL', { permanent: false, enhanced: '4.4.3' }],
  ])('DNS %s', async (code, expected) => {
    const e = await routeFor('ch-b.mssante.fr', {
      resolver: resolver({ 'ch-b.mssante.fr': code }),
      mxPort: 25,
    }).catch((x: { failure: unknown }) => x.failure);
    expect(e).toMatchObject(expected);
  });

  it('null MX: permanent 5.1.10', async () => {
    const e = await routeFor('ch-b.mssante.fr', {
      resolver: resolver({ 'ch-b.mssante.fr': [{ exchange: '', priority: 0 }] }),
      mxPort: 25,
    }).catch((x: { failure: unknown }) => x.failure);
    expect(e).toMatchObject({ permanent: true, enhanced: '5.1.10' });
  });

  it('RFC 3461 parameters per recipient, xtext-encoded', () => {
    expect(rcptDsnArgs({ notify: 'SUCCESS,FAILURE', orcpt: 'rfc822;a+b=c@x.fr' })).toBe(
      ' NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bb+3Dc@x.fr',
    );
    expect(rcptDsnArgs({ notify: null, orcpt: 'a@x.fr' })).toBe(' ORCPT=rfc822;a@x.fr');
    expect(rcptDsnArgs({ notify: null, orcpt: null })).toBe('');
    expect(xtext('é ')).toBe('+C3+A9+20');
  });

  it('ENVID: the message own, else stable from its bytes', () => {
    const raw = Buffer.from('Subject: x\r\n\r\nbody\r\n');
    expect(envidOf({ envid: 'E1', raw, mailFrom: 'a@b.fr' })).toBe('E1');
    const h = envidOf({ envid: null, raw, mailFrom: 'a@b.fr' });
    expect(h).toMatch(/^mss-h-[0-9a-f]{32}$/);
    expect(envidOf({ envid: null, raw: Buffer.from(raw), mailFrom: 'a@b.fr' })).toBe(h);
    expect(envidOf({ envid: null, raw, mailFrom: 'c@b.fr' })).not.toBe(h);
  });

  const rcpts = ['a@b.fr', 'c@b.fr'].map((rcpt) => ({ rcpt, orcpt: null, notify: null }));
  const ctx = { remoteMta: 'mx.b.fr', dsnRelayed: true };

  it('per-recipient results: accepted, refused at RCPT, refused at DATA, broken connection', () => {
    expect(
      transactionResults(rcpts, null, { accepted: ['a@b.fr', 'c@b.fr'], response: '250 ok' }, ctx),
    ).toEqual([
      { ok: true, remoteMta: 'mx.b.fr', dsnRelayed: true },
      { ok: true, remoteMta: 'mx.b.fr', dsnRelayed: true },
    ]);
    const rcptErr = Object.assign(new Error('Recipient command failed'), {
      recipient: 'c@b.fr',
      response: '450 4.2.1 <c@b.fr>: suspended',
      responseCode: 450,
      command: 'RCPT TO',
    });
    expect(transactionResults(rcpts, null, { accepted: ['a@b.fr'], rejectedErrors: [rcptErr] }, ctx)).toEqual(
      [
        { ok: true, remoteMta: 'mx.b.fr', dsnRelayed: true },
        {
          ok: false,
          permanent: false,
          code: 450,
          enhanced: '4.2.1',
          message: '<c@b.fr>: suspended',
          remoteMta: 'mx.b.fr',
        },
      ],
    );
    const dataErr = Object.assign(new Error('Message failed'), {
      response: '554 5.6.0 rejected',
      responseCode: 554,
      command: 'DATA',
    });
    expect(
      transactionResults(rcpts, dataErr, undefined, ctx).map((r) => !r.ok && [r.permanent, r.code]),
    ).toEqual([
      [true, 554],
      [true, 554],
    ]);
    const netErr = Object.assign(new Error('Connection closed unexpectedly'), {
      code: 'ECONNECTION',
      command: 'DATA',
    });
    expect(transactionResults(rcpts, netErr, undefined, ctx)[0]).toMatchObject({
      ok: false,
      permanent: false,
      code: null,
      enhanced: '4.4.2',
    });
  });

  it('caches verdicts by chain and purpose, never past notAfter', () => {
    let calls = 0;
    let t = 1_000;
    const v = cachingValidator(
      {
        validate: () => {
          calls++;
          return { ...good(DN_A), notAfter: new Date(1_000 + 30_000) };
        },
      },
      { ttlMs: 60_000, now: () => t },
    );
    const chain = [Buffer.from('leaf'), Buffer.from('ca')];
    v.validate(chain, { purpose: 'clientAuth' });
    v.validate(chain, { purpose: 'clientAuth' });
    expect(calls).toBe(1);
    v.validate(chain, { purpose: 'serverAuth' });
    expect(calls).toBe(2);
    t += 31_000; // past notAfter
    v.validate(chain, { purpose: 'clientAuth' });
    expect(calls).toBe(3);
    v.validate([], { purpose: 'clientAuth' });
    expect(calls).toBe(4);
  });
});
