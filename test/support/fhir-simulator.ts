import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  EMAIL_TYPE_URL,
  type FhirContactPoint,
  type FhirOrganization,
  type FhirPractitioner,
  type FhirPractitionerRole,
  type FhirResource,
  IDNAT_PS_SYSTEM,
  IDNAT_STRUCTURE_SYSTEM,
  MAILBOX_METADATA_URL,
} from '../../src/annuaire/fhir/mapping.ts';

/*
 * A local stand-in for the Annuaire Santé FHIR API (v2), for tests only. It serves a small
 * in-memory data set in the documented resource shapes, checks the ESANTE-API-KEY header
 * (401 otherwise), supports exactly the searches our client makes and refuses any other
 * parameter with a 400 OperationOutcome (so a client change that the real API would not
 * understand shows up), and counts requests.
 *
 * Supported: GET {base}/Practitioner?identifier=|mailbox-mss=|_id=
 *            GET {base}/PractitionerRole?practitioner=|mailbox-mss=  [&_include=PractitionerRole:practitioner|organization]
 *            GET {base}/Organization?identifier=|mailbox-mss=|_id=
 * mailbox-mss follows FHIR string search: case-insensitive prefix by default, :exact, :contains.
 */

export interface FhirSimulatorData {
  practitioners?: FhirPractitioner[];
  practitionerRoles?: FhirPractitionerRole[];
  organizations?: FhirOrganization[];
}

export interface SimulatedRequest {
  method: string;
  path: string;
  query: string;
  apiKey: string | null;
}

export interface FhirSimulator {
  /** Base URL to give the client, e.g. http://127.0.0.1:PORT/fhir/v2 */
  readonly baseUrl: string;
  readonly requests: SimulatedRequest[];
  /** Delay every answer (for timeout tests) or answer every request with this HTTP status. */
  behave(b: { delayMs?: number; failStatus?: number | null }): void;
  reset(): void;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/fhir+json; charset=utf-8' });
  res.end(JSON.stringify(body));
};

const outcome = (code: string, text: string) => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code, details: { text } }],
});

const fold = (s: string) =>
  s
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase();

function matchString(value: string, wanted: string, modifier: string | null): boolean {
  if (modifier === 'exact') return value === wanted;
  if (modifier === 'contains') return fold(value).includes(fold(wanted));
  return fold(value).startsWith(fold(wanted));
}

function matchToken(r: FhirResource, token: string): boolean {
  return token.split(',').some((t) => {
    const bar = t.indexOf('|');
    const system = bar >= 0 ? t.slice(0, bar) : null;
    const value = bar >= 0 ? t.slice(bar + 1) : t;
    return (r.identifier ?? []).some(
      (i) => i.value === value && (system === null || system === '' || i.system === system),
    );
  });
}

const hasMailbox = (r: FhirResource, wanted: string, modifier: string | null) =>
  (r.telecom ?? []).some((t) => typeof t.value === 'string' && matchString(t.value, wanted, modifier));

const refId = (ref: string | undefined) => (ref ?? '').split('/').filter(Boolean).at(-1);

