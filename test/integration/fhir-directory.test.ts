import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDirectory, createDirectoryFromConfig } from '../../src/annuaire/directory.ts';
import { createFhirClient, FhirApiError } from '../../src/annuaire/fhir/client.ts';
import type { Directory } from '../../src/annuaire/types.ts';
import { loadConfig } from '../../src/config/load.ts';
import { ValidationError } from '../../src/domain/errors.ts';
import { luhnKey } from '../../src/domain/identifiers.ts';
import type { Store } from '../../src/store/open.ts';
import { seedDirectory } from '../support/directory-seed.ts';
import {
  type FhirSimulator,
  fhirOrganization,
  fhirPractitioner,
  fhirRole,
  mssTelecom,
  startFhirSimulator,
} from '../support/fhir-simulator.ts';
import { describeEachStore, sqliteKind } from '../support/stores.ts';

const API_KEY = 'test-esante-api-key-0123456789';
const rpps = (base10: string) => base10 + luhnKey(base10);
const LOCAL = `8${rpps('2000000001')}`;
const REMOTE = `8${rpps('2000000002')}`;
const NOWHERE = `8${rpps('2000000003')}`;
const FINESS = `54000269`;
const CHU = FINESS + luhnKey(FINESS);

function simulatorData() {
  return {
    practitioners: [
      // Also in the local mirror, with another BAL: a local hit must not ask the API at all.
      fhirPractitioner({ id: '003-1', idNat: LOCAL, family: 'LOCALE', given: 'Anne' }),
      fhirPractitioner({
        id: '003-2',
        idNat: REMOTE,
        family: 'DISTANT',
        given: 'Rémi',
        telecom: [
          mssTelecom('remi.distant@medecin.mssante.fr', { type: 'PER', listeRouge: false }),
          mssTelecom('remi.secret@medecin.mssante.fr', { type: 'PER', listeRouge: true }),
        ],
      }),
    ],
    practitionerRoles: [
      fhirRole({
        id: 'pr-1',
        practitionerId: '003-2',
        organizationId: 'org-1',
        telecom: [mssTelecom('remi.distant@chu-test.mssante.fr', { type: 'PER' })],
      }),
    ],
    organizations: [
      fhirOrganization({
        id: 'org-1',
        finess: CHU,
        name: 'CHU DE TEST',
        postalCode: '54511',
        city: 'VANDOEUVRE',
        telecom: [mssTelecom('accueil@chu-test.mssante.fr', { type: 'ORG', service: 'Accueil' })],
      }),
    ],
  };
}

