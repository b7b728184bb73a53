/**
 * Operator-issued app passwords, for mail clients that authenticate with SASL PLAIN or LOGIN
 * (IMAP, submission). A professional (idNat) or an APP BAL may have several, each with a label;
 * each can be revoked on its own.
 *
 * The clear password is generated here (120 random bits, shown as six groups of four
 * characters) and returned once by {@link AppPasswords.issue}; only its scrypt hash is stored.
 * Verification accepts the password with or without its dashes, in any case.
 *
 * Every issue and revoke is audited in the transaction that makes it, without the password or
 * its hash.
 */
import { randomBytes, type ScryptOptions, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import type { Selectable } from 'kysely';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { checkBalAddress, checkIdNat } from '../domain/identifiers.ts';
import { appendAudit } from '../store/audit.ts';
import type { Store } from '../store/open.ts';
import type { AppPasswordsTable } from '../store/schema/index.ts';
import { type AuthIdentity, allowedBals, identityKey, identityOfOrNull } from './identity.ts';

export interface AppPasswordOwnerInput {
  /** The professional: the password opens its PER/CAB BALs and the ORG BALs it belongs to. */
  idNat?: string | null;
  /** An APP BAL. */
  balAddress?: string | null;
}

export interface AppPasswordIssueInput extends AppPasswordOwnerInput {
  label: string;
}

/** An app password as listed: never the password nor its hash. */
export interface AppPasswordInfo {
  id: number;
  idNat: string | null;
  balAddress: string | null;
  label: string;
  createdAt: string;
  createdBy: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface IssuedAppPassword extends AppPasswordInfo {
  /** The clear password: shown once, never stored. */
  password: string;
}

/** A successful login: who, with which password, and the BALs it may use now. */
export type VerifiedLogin = AuthIdentity & { appPasswordId: number; bals: string[] };

export interface AppPasswords {
  /** Issues a new password; returns it in clear, the only time it is available. */
  issue(input: AppPasswordIssueInput, actor: string): Promise<IssuedAppPassword>;
  /**
   * The identity when `password` is a live app password of `login` (an idNat, a PER/CAB
   * address or an APP BAL address) and the identity still has an active BAL; null otherwise.
   * Records the use (last_used_at).
   */
  verify(login: string, password: string): Promise<VerifiedLogin | null>;
  /** The passwords of an identity, revoked ones included, oldest first. */
  list(owner: AppPasswordOwnerInput | AuthIdentity): Promise<AppPasswordInfo[]>;
  /** Revokes one password for good. */
  revoke(id: number, actor: string): Promise<AppPasswordInfo>;
}

// ---------------------------------------------------------------------------------------------
// Hashing

/** scrypt cost: N = 2^15, r = 8, p = 1 (32 MiB, tens of ms), 32-byte key, 16-byte salt. */
const SCRYPT = { ln: 15, r: 8, p: 1, keyLength: 32, saltLength: 16 } as const;
const MAX_PASSWORD_INPUT = 256;

function scrypt(password: string, salt: Buffer, keyLength: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keyLength, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const scryptOptions = (ln: number, r: number, p: number): ScryptOptions => ({
  N: 2 ** ln,
  r,
  p,
  // Node's default (32 MiB) is just below what N=2^15, r=8 needs.
  maxmem: 256 * 2 ** ln * r + 1024 * 1024,
});

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

/** PHC-like string of the scrypt hash of `password` with a fresh salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltLength);
  const key = await scrypt(password, salt, SCRYPT.keyLength, scryptOptions(SCRYPT.ln, SCRYPT.r, SCRYPT.p));
  return `$scrypt$ln=${SCRYPT.ln},r=${SCRYPT.r},p=${SCRYPT.p}$${b64(salt)}$${b64(key)}`;
}

const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** Whether `password` matches a {@link hashPassword} string (constant-time compare). */
export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const m = PHC.exec(phc);
  if (!m) return false;
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || p < 1) return false;
  const salt = Buffer.from(m[4]!, 'base64');
  const expected = Buffer.from(m[5]!, 'base64');
  const key = await scrypt(password, salt, expected.length, scryptOptions(ln, r, p));
  return key.length === expected.length && timingSafeEqual(key, expected);
}

// A hash of nothing usable, verified when a login has no candidate password, so that an
// unknown login costs as much time as a wrong password.
let decoy: Promise<string> | undefined;

// ---------------------------------------------------------------------------------------------
// The password itself

/** 32 symbols (no l, o, 0, 1): one byte & 31 is uniform. */
const ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';
const GROUPS = 6;
const GROUP_LENGTH = 4;

/** A fresh password: 24 symbols (120 bits) as `xxxx-xxxx-xxxx-xxxx-xxxx-xxxx`. */
export function generatePassword(): string {
  const bytes = randomBytes(GROUPS * GROUP_LENGTH);
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    if (i > 0 && i % GROUP_LENGTH === 0) out += '-';
    out += ALPHABET[bytes[i]! & 31];
  }
  return out;
}

