import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openExtractLines } from '../../src/annuaire/extract/lines.ts';
import { MSS_COLUMNS } from '../../src/annuaire/extract/mss-extract.ts';
import { type ImportOptions, type ImportSummary, importExtract } from '../../src/annuaire/import.ts';
import { ValidationError } from '../../src/domain/errors.ts';
import { readAudit } from '../../src/store/audit.ts';
import type { Store } from '../../src/store/open.ts';
import type { DirectoryMailboxesTable } from '../../src/store/schema/index.ts';
import {
  type ExtractRow,
  idNatFor,
  MSS_ENTRY,
  mssField,
  mssRow,
  PS_ENTRY,
  psRow,
  truncated,
  withField,
  writeMssExtract,
  writePsExtract,
} from '../support/extracts.ts';
import { describeEachStore } from '../support/stores.ts';

const OPTS: ImportOptions = { batchSize: 500, maxListedRejects: 50, actor: 'test:import' };

/** The BAL extract of the tests: accents, an ORG, an APP, capitals, and four bad lines (7 to 10). */
const MSS_ROWS: ExtractRow[] = [
  mssRow(0), // line 2: Élodie LEFÈVRE
  mssRow(1), // line 3: Zoë D'ARC-LÉVÊQUE
  mssRow(6), // line 4: ORG
  mssRow(49), // line 5: APP
  mssRow(10), // line 6: address with capitals
  withField(mssRow(11), 1, mssField(mssRow(0), 'Adresse BAL').toUpperCase()), // line 7: same address as line 2
  truncated(mssRow(12), 10), // line 8: cut after 10 fields
  mssRow(13, { 'Type de BAL': 'XYZ' }), // line 9
  mssRow(14, { 'Adresse BAL': '' }), // line 10
  mssRow(15), // line 11
];
const MSS_REJECTS = [
  {
    line: 7,
    reason: 'duplicate address elodie.lefevre.0@sevres0.mssante.fr (first at line 2, which is kept)',
  },
  { line: 8, reason: 'expected 31 fields, found 10' },
  { line: 9, reason: 'unknown BAL type "XYZ" (expected PER, ORG, APP, CAB)' },
  { line: 10, reason: 'empty BAL address (Adresse BAL)' },
];

/** The PS extract of the tests: a professional with two activities, an ADELI one, three bad lines. */
const PS_ROWS: ExtractRow[] = [
  psRow(0, 0), // line 2
  psRow(0, 1), // line 3: second activity of the same professional
  psRow(1, 0), // line 4
  psRow(8, 0), // line 5: ADELI
  psRow(1, 1, { "Nom d'exercice": 'AUTRE' }), // line 6: same idNat as line 4, another name
  psRow(2, 0, { 'Identification nationale PP': '' }), // line 7
  `${truncated(psRow(3), 20)}|`, // line 8
  psRow(4, 0), // line 9
];
const PS_REJECTS = [
  {
    line: 6,
    reason: `idNat ${idNatFor(1)} already seen at line 4 with other identity columns (type, id, civility, names); the first line is kept`,
  },
  { line: 7, reason: 'missing idNat (Identification nationale PP is empty)' },
  { line: 8, reason: 'expected 56 fields, found 20 and a trailing |' },
];

