/**
 * Validation of a peer's certificate chain, used by both SMTP directions (inbound: the client
 * certificate of a sending operator; outbound: the server certificate of the receiving one).
 *
 *  1. chain building from the presented chain + configured intermediates to a configured trust
 *     anchor, with the signature of every link verified (Node's X509Certificate.checkIssued/verify);
 *  2. validity dates of every certificate of the path at clock();
 *  3. CA basicConstraints / keyCertSign / path length on issuers;
 *  4. the leaf's extended key usage for the purpose (serverAuth or clientAuth);
 *  5. revocation from CRLs (files or http(s) URLs, PEM or DER): each CRL's signature is verified
 *     by its issuer, CRLs are cached and refreshed every crlRefreshMinutes, the last good one is
 *     kept when a refresh fails, and staleness (nextUpdate passed) is reported.
 *
 * Comparing the subject DN with the liste blanche is not done here: the caller gets `subjectDn`
 * (liste blanche format) in the verdict.
 *
 * forge cannot read CRLs: their DER is walked with forge.asn1 (parsing only) and their signature
 * verified with Node's crypto.verify.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { DetailedPeerCertificate, PeerCertificate } from 'node:tls';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import type { Logger } from '../../logger.ts';
import {
  type ChainFailureReason,
  checkChain,
  type DnAttribute,
  dnKey,
  formatDn,
  normaliseSerial,
  type ParsedCert,
  type Purpose,
  parseCertificate,
  parseCertificates,
  readName,
} from './inspect.ts';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

export type VerdictReason = ChainFailureReason | 'revoked';

export type Verdict =
  | {
      ok: true;
      /** Subject of the leaf in the liste blanche format. */
      subjectDn: string;
      /** SHA-256 fingerprint of the leaf, `AB:CD:…`. */
      fingerprint: string;
      issuerDn: string;
      serial: string;
      notAfter: Date;
      /** DNS names of the leaf's subjectAltName. */
      dnsNames: string[];
      /**
       * checked: a CRL of the leaf's issuer was consulted (and of each CA link that has one);
       * stale-crl: a consulted CRL is past its nextUpdate (still used: last good CRL);
       * no-crl: no CRL of the leaf's issuer is loaded.
       */
      revocation: 'checked' | 'stale-crl' | 'no-crl';
    }
  | {
      ok: false;
      reason: VerdictReason;
      /** A safe English sentence for an SMTP reply or a log line. */
      message: string;
      subjectDn?: string;
      fingerprint?: string;
    };

export interface CrlStatus {
  source: string;
  loaded: boolean;
  issuerDn: string | null;
  thisUpdate: string | null;
  nextUpdate: string | null;
  /** nextUpdate has passed (the CRL is still used). */
  stale: boolean;
  revokedCount: number;
  /**
   * The issuer's signature on the CRL: verified (by a configured CA, or by the issuer a peer chain
   * showed), pending (issuer not seen yet), rejected (the issuers seen so far do not verify it).
   */
  signature: 'verified' | 'pending' | 'rejected';
  lastLoadedAt: string | null;
  lastAttemptAt: string | null;
  lastError: string | null;
}

export interface ValidatorStatus {
  anchors: number;
  intermediates: number;
  crls: CrlStatus[];
  /** Some CRL is stale or failed to load. */
  degraded: boolean;
}

export interface CertificateValidator {
  validate(peerChain: readonly Buffer[], opts: { purpose: Purpose }): Verdict;
  /** Loads every CRL, then refreshes them every crlRefreshMinutes (unref'd timer). */
  start(): Promise<void>;
  /** Reloads every CRL now; a failure keeps the last good CRL of that source. */
  refresh(): Promise<void>;
  stop(): void;
  status(): ValidatorStatus;
}

export type FetchLike = (
  url: string,
  init?: { signal?: AbortSignal },
) => Promise<{
  ok: boolean;
  status: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}>;

export interface ValidatorOptions {
  /** PEM texts (each may hold several certificates). */
  anchors: readonly string[];
  intermediates?: readonly string[];
  /** CRL files (paths relative to the working directory or file: URLs) or http(s) URLs. */
  crlSources?: readonly string[];
  crlRefreshMinutes?: number;
  logger: Logger;
  clock?: () => Date;
  fetch?: FetchLike;
  /** Download timeout of a CRL URL. */
  crlTimeoutMs?: number;
  /** Base folder of relative CRL paths (default: the working directory). */
  cwd?: string;
}

