/**
 * Reading X.509 certificates (PEM, DER or chain files) into plain values, and checking a chain
 * against trust anchors. No I/O: callers give bytes and a time.
 *
 * Parsing walks the certificate's ASN.1 with node-forge (so certificates with non-RSA keys,
 * which forge's own certificate object refuses, are still read); fingerprints, public keys,
 * issuer matching and signature checks use Node's `X509Certificate`.
 *
 * Distinguished names are printed the way the ANS liste blanche writes them
 * (`CN=host,OU=1750000002,O=ORG,ST=Paris (75),C=FR`): RFC 4514 order, i.e. the last RDN of the
 * encoded sequence first, values as UTF-8 text, RFC 4514 escaping of `,+"\<>;` only.
 */
import { createHash, X509Certificate } from 'node:crypto';
import forge from 'node-forge';

const { asn1 } = forge;
type Asn1 = forge.asn1.Asn1;

// forge parses extensions and RDN sequences for us; these helpers exist in forge 1.x but are
// missing from its type declarations.
const forgePki = forge.pki as unknown as {
  certificateExtensionFromAsn1(ext: Asn1): ForgeExtension;
};
interface ForgeExtension {
  id: string;
  name?: string;
  critical: boolean;
  value: string;
  cA?: boolean;
  pathLenConstraint?: number;
  altNames?: { type: number; value: string; ip?: string }[];
  subjectKeyIdentifier?: string;
  [flag: string]: unknown;
}

export const OID = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  anyExtendedKeyUsage: '2.5.29.37.0',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  cRLDistributionPoints: '2.5.29.31',
} as const;

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '1.3.6.1.4.1.311.20.2.2': 'smartcardLogon',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

const KEY_USAGES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

/** Short names of DN attributes, as in the liste blanche and OpenSSL. */
const DN_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.42': 'GN',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

export interface DnAttribute {
  /** Dotted OID of the attribute type. */
  type: string;
  /** Short name (CN, OU, O, ST, L, C…) or the dotted OID when unknown. */
  name: string;
  value: string;
}

export interface SubjectAltName {
  type: 'DNS' | 'email' | 'URI' | 'IP' | 'other';
  value: string;
}

export interface CertInfo {
  /** Subject in the liste blanche format, e.g. `CN=mx.example.fr,OU=1750000002,O=ORG,C=FR`. */
  subject: string;
  issuer: string;
  /** Attributes in encoding order (as in the certificate). */
  subjectAttributes: DnAttribute[];
  issuerAttributes: DnAttribute[];
  /** Upper-case hex, no leading zeros (as OpenSSL and Node print it). */
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** Key usage bits, or null when the extension is absent. */
  keyUsage: KeyUsage[] | null;
  /** Extended key usages by name (or OID when unknown), or null when the extension is absent. */
  extKeyUsage: string[] | null;
  subjectAltNames: SubjectAltName[];
  basicConstraints: { ca: boolean; pathLen: number | null } | null;
  crlDistributionPoints: string[];
  subjectKeyId: string | null;
  authorityKeyId: string | null;
  publicKey: { type: string; bits: number | null; curve: string | null };
  signatureAlgorithm: string;
  /** SHA-256 fingerprint, `AB:CD:…` upper case (as `openssl x509 -fingerprint -sha256`). */
  fingerprint256: string;
  /** Issuer and subject are the same name. */
  selfIssued: boolean;
  /** Critical extensions this reader does not understand (dotted OIDs). */
  unknownCriticalExtensions: string[];
}

/** A certificate read once: the DER, Node's object (for crypto) and the plain values. */
export interface ParsedCert {
  der: Buffer;
  x509: X509Certificate;
  info: CertInfo;
}

export class CertificateParseError extends Error {
  override readonly name = 'CertificateParseError';
}

// ---------------------------------------------------------------------------------------------
// Reading files

const PEM_CERT =
  /-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----([\s\S]*?)-----END (?:X509 |TRUSTED )?CERTIFICATE-----/g;

