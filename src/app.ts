/**
 * Composition root of the running operator: configuration -> services -> listeners.
 */
import { mkdirSync } from 'node:fs';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { annuaireRoutes } from './admin/routes/annuaire.ts';
import { balRoutes } from './admin/routes/bals.ts';
import { createAdminServer } from './admin/server.ts';
import { ensureAdminToken } from './admin/token.ts';
import { dataPath } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { createLogger } from './logger.ts';
import { createServices, type Services } from './services.ts';
import { type MailRuntime, startMailRuntime } from './smtp/runtime.ts';
import { VERSION } from './version.ts';

export type { Services };

/** Admin API route plugins, given the services. */
export function adminRoutes(services: Services): FastifyPluginAsync[] {
  return [balRoutes({ registry: services.registry }), annuaireRoutes({ directory: services.directory })];
}

export interface RunningOperator {
  services: Services;
  /** http://host:port of the admin API, or null when disabled. */
  adminUrl: string | null;
  adminTokenFile: string | null;
  /** Inter-operator mail: MX, spool and delivery worker. */
  mail: MailRuntime;
  stop(): Promise<void>;
}

/** Starts the operator: store (migrated), services, admin API. */
export async function startOperator(
  config: Config,
  logger = createLogger(config.log.level),
): Promise<RunningOperator> {
  mkdirSync(dataPath(config, config.blobs.dir), { recursive: true });
  const services = await createServices(config, logger);
  let admin: FastifyInstance | null = null;
  let adminUrl: string | null = null;
  let adminTokenFile: string | null = null;
  let mail: MailRuntime | null = null;
  try {
    mail = await startMailRuntime({ config, store: services.store, logger });
    if (config.admin.enabled) {
      const { token, file } = ensureAdminToken(config);
      adminTokenFile = file;
      admin = await createAdminServer({ token, logger, routes: adminRoutes(services), version: VERSION });
      await admin.listen({ host: config.admin.host, port: config.admin.port });
      const addr = admin.server.address();
      if (addr && typeof addr === 'object') {
        const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
        adminUrl = `http://${host}:${addr.port}`;
      }
    }
  } catch (e) {
    await admin?.close();
    await mail?.stop();
    await services.store.close();
    throw e;
  }
  logger.info({ adminUrl, store: services.store.location, dataDir: config.dataDir }, 'operator started');
  let stopped = false;
  const running: MailRuntime = mail;
  return {
    services,
    adminUrl,
    adminTokenFile,
    mail: running,
    async stop() {
      if (stopped) return;
      stopped = true;
      await admin?.close();
      await running.stop();
      await services.store.close();
      logger.info('operator stopped');
    },
  };
}
