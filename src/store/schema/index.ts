import type { DirectoryTables } from './directory.ts';
import type { RegistryTables } from './registry.ts';

export type * from './directory.ts';
export type * from './registry.ts';

/** Every table of the store, as Kysely sees them. */
export interface Database extends RegistryTables, DirectoryTables {}
