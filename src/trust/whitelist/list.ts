import { domainToASCII } from 'node:url';
import { type DnInput, dnKey, tryNormaliseDn } from '../dn.ts';
import type { ParsedWhitelist, WhitelistEntry } from './parse.ts';

/**
 * The liste blanche in memory: an immutable index built once per loaded version. Lookups are
 * Map/Set reads; the service swaps the whole object when a new version is loaded.
 */

export type DecisionRule = 'listed-dn' | 'domain-not-listed' | 'dn-not-listed';

export interface Decision {
  allowed: boolean;
  /** Which rule decided: the DN is one of the domain's; the domain is absent; the DN is not one of its DNs. */
  rule: DecisionRule;
  /** The domain as looked up (lower case, no trailing dot). */
  domain: string;
  /** The DN key of the presented DN (see trust/dn.ts); the text as given when it cannot be parsed. */
  dn: string;
  /** DN keys allowed for the domain (empty when it is not listed). */
  allowedDns: string[];
  /** One sentence for logs, SMTP reply details and the CLI. */
  explain: string;
}

export interface WhitelistStats {
  entries: number;
  domains: number;
  /** Distinct DNCertificatOperateur values as written. */
  dns: number;
  /** Distinct DN keys after normalisation (quoted/unquoted, spacing and case variants merged). */
  normalisedDns: number;
  /** DNs of the list that could not be parsed; their entries can never match. */
  unparseableDns: string[];
  generatedAt: Date;
}

/** Lookup form of a domain: trimmed, lower case, no trailing dot, IDN in its ASCII (punycode) form. */
export function normaliseDomain(domain: string): string {
  let d = domain.trim().toLowerCase();
  while (d.endsWith('.')) d = d.slice(0, -1);
  if (!/^[\u0000-\u007f]*$/.test(d)) d = domainToASCII(d) || d;
  return d;
}

/** Key used for a list DN that does not parse: cannot collide with a real DN key (those hold `=`). */
const unparseableKey = (dn: string) => `!unparseable:${dn}`;

export class Whitelist {
  private readonly generatedMs: number;
  readonly warnings: readonly string[];
  private readonly byDomain: ReadonlyMap<
    string,
    { entries: readonly WhitelistEntry[]; dns: readonly string[] }
  >;
  private readonly entryCount: number;
  private readonly rawDns: number;
  private readonly keys: number;
  private readonly unparseable: readonly string[];

  private constructor(parsed: ParsedWhitelist) {
    this.generatedMs = parsed.generatedAt.getTime();
    this.warnings = Object.freeze([...parsed.warnings]);
    const keyOfRaw = new Map<string, string>();
    const unparseable: string[] = [];
    const groups = new Map<string, { entries: WhitelistEntry[]; dns: Set<string> }>();
    for (const e of parsed.entries) {
      let key = keyOfRaw.get(e.dn);
      if (key === undefined) {
        const k = tryNormaliseDn(e.dn);
        if (k === null) unparseable.push(e.dn);
        key = k ?? unparseableKey(e.dn);
        keyOfRaw.set(e.dn, key);
      }
      const domain = normaliseDomain(e.domain);
      let g = groups.get(domain);
      if (!g) {
        g = { entries: [], dns: new Set() };
        groups.set(domain, g);
      }
      g.entries.push(Object.freeze({ ...e }));
      g.dns.add(key);
    }
    const byDomain = new Map<string, { entries: readonly WhitelistEntry[]; dns: readonly string[] }>();
    for (const [d, g] of groups)
      byDomain.set(d, Object.freeze({ entries: Object.freeze(g.entries), dns: Object.freeze([...g.dns]) }));
    this.byDomain = byDomain;
    this.entryCount = parsed.entries.length;
    this.rawDns = keyOfRaw.size;
    this.keys = new Set(keyOfRaw.values()).size;
    this.unparseable = Object.freeze(unparseable);
    Object.freeze(this);
  }

  /** `DateDeGeneration` of this version (a copy). */
  get generatedAt(): Date {
    return new Date(this.generatedMs);
  }

  /** Builds the index of a parsed list. */
  static from(parsed: ParsedWhitelist): Whitelist {
    return new Whitelist(parsed);
  }

  /** Is the domain on the list (case-insensitive, trailing dot ignored)? */
  isListed(domain: string): boolean {
    return this.byDomain.has(normaliseDomain(domain));
  }

  /** DN keys allowed for the domain, deduplicated over all its entries; empty when not listed. */
  allowedDns(domain: string): string[] {
    return [...(this.byDomain.get(normaliseDomain(domain))?.dns ?? [])];
  }

  /** The list's entries for the domain, as written. */
  entries(domain: string): readonly WhitelistEntry[] {
    return this.byDomain.get(normaliseDomain(domain))?.entries ?? [];
  }

  /** All listed domains (lookup form). */
  domains(): IterableIterator<string> {
    return this.byDomain.keys();
  }

  /**
   * May a peer presenting a certificate with this subject DN act for this mail domain?
   * `dn` is a DN string, Node's tls subject object or a node-forge name.
   */
  allows(domain: string, dn: DnInput): Decision {
    const d = normaliseDomain(domain);
    const group = this.byDomain.get(d);
    let key: string | null;
    try {
      key = dnKey(dn);
    } catch {
      key = null;
    }
    const shownDn = key ?? (typeof dn === 'string' ? dn : JSON.stringify(dn));
    if (!group) {
      return {
        allowed: false,
        rule: 'domain-not-listed',
        domain: d,
        dn: shownDn,
        allowedDns: [],
        explain: `refused: the domain ${d} is not on the liste blanche (generated ${this.generatedAt.toISOString()})`,
      };
    }
    const allowedDns = [...group.dns];
    if (key !== null && group.dns.includes(key)) {
      return {
        allowed: true,
        rule: 'listed-dn',
        domain: d,
        dn: key,
        allowedDns,
        explain: `allowed: ${key} is a listed operator certificate DN for ${d}`,
      };
    }
    const why =
      key === null
        ? `the certificate DN ${JSON.stringify(shownDn)} cannot be parsed`
        : `the certificate DN ${key} is not among the DNs listed for ${d}`;
    return {
      allowed: false,
      rule: 'dn-not-listed',
      domain: d,
      dn: shownDn,
      allowedDns,
      explain: `refused: ${why} (allowed: ${allowedDns.join(' | ')})`,
    };
  }

  stats(): WhitelistStats {
    return {
      entries: this.entryCount,
      domains: this.byDomain.size,
      dns: this.rawDns,
      normalisedDns: this.keys,
      unparseableDns: [...this.unparseable],
      generatedAt: new Date(this.generatedMs),
    };
  }
}
