/**
 * The inbound MX against the ANS audit cases: the development PKI with its bad set, and a liste
 * blanche written for the test that lists each audit domain with the DN its manifest says
 * (`listedDn`). A peer is driven with nodemailer's SMTP client presenting the case's certificate
 * (and with Python's smtplib for one case, an independent client).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { createSmtpDeliverer } from '../../src/smtp/deliverer.ts';
import {
  createMxServer,
  type InboundMeta,
  type InboundRecipient,
  type MxServer,
  type RecipientStatus,
} from '../../src/smtp/mx-server.ts';
import { mxTlsOptions, tlsPolicy } from '../../src/smtp/tls-policy.ts';
import type { AuditEntry } from '../../src/store/audit.ts';
import { type DevPkiManifest, generateDevPki } from '../../src/trust/pki/dev-pki.ts';
import { type CertificateValidator, createCertificateValidator } from '../../src/trust/pki/validator.ts';
import { Whitelist } from '../../src/trust/whitelist/list.ts';
import { parseWhitelist } from '../../src/trust/whitelist/parse.ts';
import { listeBlancheXml } from '../support/liste-blanche.ts';

/** Python 3 (Debian package python3) drives one case with its own TLS stack; skipped without it. */
const HAS_PYTHON = spawnSync('python3', ['--version']).status === 0;
const CIPHERS =
  'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256';
const SENDER_HOST = 'mx.ch-a.mssante.fr';
const MX_HOST = 'mx.ch-b.mssante.fr';
const MAX_BYTES = 64 * 1024;

let tmp: string;
let pkiDir: string;
let manifest: DevPkiManifest;
let validator: CertificateValidator;
let mx: MxServer;
let port: number;
const delivered: { raw: Buffer; rcpts: InboundRecipient[]; meta: InboundMeta }[] = [];
const audits: AuditEntry[] = [];
let failNextDelivery = false;

const STATUSES: Record<string, RecipientStatus> = {
  'dr.martin@ch-b.mssante.fr': 'active',
  'cardiologie@ch-b.mssante.fr': 'active',
  'dr.absent@ch-b.mssante.fr': 'suspended',
  'dr.parti@ch-b.mssante.fr': 'closed',
};

const entry = (role: string) => {
  const e = manifest.entries.find((x) => x.role === role);
  if (!e) throw new Error(`no ${role} in the dev PKI manifest`);
  return e;
};
const fileText = (rel: string) => readFileSync(join(pkiDir, rel), 'utf8');

/** As the ANS publishes it: no closing root tag. */
const listeBlanche = (domains: [string, string][]) => listeBlancheXml(domains, { closeRoot: false });

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mss-mx-audit-'));
  pkiDir = join(tmp, 'pki');
  const res = await generateDevPki({
    dir: pkiDir,
    hosts: [
      { host: SENDER_HOST, structureId: '1750000002', org: 'CH A' },
      { host: MX_HOST, structureId: '1330781295', org: 'CH B' },
    ],
    withBadSet: true,
    badSetDomain: 'audit.mssante.fr',
  });
  manifest = res.manifest;
  const sender = manifest.entries.find((e) => e.role === 'server' && e.host === SENDER_HOST)!;
  const receiver = manifest.entries.find((e) => e.role === 'server' && e.host === MX_HOST)!;
  // Each audit domain is listed with the DN its manifest entry says; the bad certificates differ.
  const listed: [string, string][] = [
    ['ch-a.mssante.fr', sender.listedDn!],
    ['ch-b.mssante.fr', receiver.listedDn!],
  ];
  for (const role of [
    'bad-expired',
    'bad-revoked',
    'bad-foreign-ca',
    'bad-cn-mismatch',
    'bad-dn-mismatch',
    'bad-server-only',
  ]) {
    const e = entry(role);
    listed.push([e.host!, e.listedDn!]);
  }
  const whitelist = Whitelist.from(parseWhitelist(listeBlanche(listed)));
  const logger = createLogger('silent');
  validator = createCertificateValidator({
    anchors: [fileText(manifest.root)],
    intermediates: [fileText(manifest.intermediate)],
    crlSources: [join(pkiDir, manifest.crl)],
    logger,
  });
  await validator.start();
  const policy = tlsPolicy({ allowTls13: false, ciphers: CIPHERS });
  mx = createMxServer({
    tls: mxTlsOptions(policy, { certPem: fileText(receiver.file), keyPem: fileText(receiver.key!) }),
    whitelist: { current: () => whitelist },
    validator,
    recipients: async (address) => STATUSES[address] ?? null,
    localDomains: ['ch-b.mssante.fr'],
    deliverLocal: async (raw, rcpts, meta) => {
      if (failNextDelivery) {
        failNextDelivery = false;
        throw new Error('disk full');
      }
      delivered.push({ raw, rcpts, meta });
    },
    maxMessageBytes: MAX_BYTES,
    hostname: MX_HOST,
    logger,
    audit: (e) => {
      audits.push(e);
    },
    closeTimeoutMs: 1000,
  });
  port = (await mx.listen(0, '127.0.0.1')).port;
}, 60_000);

