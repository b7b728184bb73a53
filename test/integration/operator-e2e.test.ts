import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli, stopChild } from '../support/cli.ts';
import { finessFor, idNatFor, writeMssExtract, writePsExtract } from '../support/extracts.ts';
import { dropSchema, TEST_POSTGRES_URL, uniqueSchema } from '../support/stores.ts';

/*
 * A new operator's first hour, through the real command and the real HTTP API: start the
 * server, import the national extracts while it runs, open BALs from the CLI and the API,
 * look professionals up, and get clear refusals for what is wrong.
 */

const DOMAIN = 'ch-essai.mssante.fr';
const BANNER = /admin API:\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/;

function scenario(name: string, storeEnv: () => NodeJS.ProcessEnv) {
  describe(name, () => {
    it('imports the extracts, opens BALs from the CLI and the API, and looks them up', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mss-e2e-'));
      const env: NodeJS.ProcessEnv = {
        MSS_DATA_DIR: join(dir, 'data'),
        MSS_ADMIN__PORT: '0',
        MSS_SMTP__MX__PORT: '0',
        MSS_SMTP__MX__HOST: '127.0.0.1',
        MSS_TRUST__PKI__DEV_DIR: join(dir, 'pki'),
        MSS_OPERATOR__DOMAINS: DOMAIN,
        MSS_LOG__LEVEL: 'warn',
        ...storeEnv(),
      };
      const ps = join(dir, 'PS_LibreAcces.zip');
      const mss = join(dir, 'Extraction_Correspondance_MSSante.txt');
      await writePsExtract(ps, 40, { zip: true, crlf: true });
      await writeMssExtract(mss, 40);

      const op = await startCli(['start'], BANNER, { env, timeoutMs: 60_000 });
      const url = op.match[1]!;
      const token = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
      const api = (path: string, init: RequestInit = {}) =>
        fetch(`${url}/api/v1${path}`, {
          ...init,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers },
        });
      try {
        // The extracts are imported by the CLI while the server runs on the same store.
        const psImport = await runCli(['annuaire', 'import', ps, '--json'], { env });
        expect(psImport.code, psImport.stderr).toBe(0);
        expect(JSON.parse(psImport.stdout)).toMatchObject({ kind: 'ps', rowsRead: 40, rowsRejected: 0 });
        const mssImport = await runCli(['annuaire', 'import', mss, '--json'], { env });
        expect(mssImport.code, mssImport.stderr).toBe(0);
        expect(JSON.parse(mssImport.stdout)).toMatchObject({ kind: 'mss', rowsRead: 40 });

        // The running server sees the new snapshot at once.
        const holder = idNatFor(1);
        const pro = await api(`/annuaire/professionals/${holder}`);
        expect(pro.status).toBe(200);
        const proBody = (await pro.json()) as { lastName: string; firstName: string };
        const search = await api(`/annuaire/search?q=${encodeURIComponent(proBody.lastName.slice(0, 4))}`);
        expect(search.status).toBe(200);
        const found = (await search.json()) as { professionals: { idNat: string }[] };
        expect(found.professionals.map((p) => p.idNat)).toContain(holder);

        // A PER BAL over the API, for a professional of the directory.
        const per = await api('/bals', {
          method: 'POST',
          body: JSON.stringify({ type: 'PER', address: `Jean.Essai@${DOMAIN}`, holderIdNat: holder }),
        });
        expect(per.status, await per.clone().text()).toBe(201);
        expect(await per.json()).toMatchObject({ address: `jean.essai@${DOMAIN}`, status: 'active' });

        // An ORG BAL from the CLI, with a member.
        const org = await runCli(
          [
            '--actor',
            'cli:admin-essai',
            'bal',
            'create',
            '--type',
            'ORG',
            '--address',
            `secretariat@${DOMAIN}`,
            '--structure',
            `1${finessFor(3)}`,
            '--responsible',
            holder,
            '--member',
            idNatFor(2),
            '--service',
            'Cardiologie',
            '--json',
          ],
          { env },
        );
        expect(org.code, org.stderr).toBe(0);

        // Both are seen by both interfaces.
        const list = (await (await api('/bals')).json()) as { items: { address: string }[] };
        expect(list.items.map((b) => b.address).sort()).toEqual([
          `jean.essai@${DOMAIN}`,
          `secretariat@${DOMAIN}`,
        ]);
        const cliList = await runCli(['bal', 'list', '--json'], { env });
        expect(cliList.code).toBe(0);
        expect(cliList.stdout).toContain(`jean.essai@${DOMAIN}`);

        // Refusals say why.
        const unknownHolder = await api('/bals', {
          method: 'POST',
          body: JSON.stringify({ type: 'PER', address: `x@${DOMAIN}`, holderIdNat: idNatFor(99_999) }),
        });
        expect(unknownHolder.status).toBe(400);
        expect(await unknownHolder.json()).toMatchObject({ rule: 'holder.unknown' });
        const otherDomain = await runCli(
          ['bal', 'create', '--type', 'PER', '--address', 'x@ailleurs.mssante.fr', '--holder', holder],
          { env },
        );
        expect(otherDomain.code).toBe(1);
        expect(otherDomain.stderr).toMatch(/ailleurs\.mssante\.fr/);

        // Closed from the CLI: the address is never given again.
        const close = await runCli(['bal', 'close', `jean.essai@${DOMAIN}`, '--reason', 'départ'], { env });
        expect(close.code, close.stderr).toBe(0);
        const again = await api('/bals', {
          method: 'POST',
          body: JSON.stringify({ type: 'PER', address: `jean.essai@${DOMAIN}`, holderIdNat: idNatFor(2) }),
        });
        expect(again.status).toBe(409);

        // The audit trail names who did what, from both interfaces.
        const history = (await (
          await api(`/bals/${encodeURIComponent(`jean.essai@${DOMAIN}`)}/history`)
        ).json()) as {
          items: { action: string; actor: string }[];
        };
        expect(history.items.map((h) => h.action)).toEqual(['bal.close', 'bal.create']);
        expect(history.items[1]!.actor).toMatch(/^api:/);
        expect(history.items[0]!.actor).toMatch(/^cli:/);
      } finally {
        expect(await stopChild(op.child)).toBe(0);
      }
    }, 180_000);
  });
}

scenario('operator end to end (embedded SQLite)', () => ({}));

const schema = uniqueSchema('e2e');
if (TEST_POSTGRES_URL) {
  scenario('operator end to end (PostgreSQL)', () => ({
    MSS_STORE__DRIVER: 'postgres',
    MSS_STORE__POSTGRES__URL: TEST_POSTGRES_URL,
    MSS_STORE__POSTGRES__SCHEMA: schema,
  }));
  afterAll(() => dropSchema(TEST_POSTGRES_URL, schema));
} else {
  describe.skip('operator end to end (PostgreSQL) — skipped: set MSS_TEST_POSTGRES_URL to run', () => {
    it('runs the same scenario on PostgreSQL', () => {});
  });
}
