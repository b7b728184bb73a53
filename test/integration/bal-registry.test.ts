import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDirectory } from '../../src/annuaire/directory.ts';
import type { BalCreateInput } from '../../src/bal/model.ts';
import { type BalRegistry, createBalRegistry } from '../../src/bal/registry.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { luhnKey } from '../../src/domain/identifiers.ts';
import { readAudit } from '../../src/store/audit.ts';
import type { Store } from '../../src/store/open.ts';
import { seedDirectory } from '../support/directory-seed.ts';
import { rejects } from '../support/rejects.ts';
import { describeEachStore } from '../support/stores.ts';

const withKey = (digits: string) => digits + luhnKey(digits);
const rppsIdNat = (n: number) => `8${withKey(String(10000000000 + n).slice(1))}`;

const HOLDER = rppsIdNat(101);
const HOLDER2 = rppsIdNat(102);
const RESPONSIBLE = rppsIdNat(103);
const MEMBER1 = rppsIdNat(104);
const MEMBER2 = rppsIdNat(105);
const UNKNOWN = rppsIdNat(999);
const ADELI_PRO = '0123456789';
const FINESS_ID = `1${withKey('75000001')}`;
const SIRET_ID = '373282932000074';
const DOMAIN = 'ch-test.mssante.fr';
const OTHER_DOMAIN = 'ehpad-test.mssante.fr';
const FP = 'cd'.repeat(32);
const ACTOR = 'test:alice';

const at = (local: string) => `${local}@${DOMAIN}`;

