/**
 * Who is logging in, and which BALs they may use.
 *
 * An identity is either a professional (idNat: the PER/CAB BALs it holds and the ORG BALs it is
 * a member or the responsible of follow from it) or an APP BAL (software: the BAL itself).
 * Submission and IMAP ask {@link allowedBals} after authentication: only active BALs count.
 */
import type { Kysely } from 'kysely';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import { checkBalAddress, checkIdNat } from '../domain/identifiers.ts';
import type { Store } from '../store/open.ts';
import type { Database } from '../store/schema/index.ts';

export type AuthIdentity = { kind: 'professional'; idNat: string } | { kind: 'app'; balAddress: string };

/** How an identity is written in logs, audit subjects and CLI output: the idNat or the address. */
export function identityKey(identity: AuthIdentity): string {
  return identity.kind === 'professional' ? identity.idNat : identity.balAddress;
}

type Db = Kysely<Database>;
const dbOf = (store: Store | Db): Db => ('db' in store ? store.db : store);

/**
 * The active BAL addresses `identity` may use, sorted: for a professional, the PER and CAB BALs
 * it holds and the ORG BALs it is a member or the responsible of; for an APP BAL, itself.
 */
export async function allowedBals(store: Store | Db, identity: AuthIdentity): Promise<string[]> {
  const db = dbOf(store);
  if (identity.kind === 'app') {
    const row = await db
      .selectFrom('bals')
      .select('address')
      .where('address', '=', identity.balAddress)
      .where('type', '=', 'APP')
      .where('status', '=', 'active')
      .executeTakeFirst();
    return row ? [row.address] : [];
  }
  const idNat = identity.idNat;
  const rows = await db
    .selectFrom('bals')
    .select('address')
    .where('status', '=', 'active')
    .where((eb) =>
      eb.or([
        eb.and([eb('type', 'in', ['PER', 'CAB']), eb('holder_id_nat', '=', idNat)]),
        eb.and([
          eb('type', '=', 'ORG'),
          eb.or([
            eb('responsible_id_nat', '=', idNat),
            eb('address', 'in', eb.selectFrom('bal_members').select('address').where('id_nat', '=', idNat)),
          ]),
        ]),
      ]),
    )
    .orderBy('address')
    .execute();
  return rows.map((r) => r.address);
}

/**
 * The identity behind a login: an idNat (the professional), the address of a PER or CAB BAL
 * (its holder), or the address of an APP BAL (the BAL). An ORG BAL is shared: its users log in
 * as themselves. Throws ValidationError (syntax, ORG address) or NotFoundError (no such BAL).
 * The BAL's status is not checked here: see {@link allowedBals}.
 */
export async function identityOf(store: Store | Db, login: string): Promise<AuthIdentity> {
  if (typeof login !== 'string' || login.trim() === '') {
    throw new ValidationError('login', 'auth.login.syntax', 'login is required: an idNat or a BAL address');
  }
  const value = login.trim();
  if (!value.includes('@')) {
    const idNat = checkIdNat(value);
    if (!idNat.ok) throw new ValidationError('login', idNat.rule, idNat.reason);
    return { kind: 'professional', idNat: idNat.value.idNat };
  }
  const address = checkBalAddress(value);
  if (!address.ok) throw new ValidationError('login', address.rule, address.reason);
  const row = await dbOf(store)
    .selectFrom('bals')
    .select(['address', 'type', 'holder_id_nat'])
    .where('address', '=', address.value.address)
    .executeTakeFirst();
  if (!row) throw new NotFoundError(`no BAL at ${address.value.address}`);
  if (row.type === 'APP') return { kind: 'app', balAddress: row.address };
  if ((row.type === 'PER' || row.type === 'CAB') && row.holder_id_nat) {
    return { kind: 'professional', idNat: row.holder_id_nat };
  }
  throw new ValidationError(
    'login',
    'auth.login.org-bal',
    `${row.address} is a shared ORG BAL: its members log in with their own idNat or PER address`,
  );
}

/** {@link identityOf} that answers null instead of throwing a refusal (for SASL). */
export async function identityOfOrNull(store: Store | Db, login: string): Promise<AuthIdentity | null> {
  try {
    return await identityOf(store, login);
  } catch (e) {
    if (e instanceof ValidationError || e instanceof NotFoundError) return null;
    throw e;
  }
}
