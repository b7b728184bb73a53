/**
 * Crash safety of the trust-space SMTP, with the real `mssante start` process killed by SIGKILL.
 *
 *  - Inbound: a burst of messages at B's MX from several connections; B is killed in the middle
 *    and restarted: every message B acknowledged with 250 is in the mailbox exactly once.
 *  - Outbound: A has messages spooled for B; B stores one and kills A before A sees the 250 (the
 *    window between the peer's acceptance and the spool's record). A restarts, releases the leases
 *    of its dead run and sends again: B holds each message exactly once (ENVID de-duplication).
 *
 * On SQLite; and on PostgreSQL + Redis (BullMQ) when MSS_TEST_POSTGRES_URL and MSS_TEST_REDIS_URL
 * are set.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { createLogger } from '../../src/logger.ts';
import { createMxServer, type MxServer } from '../../src/smtp/mx-server.ts';
import { createSqlDedupe, mailComponents, spoolOutbound } from '../../src/smtp/runtime.ts';
import { mxTlsOptions, tlsPolicy } from '../../src/smtp/tls-policy.ts';
import { storeOptions } from '../../src/store/from-config.ts';
import { openStore, type Store } from '../../src/store/open.ts';
import { type DevPkiManifest, generateDevPki } from '../../src/trust/pki/dev-pki.ts';
import { createCertificateValidator } from '../../src/trust/pki/validator.ts';
import { Whitelist } from '../../src/trust/whitelist/list.ts';
import { parseWhitelist } from '../../src/trust/whitelist/parse.ts';
import { BIN, runCli, startCli } from '../support/cli.ts';
import { listeBlancheXml } from '../support/liste-blanche.ts';
import { dropSchema, TEST_POSTGRES_URL, TEST_REDIS_URL, uniqueSchema } from '../support/stores.ts';
import { freePort, sleep, until } from '../support/wait.ts';

const A = { domain: 'ch-a.mssante.fr', mx: 'mx.ch-a.mssante.fr', structureId: '1750000002', org: 'CH A' };
const B = { domain: 'ch-b.mssante.fr', mx: 'mx.ch-b.mssante.fr', structureId: '1330781295', org: 'CH B' };
const RECIPIENT = 'dr.b@ch-b.mssante.fr';
const SENDER = 'dr.a@ch-a.mssante.fr';
const READY = /MX \(SMTP\):\s+127\.0\.0\.1:(\d+)/;

let tmp: string;
let pkiDir: string;
let manifest: DevPkiManifest;
let whitelistFile: string;
const children: ChildProcess[] = [];

const hostEntry = (host: string) => manifest.entries.find((e) => e.role === 'server' && e.host === host)!;
const pkiText = (rel: string) => readFileSync(join(pkiDir, rel), 'utf8');

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mss-crash-'));
  pkiDir = join(tmp, 'pki');
  manifest = (
    await generateDevPki({
      dir: pkiDir,
      hosts: [
        { host: A.mx, structureId: A.structureId, org: A.org },
        { host: B.mx, structureId: B.structureId, org: B.org },
      ],
    })
  ).manifest;
  whitelistFile = join(tmp, 'liste-blanche.xml');
  writeFileSync(
    whitelistFile,
    listeBlancheXml([
      [A.domain, hostEntry(A.mx).listedDn!],
      [B.domain, hostEntry(B.mx).listedDn!],
    ]),
  );
}, 60_000);

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Engine {
  name: string;
  /** Config lines for the store and the queue of one operator. */
  yaml(tag: string): string;
  cleanup(): Promise<void>;
}

function sqliteEngine(): Engine {
  return {
    name: 'sqlite',
    yaml: () => 'store:\n  driver: sqlite\nqueue:\n  driver: memory\n',
    cleanup: async () => {},
  };
}

