import { CompiledQuery, type ControlledTransaction, type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import { ValidationError } from '../domain/errors.ts';
import { appendAudit } from '../store/audit.ts';
import type { Store } from '../store/open.ts';
import type { Database, SnapshotKind } from '../store/schema/index.ts';
import { type ExtractLine, type ExtractLines, openExtractLines } from './extract/lines.ts';
import { checkMssHeader, looksLikeMssHeader, type MailboxRow, parseMssRow } from './extract/mss-extract.ts';
import {
  type ActivityRow,
  checkPsHeader,
  looksLikePsHeader,
  type ProfessionalRow,
  type PsLayout,
  parsePsRow,
} from './extract/ps-extract.ts';

/*
 * Import of an Annuaire Santé public extract into the local mirror (see the snapshot design in
 * src/store/schema/directory.ts): the rows go into a new `loading` snapshot, in multi-row INSERTs
 * grouped in transactions; once the whole file is read, one transaction makes it `current` and
 * the previous one `retired`, whose rows are deleted after. Any failure (I/O, abort, database)
 * discards the new snapshot and leaves the previous one current.
 */

export type ExtractKind = SnapshotKind;

/** The published names of the two extracts. */
export const EXTRACT_NAMES: Record<ExtractKind, string> = {
  mss: 'Extraction_Correspondance_MSSante',
  ps: 'PS_LibreAcces_Personne_activite',
};

export interface ImportProgress {
  /** Bytes of text read so far (uncompressed for a zip). */
  bytesRead: number;
  bytesTotal: number;
  /** Data lines read so far. */
  rows: number;
}

export interface ImportReject {
  /** Line number in the text file (the header is line 1). */
  line: number;
  reason: string;
}

export interface ImportOptions {
  /** Which extract the file is; detected from its header when not given. */
  kind?: ExtractKind;
  /** Rows per INSERT statement (capped by the engine's limit on parameters). */
  batchSize: number;
  /** How many rejects the summary lists (all are counted, and all go to onReject). */
  maxListedRejects: number;
  /** Who imports, for the audit log. */
  actor: string;
  onProgress?: (p: ImportProgress) => void;
  /** Called for every rejected line. */
  onReject?: (r: ImportReject) => void;
  /** Aborting discards the new snapshot; the previous one stays current. */
  signal?: AbortSignal;
}

export interface ImportSummary {
  kind: ExtractKind;
  snapshotId: number;
  /** The file name (`archive.zip:entry.txt` for a zip). */
  source: string;
  /** Data lines read (the header not counted). */
  rowsRead: number;
  /** Lines written to the snapshot (ps: lines whose activity was written). */
  rowsImported: number;
  rowsRejected: number;
  /** The first `maxListedRejects` rejected lines. */
  rejects: ImportReject[];
  durationMs: number;
}

/** Which extract a header line is, or null when it is neither. */
export function detectExtractKind(header: string): ExtractKind | null {
  if (looksLikeMssHeader(header)) return 'mss';
  if (looksLikePsHeader(header)) return 'ps';
  return null;
}

/** Transactions group this many INSERT batches, so that a commit (an fsync) is paid per ~10k rows. */
const BATCHES_PER_TRANSACTION = 20;
/** Bound parameters per statement: SQLite's SQLITE_MAX_VARIABLE_NUMBER, PostgreSQL's protocol limit. */
const MAX_PARAMETERS = { sqlite: 32_766, postgres: 65_535 } as const;
/** onProgress is called every this many lines (and at the end). */
const PROGRESS_EVERY = 1000;

/**
 * Imports an extract file (`.txt`, or a `.zip` holding it) as the new current snapshot of its kind.
 * A header that is neither format, or a file that can't be opened, is a ValidationError and writes
 * nothing. Rows that can't be read are rejected (counted, listed with their line and reason).
 */
export async function importExtract(store: Store, file: string, opts: ImportOptions): Promise<ImportSummary> {
  const started = Date.now();
  const lines = await openExtractLines(file, {
    preferEntry: new RegExp(`^(${Object.values(EXTRACT_NAMES).join('|')})`, 'i'),
  });
  const it = lines[Symbol.asyncIterator]();
  try {
    const header = await it.next();
    const format = readHeader(header.done ? undefined : header.value, lines.source, opts.kind);
    await cleanLeftovers(store.db, format.kind);
    const snapshotId = await createSnapshot(store.db, format.kind, lines.source);
    const run = new ImportRun(store, snapshotId, format, lines, opts);
    try {
      await run.readAll(it);
    } catch (e) {
      throw await run.discard(e);
    }
    const summary = await run.commit(started);
    await deleteOldRows(store.db, format.kind).catch((e: Error) => {
      throw new Error(
        `${lines.source}: snapshot ${snapshotId} is now current, but deleting the rows of the previous one failed (${e.message}); the next import deletes them`,
        { cause: e },
      );
    });
    return summary;
  } finally {
    await it.return?.(undefined);
    await lines.close();
  }
}

type Format = { kind: 'mss' } | { kind: 'ps'; layout: PsLayout };

function readHeader(line: ExtractLine | undefined, source: string, kind: ExtractKind | undefined): Format {
  const expected = `an ${EXTRACT_NAMES.mss} header (starting "Type de BAL|Adresse BAL|…", 31 columns) or a ${EXTRACT_NAMES.ps} header (starting "Type d'identifiant PP|Identifiant PP|Identification nationale PP|…")`;
  if (!line)
    throw new ValidationError('file', 'extract.header', `${source}: the file is empty; expected ${expected}`);
  const detected = kind ?? detectExtractKind(line.text);
  if (detected === null) {
    throw new ValidationError(
      'file',
      'extract.header',
      `${source}: line 1 is not a known extract header; expected ${expected}, found ${JSON.stringify(line.text.slice(0, 120))}`,
    );
  }
  const refuse = (reason: string) => new ValidationError('file', 'extract.header', `${source}: ${reason}`);
  if (detected === 'mss') {
    const check = checkMssHeader(line.text);
    if (!check.ok) throw refuse(check.reason);
    return { kind: 'mss' };
  }
  const check = checkPsHeader(line.text);
  if (!check.ok) throw refuse(check.reason);
  return { kind: 'ps', layout: check.layout };
}

/** One import in progress: parses lines, removes duplicates, queues rows, writes them in batches. */
class ImportRun {
  private readonly writer: RowWriter;
  private readonly accept: Acceptor;
  private rowsRead = 0;
  private rowsImported = 0;
  private rowsRejected = 0;
  private lastLine = 1;
  private readonly rejects: ImportReject[] = [];

  constructor(
    private readonly store: Store,
    private readonly snapshotId: number,
    private readonly format: Format,
    private readonly lines: ExtractLines,
    private readonly opts: ImportOptions,
  ) {
    this.writer = new RowWriter(store, snapshotId, opts.batchSize);
    this.accept = format.kind === 'mss' ? mssAcceptor(this.writer) : psAcceptor(this.writer, format.layout);
  }

  async readAll(it: AsyncIterator<ExtractLine>): Promise<void> {
    const { signal } = this.opts;
    for (let next = await it.next(); !next.done; next = await it.next()) {
      if (signal?.aborted) throw abortError(signal);
      const line = next.value;
      this.lastLine = line.lineNo;
      this.rowsRead++;
      const rejected = await this.accept(line);
      if (rejected === null) this.rowsImported++;
      else this.reject(line.lineNo, rejected);
      await this.writer.writeFull();
      if (this.rowsRead % PROGRESS_EVERY === 0) this.progress();
    }
    await this.writer.finish();
    if (signal?.aborted) throw abortError(signal);
    this.progress();
  }

  private reject(line: number, reason: string): void {
    this.rowsRejected++;
    if (this.rejects.length < this.opts.maxListedRejects) this.rejects.push({ line, reason });
    this.opts.onReject?.({ line, reason });
  }

  private progress(): void {
    this.opts.onProgress?.({
      bytesRead: this.lines.bytesRead(),
      bytesTotal: this.lines.bytesTotal,
      rows: this.rowsRead,
    });
  }

  private counts() {
    return { rows_read: this.rowsRead, rows_imported: this.rowsImported, rows_rejected: this.rowsRejected };
  }

  /** In one transaction: the previous snapshot retired, this one current, the audit entry. */
  async commit(started: number): Promise<ImportSummary> {
    const { kind } = this.format;
    const summary: ImportSummary = {
      kind,
      snapshotId: this.snapshotId,
      source: this.lines.source,
      rowsRead: this.rowsRead,
      rowsImported: this.rowsImported,
      rowsRejected: this.rowsRejected,
      rejects: this.rejects,
      durationMs: 0,
    };
    try {
      await this.store.db.transaction().execute(async (trx) => {
        await trx
          .updateTable('directory_snapshots')
          .set({ status: 'retired' })
          .where('kind', '=', kind)
          .where('status', '=', 'current')
          .execute();
        const mine = await trx
          .updateTable('directory_snapshots')
          .set({ status: 'current', finished_at: new Date().toISOString(), ...this.counts() })
          .where('id', '=', this.snapshotId)
          .where('status', '=', 'loading')
          .executeTakeFirst();
        if (Number(mine.numUpdatedRows) !== 1) {
          throw new Error(
            `snapshot ${this.snapshotId} was discarded meanwhile (another import of the same extract started and cleaned it up)`,
          );
        }
        summary.durationMs = Date.now() - started;
        await appendAudit(trx, {
          actor: this.opts.actor,
          action: 'annuaire.import',
          subject: `snapshot:${this.snapshotId}`,
          details: { ...summary },
        });
      });
    } catch (e) {
      throw await this.discard(e);
    }
    return summary;
  }

  /** Marks the snapshot failed and deletes its rows; returns the error to throw. */
  async discard(cause: unknown): Promise<Error> {
    const { db } = this.store;
    const { kind } = this.format;
    const error = cause instanceof Error ? cause.message : String(cause);
    const what = this.opts.signal?.aborted ? 'was aborted' : 'failed';
    let message = `import of ${this.lines.source} ${what} at line ${this.lastLine}: ${error}`;
    try {
      await this.writer.abandon();
      await db
        .updateTable('directory_snapshots')
        .set({ status: 'failed', finished_at: new Date().toISOString(), ...this.counts() })
        .where('id', '=', this.snapshotId)
        .where('status', '=', 'loading')
        .execute();
      await deleteRows(db, kind, [this.snapshotId]);
      await appendAudit(db, {
        actor: this.opts.actor,
        action: 'annuaire.import.failed',
        subject: `snapshot:${this.snapshotId}`,
        details: {
          kind,
          source: this.lines.source,
          line: this.lastLine,
          error,
          ...this.counts(),
        },
      });
      message += `; snapshot ${this.snapshotId} was discarded and the previous ${EXTRACT_NAMES[kind]} snapshot stays current`;
    } catch (e) {
      message += `; discarding snapshot ${this.snapshotId} failed too (${(e as Error).message}): the next import cleans it up, the previous snapshot stays current`;
    }
    return new Error(message, { cause });
  }
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason as unknown;
  return reason instanceof Error ? reason : new Error(reason === undefined ? 'aborted' : String(reason));
}

/** Takes one data line: queues what it writes and returns null, or returns why it is rejected. */
type Acceptor = (line: ExtractLine) => Promise<string | null>;

/** mss: one row per line; a repeated address keeps the first line. */
function mssAcceptor(writer: RowWriter): Acceptor {
  const seen = new FirstSeen();
  return async ({ lineNo, text }) => {
    const parsed = parseMssRow(text);
    if ('rejected' in parsed) return parsed.rejected;
    const { address } = parsed.row;
    const first = seen.firstLine(address);
    if (first !== 0 && (await writer.contains('mailboxes', 'address', address))) {
      return `duplicate address ${address} (first at line ${first}, which is kept)`;
    }
    if (first === 0) seen.add(lineNo);
    writer.add('mailboxes', parsed.row);
    return null;
  };
}

/**
 * ps: one professional per idNat (from its first line) and one activity per line. A later line of
 * the same idNat adds its activity; if its identity columns differ from the first line's, it is
 * rejected instead.
 */
function psAcceptor(writer: RowWriter, layout: PsLayout): Acceptor {
  const seen = new FirstSeen();
  return async ({ lineNo, text }) => {
    const parsed = parsePsRow(text, layout);
    if ('rejected' in parsed) return parsed.rejected;
    const { professional, activity } = parsed.row;
    const idNat = professional.id_nat;
    const identity = hashIdentity(professional);
    const first = seen.firstLine(idNat);
    if (first === 0) {
      seen.add(lineNo, identity);
      writer.add('professionals', professional);
    } else if (seen.tag !== identity) {
      // Equal key and identity hashes (the identity includes the id) need no check; a difference does.
      if (await writer.contains('professionals', 'id_nat', idNat)) {
        return `idNat ${idNat} already seen at line ${first} with other identity columns (type, id, civility, names); the first line is kept`;
      }
      writer.add('professionals', professional);
    }
    writer.add('activities', activity);
    return null;
  };
}

/** 32-bit FNV-1a of the identity columns, to compare a professional's lines without keeping them. */
function hashIdentity(p: ProfessionalRow): number {
  const text = [
    p.pp_id_type,
    p.pp_id,
    p.civility_code,
    p.exercise_civility_code,
    p.last_name,
    p.first_name,
  ].join('\u0000');
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The line where each key (BAL address, idNat) of a file was first seen, with a 32-bit tag, in
 * typed arrays: about 16 bytes a key, where a Map of strings takes about 130 (65 MB for the 500k
 * addresses of a BAL extract). Keys are compared by a 64-bit hash, so a match is a candidate that
 * the caller confirms against the rows written (RowWriter.contains). If two keys ever share a hash
 * (odds about 1e-8 for a million keys), the second one's duplicates name the first one's line.
 */
class FirstSeen {
  private mask = (1 << 16) - 1;
  private size = 0;
  private h1 = new Uint32Array(this.mask + 1);
  private h2 = new Uint32Array(this.mask + 1);
  private lines = new Uint32Array(this.mask + 1);
  private tags = new Uint32Array(this.mask + 1);
  /** Slot of the key of the last firstLine() call: where it is, or where add() puts it. */
  private slot = 0;
  private a = 0;
  private b = 0;

  /** The line where `key` was first seen, 0 if never; add() then records it. */
  firstLine(key: string): number {
    let a = 0x811c9dc5;
    let b = 0x9747b28c;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    this.a = a >>> 0;
    this.b = b >>> 0;
    this.slot = this.find(this.a, this.b);
    return this.lines[this.slot]!;
  }

  /** The tag stored with the key of the last firstLine() call. */
  get tag(): number {
    return this.tags[this.slot]!;
  }

  /** Records the key of the last firstLine() call, which returned 0. */
  add(line: number, tag = 0): void {
    this.h1[this.slot] = this.a;
    this.h2[this.slot] = this.b;
    this.lines[this.slot] = line;
    this.tags[this.slot] = tag;
    if (++this.size * 2 > this.mask) this.grow();
  }

  private find(a: number, b: number): number {
    let i = a & this.mask;
    while (this.lines[i] !== 0 && (this.h1[i] !== a || this.h2[i] !== b)) i = (i + 1) & this.mask;
    return i;
  }

  private grow(): void {
    const { h1, h2, lines, tags } = this;
    this.mask = this.mask * 2 + 1;
    this.h1 = new Uint32Array(this.mask + 1);
    this.h2 = new Uint32Array(this.mask + 1);
    this.lines = new Uint32Array(this.mask + 1);
    this.tags = new Uint32Array(this.mask + 1);
    for (let j = 0; j < lines.length; j++) {
      if (lines[j] === 0) continue;
      const i = this.find(h1[j]!, h2[j]!);
      this.h1[i] = h1[j]!;
      this.h2[i] = h2[j]!;
      this.lines[i] = lines[j]!;
      this.tags[i] = tags[j]!;
    }
  }
}

type RowTable = 'directory_mailboxes' | 'directory_professionals' | 'directory_activities';

interface Queue {
  table: RowTable;
  rows: Record<string, unknown>[];
  /** snapshot_id then the row's columns, in the order of the first row queued. */
  columns?: string[];
  /** Rows per INSERT (batchSize, capped by the engine's parameter limit), and that INSERT's SQL. */
  perStatement?: number;
  sql?: string;
}

/**
 * Queues the rows of one snapshot and writes each table's rows as soon as a batch is full, with
 * one multi-row INSERT, in a transaction that is committed every BATCHES_PER_TRANSACTION batches.
 * Rows are written while young (little memory held, little garbage to promote) and a commit is
 * paid per ~10k rows. The SQL text of a full INSERT is compiled once per table and reused with
 * fresh parameters, instead of building a tree of batchSize × columns nodes for every batch.
 */
class RowWriter {
  private readonly queues: Record<'mailboxes' | 'professionals' | 'activities', Queue> = {
    mailboxes: { table: 'directory_mailboxes', rows: [] },
    professionals: { table: 'directory_professionals', rows: [] },
    activities: { table: 'directory_activities', rows: [] },
  };
  private readonly all = Object.values(this.queues);
  private trx: ControlledTransaction<Database> | undefined;
  private batches = 0;

  constructor(
    private readonly store: Store,
    private readonly snapshotId: number,
    private readonly batchSize: number,
  ) {}

  add(queue: 'mailboxes', row: MailboxRow): void;
  add(queue: 'professionals', row: ProfessionalRow): void;
  add(queue: 'activities', row: ActivityRow): void;
  add(queue: keyof RowWriter['queues'], row: object): void {
    this.queues[queue].rows.push(row as Record<string, unknown>);
  }

  /** Whether a row of this snapshot has `column` = `value`, queued or written. */
  async contains(queue: keyof RowWriter['queues'], column: string, value: string): Promise<boolean> {
    const q = this.queues[queue];
    if (q.rows.some((r) => r[column] === value)) return true;
    const found = await sql<{ one: number }>`select 1 as one from ${sql.table(q.table)}
      where snapshot_id = ${this.snapshotId} and ${sql.ref(column)} = ${value}`.execute(
      this.trx ?? this.store.db,
    );
    return found.rows.length > 0;
  }

  /** Writes the queues that hold a full batch. */
  async writeFull(): Promise<void> {
    for (const q of this.all) {
      if (q.rows.length >= this.prepare(q)) await this.write(q, q.rows.splice(0));
    }
  }

  /** Writes what is queued and commits. */
  async finish(): Promise<void> {
    for (const q of this.all) {
      if (q.rows.length > 0) await this.write(q, q.rows.splice(0));
    }
    await this.commit();
  }

  /** Rolls back the open transaction (what it wrote is lost; earlier commits stay). */
  async abandon(): Promise<void> {
    const trx = this.trx;
    this.trx = undefined;
    for (const q of this.all) q.rows.length = 0;
    if (trx) await trx.rollback().execute();
  }

  private async write(q: Queue, rows: Record<string, unknown>[]): Promise<void> {
    const perStatement = this.prepare(q);
    const columns = q.columns!;
    for (let i = 0; i < rows.length; i += perStatement) {
      const chunk = i === 0 && rows.length <= perStatement ? rows : rows.slice(i, i + perStatement);
      const params: unknown[] = [];
      for (const row of chunk) {
        params.push(this.snapshotId);
        for (let c = 1; c < columns.length; c++) params.push(row[columns[c]!]);
      }
      const text = chunk.length === perStatement ? q.sql! : this.insertSql(q.table, columns, chunk.length);
      this.trx ??= await this.store.db.startTransaction().execute();
      await this.trx.executeQuery(CompiledQuery.raw(text, params));
      if (++this.batches >= BATCHES_PER_TRANSACTION) await this.commit();
    }
  }

  private async commit(): Promise<void> {
    const trx = this.trx;
    this.trx = undefined;
    this.batches = 0;
    if (trx) await trx.commit().execute();
  }

  /** Settles a queue's columns and statement from its first row; returns its rows per statement. */
  private prepare(q: Queue): number {
    if (q.perStatement === undefined) {
      if (q.rows.length === 0) return Number.POSITIVE_INFINITY;
      q.columns = ['snapshot_id', ...Object.keys(q.rows[0]!)];
      const limit = Math.floor(MAX_PARAMETERS[this.store.dialect] / q.columns.length);
      q.perStatement = Math.max(1, Math.min(this.batchSize, limit));
      q.sql = this.insertSql(q.table, q.columns, q.perStatement);
    }
    return q.perStatement;
  }

  /** `insert into <table> (<columns>) values (…), …` for `rows` rows, in the engine's SQL. */
  private insertSql(table: RowTable, columns: string[], rows: number): string {
    const template = Object.fromEntries(columns.map((c) => [c, null]));
    return (
      this.store.db
        .insertInto(table)
        // biome-ignore lint/suspicious/noExplicitAny: a template row of the table's own columns
        .values(Array.from({ length: rows }, () => template) as any)
        .compile().sql
    );
  }
}

async function createSnapshot(db: Kysely<Database>, kind: ExtractKind, source: string): Promise<number> {
  const row = await db
    .insertInto('directory_snapshots')
    .values({
      kind,
      status: 'loading',
      source,
      started_at: new Date().toISOString(),
      rows_read: 0,
      rows_imported: 0,
      rows_rejected: 0,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Leftovers of earlier imports of this kind: a `loading` snapshot (its import crashed) becomes
 * `failed`, and the rows of failed and retired snapshots are deleted.
 */
async function cleanLeftovers(db: Kysely<Database>, kind: ExtractKind): Promise<void> {
  await db
    .updateTable('directory_snapshots')
    .set({ status: 'failed', finished_at: new Date().toISOString() })
    .where('kind', '=', kind)
    .where('status', '=', 'loading')
    .execute();
  await deleteOldRows(db, kind);
}

/** Deletes the rows of the retired and failed snapshots of a kind. */
async function deleteOldRows(db: Kysely<Database>, kind: ExtractKind): Promise<void> {
  const old = db
    .selectFrom('directory_snapshots')
    .select('id')
    .where('kind', '=', kind)
    .where('status', 'in', ['retired', 'failed']);
  await deleteRows(db, kind, old);
}

async function deleteRows(
  db: Kysely<Database>,
  kind: ExtractKind,
  snapshotIds: number[] | SelectQueryBuilder<Database, 'directory_snapshots', { id: number }>,
): Promise<void> {
  const tables: RowTable[] =
    kind === 'mss' ? ['directory_mailboxes'] : ['directory_activities', 'directory_professionals'];
  for (const table of tables) {
    await db.deleteFrom(table).where('snapshot_id', 'in', snapshotIds).execute();
  }
}
