import type { KyselyPlugin, QueryId } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLocalDirectory } from '../../src/annuaire/local-directory.ts';
import { searchKey } from '../../src/annuaire/search-key.ts';
import type { Directory } from '../../src/annuaire/types.ts';
import { ValidationError } from '../../src/domain/errors.ts';
import { luhnKey } from '../../src/domain/identifiers.ts';
import { openStore, type Store } from '../../src/store/open.ts';
import { seedDirectory } from '../support/directory-seed.ts';
import { describeEachStore } from '../support/stores.ts';

const rpps = (base10: string) => base10 + luhnKey(base10);
const finess = (base8: string) => base8 + luhnKey(base8);
const siret = (base13: string) => base13 + luhnKey(base13);

const JEAN = `8${rpps('1000000001')}`;
const ELODIE = `8${rpps('1000000002')}`;
const JEANNE = `8${rpps('1000000003')}`;
const PAUL = `8${rpps('1000000004')}`; // only in the BAL extract
const GHOST = `8${rpps('1000000005')}`; // only in a snapshot that is not current
const LUC = `8${rpps('1000000006')}`; // several activities, no BAL
const ANNE = `8${rpps('1000000007')}`; // BALs, no activity
const UNKNOWN = `8${rpps('1000000009')}`;
const ADELI = '0751234567';
const CH = finess('75000010'); // CH de Test (FINESS site)
const CH_EJ = finess('75000020');
const OTHER = finess('92000030');
const PHARMA = siret('1234567800001');
const PARC_1 = finess('69000050');
const PARC_2 = finess('69000060');
const CENTRE = siret('9876543200001');

const mailbox = (m: { address: string; bal_type?: string } & Record<string, string | null>) => ({
  bal_type: 'PER',
  ...m,
});

async function seed(store: Store) {
  await seedDirectory(store, {
    professionals: [
      {
        id_nat: JEAN,
        pp_id_type: '8',
        pp_id: JEAN.slice(1),
        last_name: 'DUPONT',
        first_name: 'Jean',
        exercise_civility_label: 'Docteur',
      },
      { id_nat: ELODIE, pp_id_type: '8', pp_id: ELODIE.slice(1), last_name: 'LEFÈVRE', first_name: 'Élodie' },
      {
        id_nat: JEANNE,
        pp_id_type: '8',
        pp_id: JEANNE.slice(1),
        last_name: 'DUPONT-MARTIN',
        first_name: 'Jeanne',
      },
      { id_nat: ADELI, pp_id_type: '0', pp_id: ADELI.slice(1), last_name: 'ŒUVRARD', first_name: 'Marc' },
      { id_nat: LUC, pp_id_type: '8', pp_id: LUC.slice(1), last_name: 'BERNARD', first_name: 'Luc' },
      { id_nat: ANNE, pp_id_type: '8', pp_id: ANNE.slice(1), last_name: 'BERNARDIN', first_name: 'Anne' },
    ],
    activities: [
      {
        id_nat: JEAN,
        profession_code: '10',
        profession_label: 'Médecin',
        mode_label: 'Salarié',
        finess_site: CH,
        finess_ej: CH_EJ,
        org_name: 'CH DE TEST',
        postal_code: '75010',
        city: 'PARIS',
      },
      { id_nat: ELODIE, profession_label: 'Pharmacien', siret: PHARMA, org_name: 'PHARMACIE DU PONT' },
      {
        id_nat: JEANNE,
        profession_label: 'Infirmier',
        finess_ej: CH_EJ,
        finess_site: CH,
        org_name: 'CH DE TEST',
      },
      // Stored out of order: read back by org_name, then finess_site.
      { id_nat: LUC, profession_label: 'Médecin', finess_site: PARC_2, org_name: 'CLINIQUE DU PARC' },
      { id_nat: LUC, profession_label: 'Médecin', siret: CENTRE, org_name: 'CENTRE DE SANTE' },
      { id_nat: LUC, profession_label: 'Médecin', finess_site: PARC_1, org_name: 'CLINIQUE DU PARC' },
    ],
    mailboxes: [
      // Structure id as a bare FINESS with a type code, and as the prefixed national id: both occur.
      mailbox({
        address: 'jean.dupont@ch-test.mssante.fr',
        id_nat: JEAN,
        pp_id_type: '8',
        last_name: 'DUPONT',
        first_name: 'Jean',
        structure_id_type: '1',
        structure_id: CH,
        org_name: 'CH DE TEST',
        postal_code: '75010',
        addr_routing: '75010 PARIS',
      }),
      mailbox({
        address: 'j.dupont@medecin.mssante.fr',
        id_nat: JEAN,
        last_name: 'DUPONT',
        first_name: 'Jean',
      }),
      mailbox({
        address: 'elodie.lefevre@pharma.mssante.fr',
        id_nat: ELODIE,
        last_name: 'LEFÈVRE',
        first_name: 'Élodie',
        structure_id_type: '3',
        structure_id: `3${PHARMA}`,
      }),
      mailbox({
        address: 'cardiologie@ch-test.mssante.fr',
        bal_type: 'ORG',
        structure_id: `1${CH}`,
        org_name: 'CH DE TEST',
        service: 'Cardiologie',
      }),
      mailbox({
        address: 'paul.martin@ch-test.mssante.fr',
        id_nat: PAUL,
        pp_id_type: '8',
        pp_id: PAUL.slice(1),
        civility: 'Dr',
        last_name: 'MARTIN',
        first_name: 'Paul',
        structure_id_type: '1',
        structure_id: CH,
      }),
      mailbox({
        address: 'jeanne.dm@infirmier.mssante.fr',
        id_nat: JEANNE,
        last_name: 'DUPONT-MARTIN',
        first_name: 'Jeanne',
      }),
      mailbox({
        address: 'jeanne.dm@autre.mssante.fr',
        id_nat: JEANNE,
        last_name: 'DUPONT-MARTIN',
        first_name: 'Jeanne',
        structure_id_type: '1',
        structure_id: OTHER,
      }),
      // Same 9 digits, but typed SIREN: not the FINESS.
      mailbox({
        address: 'siren@societe.mssante.fr',
        bal_type: 'ORG',
        structure_id_type: '2',
        structure_id: CH,
        org_name: 'SOCIETE',
      }),
      mailbox({
        address: 'anne.bernardin@cabinet.mssante.fr',
        id_nat: ANNE,
        last_name: 'BERNARDIN',
        first_name: 'Anne',
      }),
      mailbox({
        address: 'a.bernardin@autre.mssante.fr',
        id_nat: ANNE,
        last_name: 'BERNARDIN',
        first_name: 'Anne',
      }),
    ],
  });
}