// ---------------------------------------------------------------------------------------------
// CRLs

export interface ParsedCrl {
  issuer: DnAttribute[];
  issuerKey: string;
  issuerDn: string;
  thisUpdate: Date;
  nextUpdate: Date | null;
  /** Normalised serials (upper-case hex, no leading zeros). */
  revoked: Set<string>;
  tbs: Buffer;
  signature: Buffer;
  signatureAlgorithm: string;
  crlNumber: string | null;
}

const PEM_CRL = /-----BEGIN X509 CRL-----([\s\S]*?)-----END X509 CRL-----/;

/** Digest names for crypto.verify, by signature algorithm OID. RSASSA-PSS is not supported. */
const SIG_ALGS: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

/** Length of the DER element starting at `offset` (header + content). Parsing, not crypto. */
function derElementLength(buf: Buffer, offset: number): number {
  if (offset + 2 > buf.length) throw new Error('truncated DER');
  const first = buf[offset + 1]!;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || offset + 2 + n > buf.length) throw new Error('unsupported DER length');
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + buf[offset + 2 + i]!;
  return 2 + n + len;
}

function readTime(node: Asn1 | undefined): Date | null {
  if (!node) return null;
  if (node.type === asn1.Type.UTCTIME) return asn1.utcTimeToDate(node.value as string);
  if (node.type === asn1.Type.GENERALIZEDTIME) return asn1.generalizedTimeToDate(node.value as string);
  return null;
}

const kids = (n: Asn1 | undefined): Asn1[] => (n && Array.isArray(n.value) ? n.value : []);

/** Parses a CRL (PEM or DER). Throws with a readable message when it is not one. */
export function parseCrl(input: Buffer): ParsedCrl {
  let der = input;
  const text = input.toString('latin1');
  if (text.includes('-----BEGIN')) {
    const m = text.match(PEM_CRL);
    if (!m) throw new Error('no "BEGIN X509 CRL" block in the PEM input');
    der = Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
  }
  if (der[0] !== 0x30) throw new Error('not a DER CRL');
  const outerLen = derElementLength(der, 0);
  if (outerLen !== der.length) throw new Error('trailing or missing bytes after the CRL');
  const headerLen = der[1]! < 0x80 ? 2 : 2 + (der[1]! & 0x7f);
  const tbs = der.subarray(headerLen, headerLen + derElementLength(der, headerLen));

  const root = asn1.fromDer(forge.util.createBuffer(der.toString('binary')), {
    decodeBitStrings: false,
  } as never);
  const [tbsNode, algNode, sigNode] = kids(root);
  if (!tbsNode || !algNode || !sigNode) throw new Error('truncated CRL');
  const fields = kids(tbsNode);
  let i = 0;
  if (fields[0]?.type === asn1.Type.INTEGER && fields[0].tagClass === asn1.Class.UNIVERSAL) i++; // version
  i++; // inner signature algorithm
  const issuerNode = fields[i++];
  if (!issuerNode) throw new Error('CRL without issuer');
  const thisUpdate = readTime(fields[i++]);
  if (!thisUpdate) throw new Error('CRL without thisUpdate');
  let nextUpdate: Date | null = null;
  const maybeNext = fields[i];
  if (maybeNext && (maybeNext.type === asn1.Type.UTCTIME || maybeNext.type === asn1.Type.GENERALIZEDTIME)) {
    nextUpdate = readTime(maybeNext);
    i++;
  }
  const revoked = new Set<string>();
  let crlNumber: string | null = null;
  for (const f of fields.slice(i)) {
    if (f.tagClass === asn1.Class.UNIVERSAL && f.type === asn1.Type.SEQUENCE) {
      for (const entry of kids(f)) {
        const serial = kids(entry)[0];
        if (serial) revoked.add(normaliseSerial(forge.util.bytesToHex(serial.value as string)));
      }
    } else if (f.tagClass === asn1.Class.CONTEXT_SPECIFIC && f.type === 0) {
      for (const ext of kids(kids(f)[0])) {
        const [oidNode, ...rest] = kids(ext);
        if (!oidNode) continue;
        const oid = asn1.derToOid(oidNode.value as string);
        const valueNode = rest[rest.length - 1];
        if (oid === '2.5.29.20' && valueNode) {
          crlNumber = forge.util.bytesToHex(asn1.fromDer(valueNode.value as string).value as string);
        } else if (oid === '2.5.29.27') {
          throw new Error('delta CRLs are not supported');
        }
      }
    }
  }
  const signatureAlgorithm = asn1.derToOid(kids(algNode)[0]!.value as string);
  const sigBits = Buffer.from(sigNode.value as string, 'binary');
  if (sigBits[0] !== 0) throw new Error('CRL signature has unused bits');
  const issuer = readName(issuerNode);
  return {
    issuer,
    issuerKey: dnKey(issuer),
    issuerDn: formatDn(issuer),
    thisUpdate,
    nextUpdate,
    revoked,
    tbs,
    signature: sigBits.subarray(1),
    signatureAlgorithm,
    crlNumber,
  };
}