export async function startFhirSimulator(opts: {
  apiKey: string;
  data: FhirSimulatorData;
  basePath?: string;
}): Promise<FhirSimulator> {
  const basePath = (opts.basePath ?? '/fhir/v2').replace(/\/+$/, '');
  const requests: SimulatedRequest[] = [];
  let delayMs = 0;
  let failStatus: number | null = null;
  const data = {
    Practitioner: opts.data.practitioners ?? [],
    PractitionerRole: opts.data.practitionerRoles ?? [],
    Organization: opts.data.organizations ?? [],
  };
  let baseUrl = '';

  const allowed: Record<string, string[]> = {
    Practitioner: ['identifier', 'mailbox-mss', '_id'],
    PractitionerRole: ['practitioner', 'mailbox-mss', '_include'],
    Organization: ['identifier', 'mailbox-mss', '_id'],
  };

  function searchset(type: keyof typeof data, params: URLSearchParams): unknown {
    let matches: FhirResource[] = data[type];
    for (const [rawName, value] of params) {
      const [name, modifier = null] = rawName.split(':') as [string, string | undefined];
      if (name === '_include') continue;
      if (name === 'identifier') matches = matches.filter((r) => matchToken(r, value));
      else if (name === '_id') matches = matches.filter((r) => value.split(',').includes(r.id ?? ''));
      else if (name === 'mailbox-mss') matches = matches.filter((r) => hasMailbox(r, value, modifier));
      else if (name === 'practitioner')
        matches = matches.filter(
          (r) => refId((r as FhirPractitionerRole).practitioner?.reference) === refId(value),
        );
    }
    const included: FhirResource[] = [];
    for (const inc of params.getAll('_include')) {
      const [, target] = inc.split(':');
      for (const m of matches as FhirPractitionerRole[]) {
        const ref =
          target === 'practitioner' ? m.practitioner : target === 'organization' ? m.organization : null;
        const id = refId(ref?.reference);
        const pool: FhirResource[] = target === 'practitioner' ? data.Practitioner : data.Organization;
        const found = pool.find((r) => r.id === id);
        if (found && !included.includes(found)) included.push(found);
      }
    }
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total: matches.length,
      link: [{ relation: 'self', url: `${baseUrl}/${type}?${params.toString()}` }],
      entry: [
        ...matches.map((resource) => ({
          fullUrl: `${baseUrl}/${type}/${resource.id}`,
          resource,
          search: { mode: 'match' },
        })),
        ...included.map((resource) => ({
          fullUrl: `${baseUrl}/${resource.resourceType}/${resource.id}`,
          resource,
          search: { mode: 'include' },
        })),
      ],
    };
  }

  function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const key = req.headers['esante-api-key'];
    requests.push({
      method: req.method ?? '',
      path: url.pathname,
      query: url.search,
      apiKey: typeof key === 'string' ? key : null,
    });
    if (key !== opts.apiKey) {
      // The gateway's answer to a missing or unknown key.
      return json(res, 401, { message: 'Unauthorized', http_status_code: 401 });
    }
    if (failStatus !== null) return json(res, failStatus, outcome('exception', 'simulated failure'));
    if (req.method !== 'GET')
      return json(res, 405, outcome('not-supported', `${req.method} is not simulated`));
    const type = url.pathname.startsWith(`${basePath}/`) ? url.pathname.slice(basePath.length + 1) : '';
    if (!(type in allowed)) return json(res, 404, outcome('not-found', `unknown resource type ${type}`));
    for (const [name, value] of url.searchParams) {
      const base = name.split(':')[0]!;
      if (!allowed[type]!.includes(base)) {
        return json(res, 400, outcome('not-supported', `unknown search parameter ${name} on ${type}`));
      }
      if (name === '_include' && !/^PractitionerRole:(practitioner|organization)$/.test(value)) {
        return json(res, 400, outcome('not-supported', `unsupported _include ${value}`));
      }
    }
    return json(res, 200, searchset(type as keyof typeof data, url.searchParams));
  }

  const server = createServer((req, res) => {
    if (delayMs > 0) setTimeout(() => handle(req, res), delayMs).unref();
    else handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}${basePath}`;

  return {
    baseUrl,
    requests,
    behave(b) {
      if (b.delayMs !== undefined) delayMs = b.delayMs;
      if (b.failStatus !== undefined) failStatus = b.failStatus;
    },
    reset() {
      requests.length = 0;
      delayMs = 0;
      failStatus = null;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Builders of resources in the documented shapes (IG Annuaire Santé examples, see mapping.ts)

const TYPE_BAL_SYSTEM = 'https://mos.esante.gouv.fr/NOS/TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL';
const CS_0203 = 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203';

/** An MSSanté BAL as a ContactPoint: email type MSSANTE + as-ext-mailbox-mss-metadata. */
export function mssTelecom(
  address: string,
  meta: { type: string; listeRouge?: boolean; service?: string; description?: string },
): FhirContactPoint {
  const sub: Record<string, unknown>[] = [
    { url: 'type', valueCodeableConcept: { coding: [{ system: TYPE_BAL_SYSTEM, code: meta.type }] } },
  ];
  if (meta.description) sub.push({ url: 'description', valueString: meta.description });
  if (meta.service) sub.push({ url: 'service', valueString: meta.service });
  if (meta.listeRouge !== undefined) sub.push({ url: 'listeRouge', valueBoolean: meta.listeRouge });
  return {
    extension: [
      {
        url: EMAIL_TYPE_URL,
        valueCoding: {
          system: 'https://mos.esante.gouv.fr/NOS/TRE_R256-TypeMessagerie/FHIR/TRE-R256-TypeMessagerie',
          code: 'MSSANTE',
        },
      },
      { url: MAILBOX_METADATA_URL, extension: sub },
    ],
    system: 'email',
    value: address,
  };
}

export function fhirPractitioner(p: {
  id: string;
  idNat: string;
  family: string;
  given: string;
  telecom?: FhirContactPoint[];
}): FhirPractitioner {
  return {
    resourceType: 'Practitioner',
    id: p.id,
    identifier: [
      {
        system: IDNAT_PS_SYSTEM,
        value: p.idNat,
        type: { coding: [{ system: CS_0203, code: 'IDNPS' }] },
      },
      ...(p.idNat.startsWith('8')
        ? [
            {
              system: 'https://rpps.esante.gouv.fr',
              value: p.idNat.slice(1),
              type: { coding: [{ system: CS_0203, code: 'RPPS' }] },
            },
          ]
        : []),
    ],
    name: [{ use: 'usual', family: p.family, given: [p.given], prefix: ['M'] }],
    telecom: p.telecom ?? [],
  };
}

export function fhirOrganization(o: {
  id: string;
  finess: string;
  name: string;
  postalCode?: string;
  city?: string;
  telecom?: FhirContactPoint[];
}): FhirOrganization {
  return {
    resourceType: 'Organization',
    id: o.id,
    identifier: [
      {
        system: IDNAT_STRUCTURE_SYSTEM,
        value: `1${o.finess}`,
        type: { coding: [{ system: CS_0203, code: 'IDNST' }] },
      },
      {
        system: 'https://finess.esante.gouv.fr',
        value: o.finess,
        type: { coding: [{ system: CS_0203, code: 'FINEG' }] },
      },
    ],
    name: o.name,
    address: [{ postalCode: o.postalCode, city: o.city }],
    telecom: o.telecom ?? [],
  };
}

export function fhirRole(r: {
  id: string;
  practitionerId: string;
  organizationId: string;
  telecom?: FhirContactPoint[];
}): FhirPractitionerRole {
  return {
    resourceType: 'PractitionerRole',
    id: r.id,
    active: true,
    practitioner: { reference: `Practitioner/${r.practitionerId}` },
    organization: { reference: `Organization/${r.organizationId}` },
    code: [
      {
        coding: [
          {
            system: 'https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice',
            code: 'S',
          },
        ],
      },
    ],
    telecom: r.telecom ?? [],
  };
}