function postgresEngine(): Engine {
  const schemas: string[] = [];
  return {
    name: 'postgres + BullMQ',
    yaml(tag) {
      const schema = `${uniqueSchema('crash')}_${tag.replace(/\W/g, '_')}`;
      schemas.push(schema);
      return [
        'store:',
        '  driver: postgres',
        '  postgres:',
        `    url: ${TEST_POSTGRES_URL}`,
        `    schema: ${schema}`,
        '    poolSize: 4',
        'queue:',
        '  driver: redis',
        'redis:',
        `  url: ${TEST_REDIS_URL}`,
        '',
      ].join('\n');
    },
    async cleanup() {
      for (const s of schemas) await dropSchema(TEST_POSTGRES_URL, s);
    },
  };
}

/** Writes an operator's config file; returns its path and the loaded Config. */
function writeConfig(
  engine: Engine,
  me: typeof A,
  opts: { mxPort: number; routes: Record<string, string>; tag: string },
): { file: string; config: Config } {
  const dataDir = join(tmp, `data-${opts.tag}`);
  mkdirSync(dataDir, { recursive: true });
  const file = join(tmp, `${opts.tag}.yaml`);
  writeFileSync(
    file,
    [
      'operator:',
      `  name: "crash test ${me.domain}"`,
      `  domains: [${me.domain}]`,
      `  structureId: "${me.structureId}"`,
      `  mxHost: ${me.mx}`,
      `dataDir: ${dataDir}`,
      'admin:',
      '  enabled: false',
      'smtp:',
      '  mx:',
      '    host: 127.0.0.1',
      `    port: ${opts.mxPort}`,
      'delivery:',
      '  retryDelaysSeconds: [1]',
      '  connectTimeoutMs: 3000',
      '  routes:',
      ...Object.entries(opts.routes).map(([d, r]) => `    ${d}: "${r}"`),
      ...(Object.keys(opts.routes).length ? [] : ['    {}']),
      'trust:',
      '  whitelist:',
      `    source: ${whitelistFile}`,
      '    checksum: null',
      '    refreshMinutes: 0',
      '  pki:',
      `    devDir: ${pkiDir}`,
      'log:',
      '  level: warn',
      engine.yaml(opts.tag),
    ].join('\n'),
  );
  return { file, config: loadConfig({ file, env: {} }) };
}

async function addBal(config: Config, address: string) {
  const store = await openStore(storeOptions(config));
  try {
    const now = new Date().toISOString();
    await store.db
      .insertInto('bals')
      .values({
        address,
        type: 'ORG',
        status: 'active',
        liste_rouge: 0,
        digitization: 0,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.column('address').doNothing())
      .execute();
  } finally {
    await store.close();
  }
}

/** Message-ID → how many times it is in the recipient's mailboxes. */
async function countByMessageId(store: Store, address: string): Promise<Map<string, number>> {
  const rows = await store.db
    .selectFrom('messages as m')
    .innerJoin('mailboxes as b', 'b.id', 'm.mailbox_id')
    .select('m.message_id')
    .where('b.bal_address', '=', address)
    .execute();
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.message_id ?? '', (counts.get(r.message_id ?? '') ?? 0) + 1);
  return counts;
}

const start = async (file: string) => {
  const s = await startCli(['-c', file, 'start'], READY, { timeoutMs: 40_000 });
  children.push(s.child);
  return s;
};

const killed = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });

function message(n: string): Buffer {
  return Buffer.from(
    [
      `From: <${SENDER}>`,
      `To: <${RECIPIENT}>`,
      `Subject: rafale ${n}`,
      `Message-ID: <${n}@ch-a.mssante.fr>`,
      'Date: Mon, 23 Nov 2026 10:00:00 +0100',
      '',
      `Message ${n}. ${'x'.repeat(400)}`,
      '',
    ].join('\r\n'),
  );
}

