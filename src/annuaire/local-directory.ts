import {
  type CompiledQuery,
  type Kysely,
  type Selectable,
  type SqlBool,
  sql,
  type Transaction,
} from 'kysely';
import { ValidationError } from '../domain/errors.ts';
import { requireBalAddress, requireIdNat, requireStructureId } from '../domain/identifiers.ts';
import type { DialectName } from '../store/dialect.ts';
import type { Store } from '../store/open.ts';
import type {
  Database,
  DirectoryActivitiesTable,
  DirectoryMailboxesTable,
  DirectoryProfessionalsTable,
  DirectorySnapshotsTable,
  SnapshotKind,
} from '../store/schema/index.ts';
import { prefixUpperBound, searchKey } from './search-key.ts';
import type {
  ActivityRecord,
  Directory,
  MailboxRecord,
  NameSearchResult,
  ProfessionalRecord,
  SnapshotInfo,
} from './types.ts';

/*
 * The local mirror of the Annuaire Santé, read through Kysely with one query builder for
 * SQLite and PostgreSQL. Every query is restricted to the `current` snapshot of its kind
 * (mss: BAL extract, ps: professionals and activities), so rows of an import in progress
 * ('loading'), of a failed one or of a replaced one ('retired') are never seen.
 *
 * An import makes its snapshot current in one transaction, so one statement sees one snapshot
 * of each kind (PostgreSQL takes a snapshot per statement; an SQLite statement reads within
 * one implicit read transaction). A professional and their activities, which must come from
 * the same `ps` snapshot, are therefore read by one statement (professional LEFT JOIN
 * activities): an import switching snapshots in the middle of a lookup cannot mix the old
 * professional with the new activities. The BALs come from the `mss` snapshot, a separate
 * extract imported on its own, so findProfessional reads them with a second statement run
 * concurrently, with no transaction (one round trip instead of BEGIN, three statements,
 * COMMIT). searchByName still runs in a read transaction (repeatable read on PostgreSQL; on
 * SQLite a BEGIN IMMEDIATE, see src/store/open.ts, which also holds imports off until it
 * ends): its two BAL statements (the name matches, and the BALs of the professionals found,
 * which needs their ids first) must see the same `mss` snapshot. Its professionals and their
 * activities are still read by one statement, which saves a round trip.
 */

export const SEARCH_DEFAULT_LIMIT = 20;
export const SEARCH_MAX_LIMIT = 200;
export const STRUCTURE_DEFAULT_LIMIT = 100;
export const STRUCTURE_MAX_LIMIT = 1000;
/** Shortest search key accepted: one letter would read a large part of the index. */
export const SEARCH_MIN_KEY_LENGTH = 2;

type Db = Kysely<Database> | Transaction<Database>;
type MailboxRow = Selectable<DirectoryMailboxesTable>;
type ProfessionalRow = Selectable<DirectoryProfessionalsTable>;
type ActivityRow = Selectable<DirectoryActivitiesTable>;
type SnapshotRow = Selectable<DirectorySnapshotsTable>;

/** The activity columns that activityFromRow reads (id_nat: null when a LEFT JOIN found none). */
const ACTIVITY_FIELDS = [
  'id_nat',
  'profession_code',
  'profession_label',
  'category_code',
  'category_label',
  'skill_label',
  'mode_label',
  'finess_site',
  'finess_ej',
  'siret',
  'org_name',
  'org_trade_name',
  'postal_code',
  'city',
  'role_label',
] as const satisfies readonly (keyof ActivityRow)[];
type ActivityField = (typeof ACTIVITY_FIELDS)[number];
type ActivityFields = Pick<ActivityRow, ActivityField>;
/** An activity's columns as selected beside the professional's: `a_` + column, all nullable. */
type JoinedActivity = { [F in ActivityField as `a_${F}`]: ActivityRow[F] | null };
/** `a.<column> as a_<column>` for each activity field, for .select() on `directory_activities as a`. */
const ACTIVITY_SELECTION = ACTIVITY_FIELDS.map((f) => `a.${f} as a_${f}`) as {
  [F in ActivityField]: `a.${F} as a_${F}`;
}[ActivityField][];

