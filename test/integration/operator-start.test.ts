import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startCli, stopChild } from '../support/cli.ts';
import { dropSchema, TEST_POSTGRES_URL, uniqueSchema } from '../support/stores.ts';

const BANNER = /admin API:\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/;

/** Everything the operator writes goes under dataDir; every listener on a free loopback port. */
function isolated(dataDir: string): NodeJS.ProcessEnv {
  return {
    MSS_DATA_DIR: dataDir,
    MSS_ADMIN__PORT: '0',
    MSS_SMTP__MX__HOST: '127.0.0.1',
    MSS_SMTP__MX__PORT: '0',
    MSS_TRUST__PKI__DEV_DIR: join(dataDir, 'dev-pki'),
    MSS_LOG__LEVEL: 'warn',
  };
}

async function runOperator(env: NodeJS.ProcessEnv) {
  const dataDir = mkdtempSync(join(tmpdir(), 'mss-start-'));
  const started = await startCli(['start'], BANNER, {
    env: { ...isolated(dataDir), ...env },
    timeoutMs: 60_000,
  });
  const url = started.match[1]!;
  return { ...started, url, dataDir };
}

describe('mssante start (embedded defaults)', () => {
  it('creates its data under dataDir, says where, serves the admin API, stops cleanly on SIGTERM', async () => {
    const op = await runOperator({});
    try {
      const banner = op.output();
      expect(banner).toContain(`data:       ${op.dataDir}`);
      expect(banner).toMatch(/store:\s+sqlite .*mssante\.sqlite/);
      expect(existsSync(join(op.dataDir, 'mssante.sqlite'))).toBe(true);
      expect(existsSync(join(op.dataDir, 'blobs'))).toBe(true);
      const tokenFile = join(op.dataDir, 'admin-token');
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      expect(banner).not.toContain(readFileSync(tokenFile, 'utf8').trim());

      expect((await fetch(`${op.url}/healthz`)).status).toBe(200);
      const openapi = (await (await fetch(`${op.url}/openapi.json`)).json()) as { openapi: string };
      expect(openapi.openapi).toMatch(/^3\./);
      const denied = await fetch(`${op.url}/api/v1/bals`);
      expect(denied.status).toBe(401);
    } finally {
      expect(await stopChild(op.child)).toBe(0);
    }
  });

  it('keeps the generated admin token across restarts', async () => {
    const first = await runOperator({});
    const token = readFileSync(join(first.dataDir, 'admin-token'), 'utf8');
    await stopChild(first.child);
    const again = await startCli(['start'], BANNER, { env: isolated(first.dataDir), timeoutMs: 60_000 });
    await stopChild(again.child);
    expect(readFileSync(join(first.dataDir, 'admin-token'), 'utf8')).toBe(token);
  });

  it('refuses to start on a wrong configuration value, naming it (exit code 2)', async () => {
    const r = await runCli(['start'], { env: { MSS_STORE__DRIVER: 'oracle', MSS_DATA_DIR: tmpdir() } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /store\.driver = "oracle" \(from MSS_STORE__DRIVER\): expected one of "sqlite"\|"postgres"/,
    );
  });

  it('refuses to start when the admin port is taken, saying so', async () => {
    const op = await runOperator({});
    try {
      const port = new URL(op.url).port;
      const r = await runCli(['start'], {
        env: { ...isolated(mkdtempSync(join(tmpdir(), 'mss-start-'))), MSS_ADMIN__PORT: port },
        timeoutMs: 60_000,
      });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/EADDRINUSE/);
    } finally {
      await stopChild(op.child);
    }
  });
});

describe.skipIf(!TEST_POSTGRES_URL)('mssante start on PostgreSQL', () => {
  const schema = uniqueSchema('start');
  afterAll(async () => {
    await dropSchema(TEST_POSTGRES_URL, schema);
  });

  it('migrates the schema and serves', async () => {
    const op = await runOperator({
      MSS_STORE__DRIVER: 'postgres',
      MSS_STORE__POSTGRES__URL: TEST_POSTGRES_URL,
      MSS_STORE__POSTGRES__SCHEMA: schema,
    });
    try {
      expect(op.output()).toMatch(new RegExp(`store:\\s+postgres .*\\(schema ${schema}\\)`));
      expect((await fetch(`${op.url}/healthz`)).status).toBe(200);
    } finally {
      expect(await stopChild(op.child)).toBe(0);
    }
    const r = await runCli(['migrate', '--json'], {
      env: {
        MSS_STORE__DRIVER: 'postgres',
        MSS_STORE__POSTGRES__URL: TEST_POSTGRES_URL,
        MSS_STORE__POSTGRES__SCHEMA: schema,
      },
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ applied: [] });
  });
});
