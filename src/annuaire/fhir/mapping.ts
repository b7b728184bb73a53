import type { ActivityRecord, MailboxRecord, ProfessionalRecord } from '../types.ts';

/*
 * Pure mapping of Annuaire Santé FHIR R4 resources (API v2) to the directory's records.
 * No I/O: takes parsed JSON (untrusted, so every field is checked), returns records.
 *
 * Shapes, from the ANS material we could read:
 * - IG "Annuaire Santé" (github.com/ansforge/IG-fhir-annuaire, v1.1.0):
 *   input/fsh/extensions/ASMailboxMetadataExtension.fsh — extension `as-ext-mailbox-mss-metadata`
 *   on ContactPoint with sub-extensions type (valueCodeableConcept, JDV_J139 / TRE_R257 codes
 *   PER|ORG|APP|CAB), description, responsible, service, phone (valueString), listeRouge
 *   (valueBoolean); input/fsh/examples/BAL/AsExamplePractitionerBalMssPer.fsh and the generated
 *   example pages pp16dr-practitioner (Practitioner with identifier system
 *   urn:oid:1.2.250.1.71.4.2.1 type IDNPS = idNat, plus https://rpps.esante.gouv.fr = RPPS; name
 *   use usual/official, family, given, prefix; telecom system email with the
 *   fr-core-contact-point-email-type extension code MSSANTE, the metadata extension and rank)
 *   and example-organization-nancy (Organization identifier urn:oid:1.2.250.1.71.4.2.2 type IDNST
 *   = "1" + FINESS, FINESS EG type FINEG; an ORG BAL whose metadata also carries
 *   `digitization`); PP16DR-PractitionerRole.fsh (PractitionerRole.practitioner and
 *   .organization are references); AsPractitionerRoleNameExtension.fsh (exercise name on the role).
 * - ANS draft OpenAPI "API FHIR MSS" (../shared/spec/openapi-balmss.yaml): same extension; its
 *   schema lists `valueCode` for type while its examples use valueCodeableConcept: both are read.
 * - SearchParameter as-sp-mailbox-mss (string on telecom.value, modifiers exact/contains) for the
 *   client's searches.
 * BALs whose metadata says listeRouge = true are never returned (liste rouge: not published).
 */

export const IDNAT_PS_SYSTEM = 'urn:oid:1.2.250.1.71.4.2.1';
export const IDNAT_STRUCTURE_SYSTEM = 'urn:oid:1.2.250.1.71.4.2.2';
export const MAILBOX_METADATA_URL =
  'https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata';
export const EMAIL_TYPE_URL =
  'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-contact-point-email-type';
const ROLE_NAME_EXTENSION = 'StructureDefinition/as-ext-practitionerrole-name';

// ---------------------------------------------------------------------------------------------
// Minimal FHIR JSON types (only what is read; everything optional because input is untrusted)

export interface FhirCoding {
  system?: string;
  code?: string;
  display?: string;
}
export interface FhirCodeableConcept {
  coding?: FhirCoding[];
  text?: string;
}
export interface FhirExtension {
  url?: string;
  extension?: FhirExtension[];
  valueString?: string;
  valueBoolean?: boolean;
  valueCode?: string;
  valueCoding?: FhirCoding;
  valueCodeableConcept?: FhirCodeableConcept;
  valueHumanName?: FhirHumanName;
}
export interface FhirIdentifier {
  system?: string;
  value?: string;
  type?: FhirCodeableConcept;
}
export interface FhirContactPoint {
  system?: string;
  value?: string;
  rank?: number;
  extension?: FhirExtension[];
}
export interface FhirHumanName {
  use?: string;
  family?: string;
  given?: string[];
  prefix?: string[];
  suffix?: string[];
}
export interface FhirAddress {
  city?: string;
  postalCode?: string;
  district?: string;
}
export interface FhirReference {
  reference?: string;
  display?: string;
}
export interface FhirResource {
  resourceType?: string;
  id?: string;
  identifier?: FhirIdentifier[];
  telecom?: FhirContactPoint[];
  extension?: FhirExtension[];
}
export interface FhirPractitioner extends FhirResource {
  resourceType?: string;
  name?: FhirHumanName[];
  qualification?: { code?: FhirCodeableConcept }[];
}
export interface FhirPractitionerRole extends FhirResource {
  resourceType?: string;
  active?: boolean;
  practitioner?: FhirReference;
  organization?: FhirReference;
  code?: FhirCodeableConcept[];
  specialty?: FhirCodeableConcept[];
}
export interface FhirOrganization extends FhirResource {
  resourceType?: string;
  name?: string;
  alias?: string[];
  address?: FhirAddress[];
}
export interface FhirBundle {
  resourceType?: string;
  type?: string;
  total?: number;
  entry?: { fullUrl?: string; resource?: FhirResource; search?: { mode?: string } }[];
}