/** The activity of a professional LEFT JOIN activities row, or null when the join found none. */
function joinedActivity(row: JoinedActivity): ActivityFields | null {
  if (row.a_id_nat === null) return null;
  const out: Record<string, string | null> = {};
  for (const f of ACTIVITY_FIELDS) out[f] = row[`a_${f}`];
  return out as ActivityFields;
}

/**
 * Rows of professional LEFT JOIN activities (ordered by professional, then activity) grouped
 * back into one professional row with its activities, in the order of the rows.
 */
function groupJoined<R extends ProfessionalRow & JoinedActivity>(
  rows: R[],
): { row: R; activities: ActivityFields[] }[] {
  const out = new Map<string, { row: R; activities: ActivityFields[] }>();
  for (const r of rows) {
    let entry = out.get(r.id_nat);
    if (!entry) {
      entry = { row: r, activities: [] };
      out.set(r.id_nat, entry);
    }
    const activity = joinedActivity(r);
    if (activity) entry.activities.push(activity);
  }
  return [...out.values()];
}

/** Ids of the current snapshot of `kind` (one in practice), as a subquery. */
function current(db: Db, kind: SnapshotKind) {
  return db
    .selectFrom('directory_snapshots')
    .select('id')
    .where('kind', '=', kind)
    .where('status', '=', 'current');
}

/**
 * `column` holds the id of a current snapshot of `kind` (the same rows as `in (current)`). On
 * PostgreSQL it is written `= any(array(subquery))`: the subquery runs once (an InitPlan) and
 * the statement is planned in about half the time of `in (subquery)`, a semi-join whose join
 * orders the planner costs; planning is most of the server's work for a lookup of one row.
 */
function isCurrent(db: Db, dialect: DialectName, column: string, kind: SnapshotKind) {
  return dialect === 'postgres'
    ? sql<SqlBool>`${sql.ref(column)} = any(array${current(db, kind)})`
    : sql<SqlBool>`${sql.ref(column)} in ${current(db, kind)}`;
}

/** Stands for the idNat in a statement compiled once; see withIdNat. */
const ID_NAT = '\u0000idNat';

/** A statement compiled with ID_NAT as a parameter, with `idNat` in its place. */
function withIdNat<R>(compiled: CompiledQuery<R>, idNat: string): CompiledQuery<R> {
  return { ...compiled, parameters: compiled.parameters.map((v) => (v === ID_NAT ? idNat : v)) };
}

function readTransaction<T>(db: Kysely<Database>, fn: (trx: Transaction<Database>) => Promise<T>) {
  // SQLite ignores the isolation level and access mode (a plain BEGIN); PostgreSQL honours them.
  return db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(fn);
}

/** Checks an optional result limit; refuses what is not an integer in [1, max], saying so. */
export function checkLimit(limit: number | undefined, fallback: number, max: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1 || limit > max) {
    throw new ValidationError(
      'limit',
      'limit.range',
      `limit must be a whole number from 1 to ${max}, got ${JSON.stringify(limit)}`,
    );
  }
  return limit;
}

const blank = (v: string | null | undefined): v is null | undefined | '' =>
  v === null || v === undefined || v.trim() === '';
const orNull = (v: string | null | undefined): string | null => (blank(v) ? null : v.trim());

/**
 * Structure id in the '1' + FINESS / '3' + SIRET form, from the extract's two columns
 * ("Type identifiant structure", "Identification Structure"). We found no public statement of
 * which form the extract uses (bare id with a type code from TRE_G07 — 1 FINESS, 2 SIREN,
 * 3 SIRET… — or the prefixed national structure id), so both are accepted: an id that is
 * already prefixed is kept, a bare 9-character FINESS or 14-digit SIRET gets its prefix when
 * the type column does not say it is something else. Anything else is shown as given.
 */
