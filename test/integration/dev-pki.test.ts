import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { ConflictError, ValidationError } from '../../src/domain/errors.ts';
import { buildServSslCsr, writeServSslCsr } from '../../src/trust/pki/csr.ts';
import {
  addDevHost,
  type DevPkiResult,
  generateDevPki,
  readDevPkiManifest,
  renewDevCrl,
} from '../../src/trust/pki/dev-pki.ts';
import { resolvePki, trustMaterial } from '../../src/trust/pki/from-config.ts';
import { parseCertificates } from '../../src/trust/pki/inspect.ts';
import { parseCrl } from '../../src/trust/pki/validator.ts';

const HOST = 'mx.dev-test.mssante.fr';
const HOST2 = 'mx2.other-test.mssante.fr';

function openssl(args: string[], cwd: string) {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 10_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

let tmp: string;
let dir: string;
let res: DevPkiResult;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mss-devpki-'));
  dir = join(tmp, 'dev');
  res = await generateDevPki({
    dir,
    hosts: [
      { host: HOST, structureId: '1750000002', org: 'Opérateur de test', state: 'Paris (75)' },
      { host: HOST2, structureId: '335600000000048', org: 'AUTRE OPERATEUR' },
    ],
    appCerts: [{ name: 'dpi-app', structureId: '1750000002', org: 'Opérateur de test' }],
    withBadSet: true,
  });
  // Timing of a full generation (7 RSA-2048 keys), for the report.
  process.stderr.write(`dev PKI with bad set generated in ${res.durationMs} ms\n`);
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('generateDevPki', () => {
  it('writes the expected files with private keys readable by the owner only', () => {
    const files = [
      'root.crt',
      'organisations.crt',
      'organisations.key',
      `${HOST}.crt`,
      `${HOST}.key`,
      `${HOST2}.crt`,
      `${HOST2}.key`,
      'apps/dpi-app.crt',
      'apps/dpi-app.key',
      'crl.pem',
      'manifest.json',
      'bad/expired.crt',
      'bad/revoked.crt',
      'bad/foreign-ca.crt',
      'bad/foreign-ca-root.crt',
      'bad/cn-mismatch.crt',
      'bad/dn-mismatch.crt',
      'bad/server-only.crt',
    ];
    for (const f of files) expect(existsSync(join(dir, f)), f).toBe(true);
    expect(existsSync(join(dir, 'root.key'))).toBe(false);
    for (const f of files.filter((f) => f.endsWith('.key'))) {
      expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
    }
    expect(res.durationMs).toBeLessThan(20_000);
  });

  it('names every CA as non-production', () => {
    const root = parseCertificates(readFileSync(join(dir, 'root.crt')))[0]!.info;
    const inter = parseCertificates(readFileSync(join(dir, 'organisations.crt')))[0]!.info;
    for (const ca of [root, inter]) {
      expect(ca.subject).toMatch(/^CN=TEST DEV AC .*NON PRODUCTION,/);
      expect(ca.subject).toContain('O=MSSANTE OPERATOR DEV PKI - NOT FOR PRODUCTION');
    }
    expect(inter.subject).toContain('ORGANISATIONS');
  });

  it('describes every file in manifest.json with the right DN, serial and fingerprint', () => {
    const manifest = readDevPkiManifest(dir)!;
    expect(manifest.warning).toMatch(/NOT FOR PRODUCTION/);
    for (const e of manifest.entries.filter((e) => e.role !== 'crl')) {
      const info = parseCertificates(readFileSync(join(dir, e.file)))[0]!.info;
      expect(e.subjectDn, e.file).toBe(info.subject);
      expect(e.issuerDn).toBe(info.issuer);
      expect(e.serial).toBe(info.serial);
      expect(e.fingerprint256).toBe(info.fingerprint256);
      expect(e.notAfter).toBe(info.notAfter.toISOString());
      if (e.key) expect(existsSync(join(dir, e.key))).toBe(true);
    }
    const server = manifest.entries.find((e) => e.host === HOST)!;
    expect(server.subjectDn).toBe(`CN=${HOST},OU=1750000002,O=Opérateur de test,ST=Paris (75),C=FR`);
    expect(server.listedDn).toBe(server.subjectDn);
    const cn = manifest.entries.find((e) => e.role === 'bad-cn-mismatch')!;
    expect(cn.listedDn).not.toBe(cn.subjectDn);
    expect(cn.listedDn!.replace(/^CN=[^,]+/, '')).toBe(cn.subjectDn.replace(/^CN=[^,]+/, ''));
    const dn = manifest.entries.find((e) => e.role === 'bad-dn-mismatch')!;
    expect(dn.listedDn!.split(',')[0]).toBe(dn.subjectDn.split(',')[0]);
    expect(dn.listedDn).not.toBe(dn.subjectDn);
    const crl = manifest.entries.find((e) => e.role === 'crl')!;
    const revoked = manifest.entries.find((e) => e.role === 'bad-revoked')!;
    expect(crl.revokedSerials).toEqual([revoked.serial]);
  });

  it('passes openssl verify for the server and application certificates', () => {
    for (const f of [`${HOST}.crt`, `${HOST2}.crt`, 'apps/dpi-app.crt']) {
      const r = openssl(['verify', '-CAfile', 'root.crt', '-untrusted', 'organisations.crt', f], dir);
      expect(r.out, f).toContain(`${f}: OK`);
      expect(r.code).toBe(0);
    }
    const purpose = openssl(
      [
        'verify',
        '-purpose',
        'sslserver',
        '-CAfile',
        'root.crt',
        '-untrusted',
        'organisations.crt',
        `${HOST}.crt`,
      ],
      dir,
    );
    expect(purpose.code).toBe(0);
  });

  it('makes openssl refuse the bad set for the audit reasons', () => {
    const verify = (f: string, extra: string[] = []) =>
      openssl(['verify', ...extra, '-CAfile', 'root.crt', '-untrusted', 'organisations.crt', f], dir);
    expect(verify('bad/expired.crt').out).toMatch(/certificate has expired/);
    expect(verify('bad/revoked.crt', ['-crl_check', '-CRLfile', 'crl.pem']).out).toMatch(
      /certificate revoked/,
    );
    expect(verify(`${HOST}.crt`, ['-crl_check', '-CRLfile', 'crl.pem']).code).toBe(0);
    expect(verify('bad/foreign-ca.crt').code).not.toBe(0);
    expect(openssl(['verify', '-CAfile', 'bad/foreign-ca-root.crt', 'bad/foreign-ca.crt'], dir).code).toBe(0);
    expect(verify('bad/cn-mismatch.crt').code).toBe(0); // chain-valid: only the DN is wrong
    expect(verify('bad/dn-mismatch.crt').code).toBe(0);
    expect(verify('bad/server-only.crt', ['-purpose', 'sslclient']).code).not.toBe(0);
  });

  it('carries the SERV_SSL extensions (openssl x509 -text)', () => {
    const text = openssl(['x509', '-in', `${HOST}.crt`, '-noout', '-text'], dir).out;
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(
      /X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/,
    );
    expect(text).toMatch(new RegExp(`X509v3 Subject Alternative Name:\\s+DNS:${HOST.replace(/\./g, '\\.')}`));
    expect(text).toMatch(/X509v3 CRL Distribution Points:\s+Full Name:\s+URI:file:\/\/.*\/crl\.pem/);
    expect(text).toMatch(/X509v3 Subject Key Identifier/);
    expect(text).toMatch(/X509v3 Authority Key Identifier/);
    expect(text).toMatch(/Public-Key: \(2048 bit\)/);
    const app = openssl(['x509', '-in', 'apps/dpi-app.crt', '-noout', '-text'], dir).out;
    expect(app).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Client Authentication\n/);
    const inter = openssl(['x509', '-in', 'organisations.crt', '-noout', '-text'], dir).out;
    expect(inter).toMatch(/CA:TRUE, pathlen:0/);
    expect(inter).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
  });

  it('signs a CRL that openssl verifies with the intermediate', () => {
    const r = openssl(['crl', '-in', 'crl.pem', '-noout', '-verify', '-CAfile', 'organisations.crt'], dir);
    expect(r.out).toMatch(/verify OK/);
  });

  it('refuses to overwrite without --force and never writes into a foreign folder', async () => {
    await expect(
      generateDevPki({ dir, hosts: [{ host: HOST, structureId: '1750000002', org: 'X' }] }),
    ).rejects.toThrow(ConflictError);
    const foreign = join(tmp, 'foreign');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'keep.txt'), 'mine');
    await expect(
      generateDevPki({
        dir: foreign,
        hosts: [{ host: HOST, structureId: '1750000002', org: 'X' }],
        force: true,
      }),
    ).rejects.toThrow(/holds no development PKI/);
    expect(readFileSync(join(foreign, 'keep.txt'), 'utf8')).toBe('mine');
  });

  it.each([
    [{ host: 'not a host', structureId: '1750000002', org: 'X' }, 'host.syntax'],
    [{ host: HOST, structureId: '1750000003', org: 'X' }, 'finess.key'],
    [{ host: HOST, structureId: '2750000002', org: 'X' }, 'structure.prefix'],
    [{ host: HOST, structureId: '1750000002', org: '' }, 'org.length'],
  ])('refuses bad host options %j', async (host, rule) => {
    await expect(generateDevPki({ dir: join(tmp, 'never'), hosts: [host] })).rejects.toMatchObject({
      name: 'ValidationError',
      rule,
    });
    expect(existsSync(join(tmp, 'never'))).toBe(false);
  });

  it('refuses keys under 2048 bits', async () => {
    await expect(
      generateDevPki({
        dir: join(tmp, 'never'),
        hosts: [{ host: HOST, structureId: '1750000002', org: 'X' }],
        keyBits: 1024,
      }),
    ).rejects.toThrow(ValidationError);
  });

  it('issues another host with the existing intermediate and re-signs the CRL', async () => {
    const copy = join(tmp, 'maint');
    spawnSync('cp', ['-r', dir, copy]);
    const entry = await addDevHost(copy, {
      host: 'mx3.dev-test.mssante.fr',
      structureId: '1750000002',
      org: 'X',
    });
    expect(
      openssl(['verify', '-CAfile', 'root.crt', '-untrusted', 'organisations.crt', entry.file], copy).code,
    ).toBe(0);
    const later = new Date(Date.now() + 40 * 86_400_000);
    const crlEntry = renewDevCrl(copy, later);
    const crl = parseCrl(readFileSync(join(copy, 'crl.pem')));
    expect(crl.nextUpdate!.toISOString()).toBe(crlEntry.nextUpdate);
    expect([...crl.revoked]).toEqual(crlEntry.revokedSerials);
    expect(readDevPkiManifest(copy)!.entries.some((e) => e.host === 'mx3.dev-test.mssante.fr')).toBe(true);
  });
});

