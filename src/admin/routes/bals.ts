import type { FastifyPluginAsync, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import {
  BAL_STATUSES,
  BAL_TYPES,
  type Bal,
  type BalCreateInput,
  type BalFilter,
  type BalPatch,
} from '../../bal/model.ts';
import type { BalRegistry } from '../../bal/registry.ts';
import { ValidationError } from '../../domain/errors.ts';

/*
 * The BAL registry over HTTP. Registered under /api/v1 behind the admin token by
 * createAdminServer; the schemas below validate the requests and make the OpenAPI document.
 * Refusals of the registry arrive as ValidationError (400), NotFoundError (404) and
 * ConflictError (409) and are mapped by the server's error handler.
 */

export interface BalRoutesDeps {
  registry: BalRegistry;
}

const TAGS = ['bals'];
const nullableString = { type: ['string', 'null'] } as const;
const idNat = {
  type: 'string',
  description: "idNat: '8' + RPPS (12 characters) or '0' + ADELI (10)",
} as const;
const structureId = { type: 'string', description: "'1' + FINESS or '3' + SIRET" } as const;

const certificateSchema = {
  type: 'object',
  description: 'A client certificate bound to an APP BAL: a subject DN, a SHA-256 fingerprint, or both.',
  additionalProperties: false,
  properties: {
    subjectDn: { ...nullableString, description: 'RFC 4514 subject DN, e.g. CN=dpi.example.fr,O=CH,C=FR' },
    fingerprintSha256: { ...nullableString, description: '64 hex digits, colons allowed (AB:CD:…)' },
  },
} as const;

const balSchema = {
  type: 'object',
  description: 'A BAL of this operator.',
  required: [
    'address',
    'type',
    'status',
    'listeRouge',
    'digitization',
    'members',
    'certificates',
    'createdAt',
    'updatedAt',
  ],
  properties: {
    address: { type: 'string' },
    type: { type: 'string', enum: [...BAL_TYPES] },
    status: { type: 'string', enum: [...BAL_STATUSES] },
    holderIdNat: { ...nullableString, description: 'holder (PER, CAB)' },
    structureId: { ...nullableString, description: "'1' + FINESS or '3' + SIRET" },
    displayName: nullableString,
    description: nullableString,
    service: nullableString,
    responsibleIdNat: { ...nullableString, description: 'responsible professional (ORG, APP)' },
    phone: nullableString,
    listeRouge: { type: 'boolean', description: 'must not be published nor shown in directories' },
    digitization: { type: 'boolean' },
    preferredRank: { type: ['integer', 'null'], description: "1 = the holder's preferred BAL" },
    members: { type: 'array', items: { type: 'string' }, description: 'idNats allowed to use an ORG BAL' },
    certificates: {
      type: 'array',
      items: {
        type: 'object',
        properties: { subjectDn: nullableString, fingerprintSha256: nullableString },
      },
    },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    suspendedAt: { ...nullableString, format: 'date-time' },
    closedAt: { ...nullableString, format: 'date-time' },
    statusReason: { ...nullableString, description: 'reason given with the last suspend or close' },
  },
} as const;

const auditSchema = {
  type: 'object',
  required: ['id', 'at', 'actor', 'action', 'subject', 'details'],
  properties: {
    id: { type: 'integer' },
    at: { type: 'string', format: 'date-time' },
    actor: { type: 'string' },
    action: { type: 'string', description: 'bal.create, bal.update, bal.suspend, bal.member.add…' },
    subject: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
  },
} as const;

const errorSchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string' },
    message: { type: 'string', description: 'why the request was refused' },
    field: { type: 'string' },
    rule: { type: 'string', description: 'id of the rule that refused it, e.g. bal.address.closed' },
  },
} as const;

const errors = {
  400: { ...errorSchema, description: 'invalid input (which field, which rule)' },
  401: { ...errorSchema, description: 'missing or wrong admin token' },
  404: { ...errorSchema, description: 'no BAL at this address' },
  409: {
    ...errorSchema,
    description: 'the current state forbids it (address taken or closed, closed BAL, transition)',
  },
} as const;

const addressParams = {
  type: 'object',
  required: ['address'],
  properties: { address: { type: 'string', description: 'BAL address (case-insensitive)' } },
} as const;

const actorHeader = {
  type: 'object',
  properties: {
    'x-actor': {
      type: 'string',
      description:
        'who acts, recorded in the audit log as api:admin/<value> (letters, digits, . _ @ + - kept)',
    },
  },
} as const;

// Optional fields accept null (= not given / cleared): without it ajv would coerce null to "".
const metadataProperties = {
  structureId: { ...structureId, type: ['string', 'null'] },
  displayName: nullableString,
  description: nullableString,
  service: nullableString,
  responsibleIdNat: { ...idNat, type: ['string', 'null'] },
  phone: nullableString,
  listeRouge: { type: 'boolean' },
  digitization: { type: 'boolean' },
  preferredRank: { type: ['integer', 'null'], description: "1 = the holder's preferred BAL; null = none" },
} as const;