describeEachStore('BAL registry', (kind) => {
  let store: Store;
  let registry: BalRegistry;
  let now = new Date('2025-03-13T10:00:00.000Z');
  const tick = () => {
    now = new Date(now.getTime() + 60_000);
    return now;
  };

  beforeAll(async () => {
    store = await kind.open();
    await seedDirectory(store, {
      professionals: [HOLDER, HOLDER2, RESPONSIBLE, MEMBER1, MEMBER2].map((id_nat, i) => ({
        id_nat,
        pp_id_type: '8',
        pp_id: id_nat.slice(1),
        last_name: `NOM${i}`,
        first_name: `Prénom${i}`,
      })),
      // Known only through the BAL extract (no PS row): the directory still knows the person.
      mailboxes: [
        { address: 'infirmier@ailleurs.mssante.fr', bal_type: 'PER', id_nat: ADELI_PRO, last_name: 'X' },
      ],
    });
    registry = createBalRegistry(store, {
      directory: createDirectory(store, { fhir: null }),
      domains: [DOMAIN, OTHER_DOMAIN],
      clock: () => now,
    });
  });
  afterAll(async () => {
    await store?.close();
  });

  const count = async (
    table: 'bals' | 'bal_members' | 'bal_certificates' | 'audit_log' | 'structures',
    where?: [string, string],
  ) => {
    let q = store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
    // biome-ignore lint/suspicious/noExplicitAny: column name given by the test
    if (where) q = q.where(where[0] as any, '=', where[1]);
    return Number((await q.executeTakeFirstOrThrow()).n);
  };

  const per = (local: string, extra: Partial<BalCreateInput> = {}): BalCreateInput => ({
    address: at(local),
    type: 'PER',
    holderIdNat: HOLDER,
    ...extra,
  });
  const org = (local: string, extra: Partial<BalCreateInput> = {}): BalCreateInput => ({
    address: at(local),
    type: 'ORG',
    structureId: FINESS_ID,
    responsibleIdNat: RESPONSIBLE,
    ...extra,
  });
  const app = (local: string, extra: Partial<BalCreateInput> = {}): BalCreateInput => ({
    address: at(local),
    type: 'APP',
    structureId: SIRET_ID,
    responsibleIdNat: RESPONSIBLE,
    ...extra,
  });

  // -------------------------------------------------------------------------------------------
  // create

  it('creates a PER BAL, normalised, with its audit entry (who, when, what)', async () => {
    tick();
    const bal = await registry.create(
      per(' Jean.Dupont ', {
        address: ` Jean.Dupont@CH-TEST.mssante.fr `,
        displayName: ' Jean Dupont ',
        listeRouge: true,
      }),
      ACTOR,
    );
    expect(bal).toEqual({
      address: 'jean.dupont@ch-test.mssante.fr',
      type: 'PER',
      status: 'active',
      holderIdNat: HOLDER,
      structureId: null,
      displayName: 'Jean Dupont',
      description: null,
      service: null,
      responsibleIdNat: null,
      phone: null,
      listeRouge: true,
      digitization: false,
      preferredRank: null,
      members: [],
      certificates: [],
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      suspendedAt: null,
      closedAt: null,
      statusReason: null,
    });
    expect(await registry.get('JEAN.DUPONT@ch-test.mssante.fr')).toEqual(bal);
    const [entry, ...rest] = await registry.history(bal.address);
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({
      actor: ACTOR,
      action: 'bal.create',
      subject: bal.address,
      at: now.toISOString(),
    });
    expect(entry!.details['bal']).toMatchObject({
      address: bal.address,
      type: 'PER',
      holderIdNat: HOLDER,
      listeRouge: true,
    });
  });

  it('accepts a holder known only through the BAL extract (ADELI idNat)', async () => {
    const bal = await registry.create(per('adeli.pro', { holderIdNat: ADELI_PRO, type: 'CAB' }), ACTOR);
    expect(bal).toMatchObject({ type: 'CAB', holderIdNat: ADELI_PRO });
  });

  it('refuses a holder, responsible or member unknown to the directory, naming the idNat; writes nothing', async () => {
    const before = await count('audit_log');
    const e = await rejects(
      registry.create(per('ghost', { holderIdNat: UNKNOWN }), ACTOR),
      ValidationError,
      'holder.unknown',
    );
    expect(e.message).toContain(UNKNOWN);
    expect(e.field).toBe('holderIdNat');
    const r = await rejects(
      registry.create(org('ghost', { responsibleIdNat: UNKNOWN }), ACTOR),
      ValidationError,
      'responsible.unknown',
    );
    expect(r.message).toContain(UNKNOWN);
    const m = await rejects(
      registry.create(org('ghost', { members: [MEMBER1, UNKNOWN] }), ACTOR),
      ValidationError,
      'member.unknown',
    );
    expect(m.message).toContain(UNKNOWN);
    expect(m.field).toBe('members');
    await rejects(
      registry.create(app('ghost', { responsibleIdNat: UNKNOWN }), ACTOR),
      ValidationError,
      'responsible.unknown',
    );
    expect(await count('bals', ['address', at('ghost')])).toBe(0);
    expect(await count('audit_log')).toBe(before);
  });

  it('refuses bad input with the rule that failed', async () => {
    await rejects(
      registry.create(per('x', { address: 'x@not-served.fr' }), ACTOR),
      ValidationError,
      'address.domain.not-served',
    );
    await rejects(registry.create(per('x..y'), ACTOR), ValidationError, 'address.local.dots');
    await rejects(
      registry.create(per('x', { holderIdNat: `${HOLDER.slice(0, -1)}0` }), ACTOR),
      ValidationError,
    );
    await rejects(
      registry.create(per('x', { members: [MEMBER1] }), ACTOR),
      ValidationError,
      'bal.field.not-for-type',
    );
    await rejects(registry.create(per('x', { preferredRank: 0 }), ACTOR), ValidationError, 'bal.rank.range');
    await rejects(
      registry.create(org('x', { structureId: null }), ACTOR),
      ValidationError,
      'bal.field.required',
    );
    await rejects(
      registry.create(app('x', { certificates: [{}] }), ACTOR),
      ValidationError,
      'certificate.identity.missing',
    );
    await rejects(registry.create(per('x'), '  '), ValidationError, 'audit.actor.required');
    expect(await count('bals', ['address', at('x')])).toBe(0);
  });

  it('creates an ORG BAL with members, and the structure row (kind from the prefix)', async () => {
    const bal = await registry.create(
      org('cardiologie', {
        members: [MEMBER2, MEMBER1, MEMBER2],
        service: 'Cardiologie',
        description: 'Secrétariat',
      }),
      ACTOR,
    );
    expect(bal.members).toEqual([MEMBER1, MEMBER2].sort());
    expect(bal).toMatchObject({
      structureId: FINESS_ID,
      responsibleIdNat: RESPONSIBLE,
      service: 'Cardiologie',
    });
    const s = await store.db
      .selectFrom('structures')
      .selectAll()
      .where('structure_id', '=', FINESS_ID)
      .executeTakeFirst();
    expect(s).toMatchObject({ kind: 'FINESS' });
    // a second BAL of the same structure reuses the row
    await registry.create(org('urgences'), ACTOR);
    expect(await count('structures', ['structure_id', FINESS_ID])).toBe(1);
  });

  it('creates an APP BAL with normalised certificate identities (SIRET structure)', async () => {
    const bal = await registry.create(
      app('dpi', {
        certificates: [
          {
            subjectDn: 'cn = dpi.ch-test.fr , ou=' + SIRET_ID + ', o = CH Test, c=FR',
            fingerprintSha256: FP.toUpperCase(),
          },
          { fingerprintSha256: FP.toUpperCase().match(/../g)!.join(':') },
        ],
      }),
      ACTOR,
    );
    expect(bal.certificates).toEqual([
      { subjectDn: `CN=dpi.ch-test.fr,OU=${SIRET_ID},O=CH Test,C=FR`, fingerprintSha256: FP },
      { subjectDn: null, fingerprintSha256: FP },
    ]);
    const s = await store.db
      .selectFrom('structures')
      .selectAll()
      .where('structure_id', '=', SIRET_ID)
      .executeTakeFirst();
    expect(s).toMatchObject({ kind: 'SIRET' });
  });

  it('refuses an address that exists, whatever its case', async () => {
    await registry.create(per('taken'), ACTOR);
    const e = await rejects(
      registry.create(per('TAKEN', { holderIdNat: HOLDER2 }), ACTOR),
      ConflictError,
      'bal.address.exists',
    );
    expect(e.message).toContain(at('taken'));
    await registry.suspend(at('taken'), 'congé', ACTOR);
    await rejects(registry.create(org('taken'), ACTOR), ConflictError, 'bal.address.exists');
  });

  it('never reassigns a closed address, and says when it was closed', async () => {
    await registry.create(per('parti'), ACTOR);
    const closedAt = tick().toISOString();
    await registry.close(at('parti'), 'départ du praticien', ACTOR);
    tick();
    const e = await rejects(
      registry.create(per('parti', { holderIdNat: HOLDER2 }), ACTOR),
      ConflictError,
      'bal.address.closed',
    );
    expect(e.message).toContain(`closed on ${closedAt}`);
    expect(e.message).toContain('never reassigned');
    expect((await registry.get(at('parti'))).holderIdNat).toBe(HOLDER);
  });

  it('lets exactly one of concurrent creates of the same address win', async () => {
    const attempts = await Promise.allSettled(
      [HOLDER, HOLDER2, HOLDER, HOLDER2, HOLDER].map((holderIdNat) =>
        registry.create(per('race', { holderIdNat }), ACTOR),
      ),
    );
    const won = attempts.filter((a) => a.status === 'fulfilled');
    const lost = attempts.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(4);
    for (const l of lost) {
      expect(l.reason).toBeInstanceOf(ConflictError);
      expect((l.reason as ConflictError).rule).toBe('bal.address.exists');
    }
    expect(await count('audit_log', ['subject', at('race')])).toBe(1);
  });

  // -------------------------------------------------------------------------------------------
  // atomicity

  it('leaves nothing behind when a create fails midway (no BAL, members, structure, audit)', async () => {
    const victim = at('boom');
    const structure = `1${withKey('13000001')}`;
    if (store.dialect === 'postgres') {
      await sql`create function fail_insert() returns trigger language plpgsql as $$
        begin raise exception 'injected failure'; end $$`.execute(store.db);
      await sql`create trigger fail_member before insert on bal_members for each row
        when (new.address = ${sql.lit(victim)}) execute function fail_insert()`.execute(store.db);
    } else {
      await sql`create trigger fail_member before insert on bal_members
        when new.address = ${sql.lit(victim)} begin select raise(abort, 'injected failure'); end`.execute(
        store.db,
      );
    }
    const audits = await count('audit_log');
    await expect(
      registry.create(org('boom', { structureId: structure, members: [MEMBER1] }), ACTOR),
    ).rejects.toThrow(/injected failure/);
    expect(await count('bals', ['address', victim])).toBe(0);
    expect(await count('bal_members', ['address', victim])).toBe(0);
    expect(await count('structures', ['structure_id', structure])).toBe(0);
    expect(await count('audit_log')).toBe(audits);
  });

  it('leaves nothing behind when the audit entry itself fails (last statement of the create)', async () => {
    const victim = at('boom2');
    if (store.dialect === 'postgres') {
      await sql`create or replace function fail_insert() returns trigger language plpgsql as $$
        begin raise exception 'injected failure'; end $$`.execute(store.db);
      await sql`create trigger fail_audit before insert on audit_log for each row
        when (new.subject = ${sql.lit(victim)}) execute function fail_insert()`.execute(store.db);
    } else {
      await sql`create trigger fail_audit before insert on audit_log
        when new.subject = ${sql.lit(victim)} begin select raise(abort, 'injected failure'); end`.execute(
        store.db,
      );
    }
    await expect(
      registry.create(app('boom2', { certificates: [{ fingerprintSha256: FP }] }), ACTOR),
    ).rejects.toThrow(/injected failure/);
    expect(await count('bals', ['address', victim])).toBe(0);
    expect(await count('bal_certificates', ['address', victim])).toBe(0);
    expect(await count('audit_log', ['subject', victim])).toBe(0);
  });

  it('rolls back an update whose rank-1 demotion of another BAL cannot be audited', async () => {
    const holder = HOLDER2;
    await registry.create(per('rank.keep', { holderIdNat: holder, preferredRank: 1 }), ACTOR);
    await registry.create(per('rank.take', { holderIdNat: holder, preferredRank: 2 }), ACTOR);
    const victim = at('rank.keep');
    if (store.dialect === 'postgres') {
      await sql`create trigger fail_audit_keep before insert on audit_log for each row
        when (new.subject = ${sql.lit(victim)}) execute function fail_insert()`.execute(store.db);
    } else {
      await sql`create trigger fail_audit_keep before insert on audit_log
        when new.subject = ${sql.lit(victim)} begin select raise(abort, 'injected failure'); end`.execute(
        store.db,
      );
    }
    await expect(
      registry.update(at('rank.take'), { preferredRank: 1, description: 'x' }, ACTOR),
    ).rejects.toThrow(/injected failure/);
    expect((await registry.get(at('rank.keep'))).preferredRank).toBe(1);
    expect(await registry.get(at('rank.take'))).toMatchObject({ preferredRank: 2, description: null });
    expect((await registry.history(at('rank.take'))).map((h) => h.action)).toEqual(['bal.create']);
  });

  // -------------------------------------------------------------------------------------------
  // update

  it('updates metadata and audits each changed field before/after; a no-op writes nothing', async () => {
    await registry.create(org('pharmacie', { service: 'Pharmacie' }), ACTOR);
    tick();
    const bal = await registry.update(
      at('pharmacie'),
      {
        service: 'Pharmacie centrale',
        description: 'PUI',
        listeRouge: true,
        responsibleIdNat: MEMBER1,
        phone: '+33 1 23 45 67 89',
      },
      'test:bob',
    );
    expect(bal).toMatchObject({
      service: 'Pharmacie centrale',
      description: 'PUI',
      listeRouge: true,
      responsibleIdNat: MEMBER1,
      phone: '+33 1 23 45 67 89',
      updatedAt: now.toISOString(),
    });
    const [entry] = await registry.history(at('pharmacie'));
    expect(entry).toMatchObject({ actor: 'test:bob', action: 'bal.update', at: now.toISOString() });
    expect(entry!.details).toEqual({
      changes: {
        service: { before: 'Pharmacie', after: 'Pharmacie centrale' },
        description: { before: null, after: 'PUI' },
        listeRouge: { before: false, after: true },
        responsibleIdNat: { before: RESPONSIBLE, after: MEMBER1 },
        phone: { before: null, after: '+33 1 23 45 67 89' },
      },
    });
    const audits = await count('audit_log', ['subject', at('pharmacie')]);
    const same = await registry.update(
      at('pharmacie'),
      { service: ' Pharmacie centrale ', listeRouge: true },
      ACTOR,
    );
    expect(same.updatedAt).toBe(bal.updatedAt);
    expect(await count('audit_log', ['subject', at('pharmacie')])).toBe(audits);
    const cleared = await registry.update(at('pharmacie'), { description: '' }, ACTOR);
    expect(cleared.description).toBeNull();
  });

  it('refuses to change address, type or identity, and unknown or read-only fields', async () => {
    await registry.create(per('immuable'), ACTOR);
    await rejects(
      registry.update(at('immuable'), { address: at('autre') } as never, ACTOR),
      ValidationError,
      'bal.immutable',
    );
    await rejects(
      registry.update(at('immuable'), { type: 'ORG' } as never, ACTOR),
      ValidationError,
      'bal.immutable',
    );
    await rejects(
      registry.update(at('immuable'), { holderIdNat: HOLDER2 } as never, ACTOR),
      ValidationError,
      'bal.immutable',
    );
    await rejects(
      registry.update(at('immuable'), { status: 'closed' } as never, ACTOR),
      ValidationError,
      'bal.field.read-only',
    );
    await rejects(
      registry.update(at('immuable'), { colour: 'red' } as never, ACTOR),
      ValidationError,
      'bal.field.unknown',
    );
    await rejects(
      registry.update(at('immuable'), { responsibleIdNat: RESPONSIBLE }, ACTOR),
      ValidationError,
      'bal.field.not-for-type',
    );
    await rejects(registry.update(at('immuable'), {}, ACTOR), ValidationError, 'bal.patch.empty');
    await rejects(
      registry.update(at('cardiologie'), { structureId: SIRET_ID }, ACTOR),
      ValidationError,
      'bal.immutable',
    );
    await rejects(
      registry.update(at('cardiologie'), { responsibleIdNat: UNKNOWN }, ACTOR),
      ValidationError,
      'responsible.unknown',
    );
    await rejects(registry.update(at('nobody'), { description: 'x' }, ACTOR), NotFoundError);
    expect((await registry.history(at('immuable'))).map((h) => h.action)).toEqual(['bal.create']);
  });

  it('attaches a PER BAL to a structure (upserted) and detaches it', async () => {
    const siret2 = '3' + withKey('4444444400001');
    await registry.create(per('rattache'), ACTOR);
    expect((await registry.update(at('rattache'), { structureId: siret2 }, ACTOR)).structureId).toBe(siret2);
    expect(await count('structures', ['structure_id', siret2])).toBe(1);
    expect((await registry.update(at('rattache'), { structureId: null }, ACTOR)).structureId).toBeNull();
  });

  it('replaces and clears the certificate set of an APP BAL, audited', async () => {
    await registry.create(app('lims', { certificates: [{ subjectDn: 'CN=old' }] }), ACTOR);
    const replaced = await registry.update(
      at('lims'),
      { certificates: [{ subjectDn: 'cn=new, o=Labo' }, { fingerprintSha256: FP }] },
      ACTOR,
    );
    expect(replaced.certificates).toEqual([
      { subjectDn: 'CN=new,O=Labo', fingerprintSha256: null },
      { subjectDn: null, fingerprintSha256: FP },
    ]);
    const [entry] = await registry.history(at('lims'));
    expect(entry!.details).toEqual({
      changes: {
        certificates: {
          before: [{ subjectDn: 'CN=old', fingerprintSha256: null }],
          after: replaced.certificates,
        },
      },
    });
    expect((await registry.update(at('lims'), { certificates: [] }, ACTOR)).certificates).toEqual([]);
    expect(await count('bal_certificates', ['address', at('lims')])).toBe(0);
  });

  it('edits a suspended BAL, but not a closed one', async () => {
    await registry.create(per('pause'), ACTOR);
    await registry.suspend(at('pause'), 'congé', ACTOR);
    expect((await registry.update(at('pause'), { description: 'en congé' }, ACTOR)).description).toBe(
      'en congé',
    );
    await registry.close(at('pause'), 'départ', ACTOR);
    const e = await rejects(
      registry.update(at('pause'), { description: 'x' }, ACTOR),
      ConflictError,
      'bal.closed',
    );
    expect(e.message).toContain(at('pause'));
  });

  // -------------------------------------------------------------------------------------------
  // preferred rank

  it('moves rank 1 between the BALs of one holder, auditing the demotion; closed BALs are left alone', async () => {
    const holder = MEMBER2;
    await registry.create(per('pref.a', { holderIdNat: holder, preferredRank: 1 }), ACTOR);
    await registry.create(per('pref.closed', { holderIdNat: holder, preferredRank: 1 }), ACTOR);
    // creating pref.closed with rank 1 took it from pref.a
    expect((await registry.get(at('pref.a'))).preferredRank).toBeNull();
    const [demoted] = await registry.history(at('pref.a'));
    expect(demoted).toMatchObject({ action: 'bal.update', actor: ACTOR });
    expect(demoted!.details).toMatchObject({ changes: { preferredRank: { before: 1, after: null } } });
    expect(String(demoted!.details['cause'])).toContain(at('pref.closed'));
    await registry.close(at('pref.closed'), 'test', ACTOR);

    await registry.create(per('pref.b', { holderIdNat: holder, preferredRank: 2 }), ACTOR);
    await registry.create(per('pref.other', { holderIdNat: HOLDER, preferredRank: 1 }), ACTOR);
    await registry.update(at('pref.a'), { preferredRank: 1 }, ACTOR);
    await registry.update(at('pref.b'), { preferredRank: 1 }, ACTOR);
    const ranks = Object.fromEntries(
      (await registry.list({ holderIdNat: holder })).map((b) => [b.address.split('@')[0], b.preferredRank]),
    );
    expect(ranks).toEqual({ 'pref.a': null, 'pref.b': 1, 'pref.closed': 1 });
    // another holder's preferred BAL is untouched
    expect((await registry.get(at('pref.other'))).preferredRank).toBe(1);
  });

  // -------------------------------------------------------------------------------------------
  // lifecycle

  it('suspends, reactivates and closes, with reasons, timestamps and audit entries', async () => {
    await registry.create(per('cycle'), ACTOR);
    await rejects(registry.suspend(at('cycle'), '  ', ACTOR), ValidationError, 'bal.reason.required');
    await rejects(registry.reactivate(at('cycle'), ACTOR), ConflictError, 'bal.lifecycle.already-active');
    const t1 = tick().toISOString();
    const s = await registry.suspend(at('cycle'), 'congé maternité', ACTOR);
    expect(s).toMatchObject({ status: 'suspended', suspendedAt: t1, statusReason: 'congé maternité' });
    await rejects(
      registry.suspend(at('cycle'), 'encore', ACTOR),
      ConflictError,
      'bal.lifecycle.already-suspended',
    );
    const r = await registry.reactivate(at('cycle'), ACTOR);
    expect(r).toMatchObject({ status: 'active', suspendedAt: null, statusReason: null });
    await rejects(registry.close(at('cycle'), '', ACTOR), ValidationError, 'bal.reason.required');
    const t2 = tick().toISOString();
    const c = await registry.close(at('cycle'), 'départ', ACTOR);
    expect(c).toMatchObject({ status: 'closed', closedAt: t2, statusReason: 'départ' });
    const e = await rejects(registry.reactivate(at('cycle'), ACTOR), ConflictError, 'bal.lifecycle.closed');
    expect(e.message).toContain(`closed on ${t2}`);
    await rejects(registry.suspend(at('cycle'), 'x', ACTOR), ConflictError, 'bal.lifecycle.closed');
    await rejects(registry.close(at('cycle'), 'x', ACTOR), ConflictError, 'bal.lifecycle.already-closed');
    await rejects(registry.suspend(at('nobody'), 'x', ACTOR), NotFoundError);

    const history = await registry.history(at('cycle'));
    expect(history.map((h) => [h.action, h.details])).toEqual([
      ['bal.close', { from: 'active', to: 'closed', reason: 'départ' }],
      ['bal.reactivate', { from: 'suspended', to: 'active' }],
      ['bal.suspend', { from: 'active', to: 'suspended', reason: 'congé maternité' }],
      ['bal.create', expect.any(Object)],
    ]);
    expect(history.every((h) => h.actor === ACTOR)).toBe(true);
  });

  it('closes a suspended BAL', async () => {
    await registry.create(per('susp.close'), ACTOR);
    await registry.suspend(at('susp.close'), 'enquête', ACTOR);
    expect((await registry.close(at('susp.close'), 'fin', ACTOR)).status).toBe('closed');
  });

  // -------------------------------------------------------------------------------------------
  // members

  it('adds and removes members of an ORG BAL, audited; refuses duplicates, strangers and other types', async () => {
    await registry.create(org('equipe'), ACTOR);
    const added = await registry.addMember(at('equipe'), ` ${MEMBER1} `, ACTOR);
    expect(added.members).toEqual([MEMBER1]);
    await registry.addMember(at('equipe'), ADELI_PRO, ACTOR);
    await rejects(registry.addMember(at('equipe'), MEMBER1, ACTOR), ConflictError, 'bal.member.exists');
    const u = await rejects(
      registry.addMember(at('equipe'), UNKNOWN, ACTOR),
      ValidationError,
      'member.unknown',
    );
    expect(u.message).toContain(UNKNOWN);
    await rejects(registry.addMember(at('equipe'), '8123', ACTOR), ValidationError, 'idnat.length');
    await rejects(
      registry.addMember(at('jean.dupont'), MEMBER1, ACTOR),
      ValidationError,
      'bal.field.not-for-type',
    );
    await rejects(registry.addMember(at('dpi'), MEMBER1, ACTOR), ValidationError, 'bal.field.not-for-type');
    await rejects(registry.addMember(at('nobody'), MEMBER1, ACTOR), NotFoundError);
    const removed = await registry.removeMember(at('equipe'), MEMBER1, ACTOR);
    expect(removed.members).toEqual([ADELI_PRO]);
    const nm = await rejects(registry.removeMember(at('equipe'), MEMBER1, ACTOR), NotFoundError);
    expect(nm.message).toContain(MEMBER1);
    const history = await registry.history(at('equipe'));
    expect(history.map((h) => [h.action, h.details])).toEqual([
      ['bal.member.remove', { idNat: MEMBER1 }],
      ['bal.member.add', { idNat: ADELI_PRO }],
      ['bal.member.add', { idNat: MEMBER1 }],
      ['bal.create', expect.any(Object)],
    ]);
  });

  it('lets a suspended ORG BAL get members, but not a closed one', async () => {
    await registry.create(org('equipe2'), ACTOR);
    await registry.suspend(at('equipe2'), 'travaux', ACTOR);
    await registry.addMember(at('equipe2'), MEMBER1, ACTOR);
    await registry.close(at('equipe2'), 'fermeture du service', ACTOR);
    await rejects(registry.addMember(at('equipe2'), MEMBER2, ACTOR), ConflictError, 'bal.closed');
    await rejects(registry.removeMember(at('equipe2'), MEMBER1, ACTOR), ConflictError, 'bal.closed');
    expect((await registry.get(at('equipe2'))).members).toEqual([MEMBER1]);
  });

  // -------------------------------------------------------------------------------------------
  // reading

  it('gets by address (NotFound for an unknown one, ValidationError for garbage)', async () => {
    const e = await rejects(registry.get(at('inconnu')), NotFoundError);
    expect(e.message).toContain(at('inconnu'));
    await rejects(registry.get('not an address'), ValidationError, 'address.syntax');
    await rejects(registry.history(at('inconnu')), NotFoundError);
  });

  it('lists with filters, ordered by address, with limit and offset', async () => {
    await registry.create(org('filtre.a', { members: [MEMBER2] }), ACTOR);
    await registry.create(per('filtre.b', { address: `filtre.b@${OTHER_DOMAIN}` }), ACTOR);
    const all = await registry.list({ limit: 1000 });
    expect(all.map((b) => b.address)).toEqual([...all.map((b) => b.address)].sort());
    expect(all.length).toBeGreaterThan(10);
    expect((await registry.list({ type: 'APP' })).every((b) => b.type === 'APP')).toBe(true);
    expect((await registry.list({ type: 'APP' })).map((b) => b.address)).toContain(at('dpi'));
    const closed = await registry.list({ status: 'closed' });
    expect(closed.length).toBeGreaterThan(0);
    expect(closed.every((b) => b.status === 'closed')).toBe(true);
    expect((await registry.list({ structureId: SIRET_ID })).every((b) => b.structureId === SIRET_ID)).toBe(
      true,
    );
    expect((await registry.list({ holderIdNat: HOLDER2 })).every((b) => b.holderIdNat === HOLDER2)).toBe(
      true,
    );
    const members = await registry.list({ memberIdNat: MEMBER2 });
    expect(members.map((b) => b.address)).toEqual([at('cardiologie'), at('filtre.a')]);
    expect(members[0]!.members).toEqual([MEMBER1, MEMBER2].sort());
    const page = await registry.list({ limit: 2, offset: 1 });
    expect(page.map((b) => b.address)).toEqual(all.slice(1, 3).map((b) => b.address));
    await rejects(registry.list({ type: 'XYZ' as never }), ValidationError, 'bal.type.unknown');
    await rejects(registry.list({ status: 'gone' as never }), ValidationError, 'bal.status.unknown');
    await rejects(registry.list({ limit: 0 }), ValidationError, 'list.limit');
    await rejects(registry.list({ offset: -1 }), ValidationError, 'list.offset');
    await rejects(registry.list({ holderIdNat: '81' }), ValidationError, 'idnat.length');
  });

  it('keeps every change in the append-only audit log', async () => {
    const all = await readAudit(store.db, { limit: 1000 });
    expect(all.length).toBeGreaterThan(20);
    expect(new Set(all.map((a) => a.action))).toEqual(
      new Set([
        'bal.create',
        'bal.update',
        'bal.suspend',
        'bal.reactivate',
        'bal.close',
        'bal.member.add',
        'bal.member.remove',
      ]),
    );
    await expect(store.db.deleteFrom('audit_log').execute()).rejects.toThrow(/append-only/);
  });
});