/** What is hashed and compared: lower case, without the dashes and spaces of the display form. */
export function canonicalPassword(input: string): string {
  return input.replace(/[\s-]/g, '').toLowerCase();
}

// ---------------------------------------------------------------------------------------------
// Inputs

const MAX_LABEL = 100;
/** Live (not revoked) passwords per identity: bounds the scrypt work of one login attempt. */
export const MAX_LIVE_PASSWORDS = 10;

function requireActor(actor: unknown): string {
  if (typeof actor !== 'string' || actor.trim() === '') {
    throw new ValidationError('actor', 'audit.actor.required', 'an actor is required for the audit log');
  }
  return actor.trim();
}

function requireLabel(value: unknown): string {
  const v = typeof value === 'string' ? value.trim() : '';
  if (v === '') {
    throw new ValidationError(
      'label',
      'auth.app-password.label.required',
      'a label is required (what the password is for, e.g. "Thunderbird, office PC")',
    );
  }
  if (v.length > MAX_LABEL) {
    throw new ValidationError(
      'label',
      'auth.app-password.label.too-long',
      `label must be at most ${MAX_LABEL} characters, got ${v.length}`,
    );
  }
  if (/[\x00-\x1f\x7f]/.test(v)) {
    throw new ValidationError(
      'label',
      'auth.app-password.label.chars',
      'label must not contain control characters (line breaks, tabs…)',
    );
  }
  return v;
}

const given = (v: unknown) => v !== undefined && v !== null && v !== '';

/** Exactly one of idNat and balAddress, valid. */
function ownerOf(input: AppPasswordOwnerInput | AuthIdentity): AuthIdentity {
  if ('kind' in input) return input;
  const hasIdNat = given(input.idNat);
  const hasBal = given(input.balAddress);
  if (hasIdNat === hasBal) {
    throw new ValidationError(
      'owner',
      'auth.app-password.owner',
      'give exactly one of idNat (a professional) or balAddress (an APP BAL)',
    );
  }
  if (hasIdNat) {
    const c = checkIdNat(input.idNat as string);
    if (!c.ok) throw new ValidationError('idNat', c.rule, c.reason);
    return { kind: 'professional', idNat: c.value.idNat };
  }
  const c = checkBalAddress(input.balAddress as string);
  if (!c.ok) throw new ValidationError('balAddress', c.rule, c.reason);
  return { kind: 'app', balAddress: c.value.address };
}

type Row = Selectable<AppPasswordsTable>;

