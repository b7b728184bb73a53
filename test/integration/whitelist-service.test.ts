import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import {
  createWhitelistService,
  type WhitelistService,
  type WhitelistServiceOptions,
} from '../../src/trust/whitelist/service.ts';
import { parseChecksum } from '../../src/trust/whitelist/source.ts';

const REAL_FILE = resolve(import.meta.dirname, '../../../shared/fixtures/listeblanchemssante-2025-03-13.xml');
const V1 = readFileSync(REAL_FILE);
const V1_TEXT = V1.toString('utf8');
const GENERATED_V1 = new Date('2025-03-13T14:54:10Z');

/** The next day's list: one more domain. */
const V2 = Buffer.from(
  V1_TEXT.replace(
    '<DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration>',
    '<DateDeGeneration>2025-03-14T06:00:00Z</DateDeGeneration>',
  ).replace(
    '<ListeDomaines>',
    `<ListeDomaines>
        <Domaine>
            <Nom>nouveau.mssante.fr</Nom>
            <Description>NOUVEAU</Description>
            <DNCertificatOperateur>CN=mx.nouveau.fr,OU=1750000002,O=NOUVEAU,ST=Paris (75),C=FR</DNCertificatOperateur>
            <ResponsableContact>01 02 03 04 05, r@nouveau.fr</ResponsableContact>
            <SupportContact>01 02 03 04 05, s@nouveau.fr</SupportContact>
            <DateMAJ>2025-03-14T06:00:00Z</DateMAJ>
        </Domaine>`,
  ),
);
/** A download cut in the middle of a <Domaine>. */
const BROKEN = V1.subarray(0, Math.floor(V1.length / 2));
/** An older list than V1. */
const OLDER = Buffer.from(
  V1_TEXT.replace('2025-03-13T14:54:10Z</DateDeGeneration>', '2025-03-01T00:00:00Z</DateDeGeneration>'),
);

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------
// A small HTTP server on loopback serving whatever the test puts in `files`.

type Served = Buffer | string | { status: number } | 'hang';
const files = new Map<string, Served>();
let server: Server;
let base: string;
const hanging = new Set<ServerResponse>();
let requests: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const f = files.get(req.url ?? '');
    if (f === undefined) {
      res.writeHead(404).end('not found');
    } else if (f === 'hang') {
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.write('<?xml version="1.0"?>');
      hanging.add(res);
    } else if (typeof f === 'object' && 'status' in f) {
      res.writeHead(f.status).end();
    } else {
      res.writeHead(200, { 'content-type': 'application/xml' }).end(f);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const r of hanging) r.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function publish(list: Buffer, digest = sha(list)) {
  files.set('/liste.xml', list);
  files.set('/liste.xml.sha256', `${digest}  liste.xml\n`);
}

// ---------------------------------------------------------------------------------------------
// Services under test, with their logs captured.

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

const services: WhitelistService[] = [];

function make(over: Partial<WhitelistServiceOptions> = {}) {
  const logs: LogLine[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(JSON.parse(line)) });
  const service = createWhitelistService({
    source: `${base}/liste.xml`,
    checksum: `${base}/liste.xml.sha256`,
    refreshMinutes: 0,
    staleAfterHours: 48,
    timeoutMs: 5000,
    logger,
    clock: () => new Date(GENERATED_V1.getTime() + 3_600_000),
    ...over,
  });
  services.push(service);
  const warnings = () => logs.filter((l) => l.level === 40);
  return { service, logs, warnings };
}

afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  for (const s of services.splice(0)) await s.stop();
  files.clear();
  requests = [];
});

