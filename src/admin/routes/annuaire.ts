import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { FhirApiError } from '../../annuaire/fhir/client.ts';
import {
  SEARCH_DEFAULT_LIMIT,
  SEARCH_MAX_LIMIT,
  STRUCTURE_DEFAULT_LIMIT,
  STRUCTURE_MAX_LIMIT,
} from '../../annuaire/local-directory.ts';
import type { Directory } from '../../annuaire/types.ts';
import { NotFoundError } from '../../domain/errors.ts';
import { requireStructureId } from '../../domain/identifiers.ts';

/*
 * Read-only routes over the directory (local mirror of the Annuaire Santé, FHIR API on a miss
 * when enabled). Registered under /api/v1 behind the admin token by createAdminServer; their
 * schemas feed the OpenAPI document.
 */

const nullableString = { type: ['string', 'null'] } as const;

const mailboxSchema = {
  type: 'object',
  description: 'A BAL as published in the Annuaire Santé.',
  required: ['address', 'balType', 'source'],
  properties: {
    address: { type: 'string' },
    balType: { type: 'string', description: 'PER, ORG, APP or CAB' },
    idNat: { ...nullableString, description: "idNat of the holder ('8'+RPPS or '0'+ADELI)" },
    structureId: { ...nullableString, description: "'1'+FINESS or '3'+SIRET" },
    service: nullableString,
    civility: nullableString,
    lastName: nullableString,
    firstName: nullableString,
    professionLabel: nullableString,
    orgName: nullableString,
    postalCode: nullableString,
    locality: nullableString,
    department: nullableString,
    source: { type: 'string', enum: ['local', 'fhir'] },
  },
} as const;

const activitySchema = {
  type: 'object',
  properties: {
    professionCode: nullableString,
    professionLabel: nullableString,
    categoryCode: nullableString,
    categoryLabel: nullableString,
    skillLabel: nullableString,
    modeLabel: nullableString,
    structureId: nullableString,
    finessSite: nullableString,
    finessEj: nullableString,
    siret: nullableString,
    orgName: nullableString,
    postalCode: nullableString,
    city: nullableString,
    roleLabel: nullableString,
  },
} as const;

const professionalSchema = {
  type: 'object',
  description: 'A professional with its activities and published BALs.',
  required: ['idNat', 'activities', 'mailboxes', 'source'],
  properties: {
    idNat: { type: 'string' },
    ppIdType: { ...nullableString, description: 'RPPS or ADELI' },
    ppId: nullableString,
    civility: nullableString,
    lastName: nullableString,
    firstName: nullableString,
    activities: { type: 'array', items: activitySchema },
    mailboxes: { type: 'array', items: mailboxSchema },
    source: { type: 'string', enum: ['local', 'fhir'] },
  },
} as const;

const snapshotSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    kind: { type: 'string', enum: ['mss', 'ps'] },
    source: { type: 'string', description: 'file name it was imported from' },
    startedAt: { type: 'string' },
    finishedAt: nullableString,
    rowsRead: { type: 'integer' },
    rowsImported: { type: 'integer' },
    rowsRejected: { type: 'integer' },
  },
} as const;

const errorSchema = {
  type: 'object',
  properties: {
    error: { type: 'string' },
    message: { type: 'string' },
    field: { type: 'string' },
    rule: { type: 'string' },
  },
} as const;

const errors = {
  400: { description: 'Malformed input; the message says which rule failed.', ...errorSchema },
  401: { description: 'Missing or wrong admin token.', ...errorSchema },
};
const lookupErrors = {
  ...errors,
  404: { description: 'Not in the directory.', ...errorSchema },
  502: { description: 'Not in the local mirror and the Annuaire Santé FHIR API failed.', ...errorSchema },
};

const tags = ['annuaire'];

/** A FHIR API failure on a local miss is a 502 naming the API, not a 404 nor a 500. */
function upstream(reply: FastifyReply, err: unknown) {
  if (err instanceof FhirApiError) {
    return reply.status(502).send({ error: 'annuaire_fhir_failed', message: err.message });
  }
  throw err;
}

