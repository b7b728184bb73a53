/**
 * Distinguished names (DN) of certificate subjects: parsing and normalisation. PURE, no I/O.
 *
 * The liste blanche writes the operator certificate DN as an RFC 4514-style string, most
 * specific RDN first (`CN=mss.ch-x.fr,OU=1330781295,O=C.H. DE  CADILLAC,ST=Gironde (33),C=FR`).
 * Peers present certificates that reach us as Node's `tls` subject object or node-forge
 * attributes. All three are turned into one canonical string, the **DN key**, so that a peer
 * check is a Set lookup.
 *
 * Normalisation (the DN key) — a deliberate choice, documented here:
 * - attribute types: upper-case short names; aliases and OIDs are mapped (`2.5.4.3`,
 *   `commonName`, `cn` → `CN`; `S`, `stateOrProvinceName` → `ST`; `E`, `email`,
 *   `1.2.840.113549.1.9.1` → `EMAILADDRESS`); unknown names are upper-cased, unknown OIDs kept dotted.
 * - values: escapes and quotes decoded (`\,`, `\"`, `\c3\a9`, `"C.H. DE  CADILLAC"`), Unicode NFC,
 *   trimmed, inner whitespace runs folded to one space, then lower-cased. Case-insensitive value
 *   comparison is what X.520 matching rules (caseIgnoreMatch) give for these attributes; folding
 *   spaces is RFC 4518's "insignificant space" handling. The list has entries that differ only by
 *   these (`O="C.H. DE  CADILLAC"` and `O=C.H. DE  CADILLAC`, `CN=smtp-1.mssante.adista.fr ,...`).
 *   Quotes INSIDE an unquoted value (`O=CRLCC "PAUL STRAUSS"`) are literal characters: the list
 *   writes them so, and removing them would guess at what the certificate holds.
 * - order: the key lists attributes most specific first, most significant LAST, like the list
 *   (CN, then UID/emailAddress…, OU, O, L, ST, C). Each attribute goes to its rank, so
 *   `C=FR,ST=…,O=…,OU=…,CN=…` (OpenSSL one-line and ASN.1 order) gives the same key as the
 *   list's order. Repeated types (two OUs) keep their relative order, read in the list's
 *   direction: a DN written with C first is reversed before ranking.
 *   Multi-valued RDNs (`CN=a+UID=b`) are flattened: Node's subject object and node-forge both
 *   lose RDN grouping, so the key cannot depend on it.
 * The key is itself a valid RFC 4514 string (special characters escaped), e.g.
 * `CN=mss.ch-cadillac.fr,OU=1330781295,O=c.h. de cadillac,ST=gironde (33),C=fr`.
 */

/** One attribute type and value. `type` is the canonical short name (or a dotted OID). */
export interface Ava {
  type: string;
  /** Decoded value (escapes and quotes removed), not yet normalised. */
  value: string;
}

/** A relative distinguished name: one or more AVAs (several when written with `+`). */
export type Rdn = Ava[];

/** Node's `tls` `getPeerCertificate().subject`: short name → value, or values when repeated. */
export type NodeSubject = Readonly<Record<string, string | readonly string[] | undefined>>;

/** A node-forge name attribute (`cert.subject.attributes[i]`). */
export interface ForgeAttribute {
  type?: string | undefined;
  name?: string | undefined;
  shortName?: string | undefined;
  value?: unknown;
  valueTagClass?: number | undefined;
}

/** A node-forge name (`cert.subject`) or its attribute array. */
export type ForgeName = { attributes: readonly ForgeAttribute[] } | readonly ForgeAttribute[];

/** Anything a DN can be given as. */
export type DnInput = string | NodeSubject | ForgeName;

export class DnSyntaxError extends Error {
  override readonly name = 'DnSyntaxError';
  constructor(
    readonly input: string,
    /** 0-based character offset of the problem. */
    readonly position: number,
    reason: string,
  ) {
    super(`not a distinguished name: ${reason} at character ${position + 1} of "${input}"`);
  }
}

// ---------------------------------------------------------------------------------------------
// Attribute types

