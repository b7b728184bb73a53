/**
 * The BAL as callers see it (camelCase view of the registry rows), the inputs of the registry,
 * and their pure normalisation: which fields each BAL type takes, text limits, preferred rank,
 * members, and client-certificate identities (subject DN, SHA-256 fingerprint).
 *
 * No I/O here: what needs the store or the directory (existence, "known to the directory")
 * is checked by the registry. Inputs come from JSON bodies and CLI flags, so every value is
 * checked at run time whatever its static type says.
 */
import { ValidationError } from '../domain/errors.ts';
import { requireBalAddress, requireIdNat, requireStructureId } from '../domain/identifiers.ts';
import type { BalStatus, BalType } from '../store/schema/registry.ts';

export type { BalStatus, BalType };

export const BAL_TYPES: readonly BalType[] = ['PER', 'ORG', 'APP', 'CAB'];
export const BAL_STATUSES: readonly BalStatus[] = ['active', 'suspended', 'closed'];

/** A client certificate bound to an APP BAL: at least one of the two is set. */
export interface BalCertificate {
  /** Normalised subject DN (RFC 4514 string), or null. */
  subjectDn: string | null;
  /** 64 lower-case hex digits, or null. */
  fingerprintSha256: string | null;
}

export interface Bal {
  address: string;
  type: BalType;
  status: BalStatus;
  /** idNat of the holder (PER, CAB). */
  holderIdNat: string | null;
  /** '1' + FINESS or '3' + SIRET (required for ORG, APP; optional for PER, CAB). */
  structureId: string | null;
  displayName: string | null;
  description: string | null;
  service: string | null;
  /** idNat of the responsible professional (ORG, APP). */
  responsibleIdNat: string | null;
  phone: string | null;
  /** Must not be published nor shown in directories. */
  listeRouge: boolean;
  /** Accepts dematerialised documents. */
  digitization: boolean;
  /** 1 = the holder's preferred BAL; null = no rank. */
  preferredRank: number | null;
  /** idNats allowed to use an ORG BAL, sorted. */
  members: string[];
  certificates: BalCertificate[];
  createdAt: string;
  updatedAt: string;
  suspendedAt: string | null;
  closedAt: string | null;
  /** Reason given with the last suspend or close. */
  statusReason: string | null;
}

export interface BalCertificateInput {
  subjectDn?: string | null;
  fingerprintSha256?: string | null;
}

export interface BalCreateInput {
  address: string;
  type: BalType;
  holderIdNat?: string | null;
  structureId?: string | null;
  displayName?: string | null;
  description?: string | null;
  service?: string | null;
  responsibleIdNat?: string | null;
  phone?: string | null;
  listeRouge?: boolean;
  digitization?: boolean;
  preferredRank?: number | null;
  members?: string[];
  certificates?: BalCertificateInput[];
}

/** Metadata that can change after creation. `null` clears an optional field. */
export interface BalPatch {
  structureId?: string | null;
  displayName?: string | null;
  description?: string | null;
  service?: string | null;
  responsibleIdNat?: string | null;
  phone?: string | null;
  listeRouge?: boolean;
  digitization?: boolean;
  preferredRank?: number | null;
  /** Replaces the whole set (APP only); [] removes every binding. */
  certificates?: BalCertificateInput[];
}

export interface BalFilter {
  type?: BalType;
  status?: BalStatus;
  structureId?: string;
  holderIdNat?: string;
  memberIdNat?: string;
  /** 1–1000, default 100. */
  limit?: number;
  /** Default 0. */
  offset?: number;
}

// ---------------------------------------------------------------------------------------------
// Which fields each type takes

/** Fields whose presence depends on the BAL type. */
export type TypedField = 'holderIdNat' | 'structureId' | 'responsibleIdNat' | 'members' | 'certificates';
type Presence = 'required' | 'optional' | 'refused';

