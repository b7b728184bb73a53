import { timingSafeEqual } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
} from 'fastify';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.ts';
import type { Logger } from '../logger.ts';

export interface AdminServerOptions {
  /** Bearer token every /api request must present. */
  token: string;
  logger: Logger;
  /** Route plugins, registered under /api/v1. */
  routes: FastifyPluginAsync[];
  version: string;
}

/** Error body of every refusal: a stable code and a sentence saying why. */
export interface ApiError {
  error: string;
  message: string;
  field?: string;
  rule?: string;
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The admin HTTP API: OpenAPI document at /openapi.json (built from the route schemas),
 * /healthz for probes, everything under /api/v1 behind the admin bearer token.
 */
export async function createAdminServer(opts: AdminServerOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: opts.logger.child({ component: 'admin' }) as FastifyBaseLogger,
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } },
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'MSSanté operator — admin API',
        version: opts.version,
        description:
          'BAL registry and Annuaire Santé directory of this operator. Every /api/v1 call needs `Authorization: Bearer <admin token>`.',
      },
      components: { securitySchemes: { adminToken: { type: 'http', scheme: 'bearer' } } },
      security: [{ adminToken: [] }],
    },
  });

  app.setErrorHandler((err: FastifyError | Error, _req, reply) => {
    let status = 500;
    let body: ApiError = { error: 'internal', message: 'internal error (see the server log)' };
    if (err instanceof ValidationError) {
      status = 400;
      body = { error: 'invalid', message: err.message, field: err.field, rule: err.rule };
    } else if (err instanceof NotFoundError) {
      status = 404;
      body = { error: 'not_found', message: err.message };
    } else if (err instanceof ConflictError) {
      status = 409;
      body = { error: 'conflict', message: err.message, rule: err.rule };
    } else if ('validation' in err && err.validation) {
      status = 400;
      body = { error: 'invalid', message: err.message };
    } else if ('statusCode' in err && typeof err.statusCode === 'number' && err.statusCode < 500) {
      status = err.statusCode;
      body = { error: err.code ?? 'bad_request', message: err.message };
    } else {
      app.log.error({ err }, 'admin request failed');
    }
    return reply.status(status).send(body);
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(
    async (api) => {
      api.addHook('onRequest', async (req, reply) => {
        const header = req.headers.authorization ?? '';
        const m = /^Bearer\s+(\S+)$/i.exec(header);
        if (!m || !sameSecret(m[1]!, opts.token)) {
          return reply.status(401).header('www-authenticate', 'Bearer realm="mssante-admin"').send({
            error: 'unauthorized',
            message: 'a valid admin token is required (Authorization: Bearer …)',
          });
        }
      });
      for (const routes of opts.routes) await api.register(routes);
    },
    { prefix: '/api/v1' },
  );

  return app;
}
