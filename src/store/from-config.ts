import { dataPath } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { StoreOptions } from './open.ts';

/** Store options for a loaded configuration. */
export function storeOptions(config: Config): StoreOptions {
  const s = config.store;
  if (s.driver === 'postgres') {
    // The schema check guarantees the URL when the driver is postgres.
    return {
      driver: 'postgres',
      url: s.postgres.url!,
      schema: s.postgres.schema,
      poolSize: s.postgres.poolSize,
    };
  }
  return {
    driver: 'sqlite',
    path: dataPath(config, s.sqlite.path),
    synchronous: s.sqlite.synchronous,
    busyTimeoutMs: s.sqlite.busyTimeoutMs,
  };
}
