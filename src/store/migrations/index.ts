import type { Migration, MigrationProvider } from 'kysely';
import * as m001 from './001_registry.ts';
import * as m002 from './002_directory.ts';

/** Migrations in order. Names are permanent: never rename or edit one that has shipped; add a new one. */
const migrations: Record<string, Migration> = {
  '001_registry': m001,
  '002_directory': m002,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
