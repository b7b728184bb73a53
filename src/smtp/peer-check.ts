/**
 * May this TLS peer talk to us for this mail domain (inbound: the MAIL FROM domain), or may we
 * hand this domain's mail to this server (outbound: the recipient domain)? PURE: the caller gives
 * the certificate verdict of the validator (computed once per connection) and the liste blanche
 * in use; the answer is an accept, or an SmtpReplyError naming the reason (see reply.ts for the
 * codes). Used by the MX (smtp/mx-server.ts) and the deliverer (smtp/deliverer.ts).
 *
 * Order of the checks, each one a distinct reason:
 *   1. TLS is active                                  → else 530 5.7.0 [tls-required]
 *   2. the domain is on the liste blanche              → else 550 5.7.1 [domain-not-listed]
 *   3. a certificate was presented and validates       → else 550 5.7.1 [no-certificate],
 *      (chain to a trust anchor, dates, usage, CRL)        [untrusted-issuer], [cert-expired], …
 *   4. its subject DN is one of the DNs of the domain  → else 550 5.7.1 [cn-mismatch]/[dn-mismatch]
 * The domain comes before the certificate: it does not depend on the peer's certificate and is
 * the most useful thing to tell a sender from outside the trust space.
 *
 * The null sender (MAIL FROM:<>, bounces and DSNs) has no domain to check: it is accepted from a
 * peer whose validated certificate DN is listed for at least one domain of the liste blanche (an
 * operator of the trust space), and refused otherwise.
 */
import { createHash } from 'node:crypto';
import { parseDn, tryNormaliseDn } from '../trust/dn.ts';
import type { CertificateValidator, Verdict } from '../trust/pki/validator.ts';
import type { Whitelist } from '../trust/whitelist/list.ts';
import { normaliseDomain } from '../trust/whitelist/list.ts';
import { type RefusalReason, refusals, type SmtpReplyError } from './reply.ts';

export type Direction = 'inbound' | 'outbound';

export type WhitelistView = Pick<Whitelist, 'allows' | 'isListed' | 'domains' | 'allowedDns'>;

export interface PeerCheckInput {
  direction: Direction;
  /** TLS is active on the connection. */
  tls: boolean;
  /** The validator's verdict on the peer chain (purpose clientAuth inbound, serverAuth outbound); null without TLS. */
  verdict: Verdict | null;
  whitelist: WhitelistView;
  /** The mail domain concerned; '' for the null sender (inbound only). */
  domain: string;
}

export interface PeerFacts {
  direction: Direction;
  /** Lookup form of the domain ('' for the null sender). */
  domain: string;
  /** Subject DN of the peer certificate, as the validator formats it; null when none. */
  dn: string | null;
  fingerprint: string | null;
  /** One sentence for logs and the audit table. */
  explain: string;
}

export type PeerDecision =
  | (PeerFacts & {
      ok: true;
      rule: 'listed-dn' | 'listed-dn-null-sender';
      /** For the null sender: the domains the DN is listed for (at most 20). */
      listedFor?: string[];
    })
  | (PeerFacts & { ok: false; rule: RefusalReason; error: SmtpReplyError });

/** DN attribute types that differ between two DN strings (in key order), e.g. ['CN'] or ['OU', 'O']. */
export function dnDifferences(presented: string, listed: string): string[] {
  const read = (dn: string): Map<string, string[]> | null => {
    try {
      const m = new Map<string, string[]>();
      for (const ava of parseDn(dn).flat()) {
        const v = ava.value.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
        m.set(ava.type, [...(m.get(ava.type) ?? []), v]);
      }
      return m;
    } catch {
      return null;
    }
  };
  const a = read(presented);
  const b = read(listed);
  if (!a || !b) return [];
  const order = ['CN', 'UID', 'EMAILADDRESS', 'SERIALNUMBER', 'OU', 'O', 'L', 'ST', 'C'];
  const types = [...new Set([...a.keys(), ...b.keys()])].sort(
    (x, y) => (order.indexOf(x) + 1 || 99) - (order.indexOf(y) + 1 || 99) || (x < y ? -1 : 1),
  );
  return types.filter((t) => (a.get(t) ?? []).join('\u0000') !== (b.get(t) ?? []).join('\u0000'));
}

/** The differences with the closest of the listed DNs (fewest differing attribute types). */
function closestDifferences(presented: string, listed: readonly string[]): string[] {
  let best: string[] | null = null;
  for (const dn of listed) {
    const d = dnDifferences(presented, dn);
    if (d.length > 0 && (best === null || d.length < best.length)) best = d;
  }
  return best ?? [];
}

const reverseIndex = new WeakMap<object, Map<string, string[]>>();

