import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { type Config, validatedConfigSchema } from './schema.ts';

/** The embedded defaults shipped with the product. */
export const DEFAULT_CONFIG_FILE = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../config/default.yaml',
);

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Plain = Record<string, unknown>;

const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

function deepMerge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlain(v) && isPlain(out[k]) ? deepMerge(out[k] as Plain, v) : v;
  }
  return out;
}

function readYamlFile(file: string): Plain {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`config: cannot read ${file}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`config: ${file} is not valid YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isPlain(doc)) throw new ConfigError(`config: ${file} must hold a mapping at its top level`);
  return doc;
}

const snakeToCamel = (s: string) =>
  s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * MSS_* variables override config keys: `__` separates levels, `_` inside a level becomes
 * camelCase. `MSS_STORE__DRIVER=postgres` sets store.driver, `MSS_OPERATOR__MX_HOST` sets
 * operator.mxHost. MSS_CONFIG names the config file and is not a key.
 */
export function envOverrides(env: NodeJS.ProcessEnv): { values: Plain; sources: Map<string, string> } {
  const values: Plain = {};
  const sources = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (
      !name.startsWith('MSS_') ||
      name === 'MSS_CONFIG' ||
      name.startsWith('MSS_TEST_') ||
      value === undefined
    )
      continue;
    const path = name.slice(4).split('__').map(snakeToCamel);
    let node = values;
    for (const key of path.slice(0, -1)) {
      if (!isPlain(node[key])) node[key] = {};
      node = node[key] as Plain;
    }
    // An empty value or the word null clears a nullable setting.
    node[path.at(-1)!] = value === '' || value === 'null' ? null : value;
    sources.set(path.join('.'), name);
  }
  return { values, sources };
}

function valueAt(obj: unknown, path: readonly PropertyKey[]): unknown {
  let node = obj;
  for (const key of path) {
    if (!isPlain(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function describeIssue(
  issue: z.core.$ZodIssue,
  raw: unknown,
  sources: Map<string, string>,
  file: string,
): string {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const where = path ? `${path}.` : '';
    return issue.keys.map((k) => `${where}${k}: unknown key (in ${file})`).join('\n');
  }
  const value = valueAt(raw, issue.path);
  const from = sources.get(path) ?? file;
  const shown = value === undefined ? 'missing' : JSON.stringify(value);
  // zod says e.g. "Too big: expected number to be <=65535"; keep what follows "expected".
  const at = issue.message.indexOf('expected ');
  const expected = at >= 0 ? issue.message.slice(at + 'expected '.length) : issue.message;
  return `${path || '(root)'} = ${shown} (from ${from}): expected ${expected}`;
}

export interface LoadOptions {
  /** Config file given by --config; falls back to env.MSS_CONFIG. Merged over the embedded defaults. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Base for relative paths (dataDir). Defaults to the working directory. */
  cwd?: string;
}

/**
 * Loads the configuration: embedded defaults, then the given file, then MSS_* variables.
 * Throws ConfigError naming every wrong key, its value, where it came from and what is expected.
 */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env['MSS_CONFIG'];
  let raw = readYamlFile(DEFAULT_CONFIG_FILE);
  if (file) raw = deepMerge(raw, readYamlFile(file));
  const { values, sources } = envOverrides(env);
  raw = deepMerge(raw, values);
  const result = validatedConfigSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => describeIssue(i, raw, sources, file ?? DEFAULT_CONFIG_FILE));
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const config = result.data;
  const cwd = opts.cwd ?? process.cwd();
  config.dataDir = resolve(cwd, config.dataDir);
  return config;
}

/** Resolves a path from the config: absolute stays, relative is taken from dataDir. */
export function dataPath(config: Config, p: string): string {
  return isAbsolute(p) ? p : resolve(config.dataDir, p);
}