/**
 * The DER certificates in a PEM bundle (any number, text between blocks ignored) or a single
 * DER certificate. Throws {@link CertificateParseError} when there is none.
 */
export function readCertificates(input: Buffer | string): Buffer[] {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const text = buf.toString('latin1');
  if (text.includes('-----BEGIN')) {
    const out: Buffer[] = [];
    for (const m of text.matchAll(PEM_CERT)) out.push(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
    if (out.length === 0) throw new CertificateParseError('no "BEGIN CERTIFICATE" block in the PEM input');
    return out;
  }
  if (buf.length > 0 && buf[0] === 0x30) return [buf];
  throw new CertificateParseError('input is neither a PEM certificate nor a DER certificate');
}

/** DER → PEM (`-----BEGIN CERTIFICATE-----`). */
export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

/** Parses every certificate of a PEM bundle or DER file. */
export function parseCertificates(input: Buffer | string): ParsedCert[] {
  return readCertificates(input).map(parseCertificate);
}

export function parseCertificate(der: Buffer): ParsedCert {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (e) {
    throw new CertificateParseError(`not a valid X.509 certificate: ${(e as Error).message}`);
  }
  let info: CertInfo;
  try {
    info = readInfo(der, x509);
  } catch (e) {
    throw new CertificateParseError(`cannot read the certificate structure: ${(e as Error).message}`);
  }
  return { der, x509, info };
}

// ---------------------------------------------------------------------------------------------
// ASN.1 walk

function fromDer(der: Buffer): Asn1 {
  return asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
}

function children(node: Asn1): Asn1[] {
  return Array.isArray(node.value) ? node.value : [];
}

function readInfo(der: Buffer, x509: X509Certificate): CertInfo {
  const cert = fromDer(der);
  const [tbs, sigAlg] = children(cert);
  if (!tbs || !sigAlg) throw new Error('truncated certificate');
  const fields = children(tbs);
  let i = 0;
  if (fields[0]?.tagClass === asn1.Class.CONTEXT_SPECIFIC && fields[0].type === 0) i++; // version
  const serialNode = fields[i++];
  i++; // inner signature algorithm
  const issuerNode = fields[i++];
  const validity = fields[i++];
  const subjectNode = fields[i++];
  if (!serialNode || !issuerNode || !validity || !subjectNode) throw new Error('truncated tbsCertificate');
  let extNodes: Asn1[] = [];
  for (const f of fields.slice(i)) {
    if (f.tagClass === asn1.Class.CONTEXT_SPECIFIC && f.type === 3) extNodes = children(children(f)[0]!);
  }
  const [nb, na] = children(validity);
  const subjectAttributes = readName(subjectNode);
  const issuerAttributes = readName(issuerNode);

  const info: CertInfo = {
    subject: formatDn(subjectAttributes),
    issuer: formatDn(issuerAttributes),
    subjectAttributes,
    issuerAttributes,
    serial: normaliseSerial(forge.util.bytesToHex(serialNode.value as string)),
    notBefore: readTime(nb!),
    notAfter: readTime(na!),
    keyUsage: null,
    extKeyUsage: null,
    subjectAltNames: [],
    basicConstraints: null,
    crlDistributionPoints: [],
    subjectKeyId: null,
    authorityKeyId: null,
    publicKey: publicKeyInfo(x509),
    signatureAlgorithm: oidName(asn1.derToOid(children(sigAlg)[0]!.value as string)),
    fingerprint256: x509.fingerprint256,
    selfIssued: dnKey(subjectAttributes) === dnKey(issuerAttributes),
    unknownCriticalExtensions: [],
  };

  for (const node of extNodes) {
    const ext = forgePki.certificateExtensionFromAsn1(node);
    switch (ext.id) {
      case OID.keyUsage:
        info.keyUsage = KEY_USAGES.filter((k) => ext[k] === true);
        break;
      case OID.basicConstraints:
        info.basicConstraints = { ca: ext.cA === true, pathLen: ext.pathLenConstraint ?? null };
        break;
      case OID.extKeyUsage:
        info.extKeyUsage = children(asn1.fromDer(ext.value)).map((n) => {
          const oid = asn1.derToOid(n.value as string);
          return EKU_NAMES[oid] ?? oid;
        });
        break;
      case OID.subjectAltName:
        info.subjectAltNames = (ext.altNames ?? []).map(altName);
        break;
      case OID.subjectKeyIdentifier:
        info.subjectKeyId = hexColons(forge.util.bytesToHex(asn1.fromDer(ext.value).value as string));
        break;
      case OID.authorityKeyIdentifier:
        for (const n of children(asn1.fromDer(ext.value))) {
          if (n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 0) {
            info.authorityKeyId = hexColons(forge.util.bytesToHex(n.value as string));
          }
        }
        break;
      case OID.cRLDistributionPoints:
        info.crlDistributionPoints = readCrlDistributionPoints(ext.value);
        break;
      default:
        if (ext.critical && !KNOWN_CRITICAL.has(ext.id)) info.unknownCriticalExtensions.push(ext.id);
    }
  }
  return info;
}

/** Critical extensions that may appear and do not change the checks made here. */
const KNOWN_CRITICAL = new Set([
  '2.5.29.32', // certificatePolicies (not enforced: any policy accepted)
  '2.5.29.36', // policyConstraints
  '2.5.29.54', // inhibitAnyPolicy
]);

function readCrlDistributionPoints(value: string): string[] {
  const out: string[] = [];
  for (const dp of children(asn1.fromDer(value))) {
    for (const field of children(dp)) {
      // distributionPoint [0] { fullName [0] GeneralNames }
      if (field.tagClass !== asn1.Class.CONTEXT_SPECIFIC || field.type !== 0) continue;
      for (const dpName of children(field)) {
        if (dpName.tagClass !== asn1.Class.CONTEXT_SPECIFIC || dpName.type !== 0) continue;
        for (const gn of children(dpName)) {
          if (gn.tagClass === asn1.Class.CONTEXT_SPECIFIC && gn.type === 6) out.push(gn.value as string);
        }
      }
    }
  }
  return out;
}

function altName(a: { type: number; value: string; ip?: string }): SubjectAltName {
  switch (a.type) {
    case 1:
      return { type: 'email', value: a.value };
    case 2:
      return { type: 'DNS', value: a.value };
    case 6:
      return { type: 'URI', value: a.value };
    case 7:
      return { type: 'IP', value: a.ip ?? forge.util.bytesToHex(a.value) };
    default:
      return { type: 'other', value: `[${a.type}]` };
  }
}

function publicKeyInfo(x509: X509Certificate): CertInfo['publicKey'] {
  const key = x509.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  return {
    type: key.asymmetricKeyType ?? 'unknown',
    bits: details.modulusLength ?? null,
    curve: details.namedCurve ?? null,
  };
}

function readTime(node: Asn1): Date {
  const v = node.value as string;
  if (node.type === asn1.Type.UTCTIME) return asn1.utcTimeToDate(v);
  if (node.type === asn1.Type.GENERALIZEDTIME) return asn1.generalizedTimeToDate(v);
  throw new Error(`unexpected time type ${node.type}`);
}

/** Reads the attributes of an ASN.1 Name (RDNSequence), in encoding order. */
export function readName(name: Asn1): DnAttribute[] {
  const out: DnAttribute[] = [];
  for (const rdn of children(name)) {
    for (const atv of children(rdn)) {
      const [typeNode, valueNode] = children(atv);
      if (!typeNode || !valueNode) continue;
      const type = asn1.derToOid(typeNode.value as string);
      out.push({ type, name: DN_NAMES[type] ?? type, value: decodeString(valueNode) });
    }
  }
  return out;
}

function decodeString(node: Asn1): string {
  const raw = typeof node.value === 'string' ? node.value : '';
  switch (node.type as number) {
    case asn1.Type.UTF8:
      try {
        return forge.util.decodeUtf8(raw);
      } catch {
        return raw;
      }
    case asn1.Type.BMPSTRING:
      return Buffer.from(raw, 'binary').swap16().toString('utf16le');
    case 28: {
      // UniversalString: UCS-4 big-endian
      const b = Buffer.from(raw, 'binary');
      let s = '';
      for (let i = 0; i + 3 < b.length; i += 4) s += String.fromCodePoint(b.readUInt32BE(i));
      return s;
    }
    default:
      // PrintableString, IA5String, VisibleString, NumericString: ASCII; T61String: read as Latin-1.
      return raw;
  }
}

function oidName(oid: string): string {
  return (forge.pki.oids as Record<string, string>)[oid] ?? oid;
}

function hexColons(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? []).join(':');
}

