import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { requireBalAddress, requireIdNat } from '../domain/identifiers.ts';
import type { Logger } from '../logger.ts';
import type { Store } from '../store/open.ts';
import { createFhirClient, type FhirClient } from './fhir/client.ts';
import { createLocalDirectory } from './local-directory.ts';
import type { Directory } from './types.ts';

export interface DirectoryOptions {
  /** The Annuaire Santé FHIR API, asked on a local miss; null: local mirror only. */
  fhir: FhirClient | null;
  logger?: Logger;
}

/**
 * The directory: the local mirror first; on a miss (professional or BAL not in the current
 * snapshots) the FHIR API when a client is given. A failing FHIR call on a miss is an error
 * (FhirApiError, naming the API and the URL), never a "not found": the caller cannot know
 * the answer. Searches by name and structure, and snapshots, are local only.
 */
export function createDirectory(store: Store, opts: DirectoryOptions): Directory {
  const local = createLocalDirectory(store);
  const { fhir, logger } = opts;

  async function remote<T>(what: string, key: string, call: (c: FhirClient) => Promise<T | null>) {
    if (!fhir) return null;
    try {
      const found = await call(fhir);
      logger?.debug({ what, key, found: found !== null }, 'directory: asked the Annuaire Santé FHIR API');
      return found;
    } catch (err) {
      logger?.warn({ err, what, key }, 'directory: Annuaire Santé FHIR API lookup failed');
      throw err;
    }
  }

  return {
    async findProfessional(input) {
      const { idNat } = requireIdNat(input);
      return (
        (await local.findProfessional(idNat)) ??
        (await remote('professional', idNat, (c) => c.findPractitionerByIdNat(idNat)))
      );
    },
    async findMailbox(input) {
      const { address } = requireBalAddress(input);
      return (
        (await local.findMailbox(address)) ??
        (await remote('mailbox', address, (c) => c.findByMailbox(address)))
      );
    },
    searchByName: (query, o) => local.searchByName(query, o),
    findByStructure: (structureId, o) => local.findByStructure(structureId, o),
    snapshots: () => local.snapshots(),
  };
}

/** The directory as configured: with the FHIR API iff annuaire.fhir.enabled. */
export function createDirectoryFromConfig(store: Store, config: Config, logger?: Logger): Directory {
  const f = config.annuaire.fhir;
  let fhir: FhirClient | null = null;
  if (f.enabled) {
    if (!f.apiKey) {
      throw new ConfigError(
        'config: annuaire.fhir.enabled is true but annuaire.fhir.apiKey is not set (ESANTE-API-KEY)',
      );
    }
    fhir = createFhirClient({ baseUrl: f.baseUrl, apiKey: f.apiKey, timeoutMs: f.timeoutMs });
  }
  return createDirectory(store, { fhir, ...(logger ? { logger } : {}) });
}
