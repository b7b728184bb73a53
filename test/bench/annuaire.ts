/*
 * npm run bench:annuaire — import of generated Annuaire Santé extracts and lookups through the
 * directory. Not a test: it prints figures (docs/benchmarks.md records them).
 *
 *   1. writes a 500k-row Extraction_Correspondance_MSSante and a 500k-line
 *      PS_LibreAcces_Personne_activite (same professionals) in a temp dir;
 *   2. imports each into a fresh SQLite store (and PostgreSQL when MSS_TEST_POSTGRES_URL is set),
 *      each import in its own process so that its peak RSS is its own;
 *   3. times 2,000 lookups by idNat and 2,000 by address through createDirectory (local only).
 *
 * Targets: BAL import under 30 s with a peak RSS under 300 MB; lookups p50 under 1 ms.
 * BENCH_ROWS changes the size (default 500000).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { createDirectory } from '../../src/annuaire/directory.ts';
import { type ImportSummary, importExtract } from '../../src/annuaire/import.ts';
import { openStore, type StoreOptions } from '../../src/store/open.ts';
import { idNatFor, mssField, mssRow, writeMssExtract, writePsExtract } from '../support/extracts.ts';

const ROWS = Number(process.env['BENCH_ROWS'] ?? 500_000);
const LOOKUPS = 2000;
const BATCH_SIZE = 500; // config/default.yaml annuaire.importBatchSize

interface ImportFigures {
  summary: ImportSummary;
  maxRssMb: number;
  cpuMs: number;
}

// ---------------------------------------------------------------------------------------------
// Child: one import, then its figures as JSON on stdout.

async function child(optsJson: string, file: string): Promise<void> {
  const store = await openStore(JSON.parse(optsJson) as StoreOptions);
  try {
    const summary = await importExtract(store, file, {
      batchSize: BATCH_SIZE,
      maxListedRejects: 10,
      actor: 'bench',
    });
    const cpu = process.cpuUsage();
    const figures: ImportFigures = {
      summary,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    await store.close();
  }
}

function runChild(opts: StoreOptions, file: string): Promise<ImportFigures> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', self, 'child', JSON.stringify(opts), file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d;
    });
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`import of ${file} exited with ${code}`));
      else resolve(JSON.parse(out) as ImportFigures);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Parent

/** Deterministic pseudo-random row numbers (LCG), the same on every run. */
function sample(count: number, max: number, accept: (i: number) => boolean): number[] {
  const out: number[] = [];
  let x = 12345;
  while (out.length < count) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const i = x % max;
    if (accept(i)) out.push(i);
  }
  return out;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

async function timeLookups(call: (i: number) => Promise<unknown>, keys: number[]) {
  for (const i of keys.slice(0, 200)) await call(i); // warm-up
  const times: number[] = [];
  for (const i of keys) {
    const t = process.hrtime.bigint();
    const found = await call(i);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    if (!found) throw new Error(`lookup ${i} found nothing`);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99) };
}

async function benchEngine(name: string, opts: StoreOptions, mssFile: string, psFile: string) {
  // Creates and migrates the schema once, so that the children only open it.
  await (await openStore(opts)).close();
  const mss = await runChild(opts, mssFile);
  const ps = await runChild(opts, psFile);
  const store = await openStore(opts);
  try {
    const directory = createDirectory(store, { fhir: null });
    // Professionals of both extracts: PER rows whose PS counterpart (psRow) is an RPPS one.
    const professionals = Math.floor(ROWS * 0.74);
    const persons = sample(
      LOOKUPS,
      professionals,
      (i) => i % 9 !== 8 && mssField(mssRow(i), 'Type de BAL') === 'PER',
    );
    const any = sample(LOOKUPS, ROWS, () => true);
    const byIdNat = await timeLookups((i) => directory.findProfessional(idNatFor(i)), persons);
    const byAddress = await timeLookups(
      (i) => directory.findMailbox(mssField(mssRow(i), 'Adresse BAL')),
      any,
    );
    return { name, mss, ps, byIdNat, byAddress };
  } finally {
    await store.close();
  }
}

const ms = (v: number) => `${v.toFixed(3)} ms`;
const sec = (v: number) => `${(v / 1000).toFixed(1)} s`;
const rate = (rows: number, durationMs: number) =>
  `${Math.round((rows * 1000) / durationMs).toLocaleString('en-US')} rows/s`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mss-bench-annuaire-'));
  try {
    const mssFile = join(dir, 'Extraction_Correspondance_MSSante.txt');
    const psFile = join(dir, 'PS_LibreAcces_Personne_activite.txt');
    let t = Date.now();
    await writeMssExtract(mssFile, ROWS);
    await writePsExtract(psFile, ROWS);
    const mb = (f: string) => (statSync(f).size / 1048576).toFixed(0);
    console.log(
      `generated ${ROWS.toLocaleString('en-US')} BAL rows (${mb(mssFile)} MB) and ${ROWS.toLocaleString('en-US')} PS lines (${mb(psFile)} MB) in ${sec(Date.now() - t)}`,
    );
    console.log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}`);

    const engines: [string, StoreOptions, () => Promise<void>][] = [
      ['sqlite', { driver: 'sqlite', path: join(dir, 'bench.sqlite'), synchronous: 'FULL' }, async () => {}],
    ];
    const pgUrl = process.env['MSS_TEST_POSTGRES_URL'];
    if (pgUrl) {
      const opts: StoreOptions = {
        driver: 'postgres',
        url: pgUrl,
        schema: `bench_${process.pid}_${Date.now().toString(36)}`,
        poolSize: 4,
      };
      engines.push([
        'postgres',
        opts,
        async () => {
          const store = await openStore(opts, { runMigrations: false });
          await sql.raw(`drop schema if exists "${opts.schema}" cascade`).execute(store.db);
          await store.close();
        },
      ]);
    } else {
      console.log('postgres: skipped (set MSS_TEST_POSTGRES_URL to include it)');
    }

    for (const [name, opts, cleanup] of engines) {
      t = Date.now();
      try {
        const r = await benchEngine(name, opts, mssFile, psFile);
        for (const [what, f] of [
          ['BAL extract', r.mss],
          ['PS extract ', r.ps],
        ] as const) {
          const s = f.summary;
          console.log(
            `${name}: ${what} ${s.rowsImported.toLocaleString('en-US')} rows in ${sec(s.durationMs)} (${rate(s.rowsRead, s.durationMs)}), CPU ${sec(f.cpuMs)}, peak RSS ${f.maxRssMb.toFixed(0)} MB`,
          );
        }
        console.log(
          `${name}: findProfessional(idNat) p50 ${ms(r.byIdNat.p50)} p99 ${ms(r.byIdNat.p99)}; findMailbox(address) p50 ${ms(r.byAddress.p50)} p99 ${ms(r.byAddress.p99)} (${LOOKUPS} each)`,
        );
      } finally {
        await cleanup();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'child') await child(process.argv[3]!, process.argv[4]!);
else await main();
