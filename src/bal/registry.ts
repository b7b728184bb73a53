/**
 * The BAL registry: opens, edits, suspends, reactivates and closes the operator's BALs, and
 * manages the members of ORG BALs and the client certificates of APP BALs.
 *
 * Every operation runs in one transaction together with its audit entry, so a change is
 * either complete and audited, or absent. Directory lookups (which may go to the FHIR API)
 * happen before the transaction opens, never while it holds locks.
 */
import type { Kysely, Selectable, Transaction, Updateable } from 'kysely';
import type { Directory } from '../annuaire/types.ts';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { checkBalAddress } from '../domain/identifiers.ts';
import { type AuditRecord, appendAudit, readAudit } from '../store/audit.ts';
import type { Store } from '../store/open.ts';
import type { BalsTable, Database } from '../store/schema/index.ts';
import { checkAction, isEditable, type LifecycleAction } from './lifecycle.ts';
import {
  aBal,
  type Bal,
  type BalCertificate,
  type BalCreateInput,
  type BalFilter,
  type BalPatch,
  type BalType,
  idNatValue,
  type NormalisedCreate,
  type NormalisedPatch,
  normaliseCreateInput,
  normalisePatch,
  refuseFieldForType,
  requireBalStatus,
  requireBalType,
  requireReason,
  structureIdValue,
  TYPE_FIELDS,
} from './model.ts';

export interface BalRegistryDeps {
  /** Where holders, responsibles and members must be known. */
  directory: Pick<Directory, 'findProfessional'>;
  /** Mail domains served by this operator: new addresses must be in one of them. */
  domains: readonly string[];
  clock?: () => Date;
}

export interface BalRegistry {
  create(input: BalCreateInput, actor: string): Promise<Bal>;
  /** Throws NotFoundError when there is no BAL at that address. */
  get(address: string): Promise<Bal>;
  /** BALs matching every given filter, ordered by address. */
  list(filter?: BalFilter): Promise<Bal[]>;
  update(address: string, patch: BalPatch, actor: string): Promise<Bal>;
  suspend(address: string, reason: string, actor: string): Promise<Bal>;
  reactivate(address: string, actor: string): Promise<Bal>;
  close(address: string, reason: string, actor: string): Promise<Bal>;
  addMember(address: string, idNat: string, actor: string): Promise<Bal>;
  removeMember(address: string, idNat: string, actor: string): Promise<Bal>;
  /** Audit entries about the BAL, newest first. */
  history(address: string, opts?: { limit?: number }): Promise<AuditRecord[]>;
}

type Db = Kysely<Database>;
type BalRow = Selectable<BalsTable>;

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** Unique-key violation, as raised by better-sqlite3 or pg. */
function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** An address given to look a BAL up: valid syntax, lower-cased; any domain (it may have been served once). */
function lookupAddress(input: unknown): string {
  if (typeof input !== 'string') {
    throw new ValidationError('address', 'address.syntax', 'address is required (local-part@domain)');
  }
  const check = checkBalAddress(input);
  if (!check.ok) throw new ValidationError('address', check.rule, check.reason);
  return check.value.address;
}

function requireActor(actor: unknown): string {
  if (typeof actor !== 'string' || actor.trim() === '') {
    throw new ValidationError('actor', 'audit.actor.required', 'an actor is required for the audit log');
  }
  return actor.trim();
}

function toView(row: BalRow, members: string[], certificates: BalCertificate[]): Bal {
  return {
    address: row.address,
    type: row.type,
    status: row.status,
    holderIdNat: row.holder_id_nat,
    structureId: row.structure_id,
    displayName: row.display_name,
    description: row.description,
    service: row.service,
    responsibleIdNat: row.responsible_id_nat,
    phone: row.phone,
    listeRouge: Boolean(row.liste_rouge),
    digitization: Boolean(row.digitization),
    preferredRank: row.preferred_rank,
    members,
    certificates,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    suspendedAt: row.suspended_at,
    closedAt: row.closed_at,
    statusReason: row.status_reason,
  };
}