const createBody = {
  type: 'object',
  additionalProperties: false,
  required: ['address', 'type'],
  properties: {
    address: { type: 'string', description: 'in one of the served domains; never reassigned once closed' },
    type: { type: 'string', enum: [...BAL_TYPES] },
    holderIdNat: {
      ...idNat,
      type: ['string', 'null'],
      description: 'PER, CAB: the holder, known to the directory',
    },
    ...metadataProperties,
    members: { type: ['array', 'null'], items: idNat, description: 'ORG only' },
    certificates: { type: ['array', 'null'], items: certificateSchema, description: 'APP only' },
  },
} as const;

const patchBody = {
  type: 'object',
  additionalProperties: false,
  description:
    'Metadata to change; null or "" clears an optional field. address, type and holderIdNat are listed only to be refused with rule bal.immutable.',
  properties: {
    ...metadataProperties,
    structureId: {
      ...nullableString,
      description: 'PER/CAB only (the structure of an ORG/APP BAL never changes)',
    },
    responsibleIdNat: { ...idNat, type: ['string', 'null'], description: 'ORG, APP' },
    certificates: {
      type: ['array', 'null'],
      items: certificateSchema,
      description: 'APP: replaces the whole set',
    },
    address: { type: 'string', description: 'immutable: refused' },
    type: { type: 'string', description: 'immutable: refused' },
    holderIdNat: { type: 'string', description: 'immutable: refused' },
  },
} as const;

const reasonBody = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: { reason: { type: 'string', description: 'kept in the audit log' } },
} as const;

/** Who to record in the audit log: api:admin, or api:admin/<X-Actor> with only safe characters. */
export function actorOf(req: FastifyRequest): string {
  const header = req.headers['x-actor'];
  const given = (Array.isArray(header) ? header[0] : header) ?? '';
  const clean = given.replace(/[^A-Za-z0-9._@+-]/g, '').slice(0, 64);
  return clean ? `api:admin/${clean}` : 'api:admin';
}

/** Request-schema failures as a ValidationError naming the field and what is wrong. */
export function schemaError(errs: FastifySchemaValidationError[], dataVar: string): Error {
  const where = (e: FastifySchemaValidationError) =>
    `${dataVar}${e.instancePath.replace(/\//g, '.')}`.replace(/^querystring/, 'query');
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const e of errs) {
    let text: string;
    if (e.keyword === 'additionalProperties') {
      text = `${where(e)} has an unknown property "${String(e.params['additionalProperty'])}"`;
    } else if (e.keyword === 'required') {
      text = `${where(e)} is missing the required property "${String(e.params['missingProperty'])}"`;
    } else if (e.keyword === 'type') {
      text = `${where(e)} must be ${String(e.params['type']).split(',').join(' or ')}`;
    } else if (e.keyword === 'enum') {
      text = `${where(e)} must be one of ${(e.params['allowedValues'] as unknown[]).join(', ')}`;
    } else {
      text = `${where(e)} ${e.message ?? 'is invalid'}`;
    }
    if (!seen.has(text)) {
      seen.add(text);
      parts.push(text);
    }
  }
  const first = errs[0];
  const field =
    first?.keyword === 'additionalProperties'
      ? String(first.params['additionalProperty'])
      : first?.keyword === 'required'
        ? String(first.params['missingProperty'])
        : (first?.instancePath.split('/').filter(Boolean).join('.') ?? dataVar);
  return new ValidationError(field || dataVar, `request.${first?.keyword ?? 'invalid'}`, parts.join('; '));
}

/** Path of a BAL under the API prefix ('@' is allowed in a path segment). */
const balPath = (prefix: string, address: string) =>
  `${prefix}/bals/${encodeURIComponent(address).replace(/%40/g, '@')}`;

