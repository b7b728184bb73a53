import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { annuaireRoutes } from '../../src/admin/routes/annuaire.ts';
import { createAdminServer } from '../../src/admin/server.ts';
import { createDirectory } from '../../src/annuaire/directory.ts';
import { createFhirClient } from '../../src/annuaire/fhir/client.ts';
import { luhnKey } from '../../src/domain/identifiers.ts';
import { createLogger } from '../../src/logger.ts';
import type { Store } from '../../src/store/open.ts';
import { seedDirectory } from '../support/directory-seed.ts';
import { type FhirSimulator, startFhirSimulator } from '../support/fhir-simulator.ts';
import { describeEachStore } from '../support/stores.ts';

const TOKEN = 'admin-token-for-tests-0123456789';
const rpps = (base10: string) => base10 + luhnKey(base10);
const JEAN = `8${rpps('3000000001')}`;
const UNKNOWN = `8${rpps('3000000002')}`;
const CH = '75000010' + luhnKey('75000010');

describeEachStore('admin API: annuaire routes', (kind) => {
  let store: Store;
  let app: FastifyInstance;
  let base: string;
  let sim: FhirSimulator;

  const get = (path: string, token: string | null = TOKEN) =>
    fetch(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  beforeAll(async () => {
    store = await kind.open();
    await seedDirectory(store, {
      professionals: [
        { id_nat: JEAN, pp_id_type: '8', pp_id: JEAN.slice(1), last_name: 'DUPONT', first_name: 'Jean' },
      ],
      activities: [{ id_nat: JEAN, profession_label: 'Médecin', finess_site: CH, org_name: 'CH DE TEST' }],
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
          address: 'accueil@ch-test.mssante.fr',
          bal_type: 'ORG',
          structure_id: `1${CH}`,
          org_name: 'CH DE TEST',
        },
      ],
    });
    // The FHIR API is enabled and failing: a local miss must say so (502), a local hit never asks it.
    sim = await startFhirSimulator({ apiKey: 'k', data: {} });
    sim.behave({ failStatus: 500 });
    const directory = createDirectory(store, {
      fhir: createFhirClient({ baseUrl: sim.baseUrl, apiKey: 'k', timeoutMs: 2000 }),
    });
    app = await createAdminServer({
      token: TOKEN,
      logger: createLogger('silent'),
      routes: [annuaireRoutes({ directory })],
      version: 'test',
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    if (!addr || typeof addr !== 'object') throw new Error('no address');
    base = `http://127.0.0.1:${addr.port}`;
  });
  afterAll(async () => {
    await app?.close();
    await sim?.close();
    await store?.close();
  });

  it('refuses every route without the admin token', async () => {
    for (const path of [
      `/api/v1/annuaire/professionals/${JEAN}`,
      '/api/v1/annuaire/mailboxes/accueil@ch-test.mssante.fr',
      '/api/v1/annuaire/search?q=dupont',
      `/api/v1/annuaire/structures/1${CH}`,
      '/api/v1/annuaire/snapshots',
    ]) {
      const r = await get(path, null);
      expect(r.status, path).toBe(401);
      expect(((await r.json()) as { error: string }).error).toBe('unauthorized');
      expect((await get(path, 'wrong-token-wrong-token-wrong')).status, path).toBe(401);
    }
  });

  it('serves a professional with activities and BALs', async () => {
    const r = await get(`/api/v1/annuaire/professionals/${JEAN}`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      idNat: JEAN,
      ppIdType: 'RPPS',
      lastName: 'DUPONT',
      source: 'local',
      activities: [{ professionLabel: 'Médecin', structureId: `1${CH}`, orgName: 'CH DE TEST' }],
      mailboxes: [{ address: 'jean.dupont@ch-test.mssante.fr', structureId: `1${CH}`, source: 'local' }],
    });
    // Nulls survive the response schema.
    expect(body['civility']).toBeNull();
    expect(sim.requests).toEqual([]);
  });

  it('serves a BAL by address, case-insensitively', async () => {
    const r = await get('/api/v1/annuaire/mailboxes/Accueil@CH-Test.mssante.fr');
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({
      address: 'accueil@ch-test.mssante.fr',
      balType: 'ORG',
      idNat: null,
    });
  });

  it('answers 400 with the rule for a malformed idNat or address', async () => {
    const r = await get(
      `/api/v1/annuaire/professionals/${JEAN.slice(0, -1)}${(Number(JEAN.at(-1)) + 1) % 10}`,
    );
    expect(r.status).toBe(400);
    const body = (await r.json()) as { error: string; rule: string; field: string; message: string };
    expect(body).toMatchObject({ error: 'invalid', rule: 'rpps.luhn', field: 'idNat' });
    expect(body.message).toMatch(/RPPS check digit \(Luhn\) is wrong/);
    const addr = await get('/api/v1/annuaire/mailboxes/not-an-address');
    expect(addr.status).toBe(400);
    expect(await addr.json()).toMatchObject({ rule: 'address.syntax' });
    const structure = await get('/api/v1/annuaire/structures/2123');
    expect(structure.status).toBe(400);
    expect(await structure.json()).toMatchObject({ rule: 'structure.prefix' });
  });

  it('answers 404 when nothing is found locally nor remotely, and 502 when the FHIR API fails on a miss', async () => {
    sim.behave({ failStatus: 404 });
    const nf = await get(`/api/v1/annuaire/professionals/${UNKNOWN}`);
    expect(nf.status).toBe(404);
    expect(await nf.json()).toMatchObject({
      error: 'not_found',
      message: `no professional with idNat ${UNKNOWN} in the directory`,
    });
    expect((await get('/api/v1/annuaire/mailboxes/nobody@ch-test.mssante.fr')).status).toBe(404);
    expect((await get(`/api/v1/annuaire/structures/1${'13000040'}${luhnKey('13000040')}`)).status).toBe(404);

    sim.behave({ failStatus: 500 });
    const down = await get(`/api/v1/annuaire/professionals/${UNKNOWN}`);
    expect(down.status).toBe(502);
    expect(((await down.json()) as { message: string }).message).toMatch(
      /^Annuaire Santé FHIR API failed with HTTP 500/,
    );
  });

  it('searches by name with a limit, and validates the query string', async () => {
    const r = await get('/api/v1/annuaire/search?q=jean%20dup&limit=5');
    expect(r.status).toBe(200);
    const body = (await r.json()) as { professionals: { idNat: string }[]; mailboxes: { address: string }[] };
    expect(body.professionals.map((p) => p.idNat)).toEqual([JEAN]);
    expect(body.mailboxes.map((m) => m.address)).toEqual(['jean.dupont@ch-test.mssante.fr']);
    expect((await get('/api/v1/annuaire/search?q=dupont&limit=500')).status).toBe(400);
    expect((await get('/api/v1/annuaire/search')).status).toBe(400);
    const short = await get('/api/v1/annuaire/search?q=d');
    expect(short.status).toBe(400);
    expect(await short.json()).toMatchObject({ rule: 'search.too-short' });
  });

  it('lists the BALs of a structure and the current snapshots', async () => {
    const s = await get(`/api/v1/annuaire/structures/1${CH}`);
    expect(s.status).toBe(200);
    expect(await s.json()).toEqual({
      structureId: `1${CH}`,
      mailboxes: [
        expect.objectContaining({ address: 'accueil@ch-test.mssante.fr' }),
        expect.objectContaining({ address: 'jean.dupont@ch-test.mssante.fr', structureId: `1${CH}` }),
      ],
    });
    const snaps = await get('/api/v1/annuaire/snapshots');
    expect(snaps.status).toBe(200);
    const body = (await snaps.json()) as { snapshots: { kind: string; rowsImported: number }[] };
    expect(body.snapshots.map((x) => [x.kind, x.rowsImported])).toEqual([
      ['mss', 2],
      ['ps', 1],
    ]);
  });

  it('documents its routes in /openapi.json', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { tags?: string[]; summary?: string }>>;
    };
    for (const path of [
      '/api/v1/annuaire/professionals/{idNat}',
      '/api/v1/annuaire/mailboxes/{address}',
      '/api/v1/annuaire/search',
      '/api/v1/annuaire/structures/{structureId}',
      '/api/v1/annuaire/snapshots',
    ]) {
      expect(doc.paths[path]?.['get'], path).toBeDefined();
      expect(doc.paths[path]!['get']!.tags).toEqual(['annuaire']);
      expect(doc.paths[path]!['get']!.summary).toBeTruthy();
    }
  });
});