/** Views of `rows`, with their members and certificates (two queries for the whole batch). */
async function toViews(db: Db, rows: BalRow[]): Promise<Bal[]> {
  if (rows.length === 0) return [];
  const addresses = rows.map((r) => r.address);
  const members = await db
    .selectFrom('bal_members')
    .select(['address', 'id_nat'])
    .where('address', 'in', addresses)
    .orderBy('id_nat')
    .execute();
  const certs = await db
    .selectFrom('bal_certificates')
    .select(['address', 'subject_dn', 'fingerprint_sha256'])
    .where('address', 'in', addresses)
    .orderBy('id')
    .execute();
  return rows.map((row) =>
    toView(
      row,
      members.filter((m) => m.address === row.address).map((m) => m.id_nat),
      certs
        .filter((c) => c.address === row.address)
        .map((c) => ({ subjectDn: c.subject_dn, fingerprintSha256: c.fingerprint_sha256 })),
    ),
  );
}

async function findRow(db: Db, address: string): Promise<BalRow | undefined> {
  return db.selectFrom('bals').selectAll().where('address', '=', address).executeTakeFirst();
}

function notFound(address: string): NotFoundError {
  return new NotFoundError(`no BAL at address ${address}`);
}

/** The refusal for an address that is taken, in any status. */
function addressTaken(row: BalRow): ConflictError {
  if (row.status === 'closed') {
    return new ConflictError(
      'bal.address.closed',
      `address ${row.address} was closed on ${row.closed_at ?? row.updated_at} and is never reassigned to anyone else`,
    );
  }
  return new ConflictError(
    'bal.address.exists',
    `address ${row.address} is already taken by ${aBal(row.type)} (status ${row.status}, created ${row.created_at})`,
  );
}

function closedBal(row: BalRow, what: string): ConflictError {
  return new ConflictError(
    'bal.closed',
    `BAL ${row.address} is closed (since ${row.closed_at ?? row.updated_at}): ${what}`,
  );
}

/** Comparable form of a certificate set (order-insensitive). */
function certKey(certs: readonly BalCertificate[]): string {
  return certs
    .map((c) => `${c.subjectDn ?? ''}\n${c.fingerprintSha256 ?? ''}`)
    .sort()
    .join('\n\n');
}

const PATCH_COLUMNS = {
  structureId: 'structure_id',
  displayName: 'display_name',
  description: 'description',
  service: 'service',
  responsibleIdNat: 'responsible_id_nat',
  phone: 'phone',
  listeRouge: 'liste_rouge',
  digitization: 'digitization',
  preferredRank: 'preferred_rank',
} as const;