/** Domains whose listed DNs include this DN key (cached per liste blanche version). */
export function domainsListedFor(whitelist: WhitelistView, dnKey: string): string[] {
  let index = reverseIndex.get(whitelist);
  if (!index) {
    index = new Map();
    for (const domain of whitelist.domains()) {
      for (const dn of whitelist.allowedDns(domain)) {
        const list = index.get(dn);
        if (list) list.push(domain);
        else index.set(dn, [domain]);
      }
    }
    reverseIndex.set(whitelist, index);
  }
  return index.get(dnKey) ?? [];
}

export function checkPeer(input: PeerCheckInput): PeerDecision {
  const { direction, verdict, whitelist } = input;
  const domain = input.domain === '' ? '' : normaliseDomain(input.domain);
  const dn = verdict?.subjectDn ?? null;
  const fingerprint = verdict?.fingerprint ?? null;
  const facts = { direction, domain, dn, fingerprint };
  const refuse = (rule: RefusalReason, error: SmtpReplyError, explain: string): PeerDecision => ({
    ...facts,
    ok: false,
    rule,
    error,
    explain,
  });
  const base = { direction, domain, dn, fingerprint };

  // 1. TLS
  if (!input.tls || verdict === null) {
    return refuse('tls-required', refusals.tlsRequired(), 'refused: no TLS on the connection');
  }

  // 2. The domain (the null sender has none: see 4.)
  if (domain !== '' && !whitelist.isListed(domain)) {
    return refuse(
      'domain-not-listed',
      refusals.domainNotListed(domain, direction, base),
      `refused: the domain ${domain} is not on the liste blanche`,
    );
  }

  // 3. The certificate
  if (!verdict.ok) {
    const details = { ...base, verdict: verdict.reason, verdictMessage: verdict.message };
    const error =
      verdict.reason === 'no-certificate'
        ? refusals.noCertificate(direction, details)
        : refusals.certificate(verdict.reason, direction, details);
    return refuse(verdict.reason, error, `refused: ${verdict.message}`);
  }

  // 4. The DN against the liste blanche
  if (domain === '') {
    const key = tryNormaliseDn(verdict.subjectDn) ?? verdict.subjectDn;
    const listedFor = domainsListedFor(whitelist, key);
    if (listedFor.length === 0) {
      return refuse(
        'dn-not-listed',
        refusals.nullSenderNotListed(base),
        `refused: null sender from ${verdict.subjectDn}, which is listed for no domain of the liste blanche`,
      );
    }
    return {
      ...facts,
      ok: true,
      rule: 'listed-dn-null-sender',
      listedFor: listedFor.slice(0, 20),
      explain: `allowed: null sender from ${key}, listed for ${listedFor.length} domain(s) (${listedFor.slice(0, 3).join(', ')}${listedFor.length > 3 ? ', …' : ''})`,
    };
  }
  const decision = whitelist.allows(domain, verdict.subjectDn);
  if (!decision.allowed) {
    const differs = closestDifferences(decision.dn, decision.allowedDns);
    return refuse(
      'dn-not-listed',
      refusals.dnNotListed(domain, direction, differs, {
        ...base,
        allowedDns: decision.allowedDns.slice(0, 10),
        differs,
      }),
      decision.explain,
    );
  }
  return { ...facts, ok: true, rule: 'listed-dn', explain: decision.explain };
}

/**
 * The validator's verdicts remembered for a short while, by the exact chain presented and the
 * purpose: a peer opening a connection per message (our own deliverer does) is validated once a
 * minute instead of once per connection. A good verdict is never kept past the certificate's
 * notAfter; a CRL loaded later is taken into account within `ttlMs`.
 */
export function cachingValidator(
  validator: Pick<CertificateValidator, 'validate'>,
  opts: { ttlMs?: number; maxEntries?: number; now?: () => number } = {},
): Pick<CertificateValidator, 'validate'> {
  const ttl = opts.ttlMs ?? 60_000;
  const max = opts.maxEntries ?? 1000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { verdict: Verdict; until: number }>();
  return {
    validate(chain, vopts) {
      if (chain.length === 0) return validator.validate(chain, vopts);
      const h = createHash('sha256').update(vopts.purpose);
      for (const der of chain) h.update(der);
      const key = h.digest('hex');
      const t = now();
      const hit = cache.get(key);
      if (hit && hit.until > t) return hit.verdict;
      const verdict = validator.validate(chain, vopts);
      const until = Math.min(t + ttl, verdict.ok ? verdict.notAfter.getTime() : Number.POSITIVE_INFINITY);
      cache.delete(key);
      cache.set(key, { verdict, until });
      if (cache.size > max) cache.delete(cache.keys().next().value!);
      return verdict;
    },
  };
}
