import { createDirectoryFromConfig } from './annuaire/directory.ts';
import type { Directory } from './annuaire/types.ts';
import { type BalRegistry, createBalRegistry } from './bal/registry.ts';
import type { Config } from './config/schema.ts';
import type { Logger } from './logger.ts';
import { storeOptions } from './store/from-config.ts';
import { openStore, type Store } from './store/open.ts';

/** The services of the operator, shared by the running server and the CLI commands. */
export interface Services {
  config: Config;
  store: Store;
  logger: Logger;
  /** Local mirror of the Annuaire Santé (+ FHIR API when enabled). */
  directory: Directory;
  /** The operator's BALs. */
  registry: BalRegistry;
}

/** Builds the services over a store (opened and migrated here unless given). */
export async function createServices(config: Config, logger: Logger, store?: Store): Promise<Services> {
  const opened = store ?? (await openStore(storeOptions(config)));
  const directory = createDirectoryFromConfig(opened, config, logger);
  const registry = createBalRegistry(opened, { directory, domains: config.operator.domains });
  return { config, store: opened, logger, directory, registry };
}