export function annuaireRoutes(deps: { directory: Directory }): FastifyPluginAsync {
  const { directory } = deps;
  return async (app) => {
    app.get<{ Params: { idNat: string } }>(
      '/annuaire/professionals/:idNat',
      {
        schema: {
          summary: 'A professional by idNat, with activities and BALs',
          description:
            "idNat is '8' + RPPS (11 digits, Luhn) or '0' + ADELI (9 digits). Answered from the local mirror, then from the Annuaire Santé FHIR API when enabled.",
          tags,
          params: {
            type: 'object',
            required: ['idNat'],
            properties: { idNat: { type: 'string', description: "'8'+RPPS or '0'+ADELI" } },
          },
          response: { 200: professionalSchema, ...lookupErrors },
        },
      },
      async (req, reply) => {
        try {
          const found = await directory.findProfessional(req.params.idNat);
          if (!found)
            throw new NotFoundError(`no professional with idNat ${req.params.idNat} in the directory`);
          return found;
        } catch (e) {
          return upstream(reply, e);
        }
      },
    );

    app.get<{ Params: { address: string } }>(
      '/annuaire/mailboxes/:address',
      {
        schema: {
          summary: 'A BAL by address (case-insensitive)',
          tags,
          params: {
            type: 'object',
            required: ['address'],
            properties: {
              address: { type: 'string', description: 'BAL address, e.g. jean.dupont@ch-x.mssante.fr' },
            },
          },
          response: { 200: mailboxSchema, ...lookupErrors },
        },
      },
      async (req, reply) => {
        try {
          const found = await directory.findMailbox(req.params.address);
          if (!found) throw new NotFoundError(`no BAL ${req.params.address} in the directory`);
          return found;
        } catch (e) {
          return upstream(reply, e);
        }
      },
    );

    app.get<{ Querystring: { q: string; limit?: number } }>(
      '/annuaire/search',
      {
        schema: {
          summary: 'Professionals and BALs by name prefix',
          description:
            'Accent- and case-insensitive prefix of "last first" or "first last" (e.g. "dupont j", "jean dup"). Local mirror only.',
          tags,
          querystring: {
            type: 'object',
            required: ['q'],
            properties: {
              q: { type: 'string', minLength: 1, description: 'name prefix' },
              limit: {
                type: 'integer',
                minimum: 1,
                maximum: SEARCH_MAX_LIMIT,
                default: SEARCH_DEFAULT_LIMIT,
                description: 'at most this many professionals and this many BALs',
              },
            },
          },
          response: {
            200: {
              type: 'object',
              properties: {
                professionals: { type: 'array', items: professionalSchema },
                mailboxes: { type: 'array', items: mailboxSchema },
              },
            },
            ...errors,
          },
        },
      },
      async (req) => directory.searchByName(req.query.q, { limit: req.query.limit ?? SEARCH_DEFAULT_LIMIT }),
    );

    app.get<{ Params: { structureId: string }; Querystring: { limit?: number } }>(
      '/annuaire/structures/:structureId',
      {
        schema: {
          summary: 'BALs attached to a structure',
          description:
            "structureId is '1' + FINESS or '3' + SIRET. Lists the BALs of the structure and the BALs without structure of professionals who have an activity there. Local mirror only.",
          tags,
          params: {
            type: 'object',
            required: ['structureId'],
            properties: { structureId: { type: 'string', description: "'1'+FINESS or '3'+SIRET" } },
          },
          querystring: {
            type: 'object',
            properties: {
              limit: {
                type: 'integer',
                minimum: 1,
                maximum: STRUCTURE_MAX_LIMIT,
                default: STRUCTURE_DEFAULT_LIMIT,
              },
            },
          },
          response: {
            200: {
              type: 'object',
              properties: {
                structureId: { type: 'string' },
                mailboxes: { type: 'array', items: mailboxSchema },
              },
            },
            ...errors,
            404: { description: 'No BAL attached to this structure.', ...errorSchema },
          },
        },
      },
      async (req) => {
        const { structureId } = requireStructureId(req.params.structureId);
        const mailboxes = await directory.findByStructure(structureId, {
          limit: req.query.limit ?? STRUCTURE_DEFAULT_LIMIT,
        });
        if (mailboxes.length === 0) {
          throw new NotFoundError(`no BAL attached to structure ${structureId} in the directory`);
        }
        return { structureId, mailboxes };
      },
    );

    app.get(
      '/annuaire/snapshots',
      {
        schema: {
          summary: 'Current snapshot of each extract (mss: BALs, ps: professionals)',
          tags,
          response: {
            200: { type: 'object', properties: { snapshots: { type: 'array', items: snapshotSchema } } },
            401: errors[401],
          },
        },
      },
      async () => ({ snapshots: await directory.snapshots() }),
    );
  };
}