/** Verifies a CRL's signature with its issuer's public key (Node crypto). */
export function verifyCrlSignature(crl: ParsedCrl, issuerKey: KeyObject): boolean {
  const digest = SIG_ALGS[crl.signatureAlgorithm];
  if (!digest) return false;
  try {
    return cryptoVerify(digest, crl.tbs, issuerKey, crl.signature);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Peer chains from TLS sockets

/**
 * The DER chain, leaf first, of `socket.getPeerCertificate(true)` (the issuerCertificate links,
 * stopping at the self-signed end or at a loop). Empty when no certificate was presented.
 */
export function peerChainFromTls(
  cert: PeerCertificate | DetailedPeerCertificate | null | undefined,
): Buffer[] {
  const out: Buffer[] = [];
  if (!cert || !('raw' in cert) || !cert.raw) return out;
  const seen = new Set<string>();
  let current: DetailedPeerCertificate | undefined = cert as DetailedPeerCertificate;
  while (current?.raw && !seen.has(current.fingerprint256)) {
    seen.add(current.fingerprint256);
    out.push(current.raw);
    current = current.issuerCertificate;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The validator

interface CrlSlot {
  source: string;
  crl: ParsedCrl | null;
  /** The CA certificate whose key verified the CRL; null while pending. */
  verifiedBy: ParsedCert | null;
  /** issuer cert fingerprints whose key did NOT verify the CRL (avoid retrying). */
  rejectedBy: Set<string>;
  lastLoadedAt: Date | null;
  lastAttemptAt: Date | null;
  lastError: string | null;
  staleWarned: boolean;
}

const MESSAGES: Record<VerdictReason, string> = {
  'no-certificate': 'no TLS certificate was presented',
  'untrusted-issuer': 'the TLS certificate is not issued by a trusted certification authority (IGC-Santé)',
  expired: 'the TLS certificate has expired',
  'not-yet-valid': 'the TLS certificate is not valid yet',
  revoked: 'the TLS certificate has been revoked',
  'wrong-usage': 'the TLS certificate is not allowed for this use',
  'bad-signature': 'the TLS certificate signature is invalid',
};

export function createCertificateValidator(opts: ValidatorOptions): CertificateValidator {
  const logger = opts.logger;
  const clock = opts.clock ?? (() => new Date());
  const doFetch: FetchLike = opts.fetch ?? ((url, init) => fetch(url, init));
  const timeoutMs = opts.crlTimeoutMs ?? 30_000;
  const anchors = opts.anchors.flatMap((pem) => parseCertificates(pem));
  const intermediates = (opts.intermediates ?? []).flatMap((pem) => parseCertificates(pem));
  const knownCas = [...anchors, ...intermediates];
  const slots: CrlSlot[] = (opts.crlSources ?? []).map((source) => ({
    source,
    crl: null,
    verifiedBy: null,
    rejectedBy: new Set(),
    lastLoadedAt: null,
    lastAttemptAt: null,
    lastError: null,
    staleWarned: false,
  }));
  let timer: NodeJS.Timeout | null = null;
  let refreshing: Promise<void> | null = null;

  async function fetchSource(source: string): Promise<Buffer> {
    if (/^https?:\/\//i.test(source)) {
      const res = await doFetch(source, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return Buffer.from(await res.arrayBuffer());
    }
    const path = source.startsWith('file:')
      ? fileURLToPath(source)
      : resolve(opts.cwd ?? process.cwd(), source);
    return readFile(path);
  }

  /**
   * Checks a freshly downloaded CRL against the configured CAs of its issuer's name and the CA
   * that verified the CRL kept for this source. None of them: pending (verified on first use
   * with the issuer a peer chain shows). Some, but none verifies: rejected.
   */
  function verifyWithKnownCas(
    slot: CrlSlot,
    crl: ParsedCrl,
  ): { verifiedBy: ParsedCert | null; rejected: boolean } {
    const candidates = knownCas.filter((ca) => dnKey(ca.info.subjectAttributes) === crl.issuerKey);
    if (slot.verifiedBy && dnKey(slot.verifiedBy.info.subjectAttributes) === crl.issuerKey) {
      candidates.push(slot.verifiedBy);
    }
    for (const ca of candidates) {
      if (verifyCrlSignature(crl, ca.x509.publicKey)) return { verifiedBy: ca, rejected: false };
    }
    return { verifiedBy: null, rejected: candidates.length > 0 };
  }

  async function loadSlot(slot: CrlSlot): Promise<void> {
    slot.lastAttemptAt = clock();
    try {
      const crl = parseCrl(await fetchSource(slot.source));
      const { verifiedBy, rejected } = verifyWithKnownCas(slot, crl);
      if (rejected) throw new Error(`the CRL signature does not verify with its issuer ${crl.issuerDn}`);
      if (slot.crl && slot.crl.issuerKey === crl.issuerKey && crl.thisUpdate < slot.crl.thisUpdate) {
        throw new Error(
          `the CRL is older (thisUpdate ${crl.thisUpdate.toISOString()}) than the one kept (${slot.crl.thisUpdate.toISOString()})`,
        );
      }
      slot.crl = crl;
      slot.verifiedBy = verifiedBy;
      slot.rejectedBy = new Set();
      slot.lastLoadedAt = clock();
      slot.lastError = null;
      slot.staleWarned = false;
      logger.info(
        {
          crl: slot.source,
          issuer: crl.issuerDn,
          revoked: crl.revoked.size,
          nextUpdate: crl.nextUpdate?.toISOString() ?? null,
          signature: verifiedBy ? 'verified' : 'pending',
        },
        'CRL loaded',
      );
      warnIfStale(slot);
    } catch (e) {
      slot.lastError = (e as Error).message;
      logger.warn(
        { crl: slot.source, err: slot.lastError, keptLastGood: slot.crl !== null },
        slot.crl ? 'CRL refresh failed; keeping the last good CRL' : 'CRL could not be loaded',
      );
    }
  }

  function isStale(crl: ParsedCrl): boolean {
    return crl.nextUpdate !== null && crl.nextUpdate.getTime() < clock().getTime();
  }

  function warnIfStale(slot: CrlSlot): void {
    if (slot.crl && isStale(slot.crl) && !slot.staleWarned) {
      slot.staleWarned = true;
      logger.warn(
        { crl: slot.source, issuer: slot.crl.issuerDn, nextUpdate: slot.crl.nextUpdate?.toISOString() },
        'CRL is stale (nextUpdate has passed); still used until a newer one loads',
      );
    }
  }

  /** CRLs usable for certificates issued by `issuer` (signature verified by its key). */
  function crlsFor(issuer: ParsedCert): CrlSlot[] {
    const key = dnKey(issuer.info.subjectAttributes);
    const fp = issuer.info.fingerprint256;
    return slots.filter((slot) => {
      const crl = slot.crl;
      if (!crl || crl.issuerKey !== key) return false;
      if (slot.verifiedBy?.info.fingerprint256 === fp) return true;
      if (slot.rejectedBy.has(fp)) return false;
      // Another certificate of the same name (renewed CA, cross-certificate): its key must verify too.
      if (verifyCrlSignature(crl, issuer.x509.publicKey)) {
        if (!slot.verifiedBy) slot.verifiedBy = issuer;
        return true;
      }
      slot.rejectedBy.add(fp);
      logger.warn(
        { crl: slot.source, issuer: issuer.info.subject },
        'CRL signature does not verify with the issuer presented in a chain; CRL ignored for it',
      );
      return false;
    });
  }

  function validate(peerChain: readonly Buffer[], vopts: { purpose: Purpose }): Verdict {
    const fail = (reason: VerdictReason, message?: string, leaf?: ParsedCert): Verdict => {
      const v: Verdict = {
        ok: false,
        reason,
        message: message ?? MESSAGES[reason],
        ...(leaf ? { subjectDn: leaf.info.subject, fingerprint: leaf.info.fingerprint256 } : {}),
      };
      logger.debug(
        { reason, detail: message, subject: leaf?.info.subject, purpose: vopts.purpose },
        'certificate refused',
      );
      return v;
    };
    if (peerChain.length === 0 || !peerChain[0] || peerChain[0].length === 0) {
      return fail('no-certificate');
    }
    let chain: ParsedCert[];
    try {
      chain = peerChain.map((der) => parseCertificate(Buffer.from(der)));
    } catch (e) {
      return fail('bad-signature', `the TLS certificate could not be parsed (${(e as Error).message})`);
    }
    const leaf = chain[0]!;
    const now = clock();
    const res = checkChain(chain, { anchors, intermediates, now, purpose: vopts.purpose });
    if (!res.ok) return fail(res.reason, sentence(res.reason, res.message), leaf);

    let revocation: 'checked' | 'stale-crl' | 'no-crl' = 'checked';
    for (let i = 0; i < res.path.length - 1; i++) {
      const cert = res.path[i]!;
      const issuer = res.path[i + 1]!;
      const usable = crlsFor(issuer);
      if (usable.length === 0) {
        // Only the leaf's issuer must have a CRL for 'checked'; CA links are checked when an ARL is loaded.
        if (i === 0) revocation = 'no-crl';
        continue;
      }
      for (const slot of usable) {
        warnIfStale(slot);
        if (isStale(slot.crl!) && revocation === 'checked') revocation = 'stale-crl';
        if (slot.crl!.revoked.has(cert.info.serial)) {
          const who = i === 0 ? 'the TLS certificate' : `the issuing CA certificate ${cert.info.subject}`;
          return fail('revoked', `${who} has been revoked (serial ${cert.info.serial})`, leaf);
        }
      }
    }
    return {
      ok: true,
      subjectDn: leaf.info.subject,
      fingerprint: leaf.info.fingerprint256,
      issuerDn: leaf.info.issuer,
      serial: leaf.info.serial,
      notAfter: leaf.info.notAfter,
      dnsNames: leaf.info.subjectAltNames.filter((s) => s.type === 'DNS').map((s) => s.value),
      revocation,
    };
  }

  function refresh(): Promise<void> {
    refreshing ??= Promise.all(slots.map(loadSlot))
      .then(() => undefined)
      .finally(() => {
        refreshing = null;
      });
    return refreshing;
  }

  return {
    validate,
    refresh,
    async start() {
      await refresh();
      if (timer || slots.length === 0) return;
      const minutes = opts.crlRefreshMinutes ?? 60;
      timer = setInterval(() => {
        refresh().catch((e) => logger.error({ err: e }, 'CRL refresh crashed'));
      }, minutes * 60_000);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
    status() {
      const crls = slots.map(
        (s): CrlStatus => ({
          source: s.source,
          loaded: s.crl !== null,
          issuerDn: s.crl?.issuerDn ?? null,
          thisUpdate: s.crl?.thisUpdate.toISOString() ?? null,
          nextUpdate: s.crl?.nextUpdate?.toISOString() ?? null,
          stale: s.crl ? isStale(s.crl) : false,
          revokedCount: s.crl?.revoked.size ?? 0,
          signature: s.verifiedBy ? 'verified' : s.rejectedBy.size > 0 ? 'rejected' : 'pending',
          lastLoadedAt: s.lastLoadedAt?.toISOString() ?? null,
          lastAttemptAt: s.lastAttemptAt?.toISOString() ?? null,
          lastError: s.lastError,
        }),
      );
      return {
        anchors: anchors.length,
        intermediates: intermediates.length,
        crls,
        degraded: crls.some((c) => c.stale || !c.loaded || c.lastError !== null),
      };
    },
  };
}

/** The chain checker's detailed message, made into an SMTP-safe sentence (ASCII, one line). */
function sentence(reason: VerdictReason, detail: string): string {
  const clean = detail
    .replace(/[^\x20-\x7e]/g, '?')
    .replace(/\s+/g, ' ')
    .trim();
  return clean.length > 0 && clean.length <= 300 ? clean : MESSAGES[reason];
}