export function canonicalStructureId(type: string | null, id: string | null): string | null {
  const v = orNull(id);
  if (v === null) return null;
  const t = (type ?? '').trim().toUpperCase();
  const finessType = t === '' || t === '1' || t === 'FINESS' || t === '5';
  const siretType = t === '' || t === '3' || t === 'SIRET';
  if (/^1(?:\d{2}|2A|2B)\d{7}$/.test(v) || /^3\d{14}$/.test(v)) return v;
  if (finessType && /^(?:\d{2}|2A|2B)\d{7}$/.test(v)) return `1${v}`;
  if (siretType && /^\d{14}$/.test(v)) return `3${v}`;
  return v;
}

/** 'RPPS' or 'ADELI' from the extract's "Type d'identifiant PP" code (8 / 0) or name. */
function ppIdTypeName(code: string | null): string | null {
  const c = orNull(code);
  if (c === null) return null;
  if (c === '8' || c.toUpperCase() === 'RPPS') return 'RPPS';
  if (c === '0' || c.toUpperCase() === 'ADELI') return 'ADELI';
  return c;
}

/** City from the routing line "75002 PARIS" (L6LIGNEACHEMINEMENT). */
function localityOf(row: MailboxRow): string | null {
  const routing = orNull(row.addr_routing);
  if (routing === null) return null;
  const postal = orNull(row.postal_code);
  if (postal && routing.startsWith(postal)) return orNull(routing.slice(postal.length));
  return routing;
}

export function mailboxFromRow(row: MailboxRow): MailboxRecord {
  return {
    address: row.address,
    balType: row.bal_type,
    idNat: orNull(row.id_nat),
    structureId: canonicalStructureId(row.structure_id_type, row.structure_id),
    service: orNull(row.service),
    civility: orNull(row.civility),
    lastName: orNull(row.last_name),
    firstName: orNull(row.first_name),
    professionLabel: orNull(row.profession_label),
    orgName: orNull(row.org_name) ?? orNull(row.org_trade_name),
    postalCode: orNull(row.postal_code),
    locality: localityOf(row),
    department: orNull(row.department),
    source: 'local',
  };
}

function activityFromRow(row: ActivityFields): ActivityRecord {
  const finessSite = orNull(row.finess_site);
  const siret = orNull(row.siret);
  return {
    professionCode: orNull(row.profession_code),
    professionLabel: orNull(row.profession_label),
    categoryCode: orNull(row.category_code),
    categoryLabel: orNull(row.category_label),
    skillLabel: orNull(row.skill_label),
    modeLabel: orNull(row.mode_label),
    structureId: finessSite ? `1${finessSite}` : siret ? `3${siret}` : null,
    finessSite,
    finessEj: orNull(row.finess_ej),
    siret,
    orgName: orNull(row.org_name) ?? orNull(row.org_trade_name),
    postalCode: orNull(row.postal_code),
    city: orNull(row.city),
    roleLabel: orNull(row.role_label),
  };
}

function professionalFromRow(
  row: ProfessionalRow,
  activities: ActivityFields[],
  mailboxes: MailboxRow[],
): ProfessionalRecord {
  return {
    idNat: row.id_nat,
    ppIdType: ppIdTypeName(row.pp_id_type),
    ppId: orNull(row.pp_id),
    civility: orNull(row.exercise_civility_label) ?? orNull(row.civility_label),
    lastName: orNull(row.last_name),
    firstName: orNull(row.first_name),
    activities: activities.map(activityFromRow),
    mailboxes: mailboxes.map(mailboxFromRow),
    source: 'local',
  };
}

/** A professional known only from the BAL extract (no PS_LibreAcces row): built from its BALs. */
function professionalFromMailboxes(idNat: string, mailboxes: MailboxRow[]): ProfessionalRecord {
  const who = mailboxes.find((m) => !blank(m.last_name) || !blank(m.first_name)) ?? mailboxes[0]!;
  return {
    idNat,
    ppIdType: ppIdTypeName(who.pp_id_type),
    ppId: orNull(who.pp_id),
    civility: orNull(who.civility),
    lastName: orNull(who.last_name),
    firstName: orNull(who.first_name),
    activities: [],
    mailboxes: mailboxes.map(mailboxFromRow),
    source: 'local',
  };
}

