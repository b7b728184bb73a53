import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDevPki } from '../../src/trust/pki/dev-pki.ts';
import { runCli } from '../support/cli.ts';

const HOST = 'mx.cli-test.mssante.fr';
let tmp: string;
let dev: string;

/** Runs `mssante` in the temp dir (so the default trust.pki.devDir is <tmp>/certs/dev). */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCli(args, { cwd: tmp, env: { MSS_CONFIG: '', ...env }, timeoutMs: 30_000 });

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mss-certs-cli-'));
  dev = join(tmp, 'certs', 'dev');
  const r = await cli([
    'certs',
    'dev-pki',
    '--host',
    HOST,
    '--structure-id',
    '1750000002',
    '--org',
    'CLI TEST',
    '--app',
    'dpi',
    '--with-bad-set',
    '--json',
  ]);
  if (r.code !== 0) throw new Error(`dev-pki failed (${r.code}): ${r.stderr}`);
  writeFileSync(join(tmp, 'dev-pki.json'), r.stdout);
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('mssante certs dev-pki', () => {
  it('writes the PKI into the configured devDir and prints the manifest', () => {
    const manifest = JSON.parse(readFileSync(join(tmp, 'dev-pki.json'), 'utf8'));
    expect(manifest.warning).toMatch(/NOT FOR PRODUCTION/);
    const roles = manifest.entries.map((e: { role: string }) => e.role);
    expect(roles).toEqual(
      expect.arrayContaining(['root', 'intermediate', 'server', 'app', 'crl', 'bad-revoked']),
    );
    expect(manifest.entries.find((e: { role: string }) => e.role === 'server').subjectDn).toBe(
      `CN=${HOST},OU=1750000002,O=CLI TEST,C=FR`,
    );
    for (const f of ['root.crt', `${HOST}.crt`, 'apps/dpi.crt', 'bad/expired.crt', 'crl.pem']) {
      expect(existsSync(join(dev, f)), f).toBe(true);
    }
    expect(statSync(join(dev, `${HOST}.key`)).mode & 0o777).toBe(0o600);
  });

  it('refuses to replace an existing PKI without --force, and unpaired options', async () => {
    const [again, mismatch] = await Promise.all([
      cli(['certs', 'dev-pki', '--host', HOST]),
      cli([
        'certs',
        'dev-pki',
        '--dir',
        join(tmp, 'y'),
        '--structure-id',
        '1750000002',
        '--structure-id',
        '1750000002',
      ]),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists .*--force/);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toMatch(/at most once per --host/);
    expect(existsSync(join(tmp, 'y'))).toBe(false);
  });

  it('replaces a PKI with --force', async () => {
    const other = join(tmp, 'forced');
    await generateDevPki({ dir: other, hosts: [{ host: HOST, structureId: '1750000002', org: 'OLD' }] });
    const rootA = readFileSync(join(other, 'root.crt'), 'utf8');
    const r = await cli([
      'certs',
      'dev-pki',
      '--dir',
      other,
      '--host',
      HOST,
      '--structure-id',
      '1750000002',
      '--force',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/NOT FOR PRODUCTION/);
    expect(readFileSync(join(other, 'root.crt'), 'utf8')).not.toBe(rootA);
  });
});

describe('mssante certs inspect', () => {
  it('shows the certificate and its chain status against the dev PKI of the configuration', async () => {
    const [human, revoked] = await Promise.all([
      cli(['certs', 'inspect', join(dev, `${HOST}.crt`)]),
      cli(['certs', 'inspect', join(dev, 'bad/revoked.crt'), '--json', '--check']),
    ]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`subject:        CN=${HOST},OU=1750000002,O=CLI TEST,C=FR`);
    expect(human.stdout).toMatch(/ext key usage:\s+serverAuth, clientAuth/);
    expect(human.stdout).toMatch(/alt names:\s+DNS:mx\.cli-test\.mssante\.fr/);
    expect(human.stdout).toMatch(
      /chain \(serverAuth, anchors: development PKI .*\): ok - .*revocation: checked/,
    );

    // --check: the JSON is printed, then exit 1 with the reason.
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toMatch(/chain status revoked/);
    const doc = JSON.parse(revoked.stdout);
    expect(doc.certificates).toHaveLength(2);
    expect(doc.certificates[0]).toMatchObject({
      subject: expect.stringMatching(/^CN=cert-revoque-audit\./),
      extKeyUsage: ['serverAuth', 'clientAuth'],
      ca: false,
    });
    expect(doc.certificates[0].fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(doc.chain).toMatchObject({ status: 'revoked', purpose: 'serverAuth' });
  });

  it('refuses a missing file', async () => {
    const missing = await cli(['certs', 'inspect', join(tmp, 'nope.crt')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read/);
  });
});

describe('mssante certs csr', () => {
  it('writes a key and a request, then refuses to overwrite them', async () => {
    const out = join(tmp, 'order');
    const args = ['certs', 'csr', '--host', 'mx.prod-test.mssante.fr', '--structure-id', '335600000000048'];
    const r = await cli([
      ...args,
      '--org',
      'HOPITAL PROD',
      '--state',
      'Paris (75)',
      '--out-dir',
      out,
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      subject: 'CN=mx.prod-test.mssante.fr,OU=335600000000048,O=HOPITAL PROD,ST=Paris (75),C=FR',
      keyFile: join(out, 'mx.prod-test.mssante.fr.key'),
      csrFile: join(out, 'mx.prod-test.mssante.fr.csr'),
    });
    expect(statSync(join(out, 'mx.prod-test.mssante.fr.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(out, 'mx.prod-test.mssante.fr.csr'), 'utf8')).toMatch(
      /^-----BEGIN CERTIFICATE REQUEST-----/,
    );

    const [again, badId, noOrg] = await Promise.all([
      cli([...args, '--org', 'HOPITAL PROD', '--out-dir', out]),
      cli([
        'certs',
        'csr',
        '--host',
        'mx.a.mssante.fr',
        '--structure-id',
        '3123',
        '--org',
        'X',
        '--out-dir',
        out,
      ]),
      cli(['certs', 'csr', '--host', 'mx.a.mssante.fr', '--out-dir', out]),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists; refusing to overwrite/);
    expect(badId.code).toBe(1);
    expect(badId.stderr).toMatch(/structure id/);
    expect(noOrg.code).toBe(2);
    expect(noOrg.stderr).toMatch(/--org/);
    expect(existsSync(join(out, 'mx.a.mssante.fr.key'))).toBe(false);
  });
});