afterAll(async () => {
  await mx?.close();
  validator?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Outcome {
  accepted: boolean;
  /** The reply line that decided (first refusal or the final 250). */
  response: string;
  code: number | null;
}

/** Connects as a peer presenting `certRole`'s certificate (or none) and sends one message. */
function send(opts: {
  cert?: { file: string; key: string } | null;
  from: string;
  to?: string[];
  body?: string;
  noTls?: boolean;
  tlsOptions?: ConnectionOptions;
  envelope?: Record<string, unknown>;
}): Promise<Outcome> {
  return new Promise((resolve) => {
    const conn = new SMTPConnection({
      host: '127.0.0.1',
      port,
      name: 'client.test',
      ...(opts.noTls ? { ignoreTLS: true } : { requireTLS: true }),
      tls: {
        rejectUnauthorized: false,
        ...(opts.cert ? { cert: fileText(opts.cert.file), key: fileText(opts.cert.key) } : {}),
        ...opts.tlsOptions,
      },
      connectionTimeout: 5000,
      greetingTimeout: 5000,
      socketTimeout: 5000,
    });
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      try {
        conn.quit();
      } catch {}
      resolve(o);
    };
    conn.on('error', (err: Error & { response?: string; responseCode?: number }) =>
      finish({ accepted: false, response: err.response ?? err.message, code: err.responseCode ?? null }),
    );
    conn.connect((err?: Error & { response?: string; responseCode?: number }) => {
      if (err)
        return finish({
          accepted: false,
          response: err.response ?? err.message,
          code: err.responseCode ?? null,
        });
      conn.send(
        { from: opts.from, to: opts.to ?? ['dr.martin@ch-b.mssante.fr'], ...opts.envelope },
        Buffer.from(opts.body ?? message('audit')),
        (e, info) => {
          const err2 = e as
            | (Error & { response?: string; responseCode?: number; rejectedErrors?: { response?: string }[] })
            | null;
          if (err2) {
            const response = err2.rejectedErrors?.[0]?.response ?? err2.response ?? err2.message;
            finish({ accepted: false, response, code: Number(response.slice(0, 3)) || null });
          } else finish({ accepted: true, response: info.response, code: Number(info.response.slice(0, 3)) });
        },
      );
    });
  });
}

let seq = 0;
function message(subject: string, extra = ''): string {
  seq++;
  return [
    'From: Dr A <dr.a@ch-a.mssante.fr>',
    'To: Dr Martin <dr.martin@ch-b.mssante.fr>',
    `Subject: ${subject}`,
    `Message-ID: <audit-${seq}-${Date.now()}@ch-a.mssante.fr>`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0100',
    'X-MSS-NIL: test',
    '',
    `Compte rendu ${subject}${extra}`,
    '',
  ].join('\r\n');
}

const cert = (role: string) => {
  const e = entry(role);
  return { file: e.file, key: e.key! };
};
const senderCert = () => {
  const e = manifest.entries.find((x) => x.role === 'server' && x.host === SENDER_HOST)!;
  return { file: e.file, key: e.key! };
};
const auditFor = (mailFrom: string) => audits.filter((a) => a.details?.['mailFrom'] === mailFrom);

describe('MX: the ANS audit cases', () => {
  it('valid certificate, listed DN: accepted, stored with a Received header, audited', async () => {
    const body = message('valid', '\r\nDeuxième ligne, accentuée.');
    const before = delivered.length;
    const o = await send({ cert: senderCert(), from: 'dr.a@ch-a.mssante.fr', body });
    expect(o).toMatchObject({ accepted: true, code: 250 });
    expect(o.response).toMatch(/^250 2\.6\.0 Message accepted, id /);
    const got = delivered[before]!;
    expect(got.rcpts).toEqual([{ address: 'dr.martin@ch-b.mssante.fr', notify: null, orcpt: null }]);
    const raw = got.raw.toString('utf8');
    const [received, rest] = [
      raw.slice(0, raw.indexOf('\r\nFrom: ') + 2),
      raw.slice(raw.indexOf('\r\nFrom: ') + 2),
    ];
    expect(rest).toBe(body);
    expect(received).toMatch(/^Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n/);
    expect(received).toContain('(using TLSv1.2 with cipher ECDHE-RSA-AES');
    expect(received).toContain(
      `(client certificate "CN=${SENDER_HOST},OU=1750000002,O=CH A,C=FR" verified, listed-dn)`,
    );
    expect(received).toMatch(
      /by mx\.ch-b\.mssante\.fr with ESMTPS id \S+\r\n\tfor <dr\.martin@ch-b\.mssante\.fr>; \w{3}, \d+ \w{3} \d{4}/,
    );
    expect(got.meta).toMatchObject({
      mailFrom: 'dr.a@ch-a.mssante.fr',
      peer: { ip: '127.0.0.1', rule: 'listed-dn', dn: `CN=${SENDER_HOST},OU=1750000002,O=CH A,C=FR` },
      tls: { protocol: 'TLSv1.2' },
    });
    const a = auditFor('dr.a@ch-a.mssante.fr').at(-1)!;
    expect(a).toMatchObject({ action: 'smtp.in.accept', subject: 'ch-a.mssante.fr', actor: 'smtp:mx' });
    expect(a.details).toMatchObject({ ip: '127.0.0.1', rule: 'listed-dn', domain: 'ch-a.mssante.fr' });
    expect(a.details?.['dn']).toContain(SENDER_HOST);
  });

  const refusedCases: [string, () => Parameters<typeof send>[0], RegExp, string][] = [
    [
      'expired certificate',
      () => ({ cert: cert('bad-expired'), from: `audit@${entry('bad-expired').host}` }),
      /^550 5\.7\.1 Refused \[cert-expired\]: your TLS client certificate has expired/,
      'expired',
    ],
    [
      'revoked certificate',
      () => ({ cert: cert('bad-revoked'), from: `audit@${entry('bad-revoked').host}` }),
      /^550 5\.7\.1 Refused \[cert-revoked\]: your TLS client certificate has been revoked/,
      'revoked',
    ],
    [
      'certificate from a foreign CA (not IGC-Santé)',
      () => ({ cert: cert('bad-foreign-ca'), from: `audit@${entry('bad-foreign-ca').host}` }),
      /^550 5\.7\.1 Refused \[untrusted-issuer\]: your TLS client certificate is not issued by a trusted IGC-Sante/,
      'untrusted-issuer',
    ],
    [
      'CN different from the listed DN',
      () => ({ cert: cert('bad-cn-mismatch'), from: `audit@${entry('bad-cn-mismatch').host}` }),
      /^550 5\.7\.1 Refused \[cn-mismatch\]: the subject DN of your TLS client certificate is not listed for cert-cn-diff-dn-audit\.audit\.mssante\.fr .*\(CN differs from the listed DN\)/,
      'dn-not-listed',
    ],
    [
      'DN not matching the list',
      () => ({ cert: cert('bad-dn-mismatch'), from: `audit@${entry('bad-dn-mismatch').host}` }),
      /^550 5\.7\.1 Refused \[dn-mismatch\]: .*\(OU, O differ from the listed DN\)/,
      'dn-not-listed',
    ],
    [
      'certificate without clientAuth usage',
      () => ({ cert: cert('bad-server-only'), from: `audit@${entry('bad-server-only').host}` }),
      /^550 5\.7\.1 Refused \[cert-wrong-usage\]/,
      'wrong-usage',
    ],
    [
      'no client certificate',
      () => ({ cert: null, from: 'dr.a@ch-a.mssante.fr' }),
      /^550 5\.7\.1 Refused \[no-certificate\]: no TLS client certificate was presented/,
      'no-certificate',
    ],
    [
      'valid certificate of another domain (sender domain not on the list)',
      () => ({ cert: senderCert(), from: 'someone@not-listed.example.fr' }),
      /^550 5\.7\.1 Refused \[domain-not-listed\]: the sender domain not-listed\.example\.fr is not on the MSSante liste blanche/,
      'domain-not-listed',
    ],
    [
      'valid certificate, listed, but for another listed domain',
      () => ({ cert: senderCert(), from: 'x@ch-b.mssante.fr' }),
      /^550 5\.7\.1 Refused \[dn-mismatch\]/,
      'dn-not-listed',
    ],
    [
      'no TLS: MAIL FROM before STARTTLS',
      () => ({ noTls: true, from: 'dr.a@ch-a.mssante.fr' }),
      /^530 5\.7\.0 Must issue a STARTTLS command first \[tls-required\]/,
      'tls-required',
    ],
  ];

  it.each(refusedCases)('%s: refused with the reason', async (_name, make, reply, rule) => {
    const before = delivered.length;
    const args = make();
    const o = await send(args);
    expect(o.accepted).toBe(false);
    expect(o.response).toMatch(reply);
    expect(delivered.length).toBe(before);
    const a = auditFor(args.from).at(-1)!;
    expect(a).toMatchObject({ action: 'smtp.in.refuse', details: { rule, ip: '127.0.0.1' } });
    expect(String(a.details?.['reply'])).toMatch(reply);
  });

  it('accepts the null sender (a DSN) from a listed operator, and refuses it from an unlisted DN', async () => {
    const ok = await send({ cert: senderCert(), from: '' });
    expect(ok).toMatchObject({ accepted: true, code: 250 });
    expect(delivered.at(-1)!.meta.mailFrom).toBe('');
    expect(delivered.at(-1)!.meta.peer.rule).toBe('listed-dn-null-sender');
    const no = await send({ cert: cert('bad-cn-mismatch'), from: '' });
    expect(no.response).toMatch(/^550 5\.7\.1 Refused \[dn-mismatch\]: .*not listed for any domain/);
  });

  it.skipIf(!HAS_PYTHON)(
    'a client driven by Python smtplib (independent TLS stack) is accepted and refused the same way',
    async () => {
      const script = `
import smtplib, ssl, sys
port, cert, key, sender = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.load_cert_chain(cert, key)
s = smtplib.SMTP('127.0.0.1', port, local_hostname='python.test', timeout=10)
s.starttls(context=ctx)
s.ehlo('python.test')
code, msg = s.mail(sender)
print(code, msg.decode())
if code == 250:
    s.rcpt('dr.martin@ch-b.mssante.fr')
    code, msg = s.data(b'Subject: python\\r\\nMessage-ID: <py@ch-a.mssante.fr>\\r\\n\\r\\nhello\\r\\n')
    print(code, msg.decode())
s.quit()
`;
      const py = (c: { file: string; key: string }, from: string) =>
        new Promise<string>((resolve, reject) => {
          execFile(
            'python3',
            ['-c', script, String(port), join(pkiDir, c.file), join(pkiDir, c.key), from],
            { timeout: 20_000 },
            (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
          );
        });
      const good = await py(senderCert(), 'dr.a@ch-a.mssante.fr');
      expect(good).toMatch(/^250 2\.1\.0 .*\n250 2\.6\.0 Message accepted, id /);
      const revoked = await py(cert('bad-revoked'), `audit@${entry('bad-revoked').host}`);
      expect(revoked).toMatch(/^550 5\.7\.1 Refused \[cert-revoked\]/);
    },
  );
});

describe('MX: recipients, size, extensions, TLS policy', () => {
  it('takes only active local BALs, with a clear reply for each other case', async () => {
    const cases: [string, RegExp][] = [
      ['inconnu@ch-b.mssante.fr', /^550 5\.1\.1 <inconnu@ch-b\.mssante\.fr>: no such mailbox/],
      [
        'dr.absent@ch-b.mssante.fr',
        /^450 4\.2\.1 <dr\.absent@ch-b\.mssante\.fr>: this mailbox \(BAL\) is suspended/,
      ],
      [
        'dr.parti@ch-b.mssante.fr',
        /^550 5\.1\.6 <dr\.parti@ch-b\.mssante\.fr>: this mailbox \(BAL\) is closed/,
      ],
      ['quelquun@ailleurs.mssante.fr', /^550 5\.7\.1 <quelquun@ailleurs\.mssante\.fr>: relaying denied/],
    ];
    for (const [rcpt, reply] of cases) {
      const o = await send({ cert: senderCert(), from: 'dr.a@ch-a.mssante.fr', to: [rcpt] });
      expect(o.accepted, rcpt).toBe(false);
      expect(o.response, rcpt).toMatch(reply);
    }
    // Mixed: the good recipient gets the message, the others are refused one by one.
    const before = delivered.length;
    const o = await send({
      cert: senderCert(),
      from: 'dr.a@ch-a.mssante.fr',
      to: ['inconnu@ch-b.mssante.fr', 'cardiologie@ch-b.mssante.fr', 'Dr.Martin@CH-B.mssante.fr'],
      envelope: { dsn: { notify: ['SUCCESS', 'FAILURE'], envid: 'ENV-1', ret: 'HDRS' } },
    });
    expect(o.accepted).toBe(true);
    expect(delivered.length).toBe(before + 1);
    expect(delivered.at(-1)!.rcpts).toEqual([
      { address: 'cardiologie@ch-b.mssante.fr', notify: 'SUCCESS,FAILURE', orcpt: null },
      { address: 'dr.martin@ch-b.mssante.fr', notify: 'SUCCESS,FAILURE', orcpt: null },
    ]);
    expect(delivered.at(-1)!.meta).toMatchObject({ envid: 'ENV-1', ret: 'HDRS' });
    // Several recipients: no "for" clause in Received.
    expect(delivered.at(-1)!.raw.toString()).not.toContain('\tfor <');
  });

  it('advertises SIZE and the extensions, and refuses a message over the limit', async () => {
    const ehlo = await new Promise<string[]>((resolve, reject) => {
      const c = new SMTPConnection({
        host: '127.0.0.1',
        port,
        requireTLS: true,
        tls: { rejectUnauthorized: false },
      });
      c.on('error', reject);
      c.connect(() => {
        resolve((c as unknown as { _ehloLines: string[] })._ehloLines);
        c.quit();
      });
    });
    expect(ehlo).toEqual(
      expect.arrayContaining([
        `SIZE ${MAX_BYTES}`,
        'PIPELINING',
        '8BITMIME',
        'SMTPUTF8',
        'ENHANCEDSTATUSCODES',
        'DSN',
      ]),
    );
    expect(ehlo.some((l) => /^AUTH/.test(l))).toBe(false);
    const big = message('big', `\r\n${'x'.repeat(76)}\r\n`.repeat(Math.ceil(MAX_BYTES / 78) + 10));
    const before = delivered.length;
    const o = await send({ cert: senderCert(), from: 'dr.a@ch-a.mssante.fr', body: big });
    expect(o.accepted).toBe(false);
    expect(o.response).toMatch(/^552 5\.3\.4/);
    expect(delivered.length).toBe(before);
  });

  it('answers 451 4.3.0 when the message cannot be stored (nothing acknowledged)', async () => {
    failNextDelivery = true;
    const o = await send({ cert: senderCert(), from: 'dr.a@ch-a.mssante.fr' });
    expect(o.accepted).toBe(false);
    expect(o.response).toMatch(/^451 4\.3\.0 Local error while storing the message/);
  });

  it('handles SMTPUTF8 and 8-bit bodies', async () => {
    const before = delivered.length;
    const body = message('utf8', '\r\nÉchographie — résultat');
    const o = await send({ cert: senderCert(), from: 'médecin@ch-a.mssante.fr', body });
    expect(o.accepted).toBe(true);
    expect(delivered[before]!.meta.mailFrom).toBe('médecin@ch-a.mssante.fr');
    expect(delivered[before]!.raw.toString('utf8').endsWith(body)).toBe(true);
  });

  it('refuses TLS 1.3 and suites outside the policy by default', async () => {
    const v13 = await send({
      cert: senderCert(),
      from: 'dr.a@ch-a.mssante.fr',
      tlsOptions: { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' },
    });
    expect(v13.accepted).toBe(false);
    expect(v13.response).toMatch(/TLS|version|handshake|socket/i);
    const cbc = await send({
      cert: senderCert(),
      from: 'dr.a@ch-a.mssante.fr',
      tlsOptions: { ciphers: 'AES256-SHA256', maxVersion: 'TLSv1.2' },
    });
    expect(cbc.accepted).toBe(false);
  });

  it('writes each decision to the audit entries with the peer IP, DN, domain and rule', () => {
    expect(audits.length).toBeGreaterThan(10);
    for (const a of audits) {
      expect(['smtp.in.accept', 'smtp.in.refuse']).toContain(a.action);
      expect(a.details).toHaveProperty('ip', '127.0.0.1');
      expect(a.details).toHaveProperty('rule');
      expect(a.details).toHaveProperty('domain');
      expect(a.details).toHaveProperty('dn');
    }
  });
});

describe('deliverer: the same audit cases, outbound (our client checking the server)', () => {
  /** A bare smtp-server presenting `certRole`'s certificate, recording whether MAIL FROM came. */
  async function fakeServer(c: { file: string; key: string }) {
    const seen: string[] = [];
    const server = new SMTPServer({
      secure: false,
      cert: fileText(c.file),
      key: fileText(c.key),
      disabledCommands: ['AUTH'],
      logger: false,
      onMailFrom(address, _session, cb) {
        seen.push(address.address);
        cb();
      },
      onData(stream, _session, cb) {
        stream.resume();
        stream.on('end', () => cb());
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.server.address() as { port: number }).port;
    return { seen, port, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  function deliverer(routes: Record<string, string>) {
    const receiver = manifest.entries.find((e) => e.role === 'server' && e.host === SENDER_HOST)!;
    const whitelist = Whitelist.from(
      parseWhitelist(
        listeBlanche([
          [
            'ch-b.mssante.fr',
            manifest.entries.find((e) => e.role === 'server' && e.host === MX_HOST)!.listedDn!,
          ],
          ...['bad-expired', 'bad-revoked', 'bad-foreign-ca', 'bad-cn-mismatch', 'bad-dn-mismatch'].map(
            (r) => [entry(r).host!, entry(r).listedDn!] as [string, string],
          ),
        ]),
      ),
    );
    return createSmtpDeliverer({
      whitelist: { current: () => whitelist },
      validator,
      policy: tlsPolicy({ allowTls13: false, ciphers: CIPHERS }),
      identity: { certPem: fileText(receiver.file), keyPem: fileText(receiver.key!) },
      routes,
      heloName: SENDER_HOST,
      connectTimeoutMs: 5000,
      logger: createLogger('silent'),
    });
  }

  const request = (domain: string, rcpt: string) => ({
    mailFrom: 'dr.a@ch-a.mssante.fr',
    recipients: [{ rcpt, orcpt: null, notify: null }],
    domain,
    raw: Buffer.from(message('outbound')),
    envid: 'ENV-OUT-1',
    ret: null,
    signal: new AbortController().signal,
  });

  it('delivers to a listed server (our MX) and reuses the checked connection', async () => {
    const d = deliverer({ 'ch-b.mssante.fr': `127.0.0.1:${port}` });
    try {
      const before = delivered.length;
      const r1 = await d.deliver(request('ch-b.mssante.fr', 'dr.martin@ch-b.mssante.fr'));
      const r2 = await d.deliver(request('ch-b.mssante.fr', 'cardiologie@ch-b.mssante.fr'));
      expect(r1).toEqual([{ ok: true, remoteMta: '127.0.0.1', dsnRelayed: true }]);
      expect(r2).toEqual([{ ok: true, remoteMta: '127.0.0.1', dsnRelayed: true }]);
      expect(delivered.length).toBe(before + 2);
      expect(delivered.at(-1)!.meta).toMatchObject({ envid: 'ENV-OUT-1', peer: { rule: 'listed-dn' } });
      // One connection for both: the same session id in both Received headers' "id".
      const id = (m: { meta: InboundMeta }) => m.meta.id.split('.')[0];
      expect(id(delivered.at(-1)!)).toBe(id(delivered.at(-2)!));
    } finally {
      await d.close();
    }
  });

  it.each([
    ['bad-expired', /^Refused \[cert-expired\]: the TLS server certificate has expired/],
    ['bad-revoked', /^Refused \[cert-revoked\]/],
    ['bad-foreign-ca', /^Refused \[untrusted-issuer\]/],
    ['bad-cn-mismatch', /^Refused \[cn-mismatch\]/],
    ['bad-dn-mismatch', /^Refused \[dn-mismatch\]/],
  ])('%s: refused before MAIL FROM, permanently (5.7.1)', async (role, text) => {
    const server = await fakeServer(cert(role));
    const domain = entry(role).host!;
    const d = deliverer({ [domain]: `127.0.0.1:${server.port}` });
    try {
      const [r] = await d.deliver(request(domain, `x@${domain}`));
      expect(r).toMatchObject({ ok: false, permanent: true, code: null, enhanced: '5.7.1' });
      expect((r as { message: string }).message).toMatch(text);
      expect(server.seen).toEqual([]);
    } finally {
      await d.close();
      await server.close();
    }
  });

  it('a server without STARTTLS gets nothing, and the failure is temporary (4.7.x)', async () => {
    const server = new SMTPServer({
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      hideSTARTTLS: true,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const p = (server.server.address() as { port: number }).port;
    const d = deliverer({ 'ch-b.mssante.fr': `127.0.0.1:${p}` });
    try {
      const [r] = await d.deliver(request('ch-b.mssante.fr', 'dr.martin@ch-b.mssante.fr'));
      expect(r).toMatchObject({ ok: false, permanent: false });
      expect((r as { enhanced: string }).enhanced).toMatch(/^4\.7\./);
    } finally {
      await d.close();
      await new Promise<void>((r2) => server.close(() => r2()));
    }
  });

  it('a domain off the list is not contacted at all', async () => {
    const d = deliverer({});
    const [r] = await d.deliver(request('ailleurs.example.fr', 'x@ailleurs.example.fr'));
    expect(r).toMatchObject({ ok: false, permanent: true, enhanced: '5.7.1' });
    expect((r as { message: string }).message).toMatch(/^Not sent \[domain-not-listed\]/);
  });
});
