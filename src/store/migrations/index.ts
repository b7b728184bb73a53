import type { Migration, MigrationProvider } from 'kysely';
import * as m001 from './001_registry.ts';
import * as m002 from './002_directory.ts';
import * as m003 from './003_mail.ts';
import * as m004 from './004_spool.ts';
import * as m005 from './005_smtp_dedupe.ts';
import * as m006 from './006_auth.ts';

/** Migrations in order. Names are permanent: never rename or edit one that has shipped; add a new one. */
const migrations: Record<string, Migration> = {
  '001_registry': m001,
  '002_directory': m002,
  '003_mail': m003,
  '004_spool': m004,
  '005_smtp_dedupe': m005,
  '006_auth': m006,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
