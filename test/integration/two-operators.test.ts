/**
 * Two complete operators on loopback (mail runtime: MX, spool, worker, deliverer), each with its
 * own domain, SERV_SSL certificate (development PKI) and store, one liste blanche listing both,
 * and static routes to each other's MX. Mail goes A→B and B→A over STARTTLS + mutual TLS and
 * arrives intact; a destination off the list comes back to the sender as a DSN. On SQLite with
 * the in-process queue, and on PostgreSQL with BullMQ when MSS_TEST_POSTGRES_URL and
 * MSS_TEST_REDIS_URL are set.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { createLogger } from '../../src/logger.ts';
import { type MailRuntime, startMailRuntime } from '../../src/smtp/runtime.ts';
import { readAudit } from '../../src/store/audit.ts';
import type { Store } from '../../src/store/open.ts';
import { generateDevPki } from '../../src/trust/pki/dev-pki.ts';
import { listeBlancheXml } from '../support/liste-blanche.ts';
import {
  postgresKind,
  type StoreKind,
  sqliteKind,
  TEST_POSTGRES_URL,
  TEST_REDIS_URL,
} from '../support/stores.ts';
import { freePort, until } from '../support/wait.ts';

const A = { domain: 'ch-a.mssante.fr', mx: 'mx.ch-a.mssante.fr', structureId: '1750000002', org: 'CH A' };
const B = { domain: 'ch-b.mssante.fr', mx: 'mx.ch-b.mssante.fr', structureId: '1330781295', org: 'CH B' };

let tmp: string;
let pkiDir: string;
let whitelistFile: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mss-two-ops-'));
  pkiDir = join(tmp, 'pki');
  const { manifest } = await generateDevPki({
    dir: pkiDir,
    hosts: [
      { host: A.mx, structureId: A.structureId, org: A.org },
      { host: B.mx, structureId: B.structureId, org: B.org },
    ],
  });
  const dnOf = (host: string) =>
    manifest.entries.find((e) => e.role === 'server' && e.host === host)!.listedDn!;
  whitelistFile = join(tmp, 'liste-blanche.xml');
  writeFileSync(
    whitelistFile,
    listeBlancheXml([
      [A.domain, dnOf(A.mx)],
      [B.domain, dnOf(B.mx)],
    ]),
  );
}, 60_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Operator {
  runtime: MailRuntime;
  store: Store;
  config: Config;
}

function configFor(
  me: typeof A,
  peer: typeof A,
  ports: { mine: number; peer: number },
  engine: { queue: 'memory' | 'redis' },
): Config {
  const c = loadConfig({ env: {} });
  c.operator = {
    ...c.operator,
    name: `test ${me.domain}`,
    domains: [me.domain],
    structureId: me.structureId,
    mxHost: me.mx,
  };
  c.dataDir = join(tmp, `data-${me.domain}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(c.dataDir, { recursive: true });
  c.trust.pki.devDir = pkiDir;
  c.trust.whitelist = { ...c.trust.whitelist, source: whitelistFile, checksum: null, refreshMinutes: 0 };
  c.smtp.mx = { ...c.smtp.mx, host: '127.0.0.1', port: ports.mine };
  c.delivery = {
    ...c.delivery,
    routes: { [peer.domain]: `127.0.0.1:${ports.peer}` },
    retryDelaysSeconds: [1],
    connectTimeoutMs: 5000,
  };
  c.queue.driver = engine.queue;
  c.redis.url = engine.queue === 'redis' ? TEST_REDIS_URL : null;
  return c;
}

async function addBal(store: Store, address: string) {
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
    .execute();
}

async function inbox(op: Operator, address: string) {
  const ms = op.runtime.components.mailStore;
  const box = await ms.getMailbox(address, 'INBOX');
  if (!box) return [];
  const msgs = await ms.getMessages(box.id);
  return Promise.all(msgs.map(async (m) => ({ meta: m, raw: await ms.readMessage(box.id, m.uid) })));
}

function message(from: string, to: string, subject: string): Buffer {
  return Buffer.from(
    [
      `From: <${from}>`,
      `To: <${to}>`,
      `Subject: ${subject}`,
      `Message-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@${from.split('@')[1]}>`,
      'Date: Mon, 23 Nov 2026 10:00:00 +0100',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      'X-MSS-NIL: test-suite',
      '',
      `Bonjour, compte rendu « ${subject} » accentué.`,
      '.leading dot line',
      '',
    ].join('\r\n'),
  );
}

function suite(name: string, kind: StoreKind, queue: 'memory' | 'redis') {
  describe(`two operators on loopback [${name}]`, () => {
    let a: Operator;
    let b: Operator;
    const logger = createLogger('silent');

    beforeAll(async () => {
      const ports = { a: await freePort(), b: await freePort() };
      const prefix = `mss-two-${process.pid}-${Date.now().toString(36)}`;
      const start = async (me: typeof A, peer: typeof A, mine: number, theirs: number, tag: string) => {
        const config = configFor(me, peer, { mine, peer: theirs }, { queue });
        const store = await kind.open();
        const runtime = await startMailRuntime({
          config,
          store,
          logger,
          queuePrefix: `${prefix}-${tag}`,
          reconcileEverySeconds: 1,
        });
        return { config, store, runtime };
      };
      a = await start(A, B, ports.a, ports.b, 'a');
      b = await start(B, A, ports.b, ports.a, 'b');
      await addBal(a.store, 'dr.a@ch-a.mssante.fr');
      await addBal(b.store, 'dr.b@ch-b.mssante.fr');
      await addBal(b.store, 'secretariat@ch-b.mssante.fr');
    }, 60_000);

    afterAll(async () => {
      for (const op of [a, b]) {
        await op?.runtime.stop();
        await op?.store.close();
      }
    });

    it('A → B: arrives intact in the recipient INBOX, with a Received header naming the TLS peer', async () => {
      expect(a.runtime.mxAddress?.port).toBeGreaterThan(0);
      const raw = message('dr.a@ch-a.mssante.fr', 'dr.b@ch-b.mssante.fr', 'A vers B');
      const r = await a.runtime.injectOutbound(raw, 'dr.a@ch-a.mssante.fr', [
        'dr.b@ch-b.mssante.fr',
        'secretariat@ch-b.mssante.fr',
      ]);
      expect(r.spooled?.messageId).toBeGreaterThan(0);
      const got = await until('the message at B', async () => {
        const m = await inbox(b, 'dr.b@ch-b.mssante.fr');
        const s = await inbox(b, 'secretariat@ch-b.mssante.fr');
        return m.length === 1 && s.length === 1 ? [m[0]!, s[0]!] : null;
      });
      for (const m of got) {
        const stored = m.raw;
        // Byte for byte: our Received header, then the message exactly as sent.
        expect(stored.subarray(stored.length - raw.length).equals(raw)).toBe(true);
        const head = stored.subarray(0, stored.length - raw.length).toString('latin1');
        expect(head).toMatch(/^Received: from mx\.ch-a\.mssante\.fr \(\[127\.0\.0\.1\]\)\r\n/);
        expect(head).toMatch(/\(using TLSv1\.2 with cipher ECDHE-RSA-AES\d+-GCM-SHA\d+\)/);
        expect(head).toContain(
          '(client certificate "CN=mx.ch-a.mssante.fr,OU=1750000002,O=CH A,C=FR" verified, listed-dn)',
        );
        expect(head).toMatch(/by mx\.ch-b\.mssante\.fr with ESMTPS id /);
      }
      const stats = await until('delivery recorded at A', async () => {
        const s = await a.runtime.components.spool.stats();
        return s.delivered === 2 ? s : null;
      });
      expect(stats).toMatchObject({ queued: 0, delivering: 0, failed: 0 });
      // Both sides audited their trust decision.
      await a.runtime.flushAudit();
      await b.runtime.flushAudit();
      const outA = await readAudit(a.store.db, { subject: B.domain });
      expect(outA.find((e) => e.action === 'smtp.out.accept')?.details).toMatchObject({
        rule: 'listed-dn',
        host: '127.0.0.1',
      });
      const inB = await readAudit(b.store.db, { subject: A.domain });
      expect(inB.find((e) => e.action === 'smtp.in.accept')?.details).toMatchObject({
        rule: 'listed-dn',
        ip: '127.0.0.1',
      });
    });

    it('B → A: the other direction, with a success DSN (NOTIFY=SUCCESS) coming back to B', async () => {
      const raw = message('dr.b@ch-b.mssante.fr', 'dr.a@ch-a.mssante.fr', 'B vers A');
      await b.runtime.injectOutbound(raw, 'dr.b@ch-b.mssante.fr', [
        { rcpt: 'dr.a@ch-a.mssante.fr', notify: 'SUCCESS,FAILURE', orcpt: 'rfc822;dr.a@ch-a.mssante.fr' },
      ]);
      const atA = await until('the message at A', async () => {
        const m = (await inbox(a, 'dr.a@ch-a.mssante.fr')).filter((x) => x.meta.subject === 'B vers A');
        return m.length === 1 ? m[0]! : null;
      });
      expect(atA.raw.subarray(atA.raw.length - raw.length).equals(raw)).toBe(true);
      // A reports the final delivery (RFC 3461) to B's sender, through the trust space with <>.
      const dsn = await until('the success DSN at B', async () => {
        const m = (await inbox(b, 'dr.b@ch-b.mssante.fr')).filter((x) =>
          /Delivery|Remis|livr/i.test(x.meta.subject ?? ''),
        );
        return m.length >= 1 ? m[0]! : null;
      });
      const text = dsn.raw.toString('utf8');
      expect(text).toContain('report-type=delivery-status');
      expect(text).toMatch(/Action: delivered/);
      expect(text).toMatch(/Final-Recipient: rfc822; ?dr\.a@ch-a\.mssante\.fr/);
      expect(text).toMatch(/Original-Recipient: rfc822; ?dr\.a@ch-a\.mssante\.fr/);
      expect(text).toMatch(/^Received: from mx\.ch-a\.mssante\.fr/);
    });

    it('a destination off the liste blanche is not contacted; the sender gets a DSN (5.7.1)', async () => {
      const raw = message('dr.a@ch-a.mssante.fr', 'quelquun@hors-liste.example.fr', 'Hors liste');
      await a.runtime.injectOutbound(raw, 'dr.a@ch-a.mssante.fr', ['quelquun@hors-liste.example.fr']);
      const dsn = await until('the DSN in the sender INBOX', async () => {
        const m = (await inbox(a, 'dr.a@ch-a.mssante.fr')).filter((x) =>
          x.raw.toString('utf8').includes('quelquun@hors-liste.example.fr'),
        );
        return m.length >= 1 ? m[0]! : null;
      });
      const text = dsn.raw.toString('utf8');
      expect(text).toMatch(/Action: failed/);
      expect(text).toMatch(/Status: 5\.7\.1/);
      expect(text).toContain('domain-not-listed');
      await a.runtime.flushAudit();
      const refused = await readAudit(a.store.db, { subject: 'hors-liste.example.fr' });
      expect(refused[0]).toMatchObject({ action: 'smtp.out.refuse', details: { rule: 'domain-not-listed' } });
    });

    it('an unknown recipient at B bounces back to A with the reply of B', async () => {
      const raw = message('dr.a@ch-a.mssante.fr', 'inconnu@ch-b.mssante.fr', 'Inconnu');
      await a.runtime.injectOutbound(raw, 'dr.a@ch-a.mssante.fr', ['inconnu@ch-b.mssante.fr']);
      const dsn = await until('the DSN for the unknown recipient', async () => {
        const m = (await inbox(a, 'dr.a@ch-a.mssante.fr')).filter((x) =>
          /Final-Recipient: rfc822; ?inconnu@ch-b\.mssante\.fr/.test(x.raw.toString('utf8')),
        );
        return m.length >= 1 ? m[0]! : null;
      });
      const text = dsn.raw.toString('utf8');
      expect(text).toMatch(/Status: 5\.1\.1/);
      expect(text).toMatch(/Diagnostic-Code: smtp; ?550 5\.1\.1/);
    });
  });
}

suite('sqlite + memory queue', sqliteKind, 'memory');
if (TEST_POSTGRES_URL && TEST_REDIS_URL) suite('postgres + BullMQ', postgresKind, 'redis');
else
  describe.skip('two operators on loopback [postgres + BullMQ] — skipped: set MSS_TEST_POSTGRES_URL and MSS_TEST_REDIS_URL', () => {
    it('runs with PostgreSQL and Redis', () => {});
  });
