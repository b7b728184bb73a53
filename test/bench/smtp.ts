/**
 * npm run bench:smtp — throughput and latency of the trust-space SMTP.
 *
 *  1. MX: 20 concurrent connections (STARTTLS + mutual TLS with a listed SERV_SSL certificate)
 *     send 5 KB messages to the MX of a full mail runtime; each connection pipelines MAIL, RCPT
 *     and DATA, then waits for the 250 after the final dot. Reported: messages accepted per
 *     second, and the latency from the end of DATA to the 250 (p50/p99). The message is durably
 *     stored (blob fsynced, SQL committed) before each 250.
 *  2. Delivery path: operator A spools the same messages for B; its delivery worker (concurrency
 *     20) opens a TLS connection per message, checks B's certificate, sends; B stores. Reported:
 *     messages delivered per second and the latency from spooling to delivery (p50/p99).
 *
 * Embedded mode (SQLite, synchronous FULL, in-process queue) always; PostgreSQL mode (+ BullMQ
 * when MSS_TEST_REDIS_URL is set) when MSS_TEST_POSTGRES_URL is set. The load generator (1.) and
 * operator B (2.) run in a worker thread, so that the two sides do not share one event loop.
 *
 *   BENCH_MESSAGES (default 4000)  messages per run      BENCH_CONNECTIONS (default 20)
 *   BENCH_SIZE (default 5120)      message size, bytes   BENCH_NAGLE=1  client sockets keep Nagle
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import pg from 'pg';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { createLogger } from '../../src/logger.ts';
import { type MailRuntime, startMailRuntime } from '../../src/smtp/runtime.ts';
import { storeOptions } from '../../src/store/from-config.ts';
import { openStore, type Store } from '../../src/store/open.ts';
import { type DevPkiManifest, generateDevPki } from '../../src/trust/pki/dev-pki.ts';

// (test/support/stores.ts needs vitest's runner: its few helpers are repeated here.)
const TEST_POSTGRES_URL = process.env['MSS_TEST_POSTGRES_URL'] ?? '';
const TEST_REDIS_URL = process.env['MSS_TEST_REDIS_URL'] ?? '';
const uniqueSchema = (prefix: string) =>
  `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

const MESSAGES = Number(process.env['BENCH_MESSAGES'] ?? 4000);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 20);
const SIZE = Number(process.env['BENCH_SIZE'] ?? 5120);
const A = { domain: 'ch-a.mssante.fr', mx: 'mx.ch-a.mssante.fr', structureId: '1750000002', org: 'CH A' };
const B = { domain: 'ch-b.mssante.fr', mx: 'mx.ch-b.mssante.fr', structureId: '1330781295', org: 'CH B' };
const CIPHERS =
  'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256';

const pct = (xs: number[], p: number) =>
  xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]! : Number.NaN;
const rcptOf = (c: number) => `dr.bench${c % CONNECTIONS}@${B.domain}`;

function message(id: string, from: string, to: string): Buffer {
  const head = [
    `From: <${from}>`,
    `To: <${to}>`,
    `Subject: bench ${id}`,
    `Message-ID: <${id}@${A.domain}>`,
    'Date: Mon, 23 Nov 2026 10:00:00 +0100',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'X-MSS-NIL: bench',
    '',
    '',
  ].join('\r\n');
  const line = 'Compte rendu de consultation: examen clinique sans particularite, suite au cabinet.\r\n';
  let body = '';
  while (head.length + body.length + line.length <= SIZE) body += line;
  body += 'x'.repeat(Math.max(0, SIZE - head.length - body.length - 2));
  return Buffer.from(`${head}${body}\r\n`);
}

// ---------------------------------------------------------------------------------------------
// A small SMTP client (load generator): exact timing of "end of DATA → 250", PIPELINING.

class ReplyReader {
  private buf = '';
  private lines: string[] = [];
  private waiters: ((reply: string) => void)[] = [];
  feed(chunk: Buffer) {
    this.buf += chunk.toString('latin1');
    let i = this.buf.indexOf('\r\n');
    while (i >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      this.lines.push(line);
      if (/^\d{3}(?: |$)/.test(line)) {
        const reply = this.lines.join('\n');
        this.lines = [];
        const w = this.waiters.shift();
        if (w) w(reply);
        else this.queue.push(reply);
      }
      i = this.buf.indexOf('\r\n');
    }
  }
  private queue: string[] = [];
  next(): Promise<string> {
    const r = this.queue.shift();
    if (r !== undefined) return Promise.resolve(r);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

async function expectCode(reader: ReplyReader, code: string): Promise<string> {
  const r = await reader.next();
  if (!r.startsWith(code)) throw new Error(`expected ${code}, got ${r}`);
  return r;
}

async function client(
  c: number,
  port: number,
  cert: { certPem: string; keyPem: string },
  count: number,
  latencies: number[],
): Promise<number> {
  const plain = net.connect(port, '127.0.0.1');
  // Like an MTA's client (and smtp-server on its side): no Nagle. Otherwise the final `.` waits
  // for the ACK of the message's last segment, which Linux delays by up to 40 ms, and that
  // delay, not the MX, becomes the latency measured.
  if (process.env['BENCH_NAGLE'] !== '1') plain.setNoDelay(true);
  await new Promise<void>((resolve, reject) => plain.once('connect', resolve).once('error', reject));
  let reader = new ReplyReader();
  plain.on('data', (d: Buffer) => reader.feed(d));
  await expectCode(reader, '220');
  plain.write(`EHLO ${A.mx}\r\n`);
  await expectCode(reader, '250');
  plain.write('STARTTLS\r\n');
  await expectCode(reader, '220');
  plain.removeAllListeners('data');
  const sock = tls.connect({
    socket: plain,
    cert: cert.certPem,
    key: cert.keyPem,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    ciphers: CIPHERS,
  });
  await new Promise<void>((resolve, reject) => sock.once('secureConnect', resolve).once('error', reject));
  reader = new ReplyReader();
  sock.on('data', (d: Buffer) => reader.feed(d));
  sock.write(`EHLO ${A.mx}\r\n`);
  await expectCode(reader, '250');
  let ok = 0;
  for (let i = 0; i < count; i++) {
    const from = `dr.a@${A.domain}`;
    const to = rcptOf(c);
    const raw = message(`b${process.pid}.${c}.${i}.${Date.now()}`, from, to);
    sock.write(`MAIL FROM:<${from}> SIZE=${raw.length}\r\nRCPT TO:<${to}>\r\nDATA\r\n`);
    await expectCode(reader, '250');
    await expectCode(reader, '250');
    await expectCode(reader, '354');
    sock.write(raw);
    const t0 = performance.now();
    sock.write('.\r\n');
    const r = await reader.next();
    if (r.startsWith('250')) {
      latencies.push(performance.now() - t0);
      ok++;
    } else throw new Error(`DATA refused: ${r}`);
  }
  sock.write('QUIT\r\n');
  await reader.next().catch(() => {});
  sock.end();
  return ok;
}

async function loadGenerator(args: {
  port: number;
  cert: { certPem: string; keyPem: string };
  messages: number;
  connections: number;
}) {
  const latencies: number[] = [];
  const per = Math.ceil(args.messages / args.connections);
  const t0 = performance.now();
  const counts = await Promise.all(
    Array.from({ length: args.connections }, (_, c) => client(c, args.port, args.cert, per, latencies)),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { accepted: counts.reduce((a, b) => a + b, 0), seconds, latencies };
}

// ---------------------------------------------------------------------------------------------
// Operators

interface Setup {
  tmp: string;
  pkiDir: string;
  manifest: DevPkiManifest;
  whitelistFile: string;
}

type Engine = 'sqlite' | 'postgres';

function operatorConfig(
  setup: Setup,
  me: typeof A,
  engine: Engine,
  routes: Record<string, string>,
): { config: Config; schema: string | null } {
  const c = loadConfig({ env: {} });
  c.operator = {
    ...c.operator,
    name: `bench ${me.domain}`,
    domains: [me.domain],
    structureId: me.structureId,
    mxHost: me.mx,
  };
  c.dataDir = join(setup.tmp, `data-${me.domain}-${engine}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(c.dataDir, { recursive: true });
  c.trust.pki.devDir = setup.pkiDir;
  c.trust.whitelist = {
    ...c.trust.whitelist,
    source: setup.whitelistFile,
    checksum: null,
    refreshMinutes: 0,
  };
  c.smtp.mx = { ...c.smtp.mx, host: '127.0.0.1', port: 0, maxClients: 1000 };
  c.delivery = {
    ...c.delivery,
    routes,
    retryDelaysSeconds: [1],
    connectTimeoutMs: 10_000,
    concurrency: CONNECTIONS,
  };
  c.log.level = 'warn';
  if (process.env['BENCH_SQLITE_SYNC'] === 'NORMAL') c.store.sqlite.synchronous = 'NORMAL';
  let schema: string | null = null;
  if (engine === 'postgres') {
    schema = uniqueSchema('bench');
    c.store = { ...c.store, driver: 'postgres', postgres: { url: TEST_POSTGRES_URL, schema, poolSize: 20 } };
    if (TEST_REDIS_URL) {
      c.queue.driver = 'redis';
      c.redis.url = TEST_REDIS_URL;
    }
  }
  return { config: c, schema };
}

async function addBals(store: Store, addresses: string[]) {
  const now = new Date().toISOString();
  await store.db
    .insertInto('bals')
    .values(
      addresses.map((address) => ({
        address,
        type: 'ORG' as const,
        status: 'active' as const,
        liste_rouge: 0,
        digitization: 0,
        created_at: now,
        updated_at: now,
      })),
    )
    .execute();
}

interface RunningOperator {
  runtime: MailRuntime;
  store: Store;
  stop(): Promise<void>;
}

async function startOperator(setup: Setup, me: typeof A, engine: Engine, routes: Record<string, string>) {
  const { config, schema } = operatorConfig(setup, me, engine, routes);
  const store = await openStore(storeOptions(config));
  const bals = me === B ? Array.from({ length: CONNECTIONS }, (_, c) => rcptOf(c)) : [`dr.a@${A.domain}`];
  await addBals(store, bals);
  const runtime = await startMailRuntime({
    config,
    store,
    logger: createLogger('warn'),
    reconcileEverySeconds: 5,
  });
  return {
    runtime,
    store,
    async stop() {
      await runtime.stop();
      await store.close();
      if (schema) await dropSchema(TEST_POSTGRES_URL, schema);
    },
  } satisfies RunningOperator;
}

async function storedCount(store: Store): Promise<number> {
  const r = await store.db
    .selectFrom('messages')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

// ---------------------------------------------------------------------------------------------
// Worker thread: the load generator, or operator B of the delivery path

type WorkerTask =
  | {
      task: 'load';
      port: number;
      cert: { certPem: string; keyPem: string };
      messages: number;
      connections: number;
    }
  | { task: 'operator-b'; setup: Setup; engine: Engine };

if (!isMainThread) {
  const data = workerData as WorkerTask;
  if (data.task === 'load') {
    loadGenerator(data).then(
      (r) => parentPort!.postMessage({ ok: true, ...r }),
      (e: Error) => parentPort!.postMessage({ ok: false, error: e.stack ?? e.message }),
    );
  } else {
    void (async () => {
      const b = await startOperator(data.setup, B, data.engine, {});
      parentPort!.postMessage({ ready: true, port: b.runtime.mxAddress!.port });
      parentPort!.on('message', async (m: { count?: boolean; stop?: boolean }) => {
        if (m.count) parentPort!.postMessage({ stored: await storedCount(b.store) });
        if (m.stop) {
          await b.stop();
          parentPort!.postMessage({ stopped: true });
        }
      });
    })().catch((e: Error) => parentPort!.postMessage({ ok: false, error: e.stack ?? e.message }));
  }
}

function runWorker<T>(task: WorkerTask, onMessage?: (m: unknown, w: Worker) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    // Worker threads do not inherit the tsx loader: register it there, then load this file.
    const w = new Worker(
      `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`,
      { eval: true, workerData: task },
    );
    w.on('error', reject);
    w.on('message', (m: { ok?: boolean; error?: string }) => {
      if (m.ok === false) return reject(new Error(m.error));
      if (onMessage) {
        if (onMessage(m, w)) resolve(m as T);
      } else {
        resolve(m as T);
        void w.terminate();
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Main

interface Row {
  path: string;
  engine: string;
  messages: number;
  seconds: number;
  rate: number;
  p50: number;
  p99: number;
}

async function benchMx(setup: Setup, engine: Engine): Promise<Row> {
  const b = await startOperator(setup, B, engine, {});
  try {
    const sender = setup.manifest.entries.find((e) => e.role === 'server' && e.host === A.mx)!;
    const cert = {
      certPem: readFileSync(join(setup.pkiDir, sender.file), 'utf8'),
      keyPem: readFileSync(join(setup.pkiDir, sender.key!), 'utf8'),
    };
    const port = b.runtime.mxAddress!.port;
    // Warm-up (JIT, TLS, SQL statements), not counted.
    await runWorker({ task: 'load', port, cert, messages: CONNECTIONS * 5, connections: CONNECTIONS });
    const before = await storedCount(b.store);
    const elu0 = performance.eventLoopUtilization();
    const r = await runWorker<{ accepted: number; seconds: number; latencies: number[] }>({
      task: 'load',
      port,
      cert,
      messages: MESSAGES,
      connections: CONNECTIONS,
    });
    if (process.env['BENCH_ELU']) {
      const elu = performance.eventLoopUtilization(elu0);
      console.log(`MX event loop utilisation: ${(elu.utilization * 100).toFixed(0)}%`);
    }
    const stored = (await storedCount(b.store)) - before;
    if (stored !== r.accepted) throw new Error(`accepted ${r.accepted} but stored ${stored}`);
    return {
      path: `MX, ${CONNECTIONS} connections`,
      engine: engine === 'sqlite' ? 'embedded (SQLite)' : `PostgreSQL${TEST_REDIS_URL ? ' + BullMQ' : ''}`,
      messages: r.accepted,
      seconds: r.seconds,
      rate: r.accepted / r.seconds,
      p50: pct(r.latencies, 0.5),
      p99: pct(r.latencies, 0.99),
    };
  } finally {
    await b.stop();
  }
}

async function benchDelivery(setup: Setup, engine: Engine): Promise<Row> {
  let worker: Worker | null = null;
  const ready = await runWorker<{ port: number }>({ task: 'operator-b', setup, engine }, (m, w) => {
    worker = w;
    return (m as { ready?: boolean }).ready === true;
  });
  const ask = <T>(msg: object, key: string) =>
    new Promise<T>((resolve) => {
      const on = (m: Record<string, unknown>) => {
        if (key in m) {
          worker!.off('message', on);
          resolve(m as T);
        }
      };
      worker!.on('message', on);
      worker!.postMessage(msg);
    });
  const a = await startOperator(setup, A, engine, { [B.domain]: `127.0.0.1:${ready.port}` });
  try {
    // A cheap count (spool.stats() scans and groups every row): the poll must not load A.
    const total = async () =>
      Number(
        (
          await a.store.db
            .selectFrom('spool_recipients')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('status', '=', 'delivered')
            .executeTakeFirstOrThrow()
        ).n,
      );
    // Warm-up.
    for (let i = 0; i < CONNECTIONS; i++) {
      await a.runtime.injectOutbound(
        message(`w${i}.${Date.now()}`, `dr.a@${A.domain}`, rcptOf(i)),
        `dr.a@${A.domain}`,
        [rcptOf(i)],
      );
    }
    while ((await total()) < CONNECTIONS) await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    // Closed loop, like the MX run: 20 senders, each spools a message and waits until A has
    // delivered it to B before spooling the next. One poller watches the spool for all of them.
    const waiting = new Map<number, () => void>();
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const ids = [...waiting.keys()];
        if (ids.length) {
          const rows = await a.store.db
            .selectFrom('spool_recipients')
            .select('id')
            .where('id', 'in', ids)
            .where('status', '=', 'delivered')
            .execute();
          for (const r of rows) {
            waiting.get(r.id)?.();
            waiting.delete(r.id);
          }
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (next < MESSAGES) {
          const i = next++;
          const to = rcptOf(i);
          const raw = message(`d${i}.${Date.now()}`, `dr.a@${A.domain}`, to);
          const r = await a.runtime.injectOutbound(raw, `dr.a@${A.domain}`, [to]);
          const id = r.spooled!.recipientIds[0]!;
          await new Promise<void>((resolve) => waiting.set(id, resolve));
        }
      }),
    );
    polling = false;
    await poller;
    const deadline = Date.now() + 600_000;
    while ((await total()) < MESSAGES + CONNECTIONS) {
      if (Date.now() > deadline) throw new Error('delivery did not finish in 10 minutes');
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - t0) / 1000;
    const rows = await a.store.db
      .selectFrom('spool_recipients as r')
      .innerJoin('spool_messages as m', 'm.id', 'r.message_id')
      .select(['m.received_at', 'r.delivered_at', 'r.attempts'])
      .where('r.status', '=', 'delivered')
      .orderBy('r.id', 'desc')
      .limit(MESSAGES)
      .execute();
    const lat = rows.map((r) => new Date(r.delivered_at!).getTime() - new Date(r.received_at).getTime());
    const stored = (await ask<{ stored: number }>({ count: true }, 'stored')).stored;
    if (stored !== MESSAGES + CONNECTIONS)
      throw new Error(`B stored ${stored}, expected ${MESSAGES + CONNECTIONS}`);
    const retried = rows.filter((r) => r.attempts > 1).length;
    return {
      path: `delivery A → B, concurrency ${CONNECTIONS}${retried ? ` (${retried} retried)` : ''}`,
      engine: engine === 'sqlite' ? 'embedded (SQLite)' : `PostgreSQL${TEST_REDIS_URL ? ' + BullMQ' : ''}`,
      messages: MESSAGES,
      seconds,
      rate: MESSAGES / seconds,
      p50: pct(lat, 0.5),
      p99: pct(lat, 0.99),
    };
  } finally {
    await a.stop();
    await ask({ stop: true }, 'stopped');
    await worker!.terminate();
  }
}

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), 'mss-bench-smtp-'));
  try {
    const pkiDir = join(tmp, 'pki');
    const { manifest } = await generateDevPki({
      dir: pkiDir,
      hosts: [
        { host: A.mx, structureId: A.structureId, org: A.org },
        { host: B.mx, structureId: B.structureId, org: B.org },
      ],
    });
    const dnOf = (h: string) => manifest.entries.find((e) => e.role === 'server' && e.host === h)!.listedDn!;
    const domaine = (nom: string, dn: string) =>
      `<Domaine><Nom>${nom}</Nom><Description>${nom}</Description><DNCertificatOperateur>${dn}</DNCertificatOperateur><ResponsableContact>r</ResponsableContact><SupportContact>s</SupportContact><DateMAJ>2026-01-01T00:00:00Z</DateMAJ></Domaine>`;
    const whitelistFile = join(tmp, 'liste-blanche.xml');
    writeFileSync(
      whitelistFile,
      `<?xml version="1.0" encoding="UTF-8"?><ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema"><DateDeGeneration>${new Date().toISOString().slice(0, 19)}Z</DateDeGeneration><ListeDomaines>${domaine(A.domain, dnOf(A.mx))}${domaine(B.domain, dnOf(B.mx))}</ListeDomaines></ListeBlancheMSSante>`,
    );
    const setup: Setup = { tmp, pkiDir, manifest, whitelistFile };
    const engines: Engine[] = TEST_POSTGRES_URL ? ['sqlite', 'postgres'] : ['sqlite'];
    console.log(
      `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}; ` +
        `${MESSAGES} messages of ${SIZE} bytes, ${CONNECTIONS} connections; TLS 1.2 ECDHE-RSA, mutual TLS`,
    );
    const rows: Row[] = [];
    for (const engine of process.env['BENCH_SKIP_MX'] ? [] : engines) {
      rows.push(await benchMx(setup, engine));
      console.log(line(rows.at(-1)!));
    }
    for (const engine of process.env['BENCH_SKIP_DELIVERY'] ? [] : engines) {
      rows.push(await benchDelivery(setup, engine));
      console.log(line(rows.at(-1)!));
    }
    console.log(
      '\n| path | engine | messages | time | msg/s | p50 | p99 |\n|---|---|---:|---:|---:|---:|---:|',
    );
    for (const r of rows) {
      console.log(
        `| ${r.path} | ${r.engine} | ${r.messages} | ${r.seconds.toFixed(1)} s | ${Math.round(r.rate)} | ${r.p50.toFixed(1)} ms | ${r.p99.toFixed(1)} ms |`,
      );
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function line(r: Row): string {
  return `${r.path} [${r.engine}]: ${r.messages} messages in ${r.seconds.toFixed(1)} s = ${Math.round(r.rate)} msg/s; latency p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms`;
}

if (isMainThread) {
  main().then(
    () => process.exit(0),
    (e: Error) => {
      console.error(e);
      process.exit(1);
    },
  );
}
