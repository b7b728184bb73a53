import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../config/schema.ts';

export interface AdminToken {
  token: string;
  /** Where it is kept when generated; null when it comes from the configuration. */
  file: string | null;
}

/**
 * The admin API token: the configured one, else the one generated into <dataDir>/admin-token
 * on the first start (48 random base64url characters, file mode 0600).
 */
export function ensureAdminToken(config: Config): AdminToken {
  if (config.admin.token) return { token: config.admin.token, file: null };
  const file = join(config.dataDir, 'admin-token');
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length >= 24) return { token, file };
  }
  mkdirSync(dirname(file), { recursive: true });
  const token = randomBytes(36).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { token, file };
}