// ---------------------------------------------------------------------------------------------
// Small readers

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);
const arr = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v : []);

/** Extension urls are compared on their StructureDefinition path, so http/https or host variants still match. */
function sameExtension(url: string | undefined, wanted: string): boolean {
  if (typeof url !== 'string') return false;
  if (url === wanted) return true;
  const tail = wanted.slice(wanted.indexOf('StructureDefinition/'));
  return url.endsWith(tail);
}

function codings(concepts: (FhirCodeableConcept | undefined)[]): FhirCoding[] {
  return concepts.flatMap((c) => arr(c?.coding)).filter((c) => c && typeof c === 'object');
}

/** First coding whose system names the given terminology (e.g. "TRE_G15-ProfessionSante"). */
function codingFrom(list: FhirCoding[], terminology: string): FhirCoding | null {
  return list.find((c) => typeof c.system === 'string' && c.system.includes(terminology)) ?? null;
}

function identifierTyped(resource: FhirResource, system: string, typeCode: string): string | null {
  for (const id of arr(resource.identifier)) {
    const code = arr(id?.type?.coding).some((c) => c?.code === typeCode);
    if ((id?.system === system || code) && str(id?.value)) return str(id.value);
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Mailboxes

export interface MailboxMetadata {
  type: string | null;
  description: string | null;
  service: string | null;
  responsible: string | null;
  phone: string | null;
  listeRouge: boolean | null;
  digitization: boolean | null;
}

/** The as-ext-mailbox-mss-metadata of a ContactPoint, or null when it has none. */
export function mailboxMetadata(cp: FhirContactPoint): MailboxMetadata | null {
  const ext = arr(cp.extension).find((e) => sameExtension(e?.url, MAILBOX_METADATA_URL));
  if (!ext) return null;
  const sub = (name: string) => arr(ext.extension).find((e) => e?.url === name);
  const type = sub('type');
  const typeCode =
    str(type?.valueCode) ??
    str(arr(type?.valueCodeableConcept?.coding).find((c) => str(c?.code))?.code) ??
    str(type?.valueCoding?.code);
  const bool = (name: string) => {
    const v = sub(name)?.valueBoolean;
    return typeof v === 'boolean' ? v : null;
  };
  return {
    type: typeCode ? typeCode.toUpperCase() : null,
    description: str(sub('description')?.valueString),
    service: str(sub('service')?.valueString),
    responsible: str(sub('responsible')?.valueString),
    phone: str(sub('phone')?.valueString),
    listeRouge: bool('listeRouge'),
    digitization: bool('digitization'),
  };
}

/** An MSSanté BAL: an email ContactPoint with the mailbox metadata or the MSSANTE email type. */
export function isMssMailbox(cp: FhirContactPoint): boolean {
  if (!cp || typeof cp !== 'object' || cp.system !== 'email' || !str(cp.value)) return false;
  if (mailboxMetadata(cp)) return true;
  return arr(cp.extension).some(
    (e) => sameExtension(e?.url, EMAIL_TYPE_URL) && e.valueCoding?.code?.toUpperCase() === 'MSSANTE',
  );
}

// ---------------------------------------------------------------------------------------------
// Identities

/** idNat of a Practitioner: identifier of system urn:oid:1.2.250.1.71.4.2.1 (type IDNPS). */
export function idNatOf(p: FhirPractitioner): string | null {
  return identifierTyped(p, IDNAT_PS_SYSTEM, 'IDNPS');
}

interface StructureIds {
  structureId: string | null;
  finessSite: string | null;
  finessEj: string | null;
  siret: string | null;
}

/** Structure ids of an Organization: idNatSt (urn:oid:1.2.250.1.71.4.2.2, '1'+FINESS / '3'+SIRET), FINESS EG/EJ, SIRET. */
export function structureIdsOf(org: FhirOrganization): StructureIds {
  let finessSite: string | null = null;
  let finessEj: string | null = null;
  let siret: string | null = null;
  for (const id of arr(org.identifier)) {
    const value = str(id?.value);
    if (!value) continue;
    const codes = arr(id.type?.coding).map((c) => c?.code);
    const system = typeof id.system === 'string' ? id.system.toLowerCase() : '';
    if (codes.includes('FINEG') && !finessSite) finessSite = value;
    else if (codes.includes('FINEJ') && !finessEj) finessEj = value;
    else if (codes.includes('SIRET') && !siret) siret = value;
    else if (codes.length === 0 && system.includes('finess') && !finessSite) finessSite = value;
    else if (codes.length === 0 && system.includes('sirene') && /^\d{14}$/.test(value) && !siret)
      siret = value;
  }
  const natSt = identifierTyped(org, IDNAT_STRUCTURE_SYSTEM, 'IDNST');
  const structureId = natSt ?? (finessSite ? `1${finessSite}` : siret ? `3${siret}` : null);
  return { structureId, finessSite, finessEj, siret };
}

interface PersonName {
  civility: string | null;
  lastName: string | null;
  firstName: string | null;
}

function personName(name: FhirHumanName | undefined): PersonName {
  return {
    // suffix = civilité d'exercice (DR…), prefix = civilité (M, MME).
    civility: str(arr(name?.suffix)[0]) ?? str(arr(name?.prefix)[0]),
    lastName: str(name?.family),
    firstName: str(arr(name?.given).join(' ')),
  };
}

/** The exercise name of a Practitioner: use 'usual', else 'official', else the first. */
export function practitionerName(p: FhirPractitioner): PersonName {
  const names = arr(p.name).filter((n) => n && typeof n === 'object');
  const chosen = names.find((n) => n.use === 'usual') ?? names.find((n) => n.use === 'official') ?? names[0];
  return personName(chosen);
}

function roleName(role: FhirPractitionerRole): PersonName | null {
  const ext = arr(role.extension).find((e) => sameExtension(e?.url, ROLE_NAME_EXTENSION));
  return ext?.valueHumanName ? personName(ext.valueHumanName) : null;
}

function professionOf(p: FhirPractitioner | null): FhirCoding | null {
  if (!p) return null;
  return codingFrom(codings(arr(p.qualification).map((q) => q?.code)), 'TRE_G15-ProfessionSante');
}

// ---------------------------------------------------------------------------------------------
// Resource index (matches and _include'd resources of a Bundle)

export interface ResourceIndex {
  /** Resolves "Practitioner/123" (relative or absolute) to the resource in the bundle. */
  resolve<T extends FhirResource>(ref: FhirReference | undefined, type: string): T | null;
  matches: FhirResource[];
  all: FhirResource[];
}

/** Indexes a searchset Bundle: entries with search.mode 'include' are not matches. */
export function indexBundle(bundle: FhirBundle | null | undefined): ResourceIndex {
  const entries = arr(bundle?.entry).filter((e) => e && typeof e.resource === 'object' && e.resource);
  const all = entries.map((e) => e.resource!);
  const matches = entries.filter((e) => e.search?.mode !== 'include').map((e) => e.resource!);
  const byKey = new Map<string, FhirResource>();
  for (const r of all) if (r.resourceType && r.id) byKey.set(`${r.resourceType}/${r.id}`, r);
  return {
    all,
    matches,
    resolve<T extends FhirResource>(ref: FhirReference | undefined, type: string): T | null {
      const s = str(ref?.reference);
      if (!s) return null;
      const parts = s.split('/').filter(Boolean);
      const id = parts.at(-1);
      const t = parts.at(-2);
      if (!id || t !== type) return null;
      return (byKey.get(`${type}/${id}`) as T | undefined) ?? null;
    },
  };
}

/** Merges several indexes (e.g. a Practitioner search and its PractitionerRole search). */
export function mergeIndexes(...indexes: ResourceIndex[]): ResourceIndex {
  return indexBundle({
    entry: indexes.flatMap((i) => [
      ...i.matches.map((resource) => ({ resource })),
      ...i.all
        .filter((r) => !i.matches.includes(r))
        .map((resource) => ({ resource, search: { mode: 'include' } })),
    ]),
  });
}

// ---------------------------------------------------------------------------------------------
// Records

interface MailboxContext {
  defaultType: string;
  practitioner: FhirPractitioner | null;
  role: FhirPractitionerRole | null;
  organization: FhirOrganization | null;
}

function mailboxRecord(cp: FhirContactPoint, ctx: MailboxContext): MailboxRecord | null {
  if (!isMssMailbox(cp)) return null;
  const meta = mailboxMetadata(cp);
  if (meta?.listeRouge === true) return null;
  const person: PersonName =
    (ctx.role && roleName(ctx.role)) ??
    (ctx.practitioner
      ? practitionerName(ctx.practitioner)
      : { civility: null, lastName: null, firstName: null });
  const org = ctx.organization;
  const address = arr(org?.address)[0];
  return {
    address: str(cp.value)!.toLowerCase(),
    balType: meta?.type ?? ctx.defaultType,
    idNat: ctx.practitioner ? idNatOf(ctx.practitioner) : null,
    structureId: org ? structureIdsOf(org).structureId : null,
    service: meta?.service ?? null,
    civility: person.civility,
    lastName: person.lastName,
    firstName: person.firstName,
    professionLabel: str(professionOf(ctx.practitioner)?.display),
    orgName: str(org?.name) ?? str(ctx.role?.organization?.display),
    postalCode: str(address?.postalCode),
    locality: str(address?.city),
    department: null,
    source: 'fhir',
  };
}

/** The published BALs carried by a Practitioner, PractitionerRole or Organization. */
export function mailboxesOfResource(resource: FhirResource, index: ResourceIndex): MailboxRecord[] {
  const ctx = contextOf(resource, index);
  if (!ctx) return [];
  return arr(resource.telecom)
    .map((cp) => mailboxRecord(cp, ctx))
    .filter((m): m is MailboxRecord => m !== null);
}

function contextOf(resource: FhirResource, index: ResourceIndex): MailboxContext | null {
  switch (resource.resourceType) {
    case 'Practitioner':
      return {
        defaultType: 'PER',
        practitioner: resource as FhirPractitioner,
        role: null,
        organization: null,
      };
    case 'PractitionerRole': {
      const role = resource as FhirPractitionerRole;
      return {
        defaultType: 'PER',
        practitioner: index.resolve<FhirPractitioner>(role.practitioner, 'Practitioner'),
        role,
        organization: index.resolve<FhirOrganization>(role.organization, 'Organization'),
      };
    }
    case 'Organization':
      return {
        defaultType: 'ORG',
        practitioner: null,
        role: null,
        organization: resource as FhirOrganization,
      };
    default:
      return null;
  }
}

/** The BAL `address` (case-insensitive) among the matches of a mailbox-mss search, or null. */
export function mailboxFromBundle(bundle: FhirBundle, address: string): MailboxRecord | null {
  const index = indexBundle(bundle);
  const wanted = address.trim().toLowerCase();
  for (const r of index.matches) {
    const hit = mailboxesOfResource(r, index).find((m) => m.address === wanted);
    if (hit) return hit;
  }
  return null;
}

function activityRecord(role: FhirPractitionerRole, practitioner: FhirPractitioner, index: ResourceIndex) {
  const roleCodes = codings(arr(role.code));
  const profession = codingFrom(roleCodes, 'TRE_G15-ProfessionSante') ?? professionOf(practitioner);
  const category =
    codingFrom(roleCodes, 'TRE_R09-CategorieProfessionnelle') ??
    codingFrom(
      codings(arr(practitioner.qualification).map((q) => q?.code)),
      'TRE_R09-CategorieProfessionnelle',
    );
  const mode = codingFrom(roleCodes, 'TRE_R23-ModeExercice');
  const fonction = codingFrom(roleCodes, 'TRE_R21-Fonction');
  const skill = codings(arr(role.specialty))[0] ?? null;
  const org = index.resolve<FhirOrganization>(role.organization, 'Organization');
  const ids = org
    ? structureIdsOf(org)
    : { structureId: null, finessSite: null, finessEj: null, siret: null };
  const address = arr(org?.address)[0];
  const record: ActivityRecord = {
    professionCode: str(profession?.code),
    professionLabel: str(profession?.display),
    categoryCode: str(category?.code),
    categoryLabel: str(category?.display),
    skillLabel: str(skill?.display),
    // The API often sends codes without display: the code is shown rather than nothing.
    modeLabel: str(mode?.display) ?? str(mode?.code),
    structureId: ids.finessSite ? `1${ids.finessSite}` : ids.siret ? `3${ids.siret}` : ids.structureId,
    finessSite: ids.finessSite,
    finessEj: ids.finessEj,
    siret: ids.siret,
    orgName: str(org?.name) ?? str(role.organization?.display),
    postalCode: str(address?.postalCode),
    city: str(address?.city),
    roleLabel: str(fonction?.display) ?? str(fonction?.code),
  };
  return record;
}

/**
 * The professional with idNat `idNat` from the resources of a Practitioner search and of the
 * PractitionerRole search of that practitioner (with their Organizations _include'd).
 * Null when no Practitioner of the index carries that idNat.
 */
export function professionalFromIndex(index: ResourceIndex, idNat: string): ProfessionalRecord | null {
  const practitioner = index.all.find(
    (r): r is FhirPractitioner =>
      r.resourceType === 'Practitioner' && idNatOf(r as FhirPractitioner) === idNat,
  );
  if (!practitioner) return null;
  const ref = `Practitioner/${practitioner.id}`;
  const roles = index.all.filter(
    (r): r is FhirPractitionerRole =>
      r.resourceType === 'PractitionerRole' &&
      typeof (r as FhirPractitionerRole).practitioner?.reference === 'string' &&
      (r as FhirPractitionerRole).practitioner!.reference!.endsWith(ref),
  );
  const name = practitionerName(practitioner);
  const mailboxes = [practitioner, ...roles].flatMap((r) => mailboxesOfResource(r, index));
  const unique = mailboxes.filter((m, i) => mailboxes.findIndex((x) => x.address === m.address) === i);
  return {
    idNat,
    ppIdType: idNat.startsWith('8') ? 'RPPS' : idNat.startsWith('0') ? 'ADELI' : null,
    ppId: idNat.length > 1 ? idNat.slice(1) : null,
    civility: name.civility,
    lastName: name.lastName,
    firstName: name.firstName,
    activities: roles.filter((r) => r.active !== false).map((r) => activityRecord(r, practitioner, index)),
    mailboxes: unique,
    source: 'fhir',
  };
}