export const TYPE_FIELDS: Readonly<Record<BalType, Readonly<Record<TypedField, Presence>>>> = {
  PER: {
    holderIdNat: 'required',
    structureId: 'optional',
    responsibleIdNat: 'refused',
    members: 'refused',
    certificates: 'refused',
  },
  CAB: {
    holderIdNat: 'required',
    structureId: 'optional',
    responsibleIdNat: 'refused',
    members: 'refused',
    certificates: 'refused',
  },
  ORG: {
    holderIdNat: 'refused',
    structureId: 'required',
    responsibleIdNat: 'required',
    members: 'optional',
    certificates: 'refused',
  },
  APP: {
    holderIdNat: 'refused',
    structureId: 'required',
    responsibleIdNat: 'required',
    members: 'refused',
    certificates: 'optional',
  },
};

const WHY_REFUSED: Readonly<Record<TypedField, string>> = {
  holderIdNat: 'only PER and CAB BALs have a holder; ORG and APP BALs have a responsibleIdNat',
  structureId: 'this type has no structure',
  responsibleIdNat: "only ORG and APP BALs have a responsible; a PER or CAB BAL's holder is its responsible",
  members: 'only ORG BALs have members (professionals allowed to use a shared mailbox)',
  certificates: 'only APP BALs are bound to client certificates',
};

const WHY_REQUIRED: Readonly<Record<TypedField, string>> = {
  holderIdNat: 'the idNat of the professional who holds it',
  structureId: "the structure it belongs to: '1' + FINESS or '3' + SIRET",
  responsibleIdNat: 'the idNat of the professional responsible for it',
  members: 'its members',
  certificates: 'its certificates',
};

/** "a PER BAL", "an ORG BAL": the type with its article. */
export function aBal(type: BalType): string {
  return `${type === 'ORG' || type === 'APP' ? 'an' : 'a'} ${type} BAL`;
}

/** Refuses `field` when the type does not take it. */
export function refuseFieldForType(type: BalType, field: TypedField): never {
  throw new ValidationError(
    field,
    'bal.field.not-for-type',
    `${field} does not apply to ${aBal(type)}: ${WHY_REFUSED[field]}`,
  );
}

function requiredField(type: BalType, field: TypedField): never {
  throw new ValidationError(
    field,
    'bal.field.required',
    `${aBal(type)} needs ${field} (${WHY_REQUIRED[field]})`,
  );
}

// ---------------------------------------------------------------------------------------------
// Scalars

const TEXT_LIMITS = { displayName: 200, description: 1000, service: 200 } as const;
type TextField = keyof typeof TEXT_LIMITS;
export const MAX_PREFERRED_RANK = 999;
const MAX_REASON = 500;

function show(value: unknown): string {
  const s = typeof value === 'string' ? value : String(value);
  return s.length > 80 ? `${JSON.stringify(s.slice(0, 80))}…` : JSON.stringify(s);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

const isAbsent = (v: unknown) => v === undefined || v === null;

/** An optional free-text field: trimmed, '' → null, bounded, no control characters. */
export function optionalText(value: unknown, field: TextField): string | null {
  if (isAbsent(value)) return null;
  if (typeof value !== 'string') {
    throw new ValidationError(field, 'bal.field.type', `${field} must be a string, got ${typeName(value)}`);
  }
  const v = value.trim();
  if (v === '') return null;
  const max = TEXT_LIMITS[field];
  if (v.length > max) {
    throw new ValidationError(
      field,
      'bal.field.too-long',
      `${field} must be at most ${max} characters, got ${v.length}`,
    );
  }
  if (/[\x00-\x1f\x7f]/.test(v)) {
    throw new ValidationError(
      field,
      'bal.field.chars',
      `${field} must not contain control characters (line breaks, tabs…), got ${show(v)}`,
    );
  }
  return v;
}

/** Phone: digits, optional leading '+', spaces, dots, dashes and parentheses; 4–32 characters. */
export function optionalPhone(value: unknown): string | null {
  if (isAbsent(value)) return null;
  if (typeof value !== 'string') {
    throw new ValidationError('phone', 'bal.field.type', `phone must be a string, got ${typeName(value)}`);
  }
  const v = value.trim();
  if (v === '') return null;
  if (!/^\+?[0-9 .()-]{4,32}$/.test(v) || !/\d/.test(v)) {
    throw new ValidationError(
      'phone',
      'bal.phone.syntax',
      `phone must be digits with an optional leading '+', spaces, dots, dashes or parentheses (4 to 32 characters), got ${show(v)}`,
    );
  }
  return v;
}

export function optionalBoolean(value: unknown, field: 'listeRouge' | 'digitization'): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') {
    throw new ValidationError(
      field,
      'bal.field.type',
      `${field} must be true or false, got ${typeName(value)}${typeof value === 'string' ? ` ${show(value)}` : ''}`,
    );
  }
  return value;
}

