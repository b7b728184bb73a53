import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDirectory } from '../../src/annuaire/directory.ts';
import { type AppPasswords, createAppPasswords } from '../../src/auth/app-passwords.ts';
import { allowedBals, identityOf } from '../../src/auth/identity.ts';
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

const DOCTOR = rppsIdNat(301); // PER holder, member of the ORG BAL
const RESPONSIBLE = rppsIdNat(302); // responsible of the ORG and APP BALs, no BAL of their own
const SUSPENDED = rppsIdNat(303); // holds only a suspended PER BAL
const NOBODY = rppsIdNat(304); // known to the directory, no BAL
const FINESS_ID = `1${withKey('75000002')}`;
const DOMAIN = 'ch-auth.mssante.fr';
const ACTOR = 'test:auth';
const at = (local: string) => `${local}@${DOMAIN}`;
const PASSWORD_SHAPE = /^[a-z2-9]{4}(-[a-z2-9]{4}){5}$/;

describeEachStore('app passwords', (kind) => {
  let store: Store;
  let registry: BalRegistry;
  let passwords: AppPasswords;
  let now = new Date('2025-04-01T08:00:00.000Z');
  const clock = () => now;

  beforeAll(async () => {
    store = await kind.open();
    await seedDirectory(store, {
      professionals: [DOCTOR, RESPONSIBLE, SUSPENDED, NOBODY].map((id_nat, i) => ({
        id_nat,
        last_name: `NOM${i}`,
        first_name: `Prénom${i}`,
      })),
    });
    registry = createBalRegistry(store, {
      directory: createDirectory(store, { fhir: null }),
      domains: [DOMAIN],
      clock,
    });
    passwords = createAppPasswords(store, { clock });
    await registry.create({ address: at('dr.martin'), type: 'PER', holderIdNat: DOCTOR }, ACTOR);
    await registry.create(
      {
        address: at('cardiologie'),
        type: 'ORG',
        structureId: FINESS_ID,
        responsibleIdNat: RESPONSIBLE,
        members: [DOCTOR],
      },
      ACTOR,
    );
    await registry.create(
      { address: at('dpi'), type: 'APP', structureId: FINESS_ID, responsibleIdNat: RESPONSIBLE },
      ACTOR,
    );
    await registry.create(
      {
        address: at('closed.org'),
        type: 'ORG',
        structureId: FINESS_ID,
        responsibleIdNat: RESPONSIBLE,
        members: [DOCTOR],
      },
      ACTOR,
    );
    await registry.close(at('closed.org'), 'test', ACTOR);
    await registry.create({ address: at('dr.suspendu'), type: 'PER', holderIdNat: SUSPENDED }, ACTOR);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
  });

  it('allowedBals: PER holder + ORG member, ORG responsible, APP itself; active only', async () => {
    expect(await allowedBals(store, { kind: 'professional', idNat: DOCTOR })).toEqual([
      at('cardiologie'),
      at('dr.martin'),
    ]);
    expect(await allowedBals(store, { kind: 'professional', idNat: RESPONSIBLE })).toEqual([
      at('cardiologie'),
    ]);
    expect(await allowedBals(store, { kind: 'app', balAddress: at('dpi') })).toEqual([at('dpi')]);
    expect(await allowedBals(store, { kind: 'app', balAddress: at('cardiologie') })).toEqual([]);
    expect(await allowedBals(store, { kind: 'professional', idNat: NOBODY })).toEqual([]);
    expect(await identityOf(store, at('Dr.Martin').toUpperCase())).toEqual({
      kind: 'professional',
      idNat: DOCTOR,
    });
    await rejects(identityOf(store, at('cardiologie')), ValidationError, 'auth.login.org-bal');
    await rejects(identityOf(store, at('unknown')), NotFoundError);
  });

  it('issues a password once, verifies it by idNat and by PER address, records its use', async () => {
    const issued = await passwords.issue({ idNat: DOCTOR, label: 'Thunderbird' }, ACTOR);
    expect(issued.password).toMatch(PASSWORD_SHAPE);
    expect(issued).toMatchObject({ idNat: DOCTOR, balAddress: null, label: 'Thunderbird', createdBy: ACTOR });
    expect(issued.lastUsedAt).toBeNull();

    now = new Date('2025-04-01T09:00:00.000Z');
    const byIdNat = await passwords.verify(DOCTOR, issued.password);
    expect(byIdNat).toEqual({
      kind: 'professional',
      idNat: DOCTOR,
      appPasswordId: issued.id,
      bals: [at('cardiologie'), at('dr.martin')],
    });
    // the PER address, in any case; the password without dashes and in upper case
    const byAddress = await passwords.verify(
      at('DR.MARTIN'),
      issued.password.replace(/-/g, '').toUpperCase(),
    );
    expect(byAddress).toMatchObject({ kind: 'professional', idNat: DOCTOR });

    const [listed] = await passwords.list({ idNat: DOCTOR });
    expect(listed?.lastUsedAt).toBe('2025-04-01T09:00:00.000Z');
    expect(JSON.stringify(listed)).not.toContain(issued.password);
    expect(listed).not.toHaveProperty('hash');
    expect(listed).not.toHaveProperty('password');
  });

  it('refuses a wrong password, an unknown login, an ORG address and junk', async () => {
    const issued = await passwords.issue({ idNat: DOCTOR, label: 'phone' }, ACTOR);
    expect(await passwords.verify(DOCTOR, 'aaaa-bbbb-cccc-dddd-eeee-ffff')).toBeNull();
    expect(await passwords.verify(DOCTOR, '')).toBeNull();
    expect(await passwords.verify(NOBODY, issued.password)).toBeNull();
    expect(await passwords.verify(at('cardiologie'), issued.password)).toBeNull();
    expect(await passwords.verify('not-an-idnat', issued.password)).toBeNull();
    expect(await passwords.verify(DOCTOR, 'x'.repeat(10_000))).toBeNull();
    // a password of one identity does not open another
    const app = await passwords.issue({ balAddress: at('dpi'), label: 'DPI' }, ACTOR);
    expect(await passwords.verify(DOCTOR, app.password)).toBeNull();
    expect(await passwords.verify(at('dpi'), issued.password)).toBeNull();
    expect(await passwords.verify(at('dpi'), app.password)).toMatchObject({
      kind: 'app',
      balAddress: at('dpi'),
      appPasswordId: app.id,
      bals: [at('dpi')],
    });
  });

  it('refuses a revoked password; revoking twice is a conflict', async () => {
    const issued = await passwords.issue({ idNat: DOCTOR, label: 'old laptop' }, ACTOR);
    expect(await passwords.verify(DOCTOR, issued.password)).not.toBeNull();
    const revoked = await passwords.revoke(issued.id, ACTOR);
    expect(revoked.revokedAt).toBe(now.toISOString());
    expect(await passwords.verify(DOCTOR, issued.password)).toBeNull();
    await rejects(passwords.revoke(issued.id, ACTOR), ConflictError, 'auth.app-password.revoked');
    await rejects(passwords.revoke(999_999, ACTOR), NotFoundError);
    await rejects(passwords.revoke(-1, ACTOR), ValidationError, 'auth.app-password.id');
  });

  it('refuses an identity whose BALs are all suspended, at issue and at verify', async () => {
    const issued = await passwords.issue({ idNat: SUSPENDED, label: 'mail' }, ACTOR);
    expect(await passwords.verify(at('dr.suspendu'), issued.password)).not.toBeNull();
    await registry.suspend(at('dr.suspendu'), 'unpaid', ACTOR);
    expect(await passwords.verify(SUSPENDED, issued.password)).toBeNull();
    expect(await passwords.verify(at('dr.suspendu'), issued.password)).toBeNull();
    const e = await rejects(
      passwords.issue({ idNat: SUSPENDED, label: 'again' }, ACTOR),
      ValidationError,
      'auth.app-password.no-active-bal',
    );
    expect(e.message).toContain('auth.app-password.no-active-bal');
    await registry.reactivate(at('dr.suspendu'), ACTOR);
    expect(await passwords.verify(SUSPENDED, issued.password)).not.toBeNull();
  });

  it('validates its inputs with named rules', async () => {
    await rejects(
      passwords.issue({ idNat: NOBODY, label: 'x' }, ACTOR),
      ValidationError,
      'auth.app-password.no-active-bal',
    );
    await rejects(
      passwords.issue({ idNat: '810001234568', label: 'x' }, ACTOR),
      ValidationError,
      'rpps.luhn',
    );
    await rejects(passwords.issue({ label: 'x' }, ACTOR), ValidationError, 'auth.app-password.owner');
    await rejects(
      passwords.issue({ idNat: DOCTOR, balAddress: at('dpi'), label: 'x' }, ACTOR),
      ValidationError,
      'auth.app-password.owner',
    );
    await rejects(
      passwords.issue({ idNat: DOCTOR, label: '  ' }, ACTOR),
      ValidationError,
      'auth.app-password.label.required',
    );
    await rejects(
      passwords.issue({ idNat: DOCTOR, label: 'a\nb' }, ACTOR),
      ValidationError,
      'auth.app-password.label.chars',
    );
    await rejects(
      passwords.issue({ balAddress: at('cardiologie'), label: 'x' }, ACTOR),
      ValidationError,
      'auth.app-password.bal-not-app',
    );
    await rejects(passwords.issue({ balAddress: at('nothing'), label: 'x' }, ACTOR), NotFoundError);
    await rejects(
      passwords.issue({ idNat: DOCTOR, label: 'x' }, ''),
      ValidationError,
      'audit.actor.required',
    );
  });

  it('stores only a salted scrypt hash: not the password, different for each issue', async () => {
    const a = await passwords.issue({ balAddress: at('dpi'), label: 'a' }, ACTOR);
    const b = await passwords.issue({ balAddress: at('dpi'), label: 'b' }, ACTOR);
    const rows = await store.db
      .selectFrom('app_passwords')
      .select(['id', 'hash'])
      .where('id', 'in', [a.id, b.id])
      .orderBy('id')
      .execute();
    for (const [row, issued] of [
      [rows[0]!, a],
      [rows[1]!, b],
    ] as const) {
      expect(row.hash).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
      expect(row.hash).not.toContain(issued.password);
      expect(row.hash).not.toContain(issued.password.replace(/-/g, ''));
    }
    expect(rows[0]!.hash).not.toBe(rows[1]!.hash);
    // the same password issued twice (same canonical form) still gets two different hashes
    const { hashPassword } = await import('../../src/auth/app-passwords.ts');
    expect(await hashPassword('same')).not.toBe(await hashPassword('same'));
  });

  it('audits issue and revoke without the password or the hash', async () => {
    const issued = await passwords.issue({ idNat: RESPONSIBLE, label: 'audited' }, 'test:bob');
    await passwords.revoke(issued.id, 'test:carol');
    const entries = await readAudit(store.db, { subject: RESPONSIBLE });
    expect(entries.map((e) => [e.action, e.actor, e.details])).toEqual([
      ['auth.app-password.revoke', 'test:carol', { id: issued.id, label: 'audited' }],
      ['auth.app-password.issue', 'test:bob', { id: issued.id, label: 'audited' }],
    ]);
    const row = await store.db
      .selectFrom('app_passwords')
      .select('hash')
      .where('id', '=', issued.id)
      .executeTakeFirstOrThrow();
    const all = JSON.stringify(await readAudit(store.db, { limit: 1000 }));
    expect(all).not.toContain(issued.password);
    expect(all).not.toContain(issued.password.replace(/-/g, ''));
    expect(all).not.toContain(row.hash);
    expect(all).not.toContain('$scrypt$');
  });
});