function suite(makeEngine: () => Engine) {
  const engine = makeEngine();
  describe(`crash safety [${engine.name}]`, () => {
    afterAll(() => engine.cleanup());

    it('inbound: every message acknowledged with 250 before SIGKILL is stored exactly once', async () => {
      const port = await freePort();
      const { file, config } = writeConfig(engine, B, {
        mxPort: port,
        routes: {},
        tag: `${engine.name.slice(0, 2)}-in-b`,
      });
      await addBal(config, RECIPIENT);
      let b = await start(file);

      const sender = hostEntry(A.mx);
      const acked = new Set<string>();
      const sent = new Set<string>();
      let stop = false;
      const KILL_AFTER = 30;
      const connection = (c: number) =>
        new Promise<void>((resolve) => {
          const conn = new SMTPConnection({
            host: '127.0.0.1',
            port,
            name: A.mx,
            requireTLS: true,
            tls: { rejectUnauthorized: false, cert: pkiText(sender.file), key: pkiText(sender.key!) },
            connectionTimeout: 5000,
            socketTimeout: 5000,
          });
          let n = 0;
          const done = () => resolve();
          conn.on('error', done);
          conn.on('end', done);
          const next = () => {
            if (stop || n >= 200) {
              conn.quit();
              return;
            }
            const id = `in-${engine.name.slice(0, 2)}-${c}-${n++}`;
            sent.add(id);
            conn.send({ from: SENDER, to: [RECIPIENT] }, message(id), (err) => {
              if (!err) acked.add(`<${id}@ch-a.mssante.fr>`);
              if (!err && acked.size >= KILL_AFTER && !stop) {
                stop = true;
                b.child.kill('SIGKILL');
              }
              if (err) return done();
              next();
            });
          };
          conn.connect((err) => (err ? done() : next()));
        });
      await Promise.all([0, 1, 2, 3, 4].map(connection));
      await killed(b.child);
      expect(b.child.signalCode).toBe('SIGKILL');
      expect(acked.size).toBeGreaterThanOrEqual(KILL_AFTER);

      b = await start(file);
      const store = await openStore(storeOptions(config));
      try {
        const counts = await countByMessageId(store, RECIPIENT);
        for (const id of acked) expect(counts.get(id), id).toBe(1);
        for (const [id, n] of counts) expect(n, id).toBe(1);
        // Nothing arrives that was not sent.
        for (const id of counts.keys()) expect(sent.has(id.slice(1, id.indexOf('@')))).toBe(true);
      } finally {
        await store.close();
        b.child.kill('SIGTERM');
        await killed(b.child);
      }
    });

    it('outbound: A killed after B stored a message but before A recorded it; B holds each message once', async () => {
      const logger = createLogger('silent');
      const tag = engine.name.slice(0, 2);
      // B: an in-process MX (same pieces as the runtime), which kills A once it has stored 5 messages.
      const bConfig = writeConfig(engine, B, { mxPort: 0, routes: {}, tag: `${tag}-out-b` }).config;
      const bStore = await openStore(storeOptions(bConfig));
      const now = new Date().toISOString();
      await bStore.db
        .insertInto('bals')
        .values({
          address: RECIPIENT,
          type: 'ORG',
          status: 'active',
          liste_rouge: 0,
          digitization: 0,
          created_at: now,
          updated_at: now,
        })
        .execute();
      const { mailStore } = mailComponents(bConfig, bStore);
      const dedupe = createSqlDedupe(bStore, { expireHours: 24 });
      const validator = createCertificateValidator({
        anchors: [pkiText(manifest.root)],
        intermediates: [pkiText(manifest.intermediate)],
        crlSources: [join(pkiDir, manifest.crl)],
        logger,
      });
      await validator.start();
      const whitelist = Whitelist.from(parseWhitelist(readFileSync(whitelistFile)));
      let aChild: ChildProcess | null = null;
      let stored = 0;
      let duplicatesSkipped = 0;
      const seen = dedupe.seen.bind(dedupe);
      const mx: MxServer = createMxServer({
        tls: mxTlsOptions(tlsPolicy({ allowTls13: false, ciphers: bConfig.trust.tls.ciphers }), {
          certPem: pkiText(hostEntry(B.mx).file),
          keyPem: pkiText(hostEntry(B.mx).key!),
        }),
        whitelist: { current: () => whitelist },
        validator,
        recipients: async (a) => (a === RECIPIENT ? 'active' : null),
        localDomains: [B.domain],
        deliverLocal: async (raw, rcpts) => {
          await mailStore.deliver(
            raw,
            rcpts.map((r) => r.address),
          );
          stored++;
          // The window: stored (and about to answer 250), A not told yet.
          if (stored === 5 && aChild) aChild.kill('SIGKILL');
        },
        maxMessageBytes: 1_000_000,
        hostname: B.mx,
        logger,
        audit: () => {},
        dedupe: {
          async seen(key, rcpts) {
            const s = await seen(key, rcpts);
            duplicatesSkipped += s.size;
            return s;
          },
          record: (key, rcpts) => dedupe.record(key, rcpts),
        },
        closeTimeoutMs: 1000,
      });
      const bPort = (await mx.listen(0, '127.0.0.1')).port;

      try {
        // A: N messages spooled before it starts (one through `mssante mail inject`).
        const N = 24;
        const a = writeConfig(engine, A, {
          mxPort: 0,
          routes: { [B.domain]: `127.0.0.1:${bPort}` },
          tag: `${tag}-out-a`,
        });
        await addBal(a.config, SENDER);
        const aStore = await openStore(storeOptions(a.config));
        const parts = mailComponents(a.config, aStore);
        for (let i = 1; i < N; i++) {
          await spoolOutbound(parts, aStore, {
            raw: message(`out-${tag}-${i}`),
            mailFrom: SENDER,
            recipients: [RECIPIENT],
            source: 'test',
          });
        }
        const emlFile = join(tmp, `out-${tag}-cli.eml`);
        writeFileSync(emlFile, message(`out-${tag}-0`));
        const cli = await runCli(
          ['-c', a.file, 'mail', 'inject', '--from', SENDER, '--to', RECIPIENT, emlFile],
          {
            timeoutMs: 30_000,
          },
        );
        expect(cli.stderr).toBe('');
        expect(cli.code).toBe(0);
        expect(cli.stdout).toMatch(/spooled: message \d+ for dr\.b@ch-b\.mssante\.fr/);

        // Not waiting for the banner: deliveries start before it, and B may kill A first.
        const first = spawn(process.execPath, [BIN, '-c', a.file, 'start'], { stdio: 'ignore' });
        children.push(first);
        aChild = first;
        await Promise.race([
          killed(first),
          sleep(40_000).then(() => {
            throw new Error('A was not killed: B did not store 5 messages');
          }),
        ]);
        expect(first.signalCode).toBe('SIGKILL');
        expect(stored).toBeGreaterThanOrEqual(5);
        const pending = await parts.spool.stats();
        expect(pending.delivered).toBeLessThan(N);

        aChild = null;
        const run = await start(a.file);
        try {
          await until(
            'every message delivered by A',
            async () => {
              const s = await parts.spool.stats();
              return s.delivered === N && s.queued === 0 && s.delivering === 0;
            },
            30_000,
          );
          const counts = await countByMessageId(bStore, RECIPIENT);
          expect(counts.size).toBe(N);
          for (const [id, n] of counts) expect(n, id).toBe(1);
          // The message B stored just before A died was sent again, and not stored twice.
          expect(duplicatesSkipped).toBeGreaterThanOrEqual(1);
          const q = await runCli(['-c', a.file, 'mail', 'queue', '--json'], { timeoutMs: 30_000 });
          expect(JSON.parse(q.stdout)).toMatchObject({ delivered: N, queued: 0, delivering: 0, failed: 0 });
        } finally {
          run.child.kill('SIGTERM');
          await killed(run.child);
          await aStore.close();
        }
      } finally {
        await mx.close();
        validator.stop();
        await bStore.close();
      }
    });
  });
}

suite(sqliteEngine);
if (TEST_POSTGRES_URL && TEST_REDIS_URL) suite(postgresEngine);
else
  describe.skip('crash safety [postgres + BullMQ] — skipped: set MSS_TEST_POSTGRES_URL and MSS_TEST_REDIS_URL', () => {
    it('runs with PostgreSQL and Redis', () => {});
  });