function snapshotFromRow(row: SnapshotRow): SnapshotInfo {
  return {
    id: row.id,
    kind: row.kind,
    source: row.source,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    rowsRead: row.rows_read,
    rowsImported: row.rows_imported,
    rowsRejected: row.rows_rejected,
  };
}

/** The BALs of the current `mss` snapshot held by `idNats`, by address. */
function mailboxesQuery(db: Db, dialect: DialectName, idNats: string[]) {
  return db
    .selectFrom('directory_mailboxes')
    .selectAll()
    .where(isCurrent(db, dialect, 'snapshot_id', 'mss'))
    .where('id_nat', 'in', idNats)
    .orderBy('address');
}

/** BAL rows (ordered by address) by holder idNat, in the same order. */
function byIdNat(rows: MailboxRow[]): Map<string, MailboxRow[]> {
  const out = new Map<string, MailboxRow[]>();
  for (const r of rows) {
    const key = r.id_nat ?? '';
    out.set(key, [...(out.get(key) ?? []), r]);
  }
  return out;
}

/** The directory answered from the local mirror only. */
export function createLocalDirectory(store: Store): Directory {
  const { db, dialect } = store;

  // The two statements of findProfessional, compiled once: building and compiling them with
  // Kysely costs a good part of what running them does. ID_NAT stands for the idNat.
  // The professional with their activities (one row per activity, or one with null a_*
  // columns when there is none), in one statement so from one `ps` snapshot:
  const professionalQuery = db
    .selectFrom('directory_professionals as p')
    .leftJoin('directory_activities as a', (join) =>
      join.onRef('a.snapshot_id', '=', 'p.snapshot_id').onRef('a.id_nat', '=', 'p.id_nat'),
    )
    .selectAll('p')
    .select(ACTIVITY_SELECTION)
    .where(isCurrent(db, dialect, 'p.snapshot_id', 'ps'))
    .where('p.id_nat', '=', ID_NAT)
    .orderBy('a.org_name')
    .orderBy('a.finess_site')
    .compile();
  // Their BALs, from the `mss` snapshot:
  const mailboxQuery = mailboxesQuery(db, dialect, [ID_NAT]).compile();

  return {
    async findProfessional(idNatInput) {
      const { idNat } = requireIdNat(idNatInput);
      // Both statements at once, no transaction (see the top of this file).
      const [joined, theirMailboxes] = await Promise.all([
        db.executeQuery(withIdNat(professionalQuery, idNat)),
        db.executeQuery(withIdNat(mailboxQuery, idNat)),
      ]);
      const mailboxes = theirMailboxes.rows;
      const found = groupJoined(joined.rows)[0];
      if (found) return professionalFromRow(found.row, found.activities, mailboxes);
      return mailboxes.length > 0 ? professionalFromMailboxes(idNat, mailboxes) : null;
    },

    async findMailbox(addressInput) {
      const { address } = requireBalAddress(addressInput);
      const row = await db
        .selectFrom('directory_mailboxes')
        .selectAll()
        .where('snapshot_id', 'in', current(db, 'mss'))
        .where('address', '=', address)
        .executeTakeFirst();
      return row ? mailboxFromRow(row) : null;
    },

    async searchByName(query, opts = {}): Promise<NameSearchResult> {
      if (typeof query !== 'string') {
        throw new ValidationError('query', 'search.query', 'the name to search for must be a string');
      }
      const limit = checkLimit(opts.limit, SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT);
      const key = searchKey(query);
      if (key.length < SEARCH_MIN_KEY_LENGTH) {
        throw new ValidationError(
          'query',
          'search.too-short',
          `a name search needs at least ${SEARCH_MIN_KEY_LENGTH} letters or digits, got ${JSON.stringify(query)}`,
        );
      }
      const upper = prefixUpperBound(key);
      return readTransaction(db, async (trx) => {
        // The first `limit` professionals, each joined with their activities, in one statement
        // (one row per activity; the limit counts professionals, not rows).
        const joined = await trx
          .selectFrom((eb) =>
            eb
              .selectFrom('directory_professionals')
              .selectAll()
              .where('snapshot_id', 'in', current(trx, 'ps'))
              .where((ew) =>
                ew.or([
                  ew.and([ew('name_key', '>=', key), ew('name_key', '<', upper)]),
                  ew.and([ew('given_key', '>=', key), ew('given_key', '<', upper)]),
                ]),
              )
              .orderBy('name_key')
              .orderBy('id_nat')
              .limit(limit)
              .as('p'),
          )
          .leftJoin('directory_activities as a', (join) =>
            join.onRef('a.snapshot_id', '=', 'p.snapshot_id').onRef('a.id_nat', '=', 'p.id_nat'),
          )
          .selectAll('p')
          .select(ACTIVITY_SELECTION)
          .orderBy('p.name_key')
          .orderBy('p.id_nat')
          .orderBy('a.org_name')
          .orderBy('a.finess_site')
          .execute();
        const mailboxes = await trx
          .selectFrom('directory_mailboxes')
          .selectAll()
          .where('snapshot_id', 'in', current(trx, 'mss'))
          .where((eb) =>
            eb.or([
              eb.and([eb('name_key', '>=', key), eb('name_key', '<', upper)]),
              eb.and([eb('given_key', '>=', key), eb('given_key', '<', upper)]),
            ]),
          )
          .orderBy('name_key')
          .orderBy('address')
          .limit(limit)
          .execute();
        const professionals = groupJoined(joined);
        const ids = professionals.map((p) => p.row.id_nat);
        const theirMailboxes =
          ids.length > 0
            ? byIdNat(await mailboxesQuery(trx, dialect, ids).execute())
            : new Map<string, MailboxRow[]>();
        return {
          professionals: professionals.map(({ row, activities }) =>
            professionalFromRow(row, activities, theirMailboxes.get(row.id_nat) ?? []),
          ),
          mailboxes: mailboxes.map(mailboxFromRow),
        };
      });
    },

    async findByStructure(structureIdInput, opts = {}) {
      const s = requireStructureId(structureIdInput);
      const limit = checkLimit(opts.limit, STRUCTURE_DEFAULT_LIMIT, STRUCTURE_MAX_LIMIT);
      // BALs attached to the structure (prefixed or bare id, see canonicalStructureId), and the
      // BALs without a structure of the professionals who have an activity there.
      const rows = await db
        .selectFrom('directory_mailboxes as m')
        .selectAll('m')
        .where('m.snapshot_id', 'in', current(db, 'mss'))
        .where((eb) =>
          eb.or([
            eb('m.structure_id', '=', s.structureId),
            // A bare 9-digit id typed SIREN is not this FINESS.
            eb.and([
              eb('m.structure_id', '=', s.id),
              eb(eb.fn.coalesce('m.structure_id_type', eb.val('')), 'not in', ['2', 'SIREN']),
            ]),
            eb.and([
              eb.or([eb('m.structure_id', 'is', null), eb('m.structure_id', '=', '')]),
              eb(
                'm.id_nat',
                'in',
                eb
                  .selectFrom('directory_activities as a')
                  .select('a.id_nat')
                  .where('a.snapshot_id', 'in', current(db, 'ps'))
                  .where((ea) =>
                    s.kind === 'FINESS'
                      ? ea.or([ea('a.finess_site', '=', s.id), ea('a.finess_ej', '=', s.id)])
                      : ea('a.siret', '=', s.id),
                  ),
              ),
            ]),
          ]),
        )
        .orderBy('m.address')
        .limit(limit)
        .execute();
      return rows.map(mailboxFromRow);
    },

    async snapshots() {
      const rows = await db
        .selectFrom('directory_snapshots')
        .selectAll()
        .where('status', '=', 'current')
        .orderBy('kind')
        .orderBy('id')
        .execute();
      return rows.map(snapshotFromRow);
    },
  };
}