function toInfo(row: Row): AppPasswordInfo {
  return {
    id: row.id,
    idNat: row.id_nat,
    balAddress: row.bal_address,
    label: row.label,
    createdAt: row.created_at,
    createdBy: row.created_by,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

const INFO_COLUMNS = [
  'id',
  'id_nat',
  'bal_address',
  'label',
  'created_at',
  'created_by',
  'last_used_at',
  'revoked_at',
] as const;

// ---------------------------------------------------------------------------------------------

export function createAppPasswords(store: Store, opts: { clock?: () => Date } = {}): AppPasswords {
  const clock = opts.clock ?? (() => new Date());
  const db = store.db;

  /** Refuses an owner that may not use any BAL now (rule named in the message). */
  async function requireUsable(owner: AuthIdentity): Promise<void> {
    if (owner.kind === 'app') {
      const bal = await db
        .selectFrom('bals')
        .select(['type', 'status'])
        .where('address', '=', owner.balAddress)
        .executeTakeFirst();
      if (!bal) throw new NotFoundError(`no BAL at ${owner.balAddress}`);
      if (bal.type !== 'APP') {
        throw new ValidationError(
          'balAddress',
          'auth.app-password.bal-not-app',
          `${owner.balAddress} is ${bal.type === 'ORG' ? 'an' : 'a'} ${bal.type} BAL: app passwords are issued to a professional (--id-nat) or to an APP BAL (rule auth.app-password.bal-not-app)`,
        );
      }
      if (bal.status !== 'active') {
        throw new ValidationError(
          'balAddress',
          'auth.app-password.no-active-bal',
          `APP BAL ${owner.balAddress} is ${bal.status}: app passwords are issued only for an active BAL (rule auth.app-password.no-active-bal)`,
        );
      }
      return;
    }
    if ((await allowedBals(db, owner)).length === 0) {
      throw new ValidationError(
        'idNat',
        'auth.app-password.no-active-bal',
        `${owner.idNat} holds no active BAL here (neither as holder of a PER/CAB BAL nor as member or responsible of an ORG BAL): app passwords are issued only to professionals with an active BAL (rule auth.app-password.no-active-bal)`,
      );
    }
  }

  const ownerFilter = (owner: AuthIdentity) =>
    owner.kind === 'professional'
      ? (['id_nat', owner.idNat] as const)
      : (['bal_address', owner.balAddress] as const);

  async function issue(input: AppPasswordIssueInput, actorInput: string): Promise<IssuedAppPassword> {
    const actor = requireActor(actorInput);
    if (typeof input !== 'object' || input === null) {
      throw new ValidationError(
        'owner',
        'auth.app-password.owner',
        'give an idNat or a balAddress, and a label',
      );
    }
    const owner = ownerOf(input);
    const label = requireLabel(input.label);
    await requireUsable(owner);
    const password = generatePassword();
    const hash = await hashPassword(canonicalPassword(password));
    const at = clock();
    const now = at.toISOString();
    const [column, value] = ownerFilter(owner);
    const row = await db.transaction().execute(async (trx) => {
      const live = await trx
        .selectFrom('app_passwords')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where(column, '=', value)
        .where('revoked_at', 'is', null)
        .executeTakeFirstOrThrow();
      if (Number(live.n) >= MAX_LIVE_PASSWORDS) {
        throw new ConflictError(
          'auth.app-password.too-many',
          `${value} already has ${MAX_LIVE_PASSWORDS} live app passwords: revoke one first (rule auth.app-password.too-many)`,
        );
      }
      const inserted = await trx
        .insertInto('app_passwords')
        .values({
          id_nat: owner.kind === 'professional' ? owner.idNat : null,
          bal_address: owner.kind === 'app' ? owner.balAddress : null,
          label,
          hash,
          created_at: now,
          created_by: actor,
          last_used_at: null,
          revoked_at: null,
        })
        .returning(INFO_COLUMNS)
        .executeTakeFirstOrThrow();
      await appendAudit(
        trx,
        {
          actor,
          action: 'auth.app-password.issue',
          subject: value,
          details: { id: inserted.id, label },
        },
        at,
      );
      return inserted;
    });
    return { ...toInfo(row as Row), password };
  }

  async function verify(login: string, password: string): Promise<VerifiedLogin | null> {
    if (typeof password !== 'string' || password.length === 0 || password.length > MAX_PASSWORD_INPUT) {
      return null;
    }
    const canonical = canonicalPassword(password);
    const identity = typeof login === 'string' ? await identityOfOrNull(db, login) : null;
    const [column, value] = identity ? ownerFilter(identity) : (['id_nat', ''] as const);
    const candidates = identity
      ? await db
          .selectFrom('app_passwords')
          .select(['id', 'hash'])
          .where(column, '=', value)
          .where('revoked_at', 'is', null)
          .orderBy('id', 'desc')
          .limit(MAX_LIVE_PASSWORDS)
          .execute()
      : [];
    let match: number | null = null;
    for (const c of candidates) {
      // Every candidate is tried, so the time taken does not tell which one matched.
      if ((await verifyPassword(canonical, c.hash)) && match === null) match = c.id;
    }
    if (candidates.length === 0) {
      decoy ??= hashPassword('decoy');
      await verifyPassword(canonical, await decoy);
    }
    if (match === null || !identity) return null;
    const bals = await allowedBals(db, identity);
    if (bals.length === 0) return null;
    await db
      .updateTable('app_passwords')
      .set({ last_used_at: clock().toISOString() })
      .where('id', '=', match)
      .where('revoked_at', 'is', null)
      .execute();
    return { ...identity, appPasswordId: match, bals };
  }

  async function list(ownerInput: AppPasswordOwnerInput | AuthIdentity): Promise<AppPasswordInfo[]> {
    const [column, value] = ownerFilter(ownerOf(ownerInput));
    const rows = await db
      .selectFrom('app_passwords')
      .select(INFO_COLUMNS)
      .where(column, '=', value)
      .orderBy('id')
      .execute();
    return rows.map((r) => toInfo(r as Row));
  }

  async function revoke(idInput: number, actorInput: string): Promise<AppPasswordInfo> {
    const actor = requireActor(actorInput);
    const id = typeof idInput === 'string' && /^\s*\d+\s*$/.test(idInput) ? Number(idInput) : idInput;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
      throw new ValidationError(
        'id',
        'auth.app-password.id',
        `app password id must be a positive integer, got ${JSON.stringify(idInput)}`,
      );
    }
    const at = clock();
    return db.transaction().execute(async (trx) => {
      let q = trx.selectFrom('app_passwords').select(INFO_COLUMNS).where('id', '=', id);
      if (store.dialect === 'postgres') q = q.forUpdate();
      const row = await q.executeTakeFirst();
      if (!row) throw new NotFoundError(`no app password with id ${id}`);
      if (row.revoked_at !== null) {
        throw new ConflictError(
          'auth.app-password.revoked',
          `app password ${id} was already revoked on ${row.revoked_at}`,
        );
      }
      const now = at.toISOString();
      await trx.updateTable('app_passwords').set({ revoked_at: now }).where('id', '=', id).execute();
      const subject = identityKey(
        row.id_nat !== null
          ? { kind: 'professional', idNat: row.id_nat }
          : { kind: 'app', balAddress: row.bal_address! },
      );
      await appendAudit(
        trx,
        { actor, action: 'auth.app-password.revoke', subject, details: { id, label: row.label } },
        at,
      );
      return toInfo({ ...(row as Row), revoked_at: now });
    });
  }

  return { issue, verify, list, revoke };
}