/** Rows of snapshots that are not current: an import in progress, a failed one, a replaced one. */
async function addHiddenSnapshots(store: Store) {
  const now = new Date().toISOString();
  for (const status of ['loading', 'failed', 'retired'] as const) {
    for (const kind of ['mss', 'ps'] as const) {
      const { id } = await store.db
        .insertInto('directory_snapshots')
        .values({
          kind,
          status,
          source: `hidden-${status}`,
          started_at: now,
          finished_at: null,
          rows_read: 1,
          rows_imported: 1,
          rows_rejected: 0,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      if (kind === 'mss') {
        await store.db
          .insertInto('directory_mailboxes')
          .values({
            snapshot_id: id,
            address: `ghost.${status}@ch-test.mssante.fr`,
            bal_type: 'PER',
            id_nat: GHOST,
            structure_id: `1${CH}`,
            last_name: 'GHOST',
            first_name: 'Dupont',
            name_key: searchKey('GHOST Dupont'),
            given_key: searchKey('Dupont GHOST'),
          })
          .execute();
      } else {
        await store.db
          .insertInto('directory_professionals')
          .values({
            snapshot_id: id,
            id_nat: GHOST,
            last_name: 'GHOST',
            first_name: 'Dupont',
            name_key: searchKey('GHOST Dupont'),
            given_key: searchKey('Dupont GHOST'),
          })
          .execute();
        await store.db
          .insertInto('directory_activities')
          .values({ snapshot_id: id, id_nat: JEAN, profession_label: `hidden ${status}`, finess_site: OTHER })
          .execute();
      }
    }
  }
}

function rejection(fn: () => Promise<unknown>) {
  return fn().then(
    () => {
      throw new Error('expected a ValidationError');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(ValidationError);
      return e as ValidationError;
    },
  );
}

describeEachStore('local directory', (kind) => {
  let store: Store;
  let dir: Directory;
  beforeAll(async () => {
    store = await kind.open();
    await seed(store);
    await addHiddenSnapshots(store);
    dir = createLocalDirectory(store);
  });
  afterAll(async () => {
    await store?.close();
  });

  it('finds a professional by idNat with activities and the BALs of the BAL extract', async () => {
    const p = await dir.findProfessional(JEAN);
    expect(p).toMatchObject({
      idNat: JEAN,
      ppIdType: 'RPPS',
      ppId: JEAN.slice(1),
      civility: 'Docteur',
      lastName: 'DUPONT',
      firstName: 'Jean',
      source: 'local',
    });
    expect(p!.activities).toEqual([
      expect.objectContaining({
        professionLabel: 'Médecin',
        modeLabel: 'Salarié',
        structureId: `1${CH}`,
        finessSite: CH,
        finessEj: CH_EJ,
        orgName: 'CH DE TEST',
        city: 'PARIS',
      }),
    ]);
    expect(p!.mailboxes.map((m) => m.address)).toEqual([
      'j.dupont@medecin.mssante.fr',
      'jean.dupont@ch-test.mssante.fr',
    ]);
    expect(p!.mailboxes[1]).toMatchObject({ structureId: `1${CH}`, locality: 'PARIS', source: 'local' });
  });

  it('finds an ADELI professional (idNat 0 + ADELI)', async () => {
    expect(await dir.findProfessional(ADELI)).toMatchObject({
      ppIdType: 'ADELI',
      lastName: 'ŒUVRARD',
      mailboxes: [],
    });
  });

  it('builds the record from the BAL extract when the professional has no PS row', async () => {
    const p = await dir.findProfessional(PAUL);
    expect(p).toMatchObject({
      idNat: PAUL,
      ppIdType: 'RPPS',
      lastName: 'MARTIN',
      firstName: 'Paul',
      civility: 'Dr',
      activities: [],
    });
    expect(p!.mailboxes.map((m) => m.address)).toEqual(['paul.martin@ch-test.mssante.fr']);
  });

  it('finds a professional with several activities, ordered by organisation then FINESS, and no BAL', async () => {
    const p = await dir.findProfessional(LUC);
    expect(p).toMatchObject({ idNat: LUC, lastName: 'BERNARD', firstName: 'Luc', mailboxes: [] });
    expect(p!.activities.map((a) => [a.orgName, a.structureId])).toEqual([
      ['CENTRE DE SANTE', `3${CENTRE}`],
      ['CLINIQUE DU PARC', `1${PARC_1}`],
      ['CLINIQUE DU PARC', `1${PARC_2}`],
    ]);
    // Same record shape as with one activity: every field, null when the extract leaves it empty.
    expect(p!.activities[1]).toEqual({
      professionCode: null,
      professionLabel: 'Médecin',
      categoryCode: null,
      categoryLabel: null,
      skillLabel: null,
      modeLabel: null,
      structureId: `1${PARC_1}`,
      finessSite: PARC_1,
      finessEj: null,
      siret: null,
      orgName: 'CLINIQUE DU PARC',
      postalCode: null,
      city: null,
      roleLabel: null,
    });
  });

  it('finds a professional with BALs and no activity (PS row, not built from the BALs)', async () => {
    const p = await dir.findProfessional(ANNE);
    expect(p).toEqual({
      idNat: ANNE,
      ppIdType: 'RPPS',
      ppId: ANNE.slice(1),
      civility: null,
      lastName: 'BERNARDIN',
      firstName: 'Anne',
      activities: [],
      mailboxes: [
        expect.objectContaining({ address: 'a.bernardin@autre.mssante.fr', idNat: ANNE }),
        expect.objectContaining({ address: 'anne.bernardin@cabinet.mssante.fr', idNat: ANNE }),
      ],
      source: 'local',
    });
  });

  it('answers null for a well-formed idNat it does not know', async () => {
    expect(await dir.findProfessional(UNKNOWN)).toBeNull();
  });

  it('refuses a malformed idNat, naming the rule that failed', async () => {
    const luhn = await rejection(() =>
      dir.findProfessional(`${JEAN.slice(0, -1)}${(Number(JEAN.at(-1)) + 1) % 10}`),
    );
    expect(luhn.rule).toBe('rpps.luhn');
    expect(luhn.field).toBe('idNat');
    expect(luhn.message).toMatch(/Luhn/);
    const prefix = await rejection(() => dir.findProfessional('123'));
    expect(prefix.rule).toBe('idnat.prefix');
    expect(prefix.message).toMatch(/must start with '8' \(RPPS\) or '0' \(ADELI\)/);
  });

  it('finds a BAL by address, case-insensitively, with its structure id in the prefixed form', async () => {
    expect(await dir.findMailbox('Jean.Dupont@CH-Test.MSSante.fr')).toMatchObject({
      address: 'jean.dupont@ch-test.mssante.fr',
      balType: 'PER',
      idNat: JEAN,
      structureId: `1${CH}`,
      orgName: 'CH DE TEST',
      postalCode: '75010',
      locality: 'PARIS',
      source: 'local',
    });
    expect(await dir.findMailbox('cardiologie@ch-test.mssante.fr')).toMatchObject({
      balType: 'ORG',
      service: 'Cardiologie',
      structureId: `1${CH}`,
      idNat: null,
    });
    expect(await dir.findMailbox('nobody@ch-test.mssante.fr')).toBeNull();
    const bad = await rejection(() => dir.findMailbox('jean.dupont'));
    expect(bad.rule).toBe('address.syntax');
  });

  it('searches by name prefix in "last first" and "first last" order, ignoring accents and case', async () => {
    const dj = await dir.searchByName('dupont j');
    expect(dj.professionals.map((p) => p.idNat)).toEqual([JEAN]);
    expect(dj.professionals[0]!.mailboxes).toHaveLength(2);
    expect(dj.mailboxes.map((m) => m.address)).toEqual([
      'j.dupont@medecin.mssante.fr',
      'jean.dupont@ch-test.mssante.fr',
    ]);

    const jd = await dir.searchByName('jean dup');
    expect(jd.professionals.map((p) => p.idNat)).toEqual([JEAN]);

    const dupont = await dir.searchByName('DUPONT');
    expect(dupont.professionals.map((p) => p.lastName)).toEqual(['DUPONT', 'DUPONT-MARTIN']);
    expect(dupont.mailboxes.map((m) => m.address)).toContain('jeanne.dm@autre.mssante.fr');

    expect((await dir.searchByName('lefevre')).professionals.map((p) => p.idNat)).toEqual([ELODIE]);
    expect((await dir.searchByName('Lefèvre É')).mailboxes.map((m) => m.address)).toEqual([
      'elodie.lefevre@pharma.mssante.fr',
    ]);
    expect((await dir.searchByName('ELODIE')).professionals.map((p) => p.idNat)).toEqual([ELODIE]);
    expect((await dir.searchByName('oeuvrard')).professionals.map((p) => p.idNat)).toEqual([ADELI]);
    expect(dupont.professionals.map((p) => p.activities.map((a) => a.professionLabel))).toEqual([
      ['Médecin'],
      ['Infirmier'],
    ]);
    expect((await dir.searchByName('cardio')).mailboxes).toEqual([]);
    expect((await dir.searchByName('ch de test')).mailboxes.map((m) => m.address)).toEqual([
      'cardiologie@ch-test.mssante.fr',
    ]);
  });

  it('returns each professional found once, with all their activities and BALs', async () => {
    const found = await dir.searchByName('bernard');
    expect(found.professionals.map((p) => p.idNat)).toEqual([LUC, ANNE]);
    const [luc, anne] = found.professionals;
    expect(luc!.activities.map((a) => a.structureId)).toEqual([`3${CENTRE}`, `1${PARC_1}`, `1${PARC_2}`]);
    expect(luc!.mailboxes).toEqual([]);
    expect(anne!.activities).toEqual([]);
    expect(anne!.mailboxes.map((m) => m.address)).toEqual([
      'a.bernardin@autre.mssante.fr',
      'anne.bernardin@cabinet.mssante.fr',
    ]);
    expect(found.professionals).toEqual([await dir.findProfessional(LUC), await dir.findProfessional(ANNE)]);
    // The limit counts professionals, not their activities.
    const first = await dir.searchByName('bernard', { limit: 1 });
    expect(first.professionals.map((p) => [p.idNat, p.activities.length])).toEqual([[LUC, 3]]);
    expect((await dir.searchByName('bernard', { limit: 2 })).professionals).toHaveLength(2);
    expect(await dir.findByStructure(`1${PARC_1}`)).toEqual([]);
  });

  it('limits search results and refuses bad limits and too short queries, saying why', async () => {
    const one = await dir.searchByName('dupont', { limit: 1 });
    expect(one.professionals).toHaveLength(1);
    expect(one.mailboxes).toHaveLength(1);
    expect((await rejection(() => dir.searchByName('d'))).message).toMatch(/at least 2 letters or digits/);
    expect((await rejection(() => dir.searchByName(' -- '))).rule).toBe('search.too-short');
    expect((await rejection(() => dir.searchByName('dupont', { limit: 0 }))).message).toMatch(
      /from 1 to 200/,
    );
    expect((await rejection(() => dir.searchByName('dupont', { limit: 201 }))).rule).toBe('limit.range');
  });

  it('lists the BALs of a structure, whether the extract stores the id bare or prefixed', async () => {
    const ch = await dir.findByStructure(`1${CH}`);
    expect(ch.map((m) => m.address)).toEqual([
      'cardiologie@ch-test.mssante.fr', // prefixed id
      'j.dupont@medecin.mssante.fr', // no structure, holder works at the CH
      'jean.dupont@ch-test.mssante.fr', // bare FINESS
      'jeanne.dm@infirmier.mssante.fr', // no structure, holder works at the CH
      'paul.martin@ch-test.mssante.fr', // bare FINESS
    ]);
    expect(ch.every((m) => m.structureId === null || m.structureId === `1${CH}`)).toBe(true);
    expect((await dir.findByStructure(`3${PHARMA}`)).map((m) => m.address)).toEqual([
      'elodie.lefevre@pharma.mssante.fr',
    ]);
    expect(await dir.findByStructure(`1${CH_EJ}`)).toEqual([
      expect.objectContaining({ address: 'j.dupont@medecin.mssante.fr' }),
      expect.objectContaining({ address: 'jeanne.dm@infirmier.mssante.fr' }),
    ]);
    expect(await dir.findByStructure(`1${finess('13000040')}`)).toEqual([]);
    expect((await dir.findByStructure(`1${CH}`, { limit: 2 })).length).toBe(2);
    const bad = await rejection(() => dir.findByStructure('1123'));
    expect(bad.rule).toBe('structure.length');
  });

  it('never shows the rows of a loading, failed or retired snapshot', async () => {
    for (const status of ['loading', 'failed', 'retired']) {
      expect(await dir.findMailbox(`ghost.${status}@ch-test.mssante.fr`)).toBeNull();
    }
    expect(await dir.findProfessional(GHOST)).toBeNull();
    const ghost = await dir.searchByName('ghost');
    expect(ghost).toEqual({ professionals: [], mailboxes: [] });
    expect((await dir.findByStructure(`1${CH}`)).map((m) => m.address)).not.toContain(
      'ghost.loading@ch-test.mssante.fr',
    );
    expect((await dir.findByStructure(`1${OTHER}`)).map((m) => m.address)).toEqual([
      'jeanne.dm@autre.mssante.fr',
    ]);
    expect((await dir.findProfessional(JEAN))!.activities).toHaveLength(1);
    const snaps = await dir.snapshots();
    expect(snaps.map((s) => s.kind)).toEqual(['mss', 'ps']);
    expect(snaps.every((s) => s.source.startsWith('seed-'))).toBe(true);
    expect(snaps[0]).toMatchObject({ rowsImported: 10, rowsRejected: 0 });
  });

  it('switches to a new current snapshot as a whole', async () => {
    await seedDirectory(store, {
      mailboxes: [{ address: 'nouveau@ch-test.mssante.fr', bal_type: 'ORG', org_name: 'NOUVEAU' }],
    });
    expect(await dir.findMailbox('jean.dupont@ch-test.mssante.fr')).toBeNull();
    expect(await dir.findProfessional(JEAN)).toBeNull();
    expect(await dir.findMailbox('nouveau@ch-test.mssante.fr')).toMatchObject({ orgName: 'NOUVEAU' });
    expect((await dir.snapshots()).map((s) => s.rowsImported)).toEqual([1, 0]);
  });
});

describeEachStore('local directory during a PS snapshot swap', (kind) => {
  let store: Store;
  /** Who imports: a second connection on SQLite (the store's only one is busy with the lookup). */
  let importer: Store;
  let version = 0;
  /** When set, the next statement of the directory that reads directory_professionals is followed by an import. */
  let swapAfterPsRead = false;
  const psReads = new WeakSet<QueryId>();
  const swapAfterPs: KyselyPlugin = {
    transformQuery({ node, queryId }) {
      if (JSON.stringify(node).includes('"directory_professionals"')) psReads.add(queryId);
      return node;
    },
    async transformResult({ result, queryId }) {
      if (swapAfterPsRead && psReads.has(queryId)) {
        swapAfterPsRead = false;
        await importPs(++version);
      }
      return result;
    },
  };

  beforeAll(async () => {
    store = await kind.open();
    importer =
      store.dialect === 'sqlite'
        ? await openStore({ driver: 'sqlite', path: store.location }, { runMigrations: false })
        : store;
  });
  afterAll(async () => {
    if (importer !== store) await importer?.close();
    await store?.close();
  });

  /**
   * What an import does: the new `ps` snapshot written as 'loading', made current in one
   * transaction, then the rows of the old one deleted. Version v has last name `v<v>` and two
   * activities labelled `v<v>`, so that a record mixing two snapshots shows.
   */
  async function importPs(v: number) {
    const { db } = importer;
    const label = `v${v}`;
    const now = new Date().toISOString();
    const { id } = await db
      .insertInto('directory_snapshots')
      .values({
        kind: 'ps',
        status: 'loading',
        source: `swap-${label}`,
        started_at: now,
        finished_at: null,
        rows_read: 1,
        rows_imported: 1,
        rows_rejected: 0,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db
      .insertInto('directory_professionals')
      .values({
        snapshot_id: id,
        id_nat: JEAN,
        last_name: label,
        first_name: 'Jean',
        name_key: searchKey(`${label} Jean`),
        given_key: searchKey(`Jean ${label}`),
      })
      .execute();
    await db
      .insertInto('directory_activities')
      .values(
        ['ORG 1', 'ORG 2'].map((org) => ({
          snapshot_id: id,
          id_nat: JEAN,
          profession_label: label,
          org_name: org,
        })),
      )
      .execute();
    await db.transaction().execute(async (trx) => {
      await trx
        .updateTable('directory_snapshots')
        .set({ status: 'retired' })
        .where('kind', '=', 'ps')
        .where('status', '=', 'current')
        .execute();
      await trx.updateTable('directory_snapshots').set({ status: 'current' }).where('id', '=', id).execute();
    });
    const retired = db
      .selectFrom('directory_snapshots')
      .select('id')
      .where('kind', '=', 'ps')
      .where('status', '=', 'retired');
    await db.deleteFrom('directory_activities').where('snapshot_id', 'in', retired).execute();
    await db.deleteFrom('directory_professionals').where('snapshot_id', 'in', retired).execute();
  }

  /** The professional of snapshot v with the activities of snapshot v, nothing else. */
  const ofVersion = (v: number) =>
    expect.objectContaining({
      lastName: `v${v}`,
      activities: [
        expect.objectContaining({ professionLabel: `v${v}`, orgName: 'ORG 1' }),
        expect.objectContaining({ professionLabel: `v${v}`, orgName: 'ORG 2' }),
      ],
    });

  it('never mixes the professional of one snapshot with the activities of the next', async () => {
    await importPs(++version);
    const dir = createLocalDirectory({ ...store, db: store.db.withPlugin(swapAfterPs) });

    // A new snapshot becomes current, and the old one's rows are deleted, right after the lookup
    // has read the professional: the lookup still answers from the snapshot it started with.
    swapAfterPsRead = true;
    expect(await dir.findProfessional(JEAN)).toEqual(ofVersion(1));
    expect(swapAfterPsRead).toBe(false);
    expect(await dir.findProfessional(JEAN)).toEqual(ofVersion(2));

    // On SQLite a name search runs in a BEGIN IMMEDIATE transaction, which no import can
    // commit into; on PostgreSQL the import commits while the transaction is open.
    if (store.dialect === 'postgres') {
      swapAfterPsRead = true;
      expect((await dir.searchByName('jean')).professionals).toEqual([ofVersion(2)]);
      expect(swapAfterPsRead).toBe(false);
      expect((await dir.searchByName('jean')).professionals).toEqual([ofVersion(3)]);
    }
  });
});