/** Serial number as upper-case hex without leading zeros ("0" for zero). */
export function normaliseSerial(hex: string): string {
  const s = hex
    .replace(/[^0-9a-f]/gi, '')
    .toUpperCase()
    .replace(/^0+/, '');
  return s === '' ? '0' : s;
}

// ---------------------------------------------------------------------------------------------
// Distinguished names

/** RFC 4514 escaping of one attribute value. */
function escapeDnValue(v: string): string {
  let s = v.replace(/[\\,+"<>;]/g, (c) => `\\${c}`);
  if (s.startsWith('#') || s.startsWith(' ')) s = `\\${s}`;
  if (s.endsWith(' ') && s.length > 1) s = `${s.slice(0, -1)}\\ `;
  return s;
}

/**
 * The liste blanche / RFC 4514 string of a name: attributes in reverse encoding order
 * (`CN=…,OU=…,O=…,C=FR` for a name encoded C, O, OU, CN).
 */
export function formatDn(attrs: readonly DnAttribute[]): string {
  return [...attrs]
    .reverse()
    .map((a) => `${a.name}=${escapeDnValue(a.value)}`)
    .join(',');
}

/** A comparison key for names: case-insensitive, inner whitespace collapsed, order kept. */
export function dnKey(attrs: readonly DnAttribute[]): string {
  return attrs
    .map((a) => `${a.type}=${a.value.normalize('NFC').trim().replace(/\s+/g, ' ').toLowerCase()}`)
    .join('/');
}

// ---------------------------------------------------------------------------------------------
// Chain checking

export type Purpose = 'serverAuth' | 'clientAuth';

export type ChainFailureReason =
  | 'no-certificate'
  | 'untrusted-issuer'
  | 'expired'
  | 'not-yet-valid'
  | 'wrong-usage'
  | 'bad-signature';

export type ChainResult =
  | { ok: true /** leaf first, trust anchor last */; path: ParsedCert[] }
  | { ok: false; reason: ChainFailureReason; message: string; path?: ParsedCert[] };

export interface ChainCheckOptions {
  anchors: readonly ParsedCert[];
  intermediates?: readonly ParsedCert[];
  now: Date;
  /** When given, the leaf's extended key usage must allow it (and key usage digitalSignature). */
  purpose?: Purpose;
}

const MAX_DEPTH = 8;

/**
 * Builds a path from the leaf (`chain[0]`) through the other given certificates and the
 * configured intermediates to a trust anchor, verifying the signature of every link, then
 * checks validity dates at `now`, CA constraints on issuers and the leaf's usages.
 *
 * Decisions: a leaf without extended key usage is refused for a purpose (IGC-Santé SERV_SSL
 * and ORG certificates always carry one); a leaf with key usage must have digitalSignature
 * (ECDHE-RSA signs with it); certificate policies are not enforced.
 */
export function checkChain(chain: readonly ParsedCert[], opts: ChainCheckOptions): ChainResult {
  const leaf = chain[0];
  if (!leaf) return { ok: false, reason: 'no-certificate', message: 'no certificate was presented' };
  const anchorFps = new Set(opts.anchors.map((a) => a.info.fingerprint256));
  const pool = dedupe([...chain.slice(1), ...(opts.intermediates ?? [])]).filter(
    (c) => !anchorFps.has(c.info.fingerprint256),
  );

  let badSignature = false;
  const verified = (child: ParsedCert, issuer: ParsedCert): boolean | null => {
    if (!child.x509.checkIssued(issuer.x509)) return null;
    let ok = false;
    try {
      ok = child.x509.verify(issuer.x509.publicKey);
    } catch {
      ok = false;
    }
    if (!ok) badSignature = true;
    return ok;
  };

  const build = (current: ParsedCert, path: ParsedCert[]): ParsedCert[] | null => {
    if (anchorFps.has(current.info.fingerprint256)) return path;
    for (const anchor of opts.anchors) {
      if (verified(current, anchor)) return [...path, anchor];
    }
    if (path.length > MAX_DEPTH) return null;
    for (const cand of pool) {
      if (path.some((p) => p.info.fingerprint256 === cand.info.fingerprint256)) continue;
      if (verified(current, cand)) {
        const found = build(cand, [...path, cand]);
        if (found) return found;
      }
    }
    return null;
  };

  const path = build(leaf, [leaf]);
  if (!path) {
    if (badSignature) {
      return {
        ok: false,
        reason: 'bad-signature',
        message: 'the certificate signature does not verify with its issuer key',
      };
    }
    return {
      ok: false,
      reason: 'untrusted-issuer',
      message: `the certificate issuer (${leaf.info.issuer}) is not a trusted certification authority`,
    };
  }

  const now = opts.now.getTime();
  for (const [i, c] of path.entries()) {
    const who = i === 0 ? 'the certificate' : `issuing CA certificate ${c.info.subject}`;
    if (c.info.notAfter.getTime() < now) {
      return {
        ok: false,
        reason: 'expired',
        message: `${who} expired on ${c.info.notAfter.toISOString()}`,
        path,
      };
    }
    if (c.info.notBefore.getTime() > now) {
      return {
        ok: false,
        reason: 'not-yet-valid',
        message: `${who} is not valid before ${c.info.notBefore.toISOString()}`,
        path,
      };
    }
    if (c.info.unknownCriticalExtensions.length > 0) {
      return {
        ok: false,
        reason: 'untrusted-issuer',
        message: `${who} has an unsupported critical extension (${c.info.unknownCriticalExtensions.join(', ')})`,
        path,
      };
    }
  }
  // Issuers: CA flag, keyCertSign, path length.
  for (let i = 1; i < path.length; i++) {
    const ca = path[i]!;
    const bc = ca.info.basicConstraints;
    const isAnchor = i === path.length - 1;
    // A v1 trust anchor without basicConstraints is accepted (it is trusted by configuration).
    if ((!bc && !isAnchor) || (bc && !bc.ca)) {
      return {
        ok: false,
        reason: 'untrusted-issuer',
        message: `issuer ${ca.info.subject} is not a certification authority`,
        path,
      };
    }
    if (ca.info.keyUsage && !ca.info.keyUsage.includes('keyCertSign')) {
      return {
        ok: false,
        reason: 'untrusted-issuer',
        message: `issuer ${ca.info.subject} is not allowed to sign certificates`,
        path,
      };
    }
    // Intermediate CAs between this issuer and the leaf (self-issued ones do not count).
    const below = path.slice(1, i).filter((c) => !c.info.selfIssued).length;
    if (bc?.pathLen !== null && bc?.pathLen !== undefined && below > bc.pathLen) {
      return {
        ok: false,
        reason: 'untrusted-issuer',
        message: `issuer ${ca.info.subject} allows at most ${bc.pathLen} CA certificate(s) below it`,
        path,
      };
    }
  }
  if (opts.purpose) {
    const usage = checkLeafUsage(leaf.info, opts.purpose);
    if (usage) return { ok: false, reason: 'wrong-usage', message: usage, path };
  }
  return { ok: true, path };
}

/** Null when the leaf may be used for `purpose`, else the reason. */
export function checkLeafUsage(info: CertInfo, purpose: Purpose): string | null {
  const label = purpose === 'serverAuth' ? 'TLS server authentication' : 'TLS client authentication';
  if (!info.extKeyUsage) {
    return `the certificate has no extended key usage, ${label} (${purpose}) is required`;
  }
  if (!info.extKeyUsage.includes(purpose) && !info.extKeyUsage.includes('anyExtendedKeyUsage')) {
    return `the certificate is not allowed for ${label} (extended key usage ${info.extKeyUsage.join(', ') || 'empty'})`;
  }
  if (info.keyUsage && !info.keyUsage.includes('digitalSignature')) {
    return `the certificate key usage (${info.keyUsage.join(', ')}) lacks digitalSignature`;
  }
  return null;
}

function dedupe(certs: ParsedCert[]): ParsedCert[] {
  const seen = new Set<string>();
  return certs.filter((c) => {
    if (seen.has(c.info.fingerprint256)) return false;
    seen.add(c.info.fingerprint256);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// Presentation

/** A JSON-friendly view of a certificate (dates as ISO strings). */
export function certSummary(info: CertInfo) {
  return {
    subject: info.subject,
    issuer: info.issuer,
    serial: info.serial,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    keyUsage: info.keyUsage,
    extKeyUsage: info.extKeyUsage,
    subjectAltNames: info.subjectAltNames.map((s) => `${s.type}:${s.value}`),
    ca: info.basicConstraints?.ca ?? false,
    pathLen: info.basicConstraints?.pathLen ?? null,
    crlDistributionPoints: info.crlDistributionPoints,
    subjectKeyId: info.subjectKeyId,
    authorityKeyId: info.authorityKeyId,
    publicKey: info.publicKey,
    signatureAlgorithm: info.signatureAlgorithm,
    fingerprint256: info.fingerprint256,
    selfIssued: info.selfIssued,
  };
}

/** Human text for one certificate, indented by two spaces. */
export function describeCertificate(info: CertInfo, now: Date): string {
  const state = info.notAfter < now ? ' (EXPIRED)' : info.notBefore > now ? ' (NOT YET VALID)' : '';
  const key =
    info.publicKey.type === 'rsa'
      ? `RSA ${info.publicKey.bits ?? '?'} bits`
      : `${info.publicKey.type}${info.publicKey.curve ? ` ${info.publicKey.curve}` : ''}`;
  const lines = [
    `  subject:        ${info.subject}`,
    `  issuer:         ${info.issuer}`,
    `  serial:         ${info.serial}`,
    `  valid:          ${info.notBefore.toISOString()} .. ${info.notAfter.toISOString()}${state}`,
    `  public key:     ${key}`,
    `  signature:      ${info.signatureAlgorithm}`,
    `  CA:             ${info.basicConstraints?.ca ? `yes${info.basicConstraints.pathLen !== null ? ` (path length ${info.basicConstraints.pathLen})` : ''}` : 'no'}`,
    `  key usage:      ${info.keyUsage ? info.keyUsage.join(', ') || '(empty)' : '(none)'}`,
    `  ext key usage:  ${info.extKeyUsage ? info.extKeyUsage.join(', ') || '(empty)' : '(none)'}`,
    `  alt names:      ${info.subjectAltNames.map((s) => `${s.type}:${s.value}`).join(', ') || '(none)'}`,
    `  CRL points:     ${info.crlDistributionPoints.join(', ') || '(none)'}`,
    `  SHA-256:        ${info.fingerprint256}`,
  ];
  return lines.join('\n');
}

/** SHA-256 of DER bytes as `AB:CD:…` (same format as {@link CertInfo.fingerprint256}). */
export function sha256Fingerprint(der: Buffer): string {
  return hexColons(createHash('sha256').update(der).digest('hex'));
}
