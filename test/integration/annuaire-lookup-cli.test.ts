import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { luhnKey } from '../../src/domain/identifiers.ts';
import { openStore } from '../../src/store/open.ts';
import { runCli } from '../support/cli.ts';
import { seedDirectory } from '../support/directory-seed.ts';

const rpps = (base10: string) => base10 + luhnKey(base10);
const JEAN = `8${rpps('4000000001')}`;
const ELODIE = `8${rpps('4000000002')}`;
const CH = '75000010' + luhnKey('75000010');

// Each test spawns the real command several times (about 1.5 s each through tsx).
describe('mssante annuaire search|show|structure|status', { timeout: 60_000 }, () => {
  let dataDir: string;
  let configFile: string;
  const cli = (...args: string[]) =>
    runCli(['--config', configFile, 'annuaire', ...args], { env: { MSS_LOG__LEVEL: 'warn' } });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mss-annuaire-cli-'));
    configFile = join(dataDir, 'config.yaml');
    writeFileSync(configFile, `dataDir: ${JSON.stringify(dataDir)}\n`);
    // The same SQLite file the command opens (store.sqlite.path is relative to dataDir).
    const store = await openStore({ driver: 'sqlite', path: join(dataDir, 'mssante.sqlite') });
    try {
      await seedDirectory(store, {
        professionals: [
          { id_nat: JEAN, pp_id_type: '8', pp_id: JEAN.slice(1), last_name: 'DUPONT', first_name: 'Jean' },
          {
            id_nat: ELODIE,
            pp_id_type: '8',
            pp_id: ELODIE.slice(1),
            last_name: 'LEFÈVRE',
            first_name: 'Élodie',
          },
        ],
        activities: [
          {
            id_nat: JEAN,
            profession_label: 'Médecin',
            finess_site: CH,
            org_name: 'CH DE TEST',
            mode_label: 'Salarié',
          },
        ],
        mailboxes: [
          {
            address: 'jean.dupont@ch-test.mssante.fr',
            bal_type: 'PER',
            id_nat: JEAN,
            last_name: 'DUPONT',
            first_name: 'Jean',
            structure_id: CH,
            structure_id_type: '1',
          },
          {
            address: 'elodie.lefevre@pharma.mssante.fr',
            bal_type: 'PER',
            id_nat: ELODIE,
            last_name: 'LEFÈVRE',
            first_name: 'Élodie',
          },
          {
            address: 'accueil@ch-test.mssante.fr',
            bal_type: 'ORG',
            structure_id: `1${CH}`,
            org_name: 'CH DE TEST',
            service: 'Accueil',
          },
        ],
      });
    } finally {
      await store.close();
    }
  });
  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('search --json prints one JSON document with the matches', async () => {
    const r = await cli('search', 'dupont', 'j', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as {
      professionals: { idNat: string; mailboxes: { address: string }[] }[];
      mailboxes: { address: string }[];
    };
    expect(body.professionals.map((p) => p.idNat)).toEqual([JEAN]);
    expect(body.professionals[0]!.mailboxes.map((m) => m.address)).toEqual([
      'jean.dupont@ch-test.mssante.fr',
    ]);
    expect(body.mailboxes.map((m) => m.address)).toEqual(['jean.dupont@ch-test.mssante.fr']);

    const accents = JSON.parse((await cli('search', 'lefevre', '--json')).stdout) as {
      professionals: { idNat: string }[];
    };
    expect(accents.professionals.map((p) => p.idNat)).toEqual([ELODIE]);
  });

  it('search prints readable tables, and refuses a bad --limit saying why', async () => {
    const r = await cli('search', 'Élodie');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Professionals \(1\)\nidNat\s+name\s+profession/);
    expect(r.stdout).toContain('elodie.lefevre@pharma.mssante.fr');
    const bad = await cli('search', 'dupont', '--limit', '0');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/limit must be a whole number from 1 to 200/);
  });

  it('show prints a professional with activities and BALs, or a BAL', async () => {
    const p = await cli('show', JEAN, '--json');
    expect(p.code).toBe(0);
    expect(JSON.parse(p.stdout)).toMatchObject({
      idNat: JEAN,
      activities: [{ professionLabel: 'Médecin', structureId: `1${CH}` }],
      mailboxes: [{ address: 'jean.dupont@ch-test.mssante.fr' }],
      source: 'local',
    });
    const human = await cli('show', JEAN);
    expect(human.stdout).toContain(`Jean DUPONT  idNat ${JEAN} (RPPS ${JEAN.slice(1)})`);
    expect(human.stdout).toMatch(/Activities \(1\)\nprofession\s+mode\s+structure/);
    expect(human.stdout).toMatch(/Médecin\s+Salarié\s+1\d{9}\s+CH DE TEST/);
    const m = await cli('show', 'Accueil@CH-Test.mssante.fr');
    expect(m.code).toBe(0);
    expect(m.stdout).toMatch(/^address:\s+accueil@ch-test\.mssante\.fr$/m);
    expect(m.stdout).toMatch(/^service:\s+Accueil$/m);
  });

  it('show exits 1 with the reason for an unknown or malformed key', async () => {
    const unknown = await cli('show', `8${rpps('4000000009')}`);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no professional with idNat 8\d{11} in the directory/);
    const malformed = await cli('show', '81000');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/idNat starting with '8' must be 12 characters/);
    const noBal = await cli('show', 'nobody@ch-test.mssante.fr', '--json');
    expect(noBal.code).toBe(1);
    expect(noBal.stdout).toBe('');
    expect(noBal.stderr).toMatch(/no BAL nobody@ch-test\.mssante\.fr in the directory/);
  });

  it('structure lists the BALs of a structure; status shows the current snapshots', async () => {
    const s = await cli('structure', `1${CH}`, '--json');
    expect(s.code).toBe(0);
    expect(
      (JSON.parse(s.stdout) as { mailboxes: { address: string }[] }).mailboxes.map((m) => m.address),
    ).toEqual(['accueil@ch-test.mssante.fr', 'jean.dupont@ch-test.mssante.fr']);
    const none = await cli('structure', `1${'13000040'}${luhnKey('13000040')}`);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no BAL attached to structure/);
    const st = await cli('status');
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/mss \(BALs\)\s+\d+\s+seed-mss/);
    expect(st.stdout).toMatch(/ps \(professionals\)\s+\d+\s+seed-ps/);
    const json = JSON.parse((await cli('status', '--json')).stdout) as { snapshots: { kind: string }[] };
    expect(json.snapshots.map((x) => x.kind)).toEqual(['mss', 'ps']);
  });
});