/** Preferred rank: an integer from 1 to {@link MAX_PREFERRED_RANK}, or null for none. */
export function optionalRank(value: unknown): number | null {
  if (isAbsent(value)) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PREFERRED_RANK) {
    throw new ValidationError(
      'preferredRank',
      'bal.rank.range',
      `preferredRank must be an integer from 1 (preferred) to ${MAX_PREFERRED_RANK}, or null for none, got ${
        typeof value === 'number' ? value : `${typeName(value)} ${show(value)}`
      }`,
    );
  }
  return value;
}

/** The reason given with suspend or close: required, one line, at most 500 characters. */
export function requireReason(value: unknown, action: 'suspend' | 'close'): string {
  const v = typeof value === 'string' ? value.trim() : '';
  if (v === '') {
    throw new ValidationError(
      'reason',
      'bal.reason.required',
      `a reason is required to ${action} a BAL (it is kept in the audit log)`,
    );
  }
  if (v.length > MAX_REASON) {
    throw new ValidationError(
      'reason',
      'bal.field.too-long',
      `reason must be at most ${MAX_REASON} characters, got ${v.length}`,
    );
  }
  if (/[\x00-\x1f\x7f]/.test(v)) {
    throw new ValidationError('reason', 'bal.field.chars', 'reason must not contain control characters');
  }
  return v;
}

export function requireBalType(value: unknown, field = 'type'): BalType {
  if (typeof value === 'string' && (BAL_TYPES as readonly string[]).includes(value.trim().toUpperCase())) {
    return value.trim().toUpperCase() as BalType;
  }
  throw new ValidationError(
    field,
    'bal.type.unknown',
    `${field} must be one of ${BAL_TYPES.join(', ')}, got ${isAbsent(value) ? 'nothing' : show(value)}`,
  );
}

export function requireBalStatus(value: unknown, field = 'status'): BalStatus {
  if (typeof value === 'string' && (BAL_STATUSES as readonly string[]).includes(value.trim().toLowerCase())) {
    return value.trim().toLowerCase() as BalStatus;
  }
  throw new ValidationError(
    field,
    'bal.status.unknown',
    `${field} must be one of ${BAL_STATUSES.join(', ')}, got ${isAbsent(value) ? 'nothing' : show(value)}`,
  );
}

/** idNat given as an untrusted value: a string, valid, normalised. */
export function idNatValue(value: unknown, field: string): string {
  if (typeof value !== 'string') {
    throw new ValidationError(
      field,
      'idnat.prefix',
      `${field} must be an idNat string, got ${typeName(value)}`,
    );
  }
  return requireIdNat(value, field).idNat;
}

export function structureIdValue(value: unknown, field = 'structureId'): string {
  if (typeof value !== 'string') {
    throw new ValidationError(
      field,
      'structure.prefix',
      `${field} must be a structure id string, got ${typeName(value)}`,
    );
  }
  return requireStructureId(value, field).structureId;
}

// ---------------------------------------------------------------------------------------------
// Certificate identities

const DN_MAX = 1024;

function dnError(rule: string, message: string, field: string): ValidationError {
  return new ValidationError(field, rule, message);
}