describe('loading', () => {
  it('loads the list and its checksum from URLs', async () => {
    publish(V1);
    const { service, logs } = make();
    const list = await service.start();
    expect(service.current()).toBe(list);
    expect(list.isListed('UC-CMP.mssante.fr')).toBe(true);
    expect(service.status()).toMatchObject({
      source: `${base}/liste.xml`,
      checksum: `${base}/liste.xml.sha256`,
      entries: 6554,
      domains: 5002,
      dns: 392,
      sha256: sha(V1),
      checksumVerified: true,
      generatedAt: GENERATED_V1,
      stale: false,
      ageHours: 1,
      lastError: null,
    });
    expect(logs.find((l) => l.msg === 'liste blanche loaded')).toMatchObject({
      entries: 6554,
      domains: 5002,
      checksumVerified: true,
      generatedAt: '2025-03-13T14:54:10.000Z',
    });
  });

  it('loads from files, relative to cwd, with a BSD-style checksum', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mss-wl-'));
    try {
      writeFileSync(join(dir, 'lb.xml'), V1);
      writeFileSync(join(dir, 'lb.sha256'), `SHA256 (lb.xml) = ${sha(V1).toUpperCase()}\n`);
      const { service } = make({ source: 'lb.xml', checksum: 'lb.sha256', cwd: dir });
      await service.start();
      expect(service.status()).toMatchObject({ entries: 6554, checksumVerified: true, source: 'lb.xml' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a list whose checksum does not match, naming both digests, before parsing', async () => {
    const wrong = sha(Buffer.from('something else'));
    publish(V1, wrong);
    const { service } = make();
    const err = await service.start().then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.name).toBe('WhitelistLoadError');
    expect(err?.message).toContain(`liste blanche: cannot load ${base}/liste.xml: checksum mismatch`);
    expect(err?.message).toContain(`expected sha256 ${wrong}`);
    expect(err?.message).toContain(`got ${sha(V1)}`);
    expect(() => service.current()).toThrow(/not started/);
    expect(service.status()).toMatchObject({ loadedAt: null, entries: 0, stale: true });
    expect(service.status().lastError).toContain('checksum mismatch');
  });

  it('runs without a checksum when none is configured', async () => {
    publish(V1);
    const { service } = make({ checksum: null });
    await service.start();
    expect(service.status()).toMatchObject({ checksumVerified: false, checksum: null, entries: 6554 });
    expect(requests).toEqual(['/liste.xml']);
  });

  it.each([
    ['a missing list', () => void files.set('/liste.xml.sha256', sha(V1)), /HTTP 404/],
    [
      'a server error',
      () => {
        publish(V1);
        files.set('/liste.xml', { status: 503 });
      },
      /HTTP 503/,
    ],
    ['a missing checksum', () => void files.set('/liste.xml', V1), /checksum http:.*HTTP 404/],
    [
      'a checksum file without a digest',
      () => {
        publish(V1);
        files.set('/liste.xml.sha256', 'hello');
      },
      /checksum http:.*: not a SHA-256 checksum line/,
    ],
    [
      'an HTML page',
      () => publish(Buffer.from('<html><body>Maintenance</body></html>')),
      /root element must be <ListeBlancheMSSante>/,
    ],
    ['a truncated list', () => publish(BROKEN), /truncated document.*<Domaine> \(line \d+\) is not closed/],
  ])('fails start-up clearly on %s', async (_label, setup, reason) => {
    setup();
    const { service } = make();
    await expect(service.start()).rejects.toThrow(reason);
  });

  it('gives up after timeoutMs', async () => {
    files.set('/liste.xml', 'hang');
    const { service } = make({ checksum: null, timeoutMs: 300 });
    const t0 = Date.now();
    await expect(service.start()).rejects.toThrow(/no complete answer within 300 ms/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('refuses plain http off loopback and unknown schemes, without connecting', async () => {
    await expect(make({ source: 'http://listeblanche.example.org/x.xml' }).service.start()).rejects.toThrow(
      /plain http is only allowed on loopback, use https:\/\//,
    );
    await expect(make({ source: 'ftp://listeblanche.example.org/x.xml' }).service.start()).rejects.toThrow(
      /unsupported URL scheme ftp:/,
    );
    await expect(
      make({ source: `${base}/liste.xml`, checksum: 'http://example.org/x.sha256' }).service.start(),
    ).rejects.toThrow(/checksum http:\/\/example\.org\/x\.sha256: refusing/);
  });
});

describe('refresh', () => {
  it('swaps to a new version atomically', async () => {
    publish(V1);
    const { service, logs } = make();
    const v1 = await service.start();
    const loadedAt = service.status().loadedAt;
    publish(V2);
    const r = await service.refresh();
    expect(r.outcome).toBe('swapped');
    const v2 = service.current();
    expect(v2).not.toBe(v1);
    expect(v2.isListed('nouveau.mssante.fr')).toBe(true);
    // whoever still holds the old version sees it unchanged
    expect(v1.isListed('nouveau.mssante.fr')).toBe(false);
    expect(service.status()).toMatchObject({
      entries: 6555,
      domains: 5003,
      generatedAt: new Date('2025-03-14T06:00:00Z'),
      sha256: sha(V2),
      lastError: null,
    });
    expect(service.status().loadedAt).not.toBe(loadedAt);
    expect(logs.find((l) => l.msg === 'liste blanche updated')).toMatchObject({
      previousGeneratedAt: '2025-03-13T14:54:10.000Z',
      generatedAt: '2025-03-14T06:00:00.000Z',
    });
  });

  it('keeps the last good list when the new one is broken, and says why', async () => {
    publish(V1);
    const { service, warnings } = make();
    const v1 = await service.start();
    publish(BROKEN);
    const r = await service.refresh();
    expect(r).toMatchObject({ outcome: 'failed', list: v1 });
    expect(service.current()).toBe(v1);
    const st = service.status();
    expect(st).toMatchObject({ entries: 6554, sha256: sha(V1), generatedAt: GENERATED_V1 });
    expect(st.lastError).toMatch(/^liste blanche, line \d+: truncated document/);
    expect(st.lastAttemptAt).toBeInstanceOf(Date);
    expect(warnings()).toEqual([
      expect.objectContaining({
        msg: 'liste blanche refresh failed; keeping the last good list',
        error: st.lastError,
        kept: expect.objectContaining({ entries: 6554 }),
      }),
    ]);

    // a checksum mismatch is a failed refresh too
    publish(V2, sha(V1));
    expect((await service.refresh()).outcome).toBe('failed');
    expect(service.status().lastError).toContain('checksum mismatch');
    expect(service.current()).toBe(v1);

    // the source is down
    files.clear();
    expect((await service.refresh()).outcome).toBe('failed');
    expect(service.status().lastError).toContain('HTTP 404');

    // and it recovers
    publish(V2);
    expect((await service.refresh()).outcome).toBe('swapped');
    expect(service.status().lastError).toBeNull();
  });

  it('does not re-parse an unchanged list, and refuses to go back to an older one', async () => {
    publish(V1);
    const { service } = make();
    const v1 = await service.start();
    expect(await service.refresh()).toMatchObject({ outcome: 'unchanged', list: v1 });
    const succeeded = service.status().lastSuccessAt;
    publish(OLDER);
    const r = await service.refresh();
    expect(r.outcome).toBe('failed');
    expect(service.status().lastSuccessAt).toBe(succeeded);
    expect(service.status().lastError).toMatch(/older than the one in use/);
    expect(service.current()).toBe(v1);
  });

  it('runs one refresh at a time', async () => {
    publish(V1);
    const { service } = make();
    await service.start();
    requests = [];
    publish(V2);
    const [a, b] = [service.refresh(), service.refresh()];
    expect(a).toBe(b);
    await a;
    expect(requests.filter((u) => u === '/liste.xml')).toHaveLength(1);
  });

  it('refreshes every refreshMinutes on an unref’d timer, and stop() clears it', async () => {
    publish(V1);
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const spy = vi.spyOn(globalThis, 'setInterval');
    const { service } = make({ refreshMinutes: 5 });
    await service.start();
    expect(vi.getTimerCount()).toBe(1);
    expect(spy).toHaveBeenCalledWith(expect.any(Function), 5 * 60_000);
    const timer = spy.mock.results[0]!.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);

    publish(V2);
    vi.advanceTimersByTime(4 * 60_000);
    expect(service.status().entries).toBe(6554);
    vi.advanceTimersByTime(60_000);
    await vi.waitFor(() => expect(service.status().entries).toBe(6555), { timeout: 5000, interval: 20 });

    await service.stop();
    expect(vi.getTimerCount()).toBe(0);
    await expect(service.refresh()).rejects.toThrow(/stopped/);
  });

  it('never sets a timer when refreshMinutes is 0', async () => {
    publish(V1);
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { service } = make({ refreshMinutes: 0 });
    await service.start();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop() aborts a download in progress', async () => {
    publish(V1);
    const { service, warnings } = make({ timeoutMs: 60_000 });
    await service.start();
    files.set('/liste.xml', 'hang');
    const pending = service.refresh();
    await vi.waitFor(() => expect(hanging.size).toBeGreaterThan(0), { timeout: 5000, interval: 10 });
    const t0 = Date.now();
    await service.stop();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((await pending).outcome).toBe('failed');
    expect(warnings()).toEqual([]);
  });
});

describe('staleness', () => {
  it('is judged on DateDeGeneration with the injected clock, and logged', async () => {
    publish(V1);
    let now = new Date(GENERATED_V1.getTime() + 47 * 3_600_000);
    const { service, warnings } = make({ clock: () => now });
    await service.start();
    expect(service.status()).toMatchObject({ stale: false, ageHours: 47, staleAfterHours: 48 });
    expect(warnings()).toEqual([]);

    now = new Date(GENERATED_V1.getTime() + 49.25 * 3_600_000);
    expect(service.status()).toMatchObject({ stale: true, ageHours: 49.3 });
    // each refresh that leaves a stale list in place says so
    await service.refresh();
    expect(warnings()).toEqual([
      expect.objectContaining({
        msg: 'liste blanche is stale: generated 49.3 h ago (limit 48 h)',
        ageHours: 49.3,
        staleAfterHours: 48,
        generatedAt: '2025-03-13T14:54:10.000Z',
      }),
    ]);

    // a fresher list clears it
    publish(V2);
    await service.refresh();
    expect(service.status()).toMatchObject({ stale: false, ageHours: 34.2 });
  });

  it('warns at start-up when the list is already stale', async () => {
    publish(V1);
    const { service, warnings } = make({ clock: () => new Date('2025-11-01T00:00:00Z') });
    await service.start();
    expect(service.status().stale).toBe(true);
    expect(warnings().map((w) => w.msg)).toEqual([
      expect.stringMatching(/^liste blanche is stale: generated \d+(\.\d)? h ago/),
    ]);
  });
});

describe('parseChecksum', () => {
  const d1 = 'a'.repeat(64);
  const d2 = 'b'.repeat(64);
  it.each([
    [`${d1}\n`, undefined, d1],
    [`${d1.toUpperCase()}  liste.xml`, undefined, d1],
    [`${d1} *liste.xml`, undefined, d1],
    [`SHA256 (liste.xml) = ${d1}`, undefined, d1],
    [`# digests\n${d1}  other.xml\n${d2}  liste.xml\n`, 'liste.xml', d2],
  ])('%j', (text, name, digest) => {
    expect(parseChecksum(text, name)).toBe(digest);
  });
  it.each([
    ['', /no SHA-256 digest/],
    ['abc', /not a SHA-256 checksum line/],
    [`${d1}  a.xml\n${d2}  b.xml`, /holds 2 digests and none names liste\.xml/],
  ])('refuses %j', (text, message) => {
    expect(() => parseChecksum(text, 'liste.xml')).toThrow(message);
  });
});