export function balRoutes(deps: BalRoutesDeps): FastifyPluginAsync {
  const { registry } = deps;
  return async (app) => {
    app.setSchemaErrorFormatter(schemaError);

    app.get<{ Querystring: BalFilter }>(
      '/bals',
      {
        schema: {
          tags: TAGS,
          summary: 'List BALs',
          description: 'BALs matching every given filter, ordered by address.',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: {
              type: { type: 'string', enum: [...BAL_TYPES] },
              status: { type: 'string', enum: [...BAL_STATUSES] },
              structureId,
              holderIdNat: idNat,
              memberIdNat: { ...idNat, description: 'ORG BALs having this member' },
              limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
              offset: { type: 'integer', minimum: 0, default: 0 },
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['items', 'limit', 'offset'],
              properties: {
                items: { type: 'array', items: balSchema },
                limit: { type: 'integer' },
                offset: { type: 'integer' },
              },
            },
            400: errors[400],
            401: errors[401],
          },
        },
      },
      async (req) => {
        const items = await registry.list(req.query);
        return { items, limit: req.query.limit ?? 100, offset: req.query.offset ?? 0 };
      },
    );

    app.post<{ Body: BalCreateInput }>(
      '/bals',
      {
        schema: {
          tags: TAGS,
          summary: 'Open a BAL',
          description:
            'PER/CAB: holderIdNat (known to the directory). ORG: structureId, responsibleIdNat, members. APP: structureId, responsibleIdNat, certificates. An address that exists or was ever closed is refused (409).',
          headers: actorHeader,
          body: createBody,
          response: { 201: { ...balSchema, description: 'created; Location gives its URL' }, ...errors },
        },
      },
      async (req, reply) => {
        const bal = await registry.create(req.body, actorOf(req));
        return reply.code(201).header('location', balPath(app.prefix, bal.address)).send(bal);
      },
    );

    app.get<{ Params: { address: string } }>(
      '/bals/:address',
      {
        schema: {
          tags: TAGS,
          summary: 'One BAL, with its members and certificates',
          params: addressParams,
          response: { 200: balSchema, 400: errors[400], 401: errors[401], 404: errors[404] },
        },
      },
      async (req) => registry.get(req.params.address),
    );

    app.patch<{ Params: { address: string }; Body: BalPatch }>(
      '/bals/:address',
      {
        schema: {
          tags: TAGS,
          summary: 'Change the metadata of a BAL',
          description:
            'Address, type, holder (PER/CAB) and structure (ORG/APP) never change. A closed BAL cannot be changed (409); a suspended one can. Each changed field is audited with its before/after values.',
          headers: actorHeader,
          params: addressParams,
          body: patchBody,
          response: { 200: balSchema, ...errors },
        },
      },
      async (req) => registry.update(req.params.address, req.body, actorOf(req)),
    );

    const lifecycle = (
      action: 'suspend' | 'reactivate' | 'close',
      summary: string,
      run: (address: string, reason: string, actor: string) => Promise<Bal>,
    ) =>
      app.post<{ Params: { address: string }; Body: { reason: string } }>(
        `/bals/:address/${action}`,
        {
          schema: {
            tags: TAGS,
            summary,
            headers: actorHeader,
            params: addressParams,
            ...(action === 'reactivate' ? {} : { body: reasonBody }),
            response: { 200: balSchema, ...errors },
          },
        },
        async (req) => run(req.params.address, req.body?.reason, actorOf(req)),
      );
    lifecycle('suspend', 'Suspend a BAL (active → suspended)', (a, r, who) => registry.suspend(a, r, who));
    lifecycle('reactivate', 'Reactivate a suspended BAL (suspended → active)', (a, _r, who) =>
      registry.reactivate(a, who),
    );
    lifecycle('close', 'Close a BAL for good; its address is never reassigned', (a, r, who) =>
      registry.close(a, r, who),
    );

    app.post<{ Params: { address: string }; Body: { idNat: string } }>(
      '/bals/:address/members',
      {
        schema: {
          tags: TAGS,
          summary: 'Add a member to an ORG BAL',
          headers: actorHeader,
          params: addressParams,
          body: {
            type: 'object',
            additionalProperties: false,
            required: ['idNat'],
            properties: { idNat: { ...idNat, description: 'a professional known to the directory' } },
          },
          response: { 201: balSchema, ...errors },
        },
      },
      async (req, reply) =>
        reply.code(201).send(await registry.addMember(req.params.address, req.body.idNat, actorOf(req))),
    );

    app.delete<{ Params: { address: string; idNat: string } }>(
      '/bals/:address/members/:idNat',
      {
        schema: {
          tags: TAGS,
          summary: 'Remove a member from an ORG BAL',
          headers: actorHeader,
          params: {
            type: 'object',
            required: ['address', 'idNat'],
            properties: { ...addressParams.properties, idNat },
          },
          response: { 200: balSchema, ...errors },
        },
      },
      async (req) => registry.removeMember(req.params.address, req.params.idNat, actorOf(req)),
    );

    app.get<{ Params: { address: string }; Querystring: { limit?: number } }>(
      '/bals/:address/history',
      {
        schema: {
          tags: TAGS,
          summary: 'Audit entries of a BAL, newest first',
          params: addressParams,
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
          },
          response: {
            200: {
              type: 'object',
              required: ['items'],
              properties: { items: { type: 'array', items: auditSchema } },
            },
            400: errors[400],
            401: errors[401],
            404: errors[404],
          },
        },
      },
      async (req) => ({
        items: await registry.history(req.params.address, { limit: req.query.limit ?? 100 }),
      }),
    );
  };
}