describeEachStore('directory with the Annuaire Santé FHIR API (simulated)', (kind) => {
  let store: Store;
  let sim: FhirSimulator;
  let dir: Directory;

  beforeAll(async () => {
    store = await kind.open();
    await seedDirectory(store, {
      professionals: [
        { id_nat: LOCAL, pp_id_type: '8', pp_id: LOCAL.slice(1), last_name: 'LOCALE', first_name: 'Anne' },
      ],
      mailboxes: [
        {
          address: 'anne.locale@ch-local.mssante.fr',
          bal_type: 'PER',
          id_nat: LOCAL,
          last_name: 'LOCALE',
          first_name: 'Anne',
        },
      ],
    });
    sim = await startFhirSimulator({ apiKey: API_KEY, data: simulatorData() });
    dir = createDirectory(store, {
      fhir: createFhirClient({ baseUrl: sim.baseUrl, apiKey: API_KEY, timeoutMs: 2000 }),
    });
  });
  afterEach(() => sim.reset());
  afterAll(async () => {
    await sim?.close();
    await store?.close();
  });

  it('answers from the local mirror without any request to the API', async () => {
    expect(await dir.findProfessional(LOCAL)).toMatchObject({ lastName: 'LOCALE', source: 'local' });
    expect(await dir.findMailbox('ANNE.LOCALE@ch-local.mssante.fr')).toMatchObject({ source: 'local' });
    expect(sim.requests).toEqual([]);
  });

  it('asks the API on a local miss and says the answer comes from it', async () => {
    const p = await dir.findProfessional(REMOTE);
    expect(p).toMatchObject({ idNat: REMOTE, lastName: 'DISTANT', firstName: 'Rémi', source: 'fhir' });
    expect(p!.mailboxes.map((m) => [m.address, m.structureId, m.source])).toEqual([
      ['remi.distant@medecin.mssante.fr', null, 'fhir'],
      ['remi.distant@chu-test.mssante.fr', `1${CHU}`, 'fhir'],
    ]);
    expect(p!.activities).toEqual([
      expect.objectContaining({
        structureId: `1${CHU}`,
        orgName: 'CHU DE TEST',
        modeLabel: 'S',
        city: 'VANDOEUVRE',
      }),
    ]);
    // The documented searches, with the key header.
    expect(sim.requests.map((r) => decodeURIComponent(r.path + r.query))).toEqual([
      `/fhir/v2/Practitioner?identifier=urn:oid:1.2.250.1.71.4.2.1|${REMOTE}`,
      '/fhir/v2/PractitionerRole?practitioner=Practitioner/003-2&_include=PractitionerRole:organization',
    ]);
    expect(sim.requests.every((r) => r.apiKey === API_KEY)).toBe(true);
  });

  it('finds a BAL on a Practitioner, a PractitionerRole or an Organization', async () => {
    expect(await dir.findMailbox('remi.distant@medecin.mssante.fr')).toMatchObject({
      balType: 'PER',
      idNat: REMOTE,
      lastName: 'DISTANT',
      source: 'fhir',
    });
    expect(await dir.findMailbox('Remi.Distant@CHU-test.mssante.fr')).toMatchObject({
      address: 'remi.distant@chu-test.mssante.fr',
      idNat: REMOTE,
      structureId: `1${CHU}`,
      orgName: 'CHU DE TEST',
      source: 'fhir',
    });
    expect(await dir.findMailbox('accueil@chu-test.mssante.fr')).toMatchObject({
      balType: 'ORG',
      idNat: null,
      service: 'Accueil',
      structureId: `1${CHU}`,
      postalCode: '54511',
      source: 'fhir',
    });
  });

  it('answers null when neither the mirror nor the API knows, and for a liste rouge BAL', async () => {
    expect(await dir.findProfessional(NOWHERE)).toBeNull();
    expect(await dir.findMailbox('personne@nulle-part.mssante.fr')).toBeNull();
    expect(await dir.findMailbox('remi.secret@medecin.mssante.fr')).toBeNull();
    expect(sim.requests.length).toBeGreaterThan(0);
  });

  it('refuses a malformed idNat before asking anyone', async () => {
    await expect(dir.findProfessional('8100')).rejects.toBeInstanceOf(ValidationError);
    expect(sim.requests).toEqual([]);
  });

  it('says the API key was refused when it is wrong, without showing it', async () => {
    const wrong = createDirectory(store, {
      fhir: createFhirClient({ baseUrl: sim.baseUrl, apiKey: 'not-the-key-xyz', timeoutMs: 2000 }),
    });
    const err = await wrong.findProfessional(REMOTE).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FhirApiError);
    expect((err as FhirApiError).kind).toBe('auth');
    expect((err as Error).message).toMatch(/Annuaire Santé FHIR API refused the API key \(HTTP 401/);
    expect((err as Error).message).toContain(sim.baseUrl);
    expect((err as Error).message).not.toContain('not-the-key-xyz');
    await expect(wrong.findMailbox('x@y.mssante.fr')).rejects.toThrow(/refused the API key/);
  });

  it('reports a failing API (5xx) as an error naming it, not as "not found"', async () => {
    sim.behave({ failStatus: 503 });
    await expect(dir.findProfessional(NOWHERE)).rejects.toThrow(
      /Annuaire Santé FHIR API failed with HTTP 503 \(GET http:\/\/127\.0\.0\.1:\d+\/fhir\/v2\/Practitioner\?/,
    );
    await expect(dir.findMailbox('personne@nulle-part.mssante.fr')).rejects.toBeInstanceOf(FhirApiError);
  });

  it('reports a slow API as a timeout naming it', async () => {
    sim.behave({ delayMs: 1500 });
    const slow = createDirectory(store, {
      fhir: createFhirClient({ baseUrl: sim.baseUrl, apiKey: API_KEY, timeoutMs: 200 }),
    });
    const started = Date.now();
    await expect(slow.findProfessional(NOWHERE)).rejects.toThrow(
      /Annuaire Santé FHIR API did not answer within 200 ms \(GET http:\/\/127\.0\.0\.1/,
    );
    expect(Date.now() - started).toBeLessThan(1400);
  });
});

describe('directory with the FHIR API down', () => {
  it('reports an unreachable API as an error naming its URL', async () => {
    const sim = await startFhirSimulator({ apiKey: API_KEY, data: {} });
    const baseUrl = sim.baseUrl;
    await sim.close();
    const store = await sqliteKind.open();
    try {
      const dir = createDirectory(store, {
        fhir: createFhirClient({ baseUrl, apiKey: API_KEY, timeoutMs: 2000 }),
      });
      const err = await dir.findMailbox('a@b.mssante.fr').then(
        () => null,
        (e: unknown) => e as FhirApiError,
      );
      expect(err).toBeInstanceOf(FhirApiError);
      expect(err!.kind).toBe('unavailable');
      expect(err!.message).toMatch(
        /^Annuaire Santé FHIR API is unreachable \(GET http:\/\/127\.0\.0\.1:\d+\/fhir\/v2\/.*ECONNREFUSED/,
      );
      expect(err!.message).not.toContain(API_KEY);
    } finally {
      await store.close();
    }
  });

  it('is built from the configuration only when annuaire.fhir.enabled', async () => {
    const store = await sqliteKind.open();
    const sim = await startFhirSimulator({ apiKey: API_KEY, data: simulatorData() });
    try {
      const off = createDirectoryFromConfig(store, loadConfig({ env: {} }));
      expect(await off.findProfessional(REMOTE)).toBeNull();
      const on = createDirectoryFromConfig(
        store,
        loadConfig({
          env: {
            MSS_ANNUAIRE__FHIR__ENABLED: 'true',
            MSS_ANNUAIRE__FHIR__BASE_URL: sim.baseUrl,
            MSS_ANNUAIRE__FHIR__API_KEY: API_KEY,
          },
        }),
      );
      expect(await on.findProfessional(REMOTE)).toMatchObject({ source: 'fhir' });
      expect(sim.requests.length).toBe(2);
    } finally {
      await sim.close();
      await store.close();
    }
  });
});
