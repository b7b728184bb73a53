import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDirectory } from '../../src/annuaire/directory.ts';
import { createAppPasswords } from '../../src/auth/app-passwords.ts';
import { createBalRegistry } from '../../src/bal/registry.ts';
import { luhnKey } from '../../src/domain/identifiers.ts';
import { openStore } from '../../src/store/open.ts';
import { runCli, writeCliConfig } from '../support/cli.ts';
import { seedDirectory } from '../support/directory-seed.ts';

const withKey = (digits: string) => digits + luhnKey(digits);
const rppsIdNat = (n: number) => `8${withKey(String(10000000000 + n).slice(1))}`;

const DOCTOR = rppsIdNat(401);
const NOBODY = rppsIdNat(402);
const DOMAIN = 'ch-auth-cli.mssante.fr';
const PER = `dr.cli@${DOMAIN}`;

// Each spawn costs about a second on a busy machine: allow a minute per test.
describe('mssante auth (real CLI over a SQLite store)', { timeout: 60_000 }, () => {
  let dir: string;
  let config: string;
  const dbPath = () => join(dir, 'mssante.sqlite');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mss-auth-cli-'));
    config = writeCliConfig(dir, [DOMAIN]);
    const store = await openStore({ driver: 'sqlite', path: dbPath() });
    await seedDirectory(store, {
      professionals: [DOCTOR, NOBODY].map((id_nat, i) => ({ id_nat, last_name: `NOM${i}` })),
    });
    const registry = createBalRegistry(store, {
      directory: createDirectory(store, { fhir: null }),
      domains: [DOMAIN],
    });
    await registry.create({ address: PER, type: 'PER', holderIdNat: DOCTOR }, 'test:setup');
    await store.close();
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const mss = (...args: string[]) => runCli(['--config', config, '--actor', 'test:cli', 'auth', ...args]);

  it('issues (human and --json), lists without secrets, verifies, revokes', async () => {
    const human = await mss('app-password', 'issue', '--id-nat', DOCTOR, '--label', 'Thunderbird');
    expect(human.stderr).toBe('');
    expect(human.code).toBe(0);
    const shown = /password: ([a-z2-9]{4}(?:-[a-z2-9]{4}){5})/.exec(human.stdout)?.[1];
    expect(shown).toBeDefined();
    expect(human.stdout).toContain('cannot be shown again');

    const json = await mss('app-password', 'issue', '--bal', PER, '--label', 'phone', '--json');
    // --bal takes APP BALs only: a PER address is refused with its rule
    expect(json.code).toBe(1);
    expect(json.stderr).toContain('auth.app-password.bal-not-app');

    const j = await mss('app-password', 'issue', '--id-nat', DOCTOR, '--label', 'phone', '--json');
    expect(j.code).toBe(0);
    const issued = JSON.parse(j.stdout) as { id: number; password: string; warning: string; idNat: string };
    expect(issued.idNat).toBe(DOCTOR);
    expect(issued.warning).toContain('cannot be shown again');

    const list = await mss('app-password', 'list', '--id-nat', DOCTOR);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('Thunderbird');
    expect(list.stdout).not.toContain(shown!);
    expect(list.stdout).not.toContain('scrypt');
    const listJson = await mss('app-password', 'list', '--id-nat', DOCTOR, '--json');
    const rows = JSON.parse(listJson.stdout) as Record<string, unknown>[];
    expect(rows.map((r) => r['label'])).toEqual(['Thunderbird', 'phone']);
    expect(listJson.stdout).not.toContain(issued.password);
    expect(listJson.stdout).not.toContain('scrypt');
    for (const r of rows) expect(Object.keys(r)).not.toContain('hash');

    // the printed passwords are the real ones
    const store = await openStore({ driver: 'sqlite', path: dbPath() });
    try {
      const passwords = createAppPasswords(store);
      expect(await passwords.verify(PER, shown!)).toMatchObject({ idNat: DOCTOR });
      expect(await passwords.verify(DOCTOR, issued.password)).toMatchObject({ idNat: DOCTOR });
    } finally {
      await store.close();
    }

    const revoke = await mss('app-password', 'revoke', String(issued.id));
    expect(revoke.code).toBe(0);
    expect(revoke.stdout).toContain(`revoked app password ${issued.id}`);
    const again = await mss('app-password', 'revoke', String(issued.id));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already revoked');

    const bals = await mss('bals', PER, '--json');
    expect(bals.code).toBe(0);
    expect(JSON.parse(bals.stdout)).toEqual({
      identity: { kind: 'professional', idNat: DOCTOR },
      bals: [PER],
    });
  });

  it('refuses bad input with exit 1 and the reason', async () => {
    const none = await mss('app-password', 'issue', '--id-nat', NOBODY, '--label', 'x');
    expect(none.code).toBe(1);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('auth.app-password.no-active-bal');

    const bad = await mss('app-password', 'issue', '--id-nat', '810001234568', '--label', 'x');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/Luhn/);

    const noOwner = await mss('app-password', 'list');
    expect(noOwner.code).toBe(1);
    expect(noOwner.stderr).toContain('exactly one of idNat');

    const badId = await mss('app-password', 'revoke', 'abc');
    expect(badId.code).toBe(1);
    expect(badId.stderr).toContain('positive integer');
  });
});