const OID_TO_SHORT: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'TITLE',
  '2.5.4.13': 'DESCRIPTION',
  '2.5.4.15': 'BUSINESSCATEGORY',
  '2.5.4.17': 'POSTALCODE',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'INITIALS',
  '2.5.4.44': 'GENERATIONQUALIFIER',
  '2.5.4.46': 'DNQUALIFIER',
  '2.5.4.65': 'PSEUDONYM',
  '2.5.4.97': 'ORGANIZATIONIDENTIFIER',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'EMAILADDRESS',
};

/** Upper-cased names and aliases → canonical short name. */
const NAME_TO_SHORT: Record<string, string> = {
  CN: 'CN',
  COMMONNAME: 'CN',
  SN: 'SN',
  SURNAME: 'SN',
  SERIALNUMBER: 'SERIALNUMBER',
  C: 'C',
  COUNTRYNAME: 'C',
  L: 'L',
  LOCALITYNAME: 'L',
  ST: 'ST',
  S: 'ST',
  STATEORPROVINCENAME: 'ST',
  STREET: 'STREET',
  STREETADDRESS: 'STREET',
  O: 'O',
  ORGANIZATIONNAME: 'O',
  OU: 'OU',
  ORGANIZATIONALUNITNAME: 'OU',
  T: 'TITLE',
  TITLE: 'TITLE',
  DESCRIPTION: 'DESCRIPTION',
  BUSINESSCATEGORY: 'BUSINESSCATEGORY',
  POSTALCODE: 'POSTALCODE',
  GN: 'GN',
  G: 'GN',
  GIVENNAME: 'GN',
  INITIALS: 'INITIALS',
  GENERATIONQUALIFIER: 'GENERATIONQUALIFIER',
  DNQUALIFIER: 'DNQUALIFIER',
  PSEUDONYM: 'PSEUDONYM',
  ORGANIZATIONIDENTIFIER: 'ORGANIZATIONIDENTIFIER',
  UID: 'UID',
  USERID: 'UID',
  DC: 'DC',
  DOMAINCOMPONENT: 'DC',
  E: 'EMAILADDRESS',
  EMAIL: 'EMAILADDRESS',
  EMAILADDRESS: 'EMAILADDRESS',
};

/**
 * Position in the key, most specific first. Types of the same rank are ordered by name;
 * repeated types keep their relative order.
 */
const RANK: Record<string, number> = {
  CN: 0,
  UID: 1,
  EMAILADDRESS: 1,
  SERIALNUMBER: 2,
  GN: 2,
  SN: 2,
  INITIALS: 2,
  GENERATIONQUALIFIER: 2,
  PSEUDONYM: 2,
  TITLE: 3,
  OU: 5,
  O: 6,
  ORGANIZATIONIDENTIFIER: 6,
  STREET: 7,
  POSTALCODE: 7,
  L: 8,
  ST: 9,
  C: 10,
  DC: 11,
};
const UNKNOWN_RANK = 4;

const rankOf = (type: string) => RANK[type] ?? UNKNOWN_RANK;

const TYPE_RE = /^(?:[A-Za-z][A-Za-z0-9-]*|(?:oid\.)?\d+(?:\.\d+)+)$/i;

/** Canonical short name of an attribute type (`commonName`, `cn`, `2.5.4.3`, `OID.2.5.4.3` → `CN`). */
export function canonicalType(type: string): string {
  let t = type.trim();
  if (/^oid\./i.test(t)) t = t.slice(4);
  if (/^\d+(\.\d+)+$/.test(t)) return OID_TO_SHORT[t] ?? t;
  const upper = t.toUpperCase();
  return NAME_TO_SHORT[upper] ?? upper;
}

// ---------------------------------------------------------------------------------------------
// Values

/** Normalised form of a value: NFC, trimmed, inner whitespace runs folded, lower-cased. */
export function normaliseValue(value: string): string {
  return value.normalize('NFC').replace(/\s+/gu, ' ').trim().toLowerCase();
}