/** Splits on `sep` outside quotes and not escaped by a backslash. */
function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      current += c + s[i + 1]!;
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      parts.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  parts.push(current);
  return parts;
}

/** Index of the first `=` not escaped, or -1. */
function firstUnescapedEquals(s: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '=') return i;
  }
  return -1;
}

/** Trims spaces around a value, keeping a trailing space that is escaped (`\ `). */
function trimValue(raw: string): string {
  const start = raw.replace(/^\s+/, '');
  let end = start.replace(/\s+$/, '');
  const trailingBackslashes = /\\*$/.exec(end)![0].length;
  if (trailingBackslashes % 2 === 1) end += ' ';
  return end;
}

/**
 * Normalises a certificate subject DN written as an RFC 4514 string: spaces around `,`, `+`
 * and `=` are removed, attribute types are upper-cased (`cn` → `CN`; dotted OIDs stay as
 * they are); values are kept as written (case, escapes, quotes). Refuses an empty DN, a
 * component without `=`, a bad attribute type, an empty value or a dangling backslash.
 */
export function normaliseSubjectDn(input: unknown, field = 'subjectDn'): string {
  if (typeof input !== 'string') {
    throw dnError('certificate.dn.syntax', `${field} must be a string, got ${typeName(input)}`, field);
  }
  const dn = input.trim();
  if (dn === '') throw dnError('certificate.dn.empty', `${field} is empty`, field);
  if (dn.length > DN_MAX) {
    throw dnError(
      'certificate.dn.length',
      `${field} must be at most ${DN_MAX} characters, got ${dn.length}`,
      field,
    );
  }
  if (/[\x00-\x1f\x7f]/.test(dn)) {
    throw dnError('certificate.dn.syntax', `${field} must not contain control characters`, field);
  }
  if (dn.startsWith('/')) {
    throw dnError(
      'certificate.dn.syntax',
      `${field} ${show(dn)} looks like the OpenSSL "/C=FR/O=…" form; give it as an RFC 4514 string, most specific first (CN=…,OU=…,O=…,C=FR)`,
      field,
    );
  }
  if (/(^|[^\\])(\\\\)*\\$/.test(dn)) {
    throw dnError('certificate.dn.syntax', `${field} ends with a dangling backslash: ${show(dn)}`, field);
  }
  if ((dn.match(/(?<!\\)"/g) ?? []).length % 2 === 1) {
    throw dnError('certificate.dn.syntax', `${field} has an unbalanced quote: ${show(dn)}`, field);
  }
  const rdns = splitUnescaped(dn, ',').map((rdn) =>
    splitUnescaped(rdn, '+').map((ava) => {
      const eq = firstUnescapedEquals(ava);
      if (eq < 0) {
        throw dnError(
          'certificate.dn.syntax',
          `${field} component ${show(ava.trim())} has no '=' (expected TYPE=value, e.g. CN=host.example.fr), in ${show(dn)}`,
          field,
        );
      }
      const type = ava.slice(0, eq).trim();
      const value = trimValue(ava.slice(eq + 1));
      if (!/^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$/.test(type)) {
        throw dnError(
          'certificate.dn.attribute',
          `${field} attribute type ${show(type)} is not a name (letters, digits, hyphens) nor a dotted OID, in ${show(dn)}`,
          field,
        );
      }
      if (value === '') {
        throw dnError(
          'certificate.dn.value',
          `${field} attribute ${type} has an empty value, in ${show(dn)}`,
          field,
        );
      }
      return `${/^\d/.test(type) ? type : type.toUpperCase()}=${value}`;
    }),
  );
  return rdns.map((avas) => avas.join('+')).join(',');
}

/**
 * Normalises a SHA-256 certificate fingerprint: 64 hex digits, or 32 colon-separated pairs
 * (`AB:CD:…`, the OpenSSL display form), any case → 64 lower-case hex digits.
 */
export function normaliseFingerprint(input: unknown, field = 'fingerprintSha256'): string {
  if (typeof input !== 'string') {
    throw new ValidationError(
      field,
      'certificate.fingerprint.syntax',
      `${field} must be a string, got ${typeName(input)}`,
    );
  }
  const v = input.trim();
  const hex = v.includes(':') ? v.split(':') : [v];
  const colonForm = hex.length > 1;
  if (colonForm && !hex.every((pair) => /^[0-9A-Fa-f]{2}$/.test(pair))) {
    throw new ValidationError(
      field,
      'certificate.fingerprint.syntax',
      `${field} with colons must be pairs of hex digits (AB:CD:…), got ${show(v)}`,
    );
  }
  const digits = hex.join('');
  if (!/^[0-9A-Fa-f]*$/.test(digits)) {
    throw new ValidationError(
      field,
      'certificate.fingerprint.syntax',
      `${field} must be hexadecimal (0-9, a-f), with or without colons, got ${show(v)}`,
    );
  }
  if (digits.length !== 64) {
    const hint = digits.length === 40 ? ' (that is the length of a SHA-1 fingerprint)' : '';
    throw new ValidationError(
      field,
      'certificate.fingerprint.length',
      `${field} must be a SHA-256 fingerprint of 64 hex digits (32 bytes), got ${digits.length}${hint}: ${show(v)}`,
    );
  }
  return digits.toLowerCase();
}

/** One certificate identity: at least one of DN and fingerprint, each normalised. */
export function normaliseCertificate(input: unknown, field = 'certificates[0]'): BalCertificate {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError(
      field,
      'certificate.syntax',
      `${field} must be an object {subjectDn, fingerprintSha256}, got ${typeName(input)}`,
    );
  }
  const c = input as Record<string, unknown>;
  for (const key of Object.keys(c)) {
    if (key !== 'subjectDn' && key !== 'fingerprintSha256') {
      throw new ValidationError(
        field,
        'bal.field.unknown',
        `${field} has an unknown property ${show(key)} (allowed: subjectDn, fingerprintSha256)`,
      );
    }
  }
  const emptyString = (v: unknown) => typeof v === 'string' && v.trim() === '';
  const subjectDn =
    isAbsent(c['subjectDn']) || emptyString(c['subjectDn'])
      ? null
      : normaliseSubjectDn(c['subjectDn'], `${field}.subjectDn`);
  const fingerprintSha256 =
    isAbsent(c['fingerprintSha256']) || emptyString(c['fingerprintSha256'])
      ? null
      : normaliseFingerprint(c['fingerprintSha256'], `${field}.fingerprintSha256`);
  if (subjectDn === null && fingerprintSha256 === null) {
    throw new ValidationError(
      field,
      'certificate.identity.missing',
      `${field} needs a subjectDn or a fingerprintSha256 (or both) to identify the client certificate`,
    );
  }
  return { subjectDn, fingerprintSha256 };
}

/** A list of certificate identities, normalised, duplicates removed (first kept). */
export function normaliseCertificates(input: unknown, field = 'certificates'): BalCertificate[] {
  if (!Array.isArray(input)) {
    throw new ValidationError(field, 'bal.field.type', `${field} must be an array, got ${typeName(input)}`);
  }
  const seen = new Set<string>();
  const out: BalCertificate[] = [];
  input.forEach((c, i) => {
    const cert = normaliseCertificate(c, `${field}[${i}]`);
    const key = `${cert.subjectDn ?? ''}\n${cert.fingerprintSha256 ?? ''}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(cert);
    }
  });
  return out;
}

/** A list of member idNats: each valid, normalised; duplicates removed; sorted. */
export function normaliseMembers(input: unknown, field = 'members'): string[] {
  if (!Array.isArray(input)) {
    throw new ValidationError(
      field,
      'bal.field.type',
      `${field} must be an array of idNats, got ${typeName(input)}`,
    );
  }
  const ids = input.map((v, i) => idNatValue(v, `${field}[${i}]`));
  return [...new Set(ids)].sort();
}

// ---------------------------------------------------------------------------------------------
// Create input and patch

/** A create input after normalisation: every field of a BAL the creator decides, resolved. */
export type NormalisedCreate = Omit<
  Bal,
  'status' | 'createdAt' | 'updatedAt' | 'suspendedAt' | 'closedAt' | 'statusReason'
>;

const CREATE_KEYS = [
  'address',
  'type',
  'holderIdNat',
  'structureId',
  'displayName',
  'description',
  'service',
  'responsibleIdNat',
  'phone',
  'listeRouge',
  'digitization',
  'preferredRank',
  'members',
  'certificates',
] as const;

function requireObject(input: unknown, what: string): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError(what, 'bal.input.syntax', `${what} must be an object, got ${typeName(input)}`);
  }
  return input as Record<string, unknown>;
}

/** Absent for the purpose of "does this type take the field": undefined, null or []. */
const notGiven = (v: unknown) => isAbsent(v) || (Array.isArray(v) && v.length === 0);

/**
 * Checks and normalises a create input for its type. The address must be in one of the
 * served domains. Does not check that idNats are known to the directory (the registry does).
 */
export function normaliseCreateInput(input: unknown, servedDomains: readonly string[]): NormalisedCreate {
  const raw = requireObject(input, 'BAL');
  for (const key of Object.keys(raw)) {
    if (!(CREATE_KEYS as readonly string[]).includes(key)) {
      throw new ValidationError(
        key,
        'bal.field.unknown',
        `unknown field ${show(key)} (allowed: ${CREATE_KEYS.join(', ')})`,
      );
    }
  }
  if (typeof raw['address'] !== 'string') {
    throw new ValidationError('address', 'address.syntax', `address is required (local-part@domain)`);
  }
  const address = requireBalAddress(raw['address'], servedDomains).address;
  const type = requireBalType(raw['type']);
  const rules = TYPE_FIELDS[type];

  const typed = <T>(field: TypedField, parse: (v: unknown) => T, empty: T): T => {
    const v = raw[field];
    if (rules[field] === 'refused') {
      if (!notGiven(v)) refuseFieldForType(type, field);
      return empty;
    }
    if (notGiven(v)) {
      if (rules[field] === 'required') requiredField(type, field);
      return empty;
    }
    return parse(v);
  };

  return {
    address,
    type,
    holderIdNat: typed('holderIdNat', (v) => idNatValue(v, 'holderIdNat'), null),
    structureId: typed('structureId', (v) => structureIdValue(v), null),
    responsibleIdNat: typed('responsibleIdNat', (v) => idNatValue(v, 'responsibleIdNat'), null),
    members: typed('members', (v) => normaliseMembers(v), [] as string[]),
    certificates: typed('certificates', (v) => normaliseCertificates(v), [] as BalCertificate[]),
    displayName: optionalText(raw['displayName'], 'displayName'),
    description: optionalText(raw['description'], 'description'),
    service: optionalText(raw['service'], 'service'),
    phone: optionalPhone(raw['phone']),
    listeRouge: optionalBoolean(raw['listeRouge'], 'listeRouge') ?? false,
    digitization: optionalBoolean(raw['digitization'], 'digitization') ?? false,
    preferredRank: optionalRank(raw['preferredRank']),
  };
}

/** A patch after normalisation: only the keys that were given; null clears. */
export interface NormalisedPatch {
  structureId?: string | null;
  displayName?: string | null;
  description?: string | null;
  service?: string | null;
  responsibleIdNat?: string | null;
  phone?: string | null;
  listeRouge?: boolean;
  digitization?: boolean;
  preferredRank?: number | null;
  certificates?: BalCertificate[];
}

export const PATCH_KEYS = [
  'structureId',
  'displayName',
  'description',
  'service',
  'responsibleIdNat',
  'phone',
  'listeRouge',
  'digitization',
  'preferredRank',
  'certificates',
] as const;

const READ_ONLY: Readonly<Record<string, string>> = {
  status: 'the status changes only through suspend, reactivate and close',
  statusReason: 'the status reason is given with suspend or close',
  members: 'members change only through member add and member remove',
  createdAt: 'timestamps are kept by the registry',
  updatedAt: 'timestamps are kept by the registry',
  suspendedAt: 'timestamps are kept by the registry',
  closedAt: 'timestamps are kept by the registry',
};

function immutable(field: string, why: string): never {
  throw new ValidationError(field, 'bal.immutable', `${field} cannot be changed after creation: ${why}`);
}

/**
 * Checks and normalises an update patch for a BAL of type `type`. Refuses the immutable
 * identity (address, type, holder of a PER/CAB BAL, structure of an ORG/APP BAL) with
 * `bal.immutable`, read-only fields, unknown fields, fields the type does not take, and
 * null for a required field. An empty patch is refused (`bal.patch.empty`).
 */
export function normalisePatch(input: unknown, type: BalType): NormalisedPatch {
  const raw = requireObject(input, 'patch');
  const keys = Object.keys(raw).filter((k) => raw[k] !== undefined);
  for (const key of keys) {
    if (key === 'address')
      immutable('address', 'a BAL address is permanent (close the BAL and open a new address)');
    if (key === 'type') immutable('type', 'the type of a BAL is fixed (close it and open a new address)');
    if (key === 'holderIdNat') {
      immutable(
        'holderIdNat',
        'the holder is the key identity of a nominative BAL; giving it to someone else would reassign the address',
      );
    }
    if (key === 'structureId' && TYPE_FIELDS[type].structureId === 'required') {
      immutable(
        'structureId',
        `the structure is the key identity of ${aBal(type)} (close it and open a new address for another structure)`,
      );
    }
    const readOnly = READ_ONLY[key];
    if (readOnly) {
      throw new ValidationError(key, 'bal.field.read-only', `${key} cannot be set by an update: ${readOnly}`);
    }
    if (!(PATCH_KEYS as readonly string[]).includes(key)) {
      throw new ValidationError(
        key,
        'bal.field.unknown',
        `unknown field ${show(key)} (an update may set: ${PATCH_KEYS.join(', ')})`,
      );
    }
  }
  if (keys.length === 0) {
    throw new ValidationError(
      'patch',
      'bal.patch.empty',
      `nothing to update: give at least one of ${PATCH_KEYS.join(', ')}`,
    );
  }
  const has = (k: string) => keys.includes(k);
  const out: NormalisedPatch = {};
  const rules = TYPE_FIELDS[type];
  const typed = (field: 'structureId' | 'responsibleIdNat' | 'certificates') => {
    const v = raw[field];
    if (rules[field] === 'refused') {
      if (!notGiven(v)) refuseFieldForType(type, field);
      return false;
    }
    if (v === null && rules[field] === 'required') requiredField(type, field);
    return true;
  };
  if (has('structureId') && typed('structureId')) {
    out.structureId =
      isAbsent(raw['structureId']) || raw['structureId'] === '' ? null : structureIdValue(raw['structureId']);
  }
  if (has('responsibleIdNat') && typed('responsibleIdNat')) {
    out.responsibleIdNat = idNatValue(raw['responsibleIdNat'], 'responsibleIdNat');
  }
  if (has('certificates') && typed('certificates')) {
    out.certificates = raw['certificates'] === null ? [] : normaliseCertificates(raw['certificates']);
  }
  for (const field of ['displayName', 'description', 'service'] as const) {
    if (has(field)) out[field] = optionalText(raw[field], field);
  }
  if (has('phone')) out.phone = optionalPhone(raw['phone']);
  if (has('listeRouge')) out.listeRouge = optionalBoolean(raw['listeRouge'], 'listeRouge')!;
  if (has('digitization')) out.digitization = optionalBoolean(raw['digitization'], 'digitization')!;
  if (has('preferredRank')) out.preferredRank = optionalRank(raw['preferredRank']);
  return out;
}