export function createBalRegistry(store: Store, deps: BalRegistryDeps): BalRegistry {
  const clock = deps.clock ?? (() => new Date());
  const postgres = store.dialect === 'postgres';

  /** Throws ValidationError `<role>.unknown` when the directory does not know the idNat. */
  async function requireKnown(
    idNat: string,
    role: 'holder' | 'responsible' | 'member',
    field: string,
    type: BalType,
  ) {
    const found = await deps.directory.findProfessional(idNat);
    if (found) return;
    const what =
      role === 'holder'
        ? `${aBal(type)} can only be opened for a professional listed in the Annuaire Santé (RPPS/ADELI)`
        : role === 'responsible'
          ? `the responsible of ${aBal(type)} must be a professional listed in the Annuaire Santé (RPPS/ADELI)`
          : 'members of an ORG BAL must be professionals listed in the Annuaire Santé (RPPS/ADELI)';
    throw new ValidationError(
      field,
      `${role}.unknown`,
      `${field} ${idNat} is not known to the directory: ${what}`,
    );
  }

  /** The row, locked for the rest of the transaction on PostgreSQL; NotFoundError if absent. */
  async function lockRow(trx: Transaction<Database>, address: string): Promise<BalRow> {
    let q = trx.selectFrom('bals').selectAll().where('address', '=', address);
    if (postgres) q = q.forUpdate();
    const row = await q.executeTakeFirst();
    if (!row) throw notFound(address);
    return row;
  }

  /**
   * Locks every BAL of a holder, in address order, so that two operations moving the holder's
   * preferred rank cannot interleave (PostgreSQL; SQLite transactions are serial already).
   */
  async function lockHolder(trx: Transaction<Database>, holderIdNat: string): Promise<void> {
    if (!postgres) return;
    await trx
      .selectFrom('bals')
      .select('address')
      .where('holder_id_nat', '=', holderIdNat)
      .orderBy('address')
      .forUpdate()
      .execute();
  }

  async function upsertStructure(trx: Transaction<Database>, structureId: string, now: string) {
    await trx
      .insertInto('structures')
      .values({
        structure_id: structureId,
        kind: structureId.startsWith('1') ? 'FINESS' : 'SIRET',
        name: null,
        created_at: now,
      })
      .onConflict((oc) => oc.column('structure_id').doNothing())
      .execute();
  }

  /** Takes rank 1 away from the holder's other BALs that are not closed; each change is audited. */
  async function demoteOtherPreferred(
    trx: Transaction<Database>,
    holderIdNat: string,
    keep: string,
    now: Date,
    actor: string,
  ): Promise<void> {
    const others = await trx
      .selectFrom('bals')
      .select('address')
      .where('holder_id_nat', '=', holderIdNat)
      .where('address', '<>', keep)
      .where('preferred_rank', '=', 1)
      .where('status', '<>', 'closed')
      .orderBy('address')
      .execute();
    for (const { address } of others) {
      await trx
        .updateTable('bals')
        .set({ preferred_rank: null, updated_at: now.toISOString() })
        .where('address', '=', address)
        .execute();
      await appendAudit(
        trx,
        {
          actor,
          action: 'bal.update',
          subject: address,
          details: {
            changes: { preferredRank: { before: 1, after: null } },
            cause: `preferred rank 1 given to ${keep}, another BAL of holder ${holderIdNat}`,
          },
        },
        now,
      );
    }
  }

  async function insertCertificates(
    trx: Transaction<Database>,
    address: string,
    certs: readonly BalCertificate[],
    now: string,
  ) {
    if (certs.length === 0) return;
    await trx
      .insertInto('bal_certificates')
      .values(
        certs.map((c) => ({
          address,
          subject_dn: c.subjectDn,
          fingerprint_sha256: c.fingerprintSha256,
          added_at: now,
        })),
      )
      .execute();
  }

  async function viewOf(db: Db, address: string): Promise<Bal> {
    const row = await findRow(db, address);
    if (!row) throw notFound(address);
    return (await toViews(db, [row]))[0]!;
  }

  async function checkCreateAgainstDirectory(bal: NormalisedCreate) {
    if (bal.holderIdNat) await requireKnown(bal.holderIdNat, 'holder', 'holderIdNat', bal.type);
    if (bal.responsibleIdNat) {
      await requireKnown(bal.responsibleIdNat, 'responsible', 'responsibleIdNat', bal.type);
    }
    // members are de-duplicated and sorted by now: the message names the idNat, not a position
    for (const m of bal.members) await requireKnown(m, 'member', 'members', bal.type);
  }

  async function create(input: BalCreateInput, actorInput: string): Promise<Bal> {
    const actor = requireActor(actorInput);
    const bal = normaliseCreateInput(input, deps.domains);
    await checkCreateAgainstDirectory(bal);
    const at = clock();
    const now = at.toISOString();
    try {
      return await store.db.transaction().execute(async (trx) => {
        const existing = await findRow(trx, bal.address);
        if (existing) throw addressTaken(existing);
        const ranked = bal.preferredRank === 1 && bal.holderIdNat !== null;
        if (ranked) await lockHolder(trx, bal.holderIdNat!);
        if (bal.structureId) await upsertStructure(trx, bal.structureId, now);
        await trx
          .insertInto('bals')
          .values({
            address: bal.address,
            type: bal.type,
            status: 'active',
            holder_id_nat: bal.holderIdNat,
            structure_id: bal.structureId,
            display_name: bal.displayName,
            description: bal.description,
            service: bal.service,
            responsible_id_nat: bal.responsibleIdNat,
            phone: bal.phone,
            liste_rouge: bal.listeRouge ? 1 : 0,
            digitization: bal.digitization ? 1 : 0,
            preferred_rank: bal.preferredRank,
            status_reason: null,
            created_at: now,
            updated_at: now,
            suspended_at: null,
            closed_at: null,
          })
          .execute();
        if (bal.members.length > 0) {
          await trx
            .insertInto('bal_members')
            .values(bal.members.map((id_nat) => ({ address: bal.address, id_nat, added_at: now })))
            .execute();
        }
        await insertCertificates(trx, bal.address, bal.certificates, now);
        if (ranked) await demoteOtherPreferred(trx, bal.holderIdNat!, bal.address, at, actor);
        const view = await viewOf(trx, bal.address);
        const {
          createdAt: _c,
          updatedAt: _u,
          suspendedAt: _s,
          closedAt: _cl,
          statusReason: _r,
          ...snapshot
        } = view;
        await appendAudit(
          trx,
          { actor, action: 'bal.create', subject: bal.address, details: { bal: snapshot } },
          at,
        );
        return view;
      });
    } catch (e) {
      if (isUniqueViolation(e)) {
        // A concurrent create won the race: answer as if we had seen its row first.
        const winner = await findRow(store.db, bal.address);
        if (winner) throw addressTaken(winner);
      }
      throw e;
    }
  }

  async function get(addressInput: string): Promise<Bal> {
    return viewOf(store.db, lookupAddress(addressInput));
  }

  async function list(filter: BalFilter = {}): Promise<Bal[]> {
    const limit = filter.limit ?? DEFAULT_LIMIT;
    const offset = filter.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      throw new ValidationError(
        'limit',
        'list.limit',
        `limit must be an integer from 1 to ${MAX_LIMIT}, got ${limit}`,
      );
    }
    if (!Number.isInteger(offset) || offset < 0) {
      throw new ValidationError('offset', 'list.offset', `offset must be an integer ≥ 0, got ${offset}`);
    }
    let q = store.db.selectFrom('bals').selectAll();
    if (filter.type !== undefined) q = q.where('type', '=', requireBalType(filter.type));
    if (filter.status !== undefined) q = q.where('status', '=', requireBalStatus(filter.status));
    if (filter.structureId !== undefined)
      q = q.where('structure_id', '=', structureIdValue(filter.structureId));
    if (filter.holderIdNat !== undefined) {
      q = q.where('holder_id_nat', '=', idNatValue(filter.holderIdNat, 'holderIdNat'));
    }
    if (filter.memberIdNat !== undefined) {
      const member = idNatValue(filter.memberIdNat, 'memberIdNat');
      q = q.where('address', 'in', (eb) =>
        eb.selectFrom('bal_members').select('address').where('id_nat', '=', member),
      );
    }
    const rows = await q.orderBy('address').limit(limit).offset(offset).execute();
    return toViews(store.db, rows);
  }

  async function update(addressInput: string, patchInput: BalPatch, actorInput: string): Promise<Bal> {
    const actor = requireActor(actorInput);
    const address = lookupAddress(addressInput);
    const current = await viewOf(store.db, address);
    if (current.status === 'closed') {
      const row = (await findRow(store.db, address))!;
      throw closedBal(row, 'it can no longer be updated');
    }
    const patch: NormalisedPatch = normalisePatch(patchInput, current.type);
    if (patch.responsibleIdNat && patch.responsibleIdNat !== current.responsibleIdNat) {
      await requireKnown(patch.responsibleIdNat, 'responsible', 'responsibleIdNat', current.type);
    }
    const at = clock();
    const now = at.toISOString();
    return store.db.transaction().execute(async (trx) => {
      const givesRankOne = patch.preferredRank === 1 && current.holderIdNat !== null;
      if (givesRankOne) await lockHolder(trx, current.holderIdNat!);
      const row = await lockRow(trx, address);
      if (!isEditable(row.status)) throw closedBal(row, 'it can no longer be updated');
      const before = (await toViews(trx, [row]))[0]!;

      const changes: Record<string, { before: unknown; after: unknown }> = {};
      const set: Updateable<BalsTable> = {};
      for (const [field, column] of Object.entries(PATCH_COLUMNS) as [keyof typeof PATCH_COLUMNS, string][]) {
        const value = patch[field];
        if (value === undefined || value === before[field]) continue;
        changes[field] = { before: before[field], after: value };
        (set as Record<string, unknown>)[column] = typeof value === 'boolean' ? (value ? 1 : 0) : value;
      }
      const certsChanged =
        patch.certificates !== undefined && certKey(patch.certificates) !== certKey(before.certificates);
      if (certsChanged) changes['certificates'] = { before: before.certificates, after: patch.certificates };
      if (Object.keys(changes).length === 0) return before;

      if (patch.structureId && changes['structureId']) await upsertStructure(trx, patch.structureId, now);
      await trx
        .updateTable('bals')
        .set({ ...set, updated_at: now })
        .where('address', '=', address)
        .execute();
      if (certsChanged) {
        await trx.deleteFrom('bal_certificates').where('address', '=', address).execute();
        await insertCertificates(trx, address, patch.certificates!, now);
      }
      if (givesRankOne && changes['preferredRank']) {
        await demoteOtherPreferred(trx, current.holderIdNat!, address, at, actor);
      }
      await appendAudit(trx, { actor, action: 'bal.update', subject: address, details: { changes } }, at);
      return viewOf(trx, address);
    });
  }

  async function move(
    addressInput: string,
    action: LifecycleAction,
    reason: string | null,
    actorInput: string,
  ): Promise<Bal> {
    const actor = requireActor(actorInput);
    const address = lookupAddress(addressInput);
    const at = clock();
    const now = at.toISOString();
    return store.db.transaction().execute(async (trx) => {
      const row = await lockRow(trx, address);
      const check = checkAction(row.status, action);
      if (!check.ok) {
        const when = row.status === 'closed' ? ` (closed on ${row.closed_at ?? row.updated_at})` : '';
        throw new ConflictError(check.rule, `cannot ${action} BAL ${address}${when}: ${check.reason}`);
      }
      const set =
        action === 'suspend'
          ? { status: 'suspended' as const, suspended_at: now, status_reason: reason }
          : action === 'reactivate'
            ? { status: 'active' as const, suspended_at: null, status_reason: null }
            : { status: 'closed' as const, closed_at: now, status_reason: reason };
      await trx
        .updateTable('bals')
        .set({ ...set, updated_at: now })
        .where('address', '=', address)
        .execute();
      const details: Record<string, unknown> = { from: check.from, to: check.to };
      if (reason !== null) details['reason'] = reason;
      await appendAudit(trx, { actor, action: `bal.${action}`, subject: address, details }, at);
      return viewOf(trx, address);
    });
  }

  /** Member operations: ORG only, not on a closed BAL; idNat valid. */
  async function memberOp(
    addressInput: string,
    idNatInput: string,
    actorInput: string,
    op: 'add' | 'remove',
  ): Promise<Bal> {
    const actor = requireActor(actorInput);
    const address = lookupAddress(addressInput);
    const idNat = idNatValue(idNatInput, 'idNat');
    const current = await findRow(store.db, address);
    if (!current) throw notFound(address);
    if (TYPE_FIELDS[current.type].members === 'refused') refuseFieldForType(current.type, 'members');
    if (current.status === 'closed') {
      throw closedBal(current, `members can no longer be ${op === 'add' ? 'added' : 'removed'}`);
    }
    if (op === 'add') await requireKnown(idNat, 'member', 'idNat', current.type);
    const at = clock();
    const now = at.toISOString();
    try {
      return await store.db.transaction().execute(async (trx) => {
        const row = await lockRow(trx, address);
        if (!isEditable(row.status)) {
          throw closedBal(row, `members can no longer be ${op === 'add' ? 'added' : 'removed'}`);
        }
        const isMember = await trx
          .selectFrom('bal_members')
          .select('id_nat')
          .where('address', '=', address)
          .where('id_nat', '=', idNat)
          .executeTakeFirst();
        if (op === 'add') {
          if (isMember) throw memberExists(address, idNat);
          await trx.insertInto('bal_members').values({ address, id_nat: idNat, added_at: now }).execute();
        } else {
          if (!isMember) throw new NotFoundError(`${idNat} is not a member of BAL ${address}`);
          await trx
            .deleteFrom('bal_members')
            .where('address', '=', address)
            .where('id_nat', '=', idNat)
            .execute();
        }
        await trx.updateTable('bals').set({ updated_at: now }).where('address', '=', address).execute();
        await appendAudit(
          trx,
          { actor, action: `bal.member.${op}`, subject: address, details: { idNat } },
          at,
        );
        return viewOf(trx, address);
      });
    } catch (e) {
      if (op === 'add' && isUniqueViolation(e)) throw memberExists(address, idNat);
      throw e;
    }
  }

  function memberExists(address: string, idNat: string): ConflictError {
    return new ConflictError('bal.member.exists', `${idNat} is already a member of BAL ${address}`);
  }

  async function history(addressInput: string, opts: { limit?: number } = {}): Promise<AuditRecord[]> {
    const address = lookupAddress(addressInput);
    if (!(await findRow(store.db, address))) throw notFound(address);
    const limit = opts.limit ?? DEFAULT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      throw new ValidationError(
        'limit',
        'list.limit',
        `limit must be an integer from 1 to ${MAX_LIMIT}, got ${limit}`,
      );
    }
    return readAudit(store.db, { subject: address, limit });
  }

  return {
    create,
    get,
    list,
    update,
    // async so that a synchronous refusal (requireReason) becomes a rejected promise
    suspend: async (address, reason, actor) =>
      move(address, 'suspend', requireReason(reason, 'suspend'), actor),
    reactivate: async (address, actor) => move(address, 'reactivate', null, actor),
    close: async (address, reason, actor) => move(address, 'close', requireReason(reason, 'close'), actor),
    addMember: async (address, idNat, actor) => memberOp(address, idNat, actor, 'add'),
    removeMember: async (address, idNat, actor) => memberOp(address, idNat, actor, 'remove'),
    history,
  };
}