/** Escapes a value for an RFC 4514 string. */
export function escapeValue(value: string): string {
  let out = value.replace(/[\\,+"<>;=]/g, (c) => `\\${c}`);
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ') && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out.replace(/[\u0000-\u001f]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** `#`-form (hex of the BER encoding): decodes the common string types, else keeps `#hex`. */
function decodeHexValue(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  const tag = bytes[0];
  let len = bytes[1] ?? 0;
  let off = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3) return `#${hex.toLowerCase()}`;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (bytes[off + i] ?? 0);
    off += n;
  }
  if (off + len !== bytes.length) return `#${hex.toLowerCase()}`;
  const content = bytes.subarray(off);
  switch (tag) {
    case 0x0c: // UTF8String
      return utf8.decode(content);
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
    case 0x12: // NumericString
    case 0x14: // TeletexString (treated as Latin-1)
      return content.toString('latin1');
    case 0x1e: {
      // BMPString, UTF-16BE
      const swapped = Buffer.from(content);
      swapped.swap16();
      return swapped.toString('utf16le');
    }
    default:
      return `#${hex.toLowerCase()}`;
  }
}

// ---------------------------------------------------------------------------------------------
// String parsing

type Mode = 'comma' | 'line' | 'slash';

/** Collects a value: plain characters, escaped ones (kept even when spaces), `\XX` UTF-8 bytes. */
class ValueBuilder {
  private v = '';
  private bytes: number[] = [];
  /** Length of `v` that trailing-space trimming must not cut (escaped characters). */
  private keepTo = 0;

  private flush() {
    if (this.bytes.length) {
      this.v += utf8.decode(Uint8Array.from(this.bytes));
      this.bytes = [];
      this.keepTo = this.v.length;
    }
  }
  byte(b: number) {
    this.bytes.push(b);
  }
  char(c: string) {
    this.flush();
    this.v += c;
  }
  escaped(c: string) {
    this.flush();
    this.v += c;
    this.keepTo = this.v.length;
  }
  /** The value; unescaped trailing spaces dropped when `trimEnd`. */
  done(trimEnd: boolean): string {
    this.flush();
    let end = this.v.length;
    if (trimEnd) while (end > this.keepTo && (this.v[end - 1] === ' ' || this.v[end - 1] === '\t')) end--;
    return this.v.slice(0, end);
  }
}

/**
 * A separator only counts when an `=` follows it before the next separator (`type=` is then
 * checked, so `CN=a,C N=x` is an error); otherwise it is literal text (`O=Dupont, Durand`).
 */
const NEXT_AVA_RE: Record<Mode, RegExp> = {
  comma: /^[^,;+=]*=/,
  line: /^[^\n+=]*=/,
  slash: /^[^/+=]*=/,
};

function isRdnSeparator(mode: Mode, c: string): boolean {
  if (mode === 'comma') return c === ',' || c === ';';
  if (mode === 'line') return c === '\n';
  return c === '/';
}

/**
 * Parses a DN string. Accepted forms:
 * - RFC 4514 / RFC 2253 / OpenSSL `-nameopt RFC2253` (`CN=a,OU=b,O=c`), with `;` too, spaces
 *   around separators and `=`, backslash escapes (`\,` `\+` `\"` `\\` `\XX` UTF-8 bytes),
 *   quoted values (`O="A, B"`), `#hex` values, `+` for multi-valued RDNs;
 * - one RDN per line (Node's `X509Certificate.subject`);
 * - OpenSSL's legacy one-line form `/C=FR/ST=…/CN=…`.
 * Lenient where humans typed the DN: a separator (`,` `;` `+` `/`) with no `=` before the next
 * one is taken as part of the value (`O=Dupont, Durand et fils`), as are unescaped quotes inside
 * an unquoted value. RDNs are returned in the written order.
 */
export function parseDn(input: string): Rdn[] {
  let text = input.replace(/\r\n?/g, '\n');
  let mode: Mode = 'comma';
  let pos = 0;
  if (/^\s*\//.test(text)) {
    mode = 'slash';
    pos = text.indexOf('/') + 1;
  } else if (text.trim().includes('\n')) {
    mode = 'line';
    text = text.trim();
  }
  const n = text.length;
  const rdns: Rdn[] = [];
  const skipSpaces = () => {
    while (pos < n && (text[pos] === ' ' || text[pos] === '\t' || (mode !== 'line' && text[pos] === '\n')))
      pos++;
  };
  const followedByAva = (at: number) => NEXT_AVA_RE[mode].test(text.slice(at + 1, at + 1 + 200));

  skipSpaces();
  if (pos >= n) return rdns;

  let rdn: Rdn = [];
  for (;;) {
    // attribute type
    skipSpaces();
    const typeStart = pos;
    const eq = text.indexOf('=', pos);
    if (eq < 0) throw new DnSyntaxError(input, pos, "expected 'type=value'");
    const rawType = text.slice(typeStart, eq).trim();
    if (!TYPE_RE.test(rawType)) throw new DnSyntaxError(input, typeStart, `bad attribute type "${rawType}"`);
    pos = eq + 1;
    skipSpaces();

    // value
    let value: string;
    if (text[pos] === '"') {
      const start = pos;
      pos++;
      const v = new ValueBuilder();
      for (;;) {
        if (pos >= n) throw new DnSyntaxError(input, start, 'unterminated quoted value');
        const c = text[pos]!;
        if (c === '\\' && pos + 1 < n) {
          const hex = /^[0-9a-fA-F]{2}/.exec(text.slice(pos + 1, pos + 3));
          if (hex) {
            v.byte(Number.parseInt(hex[0], 16));
            pos += 3;
          } else {
            v.escaped(text[pos + 1]!);
            pos += 2;
          }
        } else if (c === '"') {
          pos++;
          break;
        } else {
          v.char(c);
          pos++;
        }
      }
      value = v.done(false);
      skipSpaces();
      if (pos < n && !(text[pos] === '+' || isRdnSeparator(mode, text[pos]!)))
        throw new DnSyntaxError(input, pos, 'unexpected text after a quoted value');
    } else if (text[pos] === '#') {
      const m = /^#((?:[0-9a-fA-F]{2})+)/.exec(text.slice(pos));
      if (!m) throw new DnSyntaxError(input, pos, "bad '#' hex value");
      value = decodeHexValue(m[1]!);
      pos += m[0].length;
      skipSpaces();
      if (pos < n && !(text[pos] === '+' || isRdnSeparator(mode, text[pos]!)))
        throw new DnSyntaxError(input, pos, 'unexpected text after a hex value');
    } else {
      const v = new ValueBuilder();
      while (pos < n) {
        const c = text[pos]!;
        if (c === '\\') {
          const hex = /^[0-9a-fA-F]{2}/.exec(text.slice(pos + 1, pos + 3));
          if (hex) {
            v.byte(Number.parseInt(hex[0], 16));
            pos += 3;
            continue;
          }
          if (pos + 1 >= n) throw new DnSyntaxError(input, pos, 'dangling backslash');
          v.escaped(text[pos + 1]!);
          pos += 2;
          continue;
        }
        if (c === '+' || isRdnSeparator(mode, c)) {
          if (followedByAva(pos)) break;
          if (mode === 'comma' && text.slice(pos + 1).trim() === '')
            throw new DnSyntaxError(input, pos, 'trailing separator');
        }
        if (mode === 'line' && c === '\n') break;
        v.char(c);
        pos++;
      }
      value = v.done(true);
    }
    rdn.push({ type: canonicalType(rawType), value });

    if (pos >= n) {
      rdns.push(rdn);
      return rdns;
    }
    const sep = text[pos]!;
    pos++;
    if (sep !== '+') {
      rdns.push(rdn);
      rdn = [];
      skipSpaces();
      if (pos >= n) {
        if (mode === 'comma') throw new DnSyntaxError(input, pos - 1, 'trailing separator');
        return rdns;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Keys

/**
 * Orientation of a written DN: true when it starts with its most significant RDN (`C=FR,…,CN=…`).
 * Decided by the ranks of the first and last attributes; a tie keeps the written order.
 */
function mostSignificantFirst(avas: readonly Ava[]): boolean {
  if (avas.length < 2) return false;
  return rankOf(avas[0]!.type) > rankOf(avas[avas.length - 1]!.type);
}

/**
 * The DN key of attributes given most specific first (the list's order). Sorts by rank then
 * type name; the sort is stable, so repeated types keep their order.
 */
function keyOf(avasMostSpecificFirst: readonly Ava[]): string {
  return avasMostSpecificFirst
    .map((a, i) => ({ type: a.type, value: normaliseValue(a.value), i }))
    .sort(
      (a, b) =>
        rankOf(a.type) - rankOf(b.type) || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0) || a.i - b.i,
    )
    .map((a) => `${a.type}=${escapeValue(a.value)}`)
    .join(',');
}

/** The DN key of parsed RDNs, in whichever direction they were written. */
export function keyOfRdns(rdns: readonly Rdn[]): string {
  const flat = rdns.flat();
  return keyOf(mostSignificantFirst(flat) ? [...rdns].reverse().flat() : flat);
}

/** Normalises a DN string into its key. Throws DnSyntaxError when it cannot be parsed. */
export function normaliseDn(dn: string): string {
  return keyOfRdns(parseDn(dn));
}

/** Like normaliseDn, but null instead of throwing. */
export function tryNormaliseDn(dn: string): string | null {
  try {
    return normaliseDn(dn);
  } catch {
    return null;
  }
}

/**
 * DN key of Node's `tls` peer-certificate subject (`{ C: 'FR', ST: …, O: …, OU: …, CN: … }`,
 * repeated types as arrays in certificate order, i.e. most significant first).
 */
export function normaliseNodeSubject(subject: NodeSubject): string {
  const avas: Ava[] = [];
  for (const [key, raw] of Object.entries(subject)) {
    if (raw === undefined || raw === null) continue;
    const values = typeof raw === 'string' ? [raw] : [...raw];
    // Certificate order is most significant first; the key reads the other way.
    for (const v of values.reverse()) avas.push({ type: canonicalType(key), value: String(v) });
  }
  return keyOf(avas);
}

function forgeValue(attr: ForgeAttribute): string {
  const v = attr.value;
  if (typeof v !== 'string') {
    if (v instanceof Uint8Array) return utf8.decode(v);
    throw new DnSyntaxError(String(v), 0, `unsupported value for attribute ${attr.type ?? attr.name}`);
  }
  // forge keeps the decoded-from-DER value as a binary string (one char per byte).
  if (!/^[\u0000-\u00ff]*$/.test(v)) return v;
  const bytes = Buffer.from(v, 'latin1');
  if (attr.valueTagClass === 0x0c) {
    try {
      return utf8Strict.decode(bytes);
    } catch {
      return v;
    }
  }
  if (attr.valueTagClass === 0x1e && bytes.length % 2 === 0) {
    const swapped = Buffer.from(bytes);
    swapped.swap16();
    return swapped.toString('utf16le');
  }
  return v;
}

/** DN key of a node-forge name (`cert.subject`) or its `attributes` (certificate order). */
export function normaliseForgeName(name: ForgeName): string {
  const attrs = Array.isArray(name) ? name : (name as { attributes: readonly ForgeAttribute[] }).attributes;
  const avas: Ava[] = attrs.map((a) => ({
    type: canonicalType(a.type ?? a.shortName ?? a.name ?? ''),
    value: forgeValue(a),
  }));
  return keyOf(avas.reverse());
}

function isForgeName(input: object): input is ForgeName {
  return Array.isArray(input) || Array.isArray((input as { attributes?: unknown }).attributes);
}

/** DN key of a DN in any supported form. Throws DnSyntaxError for an unparseable string. */
export function dnKey(input: DnInput): string {
  if (typeof input === 'string') return normaliseDn(input);
  if (isForgeName(input)) return normaliseForgeName(input);
  return normaliseNodeSubject(input as NodeSubject);
}

/** True when both DNs have the same key. Unparseable DNs are never equal to anything. */
export function sameDn(a: DnInput, b: DnInput): boolean {
  try {
    return dnKey(a) === dnKey(b);
  } catch {
    return false;
  }
}

/** RFC 4514 text of parsed RDNs (values escaped, not normalised). */
export function formatDn(rdns: readonly Rdn[]): string {
  return rdns.map((rdn) => rdn.map((a) => `${a.type}=${escapeValue(a.value)}`).join('+')).join(',');
}
