import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const MIPIH = 'CN=medimail-asip.mipih.fr,OU=318310021300028,O=GIP MIPIH,ST=Haute-Garonne (31),C=FR';
const MIPIH_KEY = 'CN=medimail-asip.mipih.fr,OU=318310021300028,O=gip mipih,ST=haute-garonne (31),C=fr';

/** The real `mssante` command, run from the repository root with the embedded defaults (bundled list). */
const mssante = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli(args, { cwd: ROOT, timeoutMs: 60_000, env: { MSS_CONFIG: '', ...env } });

describe('mssante whitelist check (bundled list of 2025-03-13)', () => {
  it('allows a listed domain with its DN: exit 0 and the reason', async () => {
    const r = await mssante(['whitelist', 'check', 'adsea29.mssante.fr', '--dn', MIPIH]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('adsea29.mssante.fr: listed (1 entry, 1 allowed certificate DN)');
    expect(r.stdout).toContain(`  ${MIPIH_KEY}`);
    expect(r.stdout).toMatch(
      /decision: ALLOWED \(rule listed-dn\): allowed: .* is a listed operator certificate DN for adsea29\.mssante\.fr/,
    );
    expect(r.stdout).toMatch(
      /list: generated 2025-03-13T14:54:10Z, .*6554 entries, config\/listeblanche\/.*checksum verified/,
    );
    // the bundled list is old: said on stderr, not as a log line
    expect(r.stderr).toMatch(/^warning: the liste blanche is stale/m);
  }, 90_000);

  it('matches case-insensitively and whatever the DN order and spacing', async () => {
    const r = await mssante([
      'whitelist',
      'check',
      'UC-CMP.MSSANTE.FR.',
      '--dn',
      'C=FR, ST=Haute-Garonne (31), O=Gip  Mipih, OU=318310021300028, CN=MEDIMAIL-ASIP.mipih.fr',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('uc-cmp.mssante.fr: listed');
    expect(r.stdout).toContain(`  normalised:  ${MIPIH_KEY}`);
  }, 90_000);

  it('exits 0 for a listed domain without --dn, listing every allowed DN', async () => {
    const r = await mssante(['whitelist', 'check', 'crf.mssante.fr']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('crf.mssante.fr: listed (5 entries, 5 allowed certificate DNs)');
    expect(r.stdout).toContain('CN=smtp-1.sante.santnet.com,OU=341459958900028,O=dedalus healthcare france');
    expect(r.stdout).toMatch(/line \d+: CN=smtp-2\.mssante\.adista\.fr,OU=332315971500305,O=ADISTA/);
  }, 90_000);

  it('refuses a domain that is not listed: exit 1 with the reason', async () => {
    const r = await mssante(['whitelist', 'check', 'evil.example.com', '--dn', MIPIH]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('evil.example.com: NOT on the liste blanche');
    expect(r.stdout).toContain('decision: REFUSED (rule domain-not-listed)');
    expect(r.stderr).toContain('mssante: refused: the domain evil.example.com is not on the liste blanche');

    const bare = await mssante(['whitelist', 'check', 'evil.example.com']);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain(
      'mssante: refused: the domain evil.example.com is not on the liste blanche',
    );
  }, 90_000);

  it('refuses a DN that is not one of the domain’s: exit 1 naming the allowed DNs', async () => {
    const r = await mssante([
      'whitelist',
      'check',
      'adsea29.mssante.fr',
      '--dn',
      MIPIH.replace('medimail-asip', 'other-host'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('decision: REFUSED (rule dn-not-listed)');
    expect(r.stderr).toContain(
      `mssante: refused: the certificate DN CN=other-host.mipih.fr,OU=318310021300028,O=gip mipih,ST=haute-garonne (31),C=fr is not among the DNs listed for adsea29.mssante.fr (allowed: ${MIPIH_KEY})`,
    );
  }, 90_000);

  it('refuses a DN that does not parse: exit 1 with the position', async () => {
    const r = await mssante(['whitelist', 'check', 'adsea29.mssante.fr', '--dn', 'CN=a,C N=b']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('mssante: not a distinguished name: bad attribute type "C N" at character 6');
  }, 90_000);

  it('--json gives the whole decision', async () => {
    const ok = await mssante([
      'whitelist',
      'check',
      'ch-cadillac.mssante.fr',
      '--dn',
      'CN=mss.ch-cadillac.fr,OU=1330781295,O=C.H. DE CADILLAC,ST=Gironde (33),C=FR',
      '--json',
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    const doc = JSON.parse(ok.stdout);
    expect(doc).toMatchObject({
      domain: 'ch-cadillac.mssante.fr',
      listed: true,
      allowedDns: ['CN=mss.ch-cadillac.fr,OU=1330781295,O=c.h. de cadillac,ST=gironde (33),C=fr'],
      dnKey: 'CN=mss.ch-cadillac.fr,OU=1330781295,O=c.h. de cadillac,ST=gironde (33),C=fr',
      decision: { allowed: true, rule: 'listed-dn', domain: 'ch-cadillac.mssante.fr' },
      list: {
        generatedAt: '2025-03-13T14:54:10Z',
        entries: 6554,
        domains: 5002,
        dns: 392,
        checksumVerified: true,
        stale: true,
      },
    });
    expect(doc.entries.map((e: { dn: string }) => e.dn)).toEqual([
      'CN=mss.ch-cadillac.fr,OU=1330781295,O="C.H. DE  CADILLAC",ST=Gironde (33),C=FR',
      'CN=mss.ch-cadillac.fr,OU=1330781295,O=C.H. DE  CADILLAC,ST=Gironde (33),C=FR',
    ]);
    expect(ok.stderr).toBe('');

    const refused = await mssante(['whitelist', 'check', 'ch-cadillac.mssante.fr', '--dn', MIPIH, '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).decision).toMatchObject({
      allowed: false,
      rule: 'dn-not-listed',
      dn: MIPIH_KEY,
    });
  }, 90_000);
});

describe('mssante whitelist status', () => {
  it('describes the loaded list', async () => {
    const r = await mssante(['whitelist', 'status', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      source: 'config/listeblanche/listeblanchemssante-2025-03-13.xml',
      checksum: 'config/listeblanche/listeblanchemssante-2025-03-13.xml.sha256',
      sha256: 'ea660e72943a22a92aa569878e9bcd5311bed0ae5f40b4c82a992b1990a0ec59',
      checksumVerified: true,
      generatedAt: '2025-03-13T14:54:10Z',
      entries: 6554,
      domains: 5002,
      dns: 392,
      normalisedDns: 384,
      unparseableDns: [],
      stale: true,
      staleAfterHours: 48,
      refreshMinutes: 60,
      lastError: null,
    });
    const human = await mssante(['whitelist', 'status']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^entries:\s+6554$/m);
    expect(human.stdout).toMatch(/^DNs:\s+392 as written, 384 after normalisation$/m);
  }, 90_000);

  describe('with a list served over HTTP on loopback', () => {
    let server: Server;
    let base: string;
    const list = readFileSync(resolve(ROOT, 'config/listeblanche/listeblanchemssante-2025-03-13.xml'));
    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url === '/lb.xml') res.end(list);
        else if (req.url === '/lb.xml.sha256')
          res.end(`${createHash('sha256').update(list).digest('hex')}  lb.xml\n`);
        else if (req.url === '/bad.sha256') res.end(`${'0'.repeat(64)}\n`);
        else res.writeHead(404).end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });

    it('loads it from the configured URL', async () => {
      const r = await mssante(['whitelist', 'status', '--json'], {
        MSS_TRUST__WHITELIST__SOURCE: `${base}/lb.xml`,
        MSS_TRUST__WHITELIST__CHECKSUM: `${base}/lb.xml.sha256`,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({
        source: `${base}/lb.xml`,
        entries: 6554,
        checksumVerified: true,
      });
    }, 90_000);

    it('fails clearly when the checksum does not match', async () => {
      const r = await mssante(['whitelist', 'check', 'adsea29.mssante.fr'], {
        MSS_TRUST__WHITELIST__SOURCE: `${base}/lb.xml`,
        MSS_TRUST__WHITELIST__CHECKSUM: `${base}/bad.sha256`,
      });
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`mssante: liste blanche: cannot load ${base}/lb.xml: checksum mismatch`);
      expect(r.stderr).toContain(`expected sha256 ${'0'.repeat(64)}`);
    }, 90_000);
  });
});
