import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bal } from '../../src/bal/model.ts';
import { formatDetails, pairCertificates } from '../../src/cli/bal.ts';
import { luhnKey } from '../../src/domain/identifiers.ts';
import type { AuditRecord } from '../../src/store/audit.ts';
import { openStore } from '../../src/store/open.ts';
import { type CliResult, runCli, writeCliConfig } from '../support/cli.ts';
import { seedDirectory } from '../support/directory-seed.ts';

const withKey = (digits: string) => digits + luhnKey(digits);
const rppsIdNat = (n: number) => `8${withKey(String(10000000000 + n).slice(1))}`;

const HOLDER = rppsIdNat(201);
const RESPONSIBLE = rppsIdNat(202);
const MEMBER1 = rppsIdNat(203);
const MEMBER2 = rppsIdNat(204);
const UNKNOWN = rppsIdNat(999);
const FINESS_ID = `1${withKey('75000001')}`;
const DOMAIN = 'ch-cli.mssante.fr';
const FP = 'ef'.repeat(32);
const at = (local: string) => `${local}@${DOMAIN}`;

// Each spawn costs about a second on a busy machine: allow a minute per test.
describe('mssante bal (real CLI over a SQLite store)', { timeout: 60_000 }, () => {
  let dir: string;
  let config: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mss-bal-cli-'));
    config = writeCliConfig(dir, [DOMAIN]);
    // The CLI opens <dataDir>/mssante.sqlite (the default store path): seed its directory first.
    const store = await openStore({ driver: 'sqlite', path: join(dir, 'mssante.sqlite') });
    await seedDirectory(store, {
      professionals: [HOLDER, RESPONSIBLE, MEMBER1, MEMBER2].map((id_nat, i) => ({
        id_nat,
        last_name: `NOM${i}`,
        first_name: `Prénom${i}`,
      })),
    });
    await store.close();
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const mss = (...args: string[]) => runCli(['--config', config, '--actor', 'test:cli', 'bal', ...args]);
  /** Runs a --json command that must succeed; returns its parsed output. */
  async function json<T = Bal>(...args: string[]): Promise<T> {
    const r = await mss(...args, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as T;
  }
  function refused(r: CliResult, code = 1): string {
    expect(r.code).toBe(code);
    expect(r.stdout).toBe('');
    return r.stderr;
  }

  it('creates PER, ORG and APP BALs (--json and human output)', async () => {
    const per = await json(
      'create',
      '--type',
      'PER',
      '--address',
      'Jean.Martin@CH-CLI.mssante.fr',
      '--holder',
      HOLDER,
      '--display-name',
      'Jean Martin',
      '--preferred-rank',
      '1',
      '--digitization',
    );
    expect(per).toMatchObject({
      address: at('jean.martin'),
      type: 'PER',
      status: 'active',
      holderIdNat: HOLDER,
      displayName: 'Jean Martin',
      preferredRank: 1,
      digitization: true,
      listeRouge: false,
    });

    const human = await mss(
      'create',
      '--type',
      'CAB',
      '--address',
      at('cabinet'),
      '--holder',
      HOLDER,
      '--liste-rouge',
    );
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^created CAB BAL cabinet@ch-cli\.mssante\.fr\n/);
    expect(human.stdout).toMatch(/holder\s+8\d{11}/);
    expect(human.stdout).toMatch(/liste rouge\s+yes/);

    const org = await json(
      'create',
      '--type',
      'ORG',
      '--address',
      at('cardio'),
      '--structure',
      FINESS_ID,
      '--responsible',
      RESPONSIBLE,
      '--member',
      MEMBER2,
      '--member',
      MEMBER1,
      '--service',
      'Cardiologie',
    );
    expect(org).toMatchObject({
      type: 'ORG',
      structureId: FINESS_ID,
      members: [MEMBER1, MEMBER2].sort(),
      service: 'Cardiologie',
    });

    const app = await json(
      'create',
      '--type',
      'APP',
      '--address',
      at('dpi'),
      '--structure',
      FINESS_ID,
      '--responsible',
      RESPONSIBLE,
      '--cert-dn',
      'cn = dpi.ch-cli.fr, o = CH CLI, c=FR',
      '--cert-fingerprint',
      FP.toUpperCase().match(/../g)!.join(':'),
      '--cert-dn',
      'CN=backup.ch-cli.fr',
    );
    expect(app.certificates).toEqual([
      { subjectDn: 'CN=dpi.ch-cli.fr,O=CH CLI,C=FR', fingerprintSha256: FP },
      { subjectDn: 'CN=backup.ch-cli.fr', fingerprintSha256: null },
    ]);
  });

  it('lists with filters and shows one BAL with its members and certificates', async () => {
    const all = await json<Bal[]>('list');
    expect(all.map((b) => b.address)).toEqual([at('cabinet'), at('cardio'), at('dpi'), at('jean.martin')]);
    const byMember = await json<Bal[]>('list', '--member', MEMBER1);
    expect(byMember.map((b) => b.address)).toEqual([at('cardio')]);

    const table = await mss('list', '--type', 'PER');
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ADDRESS\s+TYPE\s+STATUS\s+HOLDER\/RESPONSIBLE\s+STRUCTURE\s+RANK/);
    expect(lines[1]).toMatch(new RegExp(`^${at('jean.martin')}\\s+PER\\s+active\\s+${HOLDER}\\s+1`));
    expect(lines.at(-1)).toBe('(1 BAL)');

    const org = await mss('show', at('cardio'));
    expect(org.code).toBe(0);
    expect(org.stdout).toContain('members (2):');
    expect(org.stdout).toContain(`  ${MEMBER1}`);
    expect(org.stdout).toMatch(/responsible\s+8\d{11}/);
    const app = await mss('show', at('DPI'));
    expect(app.stdout).toContain('certificates (2):');
    expect(app.stdout).toMatch(new RegExp(`CN=dpi\\.ch-cli\\.fr,O=CH CLI,C=FR\\s+${FP}`));
  });

  it('updates metadata, flags and certificates', async () => {
    const u = await json(
      'update',
      at('jean.martin'),
      '--description',
      'Cardiologue',
      '--liste-rouge',
      '--phone',
      '01 23 45 67 89',
    );
    expect(u).toMatchObject({
      description: 'Cardiologue',
      listeRouge: true,
      phone: '01 23 45 67 89',
      preferredRank: 1,
    });
    const human = await mss(
      'update',
      at('jean.martin'),
      '--no-liste-rouge',
      '--no-preferred-rank',
      '--description',
      '',
    );
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^updated BAL jean\.martin@ch-cli\.mssante\.fr/);
    expect(human.stdout).toMatch(/liste rouge\s+no/);
    expect(human.stdout).not.toContain('Cardiologue');
    const cleared = await json('update', at('dpi'), '--clear-certs');
    expect(cleared.certificates).toEqual([]);
  });

  it('adds and removes members', async () => {
    const removed = await json('member', 'remove', at('cardio'), MEMBER2);
    expect(removed.members).toEqual([MEMBER1]);
    const added = await mss('member', 'add', at('cardio'), MEMBER2);
    expect(added.code).toBe(0);
    expect(added.stdout.trim()).toBe(`added ${MEMBER2} to ${at('cardio')} (2 member(s))`);
  });

  it('suspends, reactivates and closes; history shows who did what', async () => {
    const s = await mss('suspend', at('jean.martin'), '--reason', 'congé');
    expect(s.code).toBe(0);
    expect(s.stdout.trim()).toBe(`suspended BAL ${at('jean.martin')} (congé)`);
    expect((await json('reactivate', at('jean.martin'))).status).toBe('active');
    const c = await json('close', at('jean.martin'), '--reason', 'départ');
    expect(c).toMatchObject({ status: 'closed', statusReason: 'départ' });
    expect(c.closedAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);

    const history = await json<AuditRecord[]>('history', at('jean.martin'));
    expect(history.map((h) => h.action)).toEqual([
      'bal.close',
      'bal.reactivate',
      'bal.suspend',
      'bal.update',
      'bal.update',
      'bal.create',
    ]);
    expect(new Set(history.map((h) => h.actor))).toEqual(new Set(['test:cli']));
    expect(history[0]!.details).toEqual({ from: 'active', to: 'closed', reason: 'départ' });
    const human = await mss('history', at('cardio'));
    expect(human.stdout).toMatch(/^AT\s+ACTOR\s+ACTION\s+DETAILS/);
    expect(human.stdout).toMatch(/test:cli\s+bal\.member\.add\s+idNat=8\d{11}\n/);
    expect(human.stdout).toMatch(
      /test:cli\s+bal\.create\s+type=ORG status=active structureId=1\d{9} .*members=\[/,
    );
  });

  it('refuses bad creates with exit code 1 and the reason on stderr', async () => {
    expect(refused(await mss('create', '--type', 'PER', '--address', at('x'), '--holder', UNKNOWN))).toMatch(
      new RegExp(`holderIdNat ${UNKNOWN} is not known to the directory`),
    );
    expect(
      refused(await mss('create', '--type', 'PER', '--address', 'x@elsewhere.fr', '--holder', HOLDER)),
    ).toContain(`is not served here (served domains: ${DOMAIN})`);
    expect(
      refused(await mss('create', '--type', 'PER', '--address', at('jean.martin'), '--holder', MEMBER1)),
    ).toMatch(/address jean\.martin@ch-cli\.mssante\.fr was closed on \S+ and is never reassigned/);
    expect(
      refused(
        await mss('create', '--type', 'PER', '--address', at('y'), '--holder', HOLDER, '--member', MEMBER1),
      ),
    ).toContain('members does not apply to a PER BAL');
  });

  it('refuses bad updates, unknown BALs and forbidden transitions (exit 1); usage errors exit 2', async () => {
    expect(refused(await mss('update', at('cardio'), '--type', 'PER'))).toContain(
      'type cannot be changed after creation',
    );
    expect(refused(await mss('update', at('cardio')))).toContain('nothing to update');
    expect(refused(await mss('update', at('cardio'), '--preferred-rank', 'first'))).toContain(
      'preferredRank must be an integer',
    );
    expect(refused(await mss('show', at('nobody')))).toContain(`no BAL at address ${at('nobody')}`);
    expect(refused(await mss('reactivate', at('jean.martin')))).toMatch(
      /cannot reactivate .* closed BAL is final/,
    );
    // a missing required flag is a usage error (exit code 2), reported by commander
    expect(refused(await mss('suspend', at('cardio')), 2)).toContain(
      "required option '--reason <text>' not specified",
    );
    // nothing of the refused commands was written
    const all = await json<Bal[]>('list', '--status', 'active');
    expect(all.map((b) => b.address)).toEqual([at('cabinet'), at('cardio'), at('dpi')]);
  });
});

describe('bal CLI helpers', () => {
  it('pairs --cert-dn and --cert-fingerprint in order; extra ones stand alone', () => {
    expect(pairCertificates(['CN=a', 'CN=b'], ['f1'])).toEqual([
      { subjectDn: 'CN=a', fingerprintSha256: 'f1' },
      { subjectDn: 'CN=b' },
    ]);
    expect(pairCertificates([], ['f1', 'f2'])).toEqual([
      { fingerprintSha256: 'f1' },
      { fingerprintSha256: 'f2' },
    ]);
  });

  it('summarises audit details on one line', () => {
    expect(
      formatDetails({
        changes: { preferredRank: { before: 1, after: null }, description: { before: null, after: 'x y' } },
        cause: 'preferred rank 1 given to b@x.fr',
      }),
    ).toBe('preferredRank: 1 → null; description: null → x y; (preferred rank 1 given to b@x.fr)');
    expect(formatDetails({ from: 'active', to: 'closed', reason: 'départ' })).toBe(
      'from=active to=closed reason=départ',
    );
    expect(
      formatDetails({
        bal: { address: 'a@x.fr', type: 'PER', holderIdNat: '8', listeRouge: false, members: [] },
      }),
    ).toBe('type=PER holderIdNat=8');
  });
});