describe('SERV_SSL request (csr)', () => {
  it('writes a key (0600) and a request that openssl verifies', async () => {
    const out = join(tmp, 'csr');
    const r = await writeServSslCsr({
      host: 'MX.Prod.mssante.fr',
      structureId: '1750000002',
      org: 'CENTRE HOSPITALIER DE TEST',
      state: 'Paris (75)',
      outDir: out,
    });
    expect(r.subjectDn).toBe(
      'CN=mx.prod.mssante.fr,OU=1750000002,O=CENTRE HOSPITALIER DE TEST,ST=Paris (75),C=FR',
    );
    expect(statSync(r.keyFile).mode & 0o777).toBe(0o600);
    const v = openssl(['req', '-in', r.csrFile, '-noout', '-verify', '-text', '-nameopt', 'RFC2253'], out);
    expect(v.out).toMatch(/verify OK/);
    expect(v.out).toContain(
      'Subject: CN=mx.prod.mssante.fr,OU=1750000002,O=CENTRE HOSPITALIER DE TEST,ST=Paris (75),C=FR',
    );
    expect(v.out).toMatch(/Subject Alternative Name:\s+DNS:mx\.prod\.mssante\.fr/);
    expect(v.out).toMatch(/Public-Key: \(2048 bit\)/);
    const keyCheck = openssl(['pkey', '-in', r.keyFile, '-noout', '-check'], out);
    expect(keyCheck.out).toMatch(/valid/i);

    await expect(
      writeServSslCsr({ host: 'mx.prod.mssante.fr', structureId: '1750000002', org: 'X', outDir: out }),
    ).rejects.toThrow(/already exists/);
  });

  it.each([
    [{ structureId: '31234' }, 'structure.length'],
    [{ country: 'fr' }, 'country.syntax'],
    [{ bits: 1024 }, 'key.size'],
    [{ host: 'localhost' }, 'host.syntax'],
    [{ org: ' ' }, 'org.length'],
  ])('refuses %j', async (bad, rule) => {
    await expect(
      buildServSslCsr({ host: 'mx.x.mssante.fr', structureId: '1750000002', org: 'X', ...bad }),
    ).rejects.toMatchObject({ rule });
  });
});