const tmp = mkdtempSync(join(tmpdir(), 'mss-annuaire-import-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let fileNo = 0;
const tmpFile = (ext: string) => join(tmp, `extract-${++fileNo}${ext}`);

type RowTable = 'directory_mailboxes' | 'directory_professionals' | 'directory_activities';

async function countRows(store: Store, table: RowTable, snapshotId?: number): Promise<number> {
  let q = store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
  if (snapshotId !== undefined) q = q.where('snapshot_id', '=', snapshotId);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

async function current(store: Store, kind: 'mss' | 'ps') {
  return store.db
    .selectFrom('directory_snapshots')
    .selectAll()
    .where('kind', '=', kind)
    .where('status', '=', 'current')
    .execute();
}

async function mailbox(store: Store, snapshotId: number, address: string): Promise<DirectoryMailboxesTable> {
  return store.db
    .selectFrom('directory_mailboxes')
    .selectAll()
    .where('snapshot_id', '=', snapshotId)
    .where('address', '=', address)
    .executeTakeFirstOrThrow();
}

function withoutTiming(s: ImportSummary) {
  const { durationMs, ...rest } = s;
  expect(durationMs).toBeGreaterThanOrEqual(0);
  return rest;
}

describeEachStore('annuaire import', (kind) => {
  let store: Store;
  beforeAll(async () => {
    store = await kind.open();
  });
  afterAll(async () => {
    await store?.close();
  });

  let firstMss = 0;

  it('imports a BAL extract (.txt, CRLF, BOM): counts, rejects with their lines, rows in the table', async () => {
    const file = tmpFile('.txt');
    await writeMssExtract(file, MSS_ROWS, { crlf: true, bom: true });
    const progress: number[] = [];
    const summary = await importExtract(store, file, { ...OPTS, onProgress: (p) => progress.push(p.rows) });
    firstMss = summary.snapshotId;
    expect(withoutTiming(summary)).toEqual({
      kind: 'mss',
      snapshotId: firstMss,
      source: file.split('/').at(-1),
      rowsRead: 10,
      rowsImported: 6,
      rowsRejected: 4,
      rejects: MSS_REJECTS,
    });
    expect(progress.at(-1)).toBe(10);

    expect(
      (await current(store, 'mss')).map((s) => [s.id, s.rows_read, s.rows_imported, s.rows_rejected]),
    ).toEqual([[firstMss, 10, 6, 4]]);
    expect(await countRows(store, 'directory_mailboxes', firstMss)).toBe(6);
    // Line 7 has the same address: line 2 is kept (idNat of row 0, not of row 11).
    expect(await mailbox(store, firstMss, 'elodie.lefevre.0@sevres0.mssante.fr')).toMatchObject({
      bal_type: 'PER',
      id_nat: idNatFor(0),
      last_name: 'LEFÈVRE',
      first_name: 'Élodie',
      name_key: 'lefevre elodie',
      given_key: 'elodie lefevre',
      country: null,
      digitization: 'true',
    });
    // The last column of a CRLF line carries no CR.
    expect((await mailbox(store, firstMss, 'zoe.darc-leveque.1@sainte-therese1.mssante.fr')).country).toBe(
      'FRANCE',
    );
    expect(await mailbox(store, firstMss, mssField(mssRow(6), 'Adresse BAL'))).toMatchObject({
      bal_type: 'ORG',
      service: 'Urgences',
      last_name: null,
      name_key: 'ehpad les erables urgences',
    });
    expect(await mailbox(store, firstMss, mssField(mssRow(10), 'Adresse BAL').toLowerCase())).toMatchObject({
      first_name: 'Paul',
    });
    const audit = await readAudit(store.db, { subject: `snapshot:${firstMss}` });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'test:import', action: 'annuaire.import' });
    expect(audit[0]!.details).toMatchObject({
      kind: 'mss',
      rowsRead: 10,
      rowsImported: 6,
      rejects: MSS_REJECTS,
    });
  });

  let secondMss = 0;

  it('re-imports from a .zip: the new snapshot replaces the old one, whose rows are deleted', async () => {
    const file = tmpFile('.zip');
    await writeMssExtract(file, [...MSS_ROWS, mssRow(16)], { zip: true });
    const summary = await importExtract(store, file, OPTS);
    secondMss = summary.snapshotId;
    expect(withoutTiming(summary)).toEqual({
      kind: 'mss',
      snapshotId: secondMss,
      source: `${file.split('/').at(-1)}:${MSS_ENTRY}`,
      rowsRead: 11,
      rowsImported: 7,
      rowsRejected: 4,
      rejects: MSS_REJECTS,
    });
    expect(secondMss).not.toBe(firstMss);
    expect((await current(store, 'mss')).map((s) => s.id)).toEqual([secondMss]);
    const old = await store.db
      .selectFrom('directory_snapshots')
      .select('status')
      .where('id', '=', firstMss)
      .executeTakeFirstOrThrow();
    expect(old.status).toBe('retired');
    expect(await countRows(store, 'directory_mailboxes', firstMss)).toBe(0);
    expect(await countRows(store, 'directory_mailboxes')).toBe(7);
  });

  it('imports a PS extract from a zip holding other files: one professional per idNat, one activity per line', async () => {
    const file = tmpFile('.zip');
    await writePsExtract(file, PS_ROWS, {
      zip: true,
      extraEntries: [
        { name: 'PS_LibreAcces_Dipl_AutExerc_202503130000.txt', text: 'a|b|\n' },
        { name: 'LISEZMOI.pdf', text: '%PDF' },
      ],
    });
    const summary = await importExtract(store, file, OPTS);
    expect(withoutTiming(summary)).toEqual({
      kind: 'ps',
      snapshotId: summary.snapshotId,
      source: `${file.split('/').at(-1)}:${PS_ENTRY}`,
      rowsRead: 8,
      rowsImported: 5,
      rowsRejected: 3,
      rejects: PS_REJECTS,
    });
    const id = summary.snapshotId;
    const professionals = await store.db
      .selectFrom('directory_professionals')
      .select(['id_nat', 'last_name', 'first_name', 'name_key', 'pp_id_type'])
      .where('snapshot_id', '=', id)
      .orderBy('id_nat')
      .execute();
    expect(professionals).toEqual([
      {
        id_nat: '0750000008',
        last_name: 'GARÇON',
        first_name: 'Loïc',
        name_key: 'garcon loic',
        pp_id_type: '0',
      },
      {
        id_nat: idNatFor(0),
        last_name: 'LEFÈVRE',
        first_name: 'Élodie',
        name_key: 'lefevre elodie',
        pp_id_type: '8',
      },
      {
        id_nat: idNatFor(1),
        last_name: "D'ARC-LÉVÊQUE",
        first_name: 'Zoë',
        name_key: 'd arc leveque zoe',
        pp_id_type: '8',
      },
      {
        id_nat: idNatFor(4),
        last_name: 'BÉNARD',
        first_name: 'Anaïs',
        name_key: 'benard anais',
        pp_id_type: '8',
      },
    ]);
    const activities = await store.db
      .selectFrom('directory_activities')
      .select(['id_nat', 'mode_code', 'finess_site', 'siret'])
      .where('snapshot_id', '=', id)
      .where('id_nat', '=', idNatFor(0))
      .orderBy('mode_code')
      .execute();
    expect(activities).toEqual([
      { id_nat: idNatFor(0), mode_code: 'L', finess_site: null, siret: psRow(0, 1)[19] },
      { id_nat: idNatFor(0), mode_code: 'S', finess_site: psRow(0, 0)[21], siret: null },
    ]);
    expect(await countRows(store, 'directory_activities', id)).toBe(5);
    // The BAL snapshot is another kind: untouched.
    expect((await current(store, 'mss')).map((s) => s.id)).toEqual([secondMss]);
  });

  it('refuses a file whose header is neither extract, writing nothing', async () => {
    const before = await store.db.selectFrom('directory_snapshots').select('id').execute();
    const file = tmpFile('.txt');
    writeFileSync(file, 'nom|prénom|email\r\nMartin|Paul|p@x.fr\r\n');
    const err = await importExtract(store, file, OPTS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toMatch(
      /line 1 is not a known extract header; expected an Extraction_Correspondance_MSSante header/,
    );
    expect((err as Error).message).toContain('"nom|prénom|email"');

    const renamed = tmpFile('.txt');
    const header = MSS_COLUMNS.map((c) => (c === 'Code postal' ? 'CP' : c)).join('|');
    await writeMssExtract(renamed, [mssRow(0)], { header });
    await expect(importExtract(store, renamed, OPTS)).rejects.toThrow(
      /Extraction_Correspondance_MSSante header: column 29 should be "Code postal", found "CP"/,
    );
    await expect(importExtract(store, renamed, { ...OPTS, kind: 'ps' })).rejects.toThrow(
      /PS_LibreAcces_Personne_activite header: missing column "Type d'identifiant PP" \(found 31 columns\)/,
    );
    const empty = tmpFile('.txt');
    writeFileSync(empty, '');
    await expect(importExtract(store, empty, OPTS)).rejects.toThrow(/the file is empty/);
    await expect(importExtract(store, join(tmp, 'missing.txt'), OPTS)).rejects.toBeInstanceOf(
      ValidationError,
    );

    expect(await store.db.selectFrom('directory_snapshots').select('id').execute()).toEqual(before);
    expect((await current(store, 'mss')).map((s) => s.id)).toEqual([secondMss]);
    expect(await countRows(store, 'directory_mailboxes', secondMss)).toBe(7);
  });

  it('discards an import aborted mid-way, rows already committed included; the previous snapshot stays', async () => {
    const file = tmpFile('.txt');
    await writeMssExtract(file, 5000);
    const abort = new AbortController();
    const err = await importExtract(store, file, {
      ...OPTS,
      batchSize: 100, // 2,000 rows per transaction: two are committed before the abort
      signal: abort.signal,
      onProgress: (p) => {
        if (p.rows >= 4000) abort.abort(new Error('stop there'));
      },
    }).then(
      () => new Error('the import succeeded'),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(
      /^import of extract-\d+\.txt was aborted at line 4001: stop there; snapshot (\d+) was discarded and the previous Extraction_Correspondance_MSSante snapshot stays current$/,
    );
    const failedId = Number(/snapshot (\d+) was discarded/.exec(err.message)![1]);
    const failed = await store.db
      .selectFrom('directory_snapshots')
      .selectAll()
      .where('id', '=', failedId)
      .executeTakeFirstOrThrow();
    expect(failed).toMatchObject({ kind: 'mss', status: 'failed', rows_read: 4000 });
    expect(await countRows(store, 'directory_mailboxes', failedId)).toBe(0);
    expect((await current(store, 'mss')).map((s) => s.id)).toEqual([secondMss]);
    expect(await countRows(store, 'directory_mailboxes', secondMss)).toBe(7);
    const audit = await readAudit(store.db, { subject: `snapshot:${failedId}` });
    expect(audit.map((a) => a.action)).toEqual(['annuaire.import.failed']);
    expect(audit[0]!.details).toMatchObject({ error: 'stop there', line: 4001 });
  });

  it('discards an import whose zip breaks mid-way (corrupt data); the previous snapshot stays', async () => {
    const file = tmpFile('.zip');
    await writeMssExtract(file, 3000, { zip: true });
    const bytes = readFileSync(file);
    bytes.fill(0xff, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 64);
    writeFileSync(file, bytes);
    const err = await importExtract(store, file, OPTS).then(
      () => new Error('the import succeeded'),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ValidationError);
    expect(err.message).toMatch(
      /^import of extract-\d+\.zip:\S+ failed at line \d+: .+; snapshot \d+ was discarded/,
    );
    expect((await current(store, 'mss')).map((s) => s.id)).toEqual([secondMss]);
    expect(await countRows(store, 'directory_mailboxes')).toBe(7);
  });

  it("cleans up a 'loading' snapshot left by a crashed import before importing", async () => {
    const leftover = await store.db
      .insertInto('directory_snapshots')
      .values({
        kind: 'mss',
        status: 'loading',
        source: 'crashed.txt',
        started_at: new Date().toISOString(),
        rows_read: 0,
        rows_imported: 0,
        rows_rejected: 0,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await store.db
      .insertInto('directory_mailboxes')
      .values({ snapshot_id: leftover.id, address: 'left@over.mssante.fr', bal_type: 'PER' })
      .execute();

    const file = tmpFile('.txt');
    await writeMssExtract(file, [mssRow(20), mssRow(21)]);
    const summary = await importExtract(store, file, OPTS);
    expect(summary.rowsImported).toBe(2);
    const status = await store.db
      .selectFrom('directory_snapshots')
      .select('status')
      .where('id', '=', leftover.id)
      .executeTakeFirstOrThrow();
    expect(status.status).toBe('failed');
    expect(await countRows(store, 'directory_mailboxes', leftover.id)).toBe(0);
    expect(await countRows(store, 'directory_mailboxes')).toBe(2);
  });

  it('finds duplicates among many addresses (past the growth of its index)', async () => {
    const n = 40_000;
    const file = tmpFile('.txt');
    function* rows(): Generator<ExtractRow> {
      for (let i = 0; i < n; i++) yield mssRow(i);
      yield withField(mssRow(n), 1, mssField(mssRow(7), 'Adresse BAL'));
      yield withField(mssRow(n + 1), 1, mssField(mssRow(n - 1), 'Adresse BAL'));
    }
    await writeMssExtract(file, rows());
    const summary = await importExtract(store, file, { ...OPTS, maxListedRejects: 1 });
    expect(withoutTiming(summary)).toMatchObject({
      rowsRead: n + 2,
      rowsImported: n,
      rowsRejected: 2,
      rejects: [
        {
          line: n + 2,
          reason: `duplicate address ${mssField(mssRow(7), 'Adresse BAL')} (first at line 9, which is kept)`,
        },
      ],
    });
    expect(await countRows(store, 'directory_mailboxes', summary.snapshotId)).toBe(n);
  });
});

describe('extract lines', () => {
  async function readAll(file: string) {
    const lines = await openExtractLines(file, { preferEntry: /^PS_LibreAcces_Personne_activite/ });
    const out: { lineNo: number; text: string }[] = [];
    for await (const l of lines) out.push(l);
    return { lines, out };
  }

  it('strips the BOM and the CR of CRLF, keeps empty lines inside, drops none at the end, counts bytes', async () => {
    const file = tmpFile('.txt');
    writeFileSync(file, '\uFEFFh1|h2\r\nÉlodie|Zoë\r\n\r\nlast|line');
    const { lines, out } = await readAll(file);
    expect(out).toEqual([
      { lineNo: 1, text: 'h1|h2' },
      { lineNo: 2, text: 'Élodie|Zoë' },
      { lineNo: 3, text: '' },
      { lineNo: 4, text: 'last|line' },
    ]);
    expect(lines.source).toBe(file.split('/').at(-1));
    expect(lines.bytesRead()).toBe(lines.bytesTotal);
    expect(lines.bytesTotal).toBe(readFileSync(file).length);
  });

  it('reads a multi-byte character split across chunks', async () => {
    const file = tmpFile('.txt');
    const long = 'é'.repeat(300_000); // 600 kB: crosses several 256 kB chunks, on odd byte boundaries too
    writeFileSync(file, `a${long}\nb\n`);
    const { out } = await readAll(file);
    expect(out.map((l) => l.text.length)).toEqual([300_001, 1]);
    expect(out[0]!.text.endsWith('é')).toBe(true);
  });

  it('reads the single .txt of a zip, counting its uncompressed bytes', async () => {
    const file = tmpFile('.zip');
    await writeMssExtract(file, 3, { zip: true, crlf: true });
    const { lines, out } = await readAll(file);
    expect(out).toHaveLength(4);
    expect(out[0]!.text).toBe(MSS_COLUMNS.join('|'));
    expect(lines.source).toBe(`${file.split('/').at(-1)}:${MSS_ENTRY}`);
    expect(lines.bytesRead()).toBe(lines.bytesTotal);
  });

  it('refuses a zip without a .txt, or with several and none preferred, naming the entries', async () => {
    const none = tmpFile('.zip');
    await writeMssExtract(none, 1, { zip: true, entryName: 'extract.csv' });
    await expect(openExtractLines(none)).rejects.toThrow(
      /expected one \.txt entry in the zip, it holds extract\.csv/,
    );
    const several = tmpFile('.zip');
    await writeMssExtract(several, 1, { zip: true, extraEntries: [{ name: 'other.txt', text: 'x' }] });
    const err = await openExtractLines(several, { preferEntry: /^PS_LibreAcces/ }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toContain(`found 2 (${MSS_ENTRY}, other.txt); extract the one to import`);
    const notZip = tmpFile('.zip');
    writeFileSync(notZip, 'not a zip');
    await expect(openExtractLines(notZip)).rejects.toThrow(/cannot read .* as a zip archive/);
  });
});

describe('mssante annuaire import (CLI)', () => {
  const root = resolve(import.meta.dirname, '../..');
  const dataDir = join(tmp, 'cli-data');
  const config = join(tmp, 'cli.yaml');
  writeFileSync(config, `dataDir: ${JSON.stringify(dataDir)}\n`);

  function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    // Only this test's settings: no MSS_* variable of the caller reaches the command.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MSS_')));
    return new Promise((done, fail) => {
      const child = spawn(process.execPath, ['bin/mssante.mjs', '--config', config, ...args], {
        cwd: root,
        env,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d;
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d;
      });
      child.on('error', fail);
      child.on('close', (code) => done({ code, stdout, stderr }));
    });
  }

  it('imports a file and prints the summary as JSON; --rejects lists every rejected line', async () => {
    const file = tmpFile('.txt');
    await writeMssExtract(file, MSS_ROWS, { crlf: true, bom: true });
    const rejects = join(tmp, 'rejects.tsv');
    const r = await run(['annuaire', 'import', file, '--json', '--rejects', rejects]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as ImportSummary;
    expect(summary).toMatchObject({
      kind: 'mss',
      rowsRead: 10,
      rowsImported: 6,
      rowsRejected: 4,
      rejects: MSS_REJECTS,
    });
    expect(readFileSync(rejects, 'utf8')).toBe(MSS_REJECTS.map((x) => `${x.line}\t${x.reason}\n`).join(''));
  }, 60_000);

  it('exits 1 with a message on stderr when the file is not an extract', async () => {
    const file = tmpFile('.txt');
    writeFileSync(file, 'nom|prénom\nMartin|Paul\n');
    const r = await run(['annuaire', 'import', file, '--kind', 'mss']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^mssante: extract-\d+\.txt: Extraction_Correspondance_MSSante header: column 1 should be "Type de BAL", found "nom"\n$/,
    );
  }, 60_000);
});
