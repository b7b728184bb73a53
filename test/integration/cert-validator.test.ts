import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { normaliseDn } from '../../src/trust/dn.ts';
import { buildCrl, type DevPkiManifest, generateDevPki } from '../../src/trust/pki/dev-pki.ts';
import { readCertificates } from '../../src/trust/pki/inspect.ts';
import {
  type CertificateValidator,
  createCertificateValidator,
  peerChainFromTls,
  type Verdict,
} from '../../src/trust/pki/validator.ts';

const HOST = 'mx.validator-test.mssante.fr';
const HOST2 = 'mx.peer-test.mssante.fr';
const CIPHERS =
  'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256';

let tmp: string;
let dir: string;
let manifest: DevPkiManifest;
let rootPem: string;
let crlPem: Buffer;
const logLines: string[] = [];
const logger = createLogger('debug', {
  write(line: string) {
    logLines.push(line);
  },
});
const read = (f: string) => readFileSync(join(dir, f));
const chainOf = (f: string) => readCertificates(read(f));
const entry = (role: string) => manifest.entries.find((e) => e.role === role)!;

/** A local HTTP server whose answer the test switches. */
let http: Server;
let httpUrl: string;
let httpMode: 'pem' | 'der' | 'fail' | 'garbage' | 'forged' = 'pem';
let httpHits = 0;
let forgedCrl: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mss-validator-'));
  dir = join(tmp, 'dev');
  const res = await generateDevPki({
    dir,
    hosts: [
      { host: HOST, structureId: '1750000002', org: 'OPERATEUR VALIDATEUR' },
      { host: HOST2, structureId: '335600000000048', org: 'OPERATEUR PAIR' },
    ],
    appCerts: [{ name: 'dpi-app', structureId: '1750000002', org: 'OPERATEUR VALIDATEUR' }],
    withBadSet: true,
  });
  manifest = res.manifest;
  rootPem = read('root.crt').toString();
  crlPem = read('crl.pem');
  // Same issuer name, signed with a key that is not the intermediate's.
  forgedCrl = buildCrl({
    issuerCertPem: read('organisations.crt').toString(),
    issuerKeyPem: read(`${HOST}.key`).toString(),
    revoked: [],
    thisUpdate: new Date(),
    nextUpdate: new Date(Date.now() + 86_400_000),
    crlNumber: 99,
  });
  const der = Buffer.from(
    crlPem
      .toString()
      .replace(/-----[^-]+-----/g, '')
      .replace(/\s+/g, ''),
    'base64',
  );
  http = createServer((_req, res) => {
    httpHits++;
    if (httpMode === 'fail') {
      res.writeHead(503).end('unavailable');
    } else if (httpMode === 'garbage') {
      res.writeHead(200).end('<html>not a CRL</html>');
    } else if (httpMode === 'forged') {
      res.writeHead(200).end(forgedCrl);
    } else {
      res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(httpMode === 'der' ? der : crlPem);
    }
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/organisations.crl`;
});

afterAll(async () => {
  await new Promise<void>((r) => http.close(() => r()));
  rmSync(tmp, { recursive: true, force: true });
});

function validator(
  extra: Partial<Parameters<typeof createCertificateValidator>[0]> = {},
): CertificateValidator {
  return createCertificateValidator({
    anchors: [rootPem],
    intermediates: [],
    crlSources: [join(dir, 'crl.pem')],
    crlRefreshMinutes: 60,
    logger,
    ...extra,
  });
}

describe('the seven ANS audit cases (file CRL)', () => {
  let v: CertificateValidator;
  beforeAll(async () => {
    v = validator();
    await v.start();
  });
  afterAll(() => v.stop());

  it('valid certificate: ok, with the subject DN in the liste blanche format', () => {
    const res = v.validate(chainOf(`${HOST}.crt`), { purpose: 'serverAuth' });
    expect(res).toMatchObject({
      ok: true,
      subjectDn: `CN=${HOST},OU=1750000002,O=OPERATEUR VALIDATEUR,C=FR`,
      revocation: 'checked',
      dnsNames: [HOST],
    });
    if (res.ok) {
      expect(res.fingerprint).toBe(manifest.entries.find((e) => e.host === HOST)!.fingerprint256);
      expect(normaliseDn(res.subjectDn)).toBe(
        normaliseDn(manifest.entries.find((e) => e.host === HOST)!.listedDn!),
      );
    }
    expect(v.validate(chainOf(`${HOST2}.crt`), { purpose: 'clientAuth' }).ok).toBe(true);
  });

  it('expired certificate: expired', () => {
    const res = v.validate(chainOf('bad/expired.crt'), { purpose: 'serverAuth' });
    expect(res).toMatchObject({ ok: false, reason: 'expired' });
    if (!res.ok) expect(res.message).toMatch(/expired on \d{4}-/);
  });

  it('revoked certificate: revoked (CRL from a file)', () => {
    expect(v.validate(chainOf('bad/revoked.crt'), { purpose: 'clientAuth' })).toMatchObject({
      ok: false,
      reason: 'revoked',
      message: expect.stringContaining(entry('bad-revoked').serial!),
    });
  });

  it('certificate not issued by IGC-Santé: untrusted-issuer (with or without its root in the chain)', () => {
    const chain = chainOf('bad/foreign-ca.crt');
    expect(chain).toHaveLength(2);
    expect(v.validate(chain, { purpose: 'serverAuth' })).toMatchObject({
      ok: false,
      reason: 'untrusted-issuer',
    });
    expect(v.validate(chain.slice(0, 1), { purpose: 'serverAuth' })).toMatchObject({
      ok: false,
      reason: 'untrusted-issuer',
    });
  });

  it('certificate not matching the list / CN differing from the listed DN: chain-valid, DN mismatch for the policy', () => {
    for (const role of ['bad-cn-mismatch', 'bad-dn-mismatch']) {
      const e = entry(role);
      const res = v.validate(chainOf(e.file), { purpose: 'serverAuth' });
      expect(res.ok, role).toBe(true);
      if (res.ok) {
        expect(res.subjectDn).toBe(e.subjectDn);
        expect(normaliseDn(res.subjectDn)).not.toBe(normaliseDn(e.listedDn!));
      }
    }
  });

  it('no certificate (no TLS client certificate): no-certificate', () => {
    expect(v.validate([], { purpose: 'clientAuth' })).toMatchObject({ ok: false, reason: 'no-certificate' });
    expect(v.validate([Buffer.alloc(0)], { purpose: 'clientAuth' })).toMatchObject({
      ok: false,
      reason: 'no-certificate',
    });
  });

  it('wrong usage: a serverAuth-only leaf as client, an application (clientAuth) certificate as server', () => {
    expect(v.validate(chainOf('bad/server-only.crt'), { purpose: 'clientAuth' })).toMatchObject({
      ok: false,
      reason: 'wrong-usage',
    });
    expect(v.validate(chainOf('bad/server-only.crt'), { purpose: 'serverAuth' }).ok).toBe(true);
    expect(v.validate(chainOf('apps/dpi-app.crt'), { purpose: 'serverAuth' })).toMatchObject({
      ok: false,
      reason: 'wrong-usage',
    });
    expect(v.validate(chainOf('apps/dpi-app.crt'), { purpose: 'clientAuth' }).ok).toBe(true);
  });

  it('bad signature and garbage', () => {
    const chain = chainOf(`${HOST}.crt`);
    const der = Buffer.from(chain[0]!);
    der[der.length - 3] = der[der.length - 3]! ^ 0x55;
    expect(v.validate([der, chain[1]!], { purpose: 'serverAuth' })).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
    expect(v.validate([Buffer.from('garbage')], { purpose: 'serverAuth' })).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('messages are one-line ASCII sentences', () => {
    for (const f of ['bad/expired.crt', 'bad/revoked.crt', 'bad/foreign-ca.crt', 'bad/server-only.crt']) {
      const res = v.validate(chainOf(f), { purpose: 'clientAuth' });
      expect(res.ok).toBe(false);
      if (!res.ok) expect(res.message).toMatch(/^[\x20-\x7e]+$/);
    }
  });

  it('checks dates at the injected clock', () => {
    const future = validator({ clock: () => new Date(Date.now() + 5 * 365 * 86_400_000), crlSources: [] });
    expect(future.validate(chainOf(`${HOST}.crt`), { purpose: 'serverAuth' })).toMatchObject({
      ok: false,
      reason: 'expired',
    });
    const past = validator({ clock: () => new Date(Date.now() - 2 * 86_400_000), crlSources: [] });
    expect(past.validate(chainOf(`${HOST}.crt`), { purpose: 'serverAuth' })).toMatchObject({
      ok: false,
      reason: 'not-yet-valid',
    });
  });

  it('completes a leaf-only chain with configured intermediates', () => {
    const leafOnly = chainOf(`${HOST}.crt`).slice(0, 1);
    expect(v.validate(leafOnly, { purpose: 'serverAuth' })).toMatchObject({
      ok: false,
      reason: 'untrusted-issuer',
    });
    const withInter = validator({ intermediates: [read('organisations.crt').toString()] });
    expect(withInter.validate(leafOnly, { purpose: 'serverAuth' })).toMatchObject({
      ok: true,
      revocation: 'no-crl',
    });
  });

  it('reports the CRL status', () => {
    const s = v.status();
    expect(s).toMatchObject({ anchors: 1, intermediates: 0, degraded: false });
    expect(s.crls[0]).toMatchObject({
      loaded: true,
      stale: false,
      revokedCount: 1,
      signature: 'verified',
      lastError: null,
      issuerDn: entry('intermediate').subjectDn,
    });
  });
});

describe('CRLs from a URL', () => {
  it('revoked via the CRL served on 127.0.0.1 (PEM and DER)', async () => {
    for (const mode of ['pem', 'der'] as const) {
      httpMode = mode;
      const v = validator({ crlSources: [httpUrl] });
      await v.start();
      expect(v.status().crls[0]).toMatchObject({ loaded: true, lastError: null, source: httpUrl });
      expect(v.validate(chainOf('bad/revoked.crt'), { purpose: 'serverAuth' })).toMatchObject({
        ok: false,
        reason: 'revoked',
      });
      expect(v.validate(chainOf(`${HOST}.crt`), { purpose: 'serverAuth' }).ok).toBe(true);
      v.stop();
    }
  });

  it('keeps the last good CRL when a refresh fails, and logs a warning', async () => {
    httpMode = 'pem';
    const v = validator({ crlSources: [httpUrl] });
    await v.start();
    // First use verifies the CRL with the intermediate the chain shows; later downloads must match it.
    expect(v.validate(chainOf('bad/revoked.crt'), { purpose: 'serverAuth' })).toMatchObject({
      reason: 'revoked',
    });
    for (const mode of ['fail', 'garbage', 'forged'] as const) {
      httpMode = mode;
      logLines.length = 0;
      await v.refresh();
      const s = v.status();
      expect(s.crls[0]!.loaded, mode).toBe(true);
      expect(s.crls[0]!.lastError, mode).toBeTruthy();
      expect(s.degraded).toBe(true);
      expect(v.validate(chainOf('bad/revoked.crt'), { purpose: 'serverAuth' }), mode).toMatchObject({
        reason: 'revoked',
      });
      const warn = logLines.map((l) => JSON.parse(l)).find((l) => l.level === 40);
      expect(warn, mode).toMatchObject({ crl: httpUrl, keptLastGood: true });
    }
    expect(v.status().crls[0]!.lastError).toMatch(/signature does not verify/);
    httpMode = 'pem';
    await v.refresh();
    expect(v.status()).toMatchObject({ degraded: false });
    v.stop();
  });

  it('refuses at load a CRL that the configured intermediate did not sign', async () => {
    httpMode = 'forged';
    const v = validator({ crlSources: [httpUrl], intermediates: [read('organisations.crt').toString()] });
    await v.start();
    expect(v.status().crls[0]).toMatchObject({
      loaded: false,
      lastError: expect.stringMatching(/signature/),
    });
    expect(v.validate(chainOf(`${HOST}.crt`).slice(0, 1), { purpose: 'serverAuth' })).toMatchObject({
      ok: true,
      revocation: 'no-crl',
    });
    v.stop();
    httpMode = 'pem';
  });

  it('verifies the CRL of an issuer known only from peer chains on first use, and ignores a forged one', async () => {
    httpMode = 'forged';
    const forged = validator({ crlSources: [httpUrl] });
    await forged.start();
    expect(forged.status().crls[0]).toMatchObject({ loaded: true, signature: 'pending' });
    expect(forged.validate(chainOf(`${HOST}.crt`), { purpose: 'serverAuth' })).toMatchObject({
      ok: true,
      revocation: 'no-crl',
    });
    expect(forged.status().crls[0]).toMatchObject({ signature: 'rejected' });
    forged.stop();

    httpMode = 'pem';
    const good = validator({ crlSources: [httpUrl] });
    await good.start();
    expect(good.status().crls[0]).toMatchObject({ signature: 'pending' });
    expect(good.validate(chainOf(`${HOST}.crt`), { purpose: 'serverAuth' })).toMatchObject({
      ok: true,
      revocation: 'checked',
    });
    expect(good.status().crls[0]).toMatchObject({ signature: 'verified' });
    good.stop();
  });

  it('reports a stale CRL (nextUpdate passed) and still uses it', async () => {
    let now = new Date();
    const v = validator({ clock: () => now });
    await v.start();
    now = new Date(Date.now() + 31 * 86_400_000);
    expect(v.status().crls[0]).toMatchObject({ stale: true });
    expect(v.status().degraded).toBe(true);
    expect(v.validate(chainOf(`${HOST}.crt`), { purpose: 'serverAuth' })).toMatchObject({
      ok: true,
      revocation: 'stale-crl',
    });
    expect(v.validate(chainOf('bad/revoked.crt'), { purpose: 'serverAuth' })).toMatchObject({
      reason: 'revoked',
    });
    v.stop();
  });

  it('refreshes every crlRefreshMinutes until stopped', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      httpMode = 'pem';
      const v = validator({ crlSources: [httpUrl], crlRefreshMinutes: 5 });
      await v.start();
      const hits = httpHits;
      vi.advanceTimersByTime(5 * 60_000);
      await vi.waitFor(() => expect(httpHits).toBe(hits + 1), { timeout: 5000 });
      vi.advanceTimersByTime(5 * 60_000);
      await vi.waitFor(() => expect(httpHits).toBe(hits + 2), { timeout: 5000 });
      v.stop();
      vi.advanceTimersByTime(15 * 60_000);
      await new Promise((r) => setTimeout(r, 50));
      expect(httpHits).toBe(hits + 2);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('real TLS handshake (mutual TLS, référentiel #2 suites)', () => {
  type Side = { verdict: Verdict; cipher: string; protocol: string | null };

  async function handshake(
    clientFiles: { cert: string; key: string } | null,
  ): Promise<{ server: Side; client: Side }> {
    const v = validator();
    await v.start();
    let serverSide: Promise<Side>;
    const server = tls.createServer({
      cert: read(`${HOST}.crt`),
      key: read(`${HOST}.key`),
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.2',
      ciphers: CIPHERS,
    });
    serverSide = new Promise<Side>((resolveSide, reject) => {
      server.once('secureConnection', (socket) => {
        resolveSide({
          verdict: v.validate(peerChainFromTls(socket.getPeerCertificate(true)), { purpose: 'clientAuth' }),
          cipher: socket.getCipher().name,
          protocol: socket.getProtocol(),
        });
        socket.end();
      });
      server.once('tlsClientError', reject);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const client = await new Promise<Side>((resolveSide, reject) => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port,
          servername: HOST,
          ...(clientFiles ? { cert: read(clientFiles.cert), key: read(clientFiles.key) } : {}),
          rejectUnauthorized: false,
          minVersion: 'TLSv1.2',
          maxVersion: 'TLSv1.2',
          ciphers: CIPHERS,
        });
        socket.once('secureConnect', () => {
          resolveSide({
            verdict: v.validate(peerChainFromTls(socket.getPeerCertificate(true)), { purpose: 'serverAuth' }),
            cipher: socket.getCipher().name,
            protocol: socket.getProtocol(),
          });
        });
        socket.on('data', () => {});
        socket.once('end', () => socket.end());
        socket.once('error', reject);
      });
      return { server: await serverSide, client };
    } finally {
      v.stop();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }

  it('both sides accept each other’s dev certificates', async () => {
    const { server, client } = await handshake({ cert: `${HOST2}.crt`, key: `${HOST2}.key` });
    expect(server.protocol).toBe('TLSv1.2');
    expect(CIPHERS.split(':')).toContain(server.cipher);
    expect(server.verdict).toMatchObject({
      ok: true,
      subjectDn: `CN=${HOST2},OU=335600000000048,O=OPERATEUR PAIR,C=FR`,
      revocation: 'checked',
    });
    expect(client.verdict).toMatchObject({
      ok: true,
      subjectDn: `CN=${HOST},OU=1750000002,O=OPERATEUR VALIDATEUR,C=FR`,
    });
  });

  it('the server refuses a revoked, a server-only and a missing client certificate', async () => {
    const revoked = await handshake({ cert: 'bad/revoked.crt', key: 'bad/revoked.key' });
    expect(revoked.server.verdict).toMatchObject({ ok: false, reason: 'revoked' });
    expect(revoked.client.verdict.ok).toBe(true);
    const serverOnly = await handshake({ cert: 'bad/server-only.crt', key: 'bad/server-only.key' });
    expect(serverOnly.server.verdict).toMatchObject({ ok: false, reason: 'wrong-usage' });
    const foreign = await handshake({ cert: 'bad/foreign-ca.crt', key: 'bad/foreign-ca.key' });
    expect(foreign.server.verdict).toMatchObject({ ok: false, reason: 'untrusted-issuer' });
    const none = await handshake(null);
    expect(none.server.verdict).toMatchObject({ ok: false, reason: 'no-certificate' });
  });
});