describe('resolvePki (from the configuration)', () => {
  const config = (over: (c: Config) => void): Config => {
    const c = loadConfig({ env: {} });
    c.operator.mxHost = 'mx.cfg-test.mssante.fr';
    over(c);
    return c;
  };

  it('generates the dev PKI on first run, then reuses it', async () => {
    const cwd = join(tmp, 'cfg');
    mkdirSync(cwd);
    const c = config(() => {});
    const first = await resolvePki(c, { cwd });
    expect(first.generated).toBe(true);
    expect(first.dev).toBe(true);
    expect(first.certFile).toBe(join(cwd, 'certs/dev/mx.cfg-test.mssante.fr.crt'));
    expect(parseCertificates(first.certPem)[0]!.info.subject).toBe(
      `CN=mx.cfg-test.mssante.fr,OU=${c.operator.structureId},O=${c.operator.name},C=FR`,
    );
    expect(first.anchors).toHaveLength(1);
    expect(first.intermediates).toHaveLength(1);
    expect(first.crlSources).toEqual([join(cwd, 'certs/dev/crl.pem')]);
    const second = await resolvePki(c, { cwd });
    expect(second.generated).toBe(false);
    expect(second.certPem).toBe(first.certPem);
    expect(trustMaterial(c, { cwd }).anchors).toEqual(first.anchors);

    // A changed MX host gets its certificate from the same dev CA.
    const moved = config((x) => {
      x.operator.mxHost = 'mx-new.cfg-test.mssante.fr';
    });
    const third = await resolvePki(moved, { cwd });
    expect(third.generated).toBe(true);
    expect(third.anchors).toEqual(first.anchors);

    // Configured files: the key must match the certificate.
    const files = config((x) => {
      x.trust.tls.certFile = 'certs/dev/mx.cfg-test.mssante.fr.crt';
      x.trust.tls.keyFile = 'certs/dev/mx-new.cfg-test.mssante.fr.key';
    });
    await expect(resolvePki(files, { cwd })).rejects.toThrow(/is not the key of/);
  });

  it('refuses to run without a certificate when autoDevPki is off', async () => {
    const cwd = join(tmp, 'cfg-off');
    mkdirSync(cwd);
    const c = config((x) => {
      x.trust.pki.autoDevPki = false;
    });
    await expect(resolvePki(c, { cwd })).rejects.toThrow(ConfigError);
    await expect(resolvePki(c, { cwd })).rejects.toThrow(/no server certificate/);
    expect(existsSync(join(cwd, 'certs'))).toBe(false);
  });
});
