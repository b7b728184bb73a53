import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envOverrides, loadConfig } from '../../src/config/load.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'mss-config-'));

function yamlFile(text: string): string {
  const file = join(tmp(), 'config.yaml');
  writeFileSync(file, text);
  return file;
}

describe('configuration', () => {
  it('embedded defaults: SQLite under ./data, in-process queue, admin on loopback', () => {
    const c = loadConfig({ env: {}, cwd: '/srv/op' });
    expect(c.store.driver).toBe('sqlite');
    expect(c.dataDir).toBe('/srv/op/data');
    expect(c.queue.driver).toBe('memory');
    expect(c.admin.host).toBe('127.0.0.1');
    expect(c.operator.domains.length).toBeGreaterThan(0);
  });

  it('merges the given file over the defaults, then MSS_* variables over both', () => {
    const file = yamlFile('operator:\n  domains: [ch-a.mssante.fr]\nadmin:\n  port: 9000\n');
    const c = loadConfig({ file, env: { MSS_ADMIN__PORT: '9100', MSS_LOG__LEVEL: 'debug' } });
    expect(c.operator.domains).toEqual(['ch-a.mssante.fr']);
    expect(c.operator.mxHost).toBe('mx.dev-operateur.mssante.fr'); // kept from the defaults
    expect(c.admin.port).toBe(9100);
    expect(c.log.level).toBe('debug');
  });

  it('takes MSS_CONFIG when no file is given', () => {
    const file = yamlFile('operator:\n  name: From env file\n');
    expect(loadConfig({ env: { MSS_CONFIG: file } }).operator.name).toBe('From env file');
  });

  it('reads lists, booleans and null from environment strings', () => {
    const c = loadConfig({
      env: {
        MSS_OPERATOR__DOMAINS: 'a.mssante.fr, b.mssante.fr',
        MSS_ADMIN__ENABLED: 'false',
        MSS_STORE__DRIVER: 'postgres',
        MSS_STORE__POSTGRES__URL: 'postgres://u:p@h/db',
        MSS_STORE__POSTGRES__SCHEMA: 'null',
      },
    });
    expect(c.operator.domains).toEqual(['a.mssante.fr', 'b.mssante.fr']);
    expect(c.admin.enabled).toBe(false);
    expect(c.store.postgres.schema).toBeNull();
  });

  it('maps variable names to keys: __ between levels, camelCase inside', () => {
    const { values, sources } = envOverrides({
      MSS_OPERATOR__MX_HOST: 'mx.x.fr',
      MSS_TEST_POSTGRES_URL: 'x',
      PATH: '/bin',
    });
    expect(values).toEqual({ operator: { mxHost: 'mx.x.fr' } });
    expect(sources.get('operator.mxHost')).toBe('MSS_OPERATOR__MX_HOST');
  });

  it.each([
    [
      { MSS_STORE__DRIVER: 'mysql' },
      /store\.driver = "mysql" \(from MSS_STORE__DRIVER\): expected one of "sqlite"\|"postgres"/,
    ],
    [
      { MSS_ADMIN__PORT: '70000' },
      /admin\.port = "70000" \(from MSS_ADMIN__PORT\): expected number to be <=65535/,
    ],
    [{ MSS_ADMIN__PORT: 'eighty' }, /admin\.port = "eighty".*expected number/],
    [{ MSS_OPERATOR__STRUCTURE_ID: '12345' }, /operator\.structureId = "12345".*'1' followed by a FINESS/],
    [
      { MSS_STORE__DRIVER: 'postgres' },
      /store\.postgres\.url = null.*a postgres:\/\/ URL when store\.driver is postgres/,
    ],
    [{ MSS_QUEUE__DRIVER: 'redis' }, /redis\.url = null.*a redis:\/\/ URL/],
    [{ MSS_ADMIN__TOKEN: 'short' }, /admin\.token = "short".*at least 24 characters/],
    [{ MSS_ANNUAIRE__FHIR__ENABLED: 'true' }, /annuaire\.fhir\.apiKey = null.*an API key/],
    [{ MSS_ADMIN__ENABLED: 'maybe' }, /admin\.enabled = "maybe".*expected boolean/],
  ])('refuses %o naming the key, the value, its source and what is expected', (env, message) => {
    expect(() => loadConfig({ env })).toThrowError(ConfigError);
    expect(() => loadConfig({ env })).toThrowError(message);
  });

  it('refuses unknown keys (typos) in a file, naming them', () => {
    const file = yamlFile('operator:\n  domain: [x.mssante.fr]\n');
    expect(() => loadConfig({ file, env: {} })).toThrowError(/operator\.domain: unknown key/);
  });

  it('refuses a file that is not YAML, or missing, with the file name', () => {
    const bad = yamlFile('operator: [unclosed\n');
    expect(() => loadConfig({ file: bad, env: {} })).toThrowError(/is not valid YAML/);
    expect(() => loadConfig({ file: '/nonexistent/mss.yaml', env: {} })).toThrowError(
      /cannot read \/nonexistent\/mss\.yaml/,
    );
  });

  it('the production example is valid once its secret comes from the environment', () => {
    const c = loadConfig({
      file: 'config/production.example.yaml',
      env: { MSS_ANNUAIRE__FHIR__API_KEY: 'k-123' },
    });
    expect(c.store.driver).toBe('postgres');
    expect(c.queue.driver).toBe('redis');
  });
});
