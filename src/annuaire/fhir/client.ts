import type { MailboxRecord, ProfessionalRecord } from '../types.ts';
import {
  type FhirBundle,
  type FhirPractitioner,
  IDNAT_PS_SYSTEM,
  indexBundle,
  mailboxFromBundle,
  mergeIndexes,
  professionalFromIndex,
} from './mapping.ts';

/*
 * Client of the Annuaire Santé FHIR API (v2, https://gateway.api.esante.gouv.fr/fhir/v2).
 * Authentication: the ESANTE-API-KEY header. Searches used, as documented by the ANS
 * (github.com/ansforge/annuaire-sante-fhir-documentation, "Practitioner" page of the v2 API:
 * search parameters identifier, mailbox-mss, _id; query parameters _include, _revinclude):
 *   Practitioner?identifier=urn:oid:1.2.250.1.71.4.2.1|<idNat>
 *   PractitionerRole?practitioner=<id>&_include=PractitionerRole:organization
 *   Practitioner?mailbox-mss=<address>
 *   PractitionerRole?mailbox-mss=<address>&_include=PractitionerRole:practitioner&_include=PractitionerRole:organization
 *   Organization?mailbox-mss=<address>
 * mailbox-mss is a FHIR string parameter (case-insensitive prefix match): the exact address
 * is picked from the answer by the mapping.
 */

export interface FhirClientOptions {
  /** e.g. https://gateway.api.esante.gouv.fr/fhir/v2 */
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}

export interface FhirClient {
  readonly baseUrl: string;
  /** The professional and its published BALs (Practitioner and PractitionerRole telecoms), or null. */
  findPractitionerByIdNat(idNat: string): Promise<ProfessionalRecord | null>;
  /** The published BAL with this address on a Practitioner, PractitionerRole or Organization, or null. */
  findByMailbox(address: string): Promise<MailboxRecord | null>;
}

export type FhirErrorKind = 'auth' | 'timeout' | 'unavailable' | 'protocol';

/** A failed call to the Annuaire Santé FHIR API. The message names the API and the URL, never the key. */
export class FhirApiError extends Error {
  override readonly name = 'FhirApiError';
  constructor(
    readonly kind: FhirErrorKind,
    readonly url: string,
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

const API = 'Annuaire Santé FHIR API';

/** First issue text of an OperationOutcome body, if any. */
function outcomeText(body: unknown): string | null {
  if (!body || typeof body !== 'object') return null;
  const issues = (body as { issue?: unknown }).issue;
  if (!Array.isArray(issues)) return null;
  for (const i of issues) {
    const text = i?.details?.text ?? i?.diagnostics;
    if (typeof text === 'string' && text.trim()) return text.trim().slice(0, 300);
  }
  return null;
}

export function createFhirClient(opts: FhirClientOptions): FhirClient {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;
  const hideKey = (text: string) => (opts.apiKey ? text.split(opts.apiKey).join('****') : text);

  /** GET a search; a 404 is an empty result (null). */
  async function search(resource: string, params: [string, string][]): Promise<FhirBundle | null> {
    const url = `${base}/${resource}?${new URLSearchParams(params).toString()}`;
    const where = `GET ${url}`;
    let response: Response;
    let text: string;
    try {
      response = await doFetch(url, {
        method: 'GET',
        headers: { 'ESANTE-API-KEY': opts.apiKey, Accept: 'application/fhir+json' },
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      text = await response.text();
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (err.name === 'TimeoutError' || err.name === 'AbortError') {
        throw new FhirApiError(
          'timeout',
          url,
          `${API} did not answer within ${opts.timeoutMs} ms (${where})`,
        );
      }
      const cause = err.cause?.code ?? err.cause?.message ?? err.message;
      throw new FhirApiError('unavailable', url, hideKey(`${API} is unreachable (${where}): ${cause}`));
    }
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    const status = response.status;
    if (status === 404) return null;
    if (status === 401 || status === 403) {
      throw new FhirApiError(
        'auth',
        url,
        `${API} refused the API key (HTTP ${status} on ${where}): check annuaire.fhir.apiKey, sent as the ESANTE-API-KEY header`,
        status,
      );
    }
    if (status >= 500) {
      throw new FhirApiError(
        'unavailable',
        url,
        hideKey(`${API} failed with HTTP ${status} (${where})`),
        status,
      );
    }
    if (status < 200 || status >= 300) {
      const why = outcomeText(body);
      throw new FhirApiError(
        'protocol',
        url,
        hideKey(`${API} rejected the request with HTTP ${status} (${where})${why ? `: ${why}` : ''}`),
        status,
      );
    }
    if (!body || typeof body !== 'object' || (body as { resourceType?: unknown }).resourceType !== 'Bundle') {
      throw new FhirApiError(
        'protocol',
        url,
        `${API} answered something else than a FHIR Bundle (${where})`,
        status,
      );
    }
    return body as FhirBundle;
  }

  return {
    baseUrl: base,

    async findPractitionerByIdNat(idNat) {
      const practitioners = indexBundle(
        await search('Practitioner', [['identifier', `${IDNAT_PS_SYSTEM}|${idNat}`]]),
      );
      const practitioner = practitioners.matches.find(
        (r): r is FhirPractitioner => r.resourceType === 'Practitioner' && typeof r.id === 'string',
      );
      if (!practitioner) return null;
      const roles = indexBundle(
        await search('PractitionerRole', [
          ['practitioner', `Practitioner/${practitioner.id}`],
          ['_include', 'PractitionerRole:organization'],
        ]),
      );
      return professionalFromIndex(mergeIndexes(practitioners, roles), idNat);
    },

    async findByMailbox(address) {
      const queries: [string, [string, string][]][] = [
        ['Practitioner', [['mailbox-mss', address]]],
        [
          'PractitionerRole',
          [
            ['mailbox-mss', address],
            ['_include', 'PractitionerRole:practitioner'],
            ['_include', 'PractitionerRole:organization'],
          ],
        ],
        ['Organization', [['mailbox-mss', address]]],
      ];
      // The three carriers are asked at once; a hit wins over another request's failure.
      const settled = await Promise.allSettled(queries.map(([r, p]) => search(r, p)));
      for (const s of settled) {
        if (s.status === 'fulfilled' && s.value) {
          const hit = mailboxFromBundle(s.value, address);
          if (hit) return hit;
        }
      }
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      return null;
    },
  };
}
