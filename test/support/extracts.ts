import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import { MSS_COLUMNS, type MssColumn } from '../../src/annuaire/extract/mss-extract.ts';
import { luhnKey } from '../../src/domain/identifiers.ts';

/*
 * Deterministic synthetic extracts of the Annuaire Santé in the exact published formats
 * (spec §9): Extraction_Correspondance_MSSante (31 columns) and PS_LibreAcces_Personne_activite
 * (56 columns, every line ending with `|`). Row i is always the same row. Files are written as a
 * stream, so the bench can write 500k rows without holding them.
 */

/** Names of the text entries in generated zips, as the ANS names them. */
export const MSS_ENTRY = 'Extraction_Correspondance_MSSante_20250313.txt';
export const PS_ENTRY = 'PS_LibreAcces_Personne_activite_202503130000.txt';

/** A data line: its fields (joined with `|`), or the raw text of the line (for malformed lines). */
export type ExtractRow = readonly string[] | string;

export interface WriteExtractOptions {
  /** CRLF line ends instead of LF. */
  crlf?: boolean;
  /** Write a zip holding the text as one entry (named like the ANS files unless entryName is given). */
  zip?: boolean;
  entryName?: string;
  /** Other entries of the zip (e.g. a second .txt, a .pdf). */
  extraEntries?: { name: string; text: string }[];
  /** A UTF-8 byte-order mark before the header. */
  bom?: boolean;
  /** Header line to write instead of the format's. */
  header?: string;
}

// ---------------------------------------------------------------------------------------------
// Identifiers

/** A valid RPPS (11 digits, Luhn) for row i. */
export function rppsFor(i: number): string {
  const body = `1${String(i).padStart(9, '0')}`;
  return body + luhnKey(body);
}

/** The idNat of professional i: '8' + RPPS. */
export function idNatFor(i: number): string {
  return `8${rppsFor(i)}`;
}

/** A valid ADELI-based idNat ('0' + 9 digits) for row i. */
export function adeliIdNatFor(i: number): string {
  return `0${String(750000000 + i)}`;
}

/** A valid FINESS (9 digits, Luhn) for structure s. */
export function finessFor(s: number): string {
  const body = `${String(10 + (s % 80)).padStart(2, '0')}${String(s).padStart(6, '0')}`;
  return body + luhnKey(body);
}

// ---------------------------------------------------------------------------------------------
// Names

export const LAST_NAMES = [
  'Lefèvre',
  "D'Arc-Lévêque",
  'Martin',
  'Dupré',
  'Bénard',
  'Müller',
  'Çelik',
  'Nguyen',
  'Garçon',
  'Le Bœuf',
  'Petit',
  'Rousseau',
];
export const FIRST_NAMES = [
  'Élodie',
  'Zoë',
  'Jérôme',
  'François',
  'Anaïs',
  'Hélène',
  'Noël',
  'Chloé',
  'Loïc',
  'Maëlys',
  'Paul',
];
const SERVICES = ['Cardiologie', 'Urgences', 'Pédiatrie', 'Secrétariat médical', 'Laboratoire'];
const STRUCTURES = [
  'Centre hospitalier de Sèvres',
  'Clinique Sainte-Thérèse',
  'EHPAD Les Érables',
  'CHU de Besançon',
];
const CITIES = [
  ['92310', '92', 'SEVRES'],
  ['25000', '25', 'BESANCON'],
  ['75015', '75', 'PARIS'],
  ['97400', '974', 'SAINT-DENIS'],
] as const;

/** Lower-case ASCII for an address local part: "D'Arc-Lévêque" → "darc-leveque". */
function ascii(s: string): string {
  return s
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .replace(/œ/gi, 'oe')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '');
}

// ---------------------------------------------------------------------------------------------
// Extraction_Correspondance_MSSante

/**
 * BAL i: mostly PER (a professional with an RPPS), every 7th an ORG (a service of a structure),
 * every 50th an APP, every 97th a CAB. Many columns are empty as in the real file; every 11th
 * address has capitals (the importer lower-cases addresses).
 */
export function mssRow(i: number, over: Partial<Record<MssColumn, string>> = {}): string[] {
  const s = i % 13;
  const structure = STRUCTURES[s % STRUCTURES.length]!;
  const [postal, dept, city] = CITIES[s % CITIES.length]!;
  const domain = `${ascii(structure.split(' ').at(-1)!)}${s}.mssante.fr`;
  const type = i % 50 === 49 ? 'APP' : i % 7 === 6 ? 'ORG' : i % 97 === 96 ? 'CAB' : 'PER';
  const v: Record<string, string> = Object.fromEntries(MSS_COLUMNS.map((c) => [c, '']));
  v['Type de BAL'] = type;
  v['Type identifiant structure'] = '1';
  v['Identification Structure'] = `1${finessFor(s)}`;
  v['Raison Sociale structure BAL'] = structure;
  v['Dématérialisation'] = i % 3 === 0 ? 'true' : '';
  v['L4NUMEROVOIE'] = String(1 + (i % 120));
  v['NL4TYPEVOIE'] = 'R';
  v['L4LIBELLEVOIE'] = 'de la Procession';
  v['L6LIGNEACHEMINEMENT'] = `${postal} ${city}`;
  v['Code postal'] = postal;
  v['Département'] = dept;
  v['Pays'] = i % 5 === 0 ? '' : 'FRANCE';
  if (type === 'PER' || type === 'CAB') {
    const last = LAST_NAMES[i % LAST_NAMES.length]!;
    const first = FIRST_NAMES[i % FIRST_NAMES.length]!;
    v['Type Identifiant PP'] = '8';
    v['Identifiant PP'] = rppsFor(i);
    v['Identification nationale PP'] = idNatFor(i);
    v["Civilité d'exercice"] = i % 4 === 0 ? '' : 'DR';
    v["Nom d'exercice"] = last.toUpperCase();
    v["Prénom d'exercice"] = first;
    v['Catégorie profession'] = 'C';
    v['Libellé de catégorie profession'] = 'Civil';
    v['Code Profession'] = '10';
    v['Libellé Profession'] = 'Médecin';
    v['Code savoir-faire'] = i % 2 ? 'SM54' : '';
    v['Libellé savoir-faire'] = i % 2 ? 'Médecine générale (SM)' : '';
    const local = `${ascii(first)}.${ascii(last)}.${i}`;
    v['Adresse BAL'] = `${i % 11 === 10 ? local.toUpperCase() : local}@${domain}`;
  } else {
    const service = SERVICES[i % SERVICES.length]!;
    v['Service de rattachement'] = type === 'ORG' ? service : '';
    v['Adresse BAL'] = type === 'ORG' ? `${ascii(service)}.${i}@${domain}` : `dpi.${i}@${domain}`;
  }
  for (const [k, value] of Object.entries(over)) v[k] = value;
  return MSS_COLUMNS.map((c) => v[c]!);
}

/** The value of a column in a row made by {@link mssRow}. */
export function mssField(row: readonly string[], column: MssColumn): string {
  return row[MSS_COLUMNS.indexOf(column)]!;
}

export function writeMssExtract(
  path: string,
  rowsOrCount: number | Iterable<ExtractRow>,
  opts: WriteExtractOptions = {},
): Promise<void> {
  const rows = typeof rowsOrCount === 'number' ? generate(rowsOrCount, mssRow) : rowsOrCount;
  return writeExtract(path, opts.header ?? MSS_COLUMNS.join('|'), rows, false, {
    entryName: MSS_ENTRY,
    ...opts,
  });
}

// ---------------------------------------------------------------------------------------------
// PS_LibreAcces_Personne_activite

/** The header of the current PS_LibreAcces_Personne_activite files (56 columns). */
export const PS_COLUMNS = [
  "Type d'identifiant PP",
  'Identifiant PP',
  'Identification nationale PP',
  "Code civilité d'exercice",
  "Libellé civilité d'exercice",
  'Code civilité',
  'Libellé civilité',
  "Nom d'exercice",
  "Prénom d'exercice",
  'Code profession',
  'Libellé profession',
  'Code catégorie professionnelle',
  'Libellé catégorie professionnelle',
  'Code type savoir-faire',
  'Libellé type savoir-faire',
  'Code savoir-faire',
  'Libellé savoir-faire',
  'Code mode exercice',
  'Libellé mode exercice',
  'Numéro SIRET site',
  'Numéro SIREN site',
  'Numéro FINESS site',
  'Numéro FINESS établissement juridique',
  'Identifiant technique de la structure',
  'Raison sociale site',
  'Enseigne commerciale site',
  'Complément destinataire (coord. structure)',
  'Complément point géographique (coord. structure)',
  'Numéro Voie (coord. structure)',
  'Indice répétition voie (coord. structure)',
  'Code type de voie (coord. structure)',
  'Libellé type de voie (coord. structure)',
  'Libellé Voie (coord. structure)',
  'Mention distribution (coord. structure)',
  'Bureau cedex (coord. structure)',
  'Code postal (coord. structure)',
  'Code commune (coord. structure)',
  'Libellé commune (coord. structure)',
  'Code pays (coord. structure)',
  'Libellé pays (coord. structure)',
  'Téléphone (coord. structure)',
  'Téléphone 2 (coord. structure)',
  'Télécopie (coord. structure)',
  'Adresse e-mail (coord. structure)',
  'Code département (coord. structure)',
  'Libellé département (coord. structure)',
  'Ancien identifiant de la structure',
  "Autorité d'enregistrement",
  "Code secteur d'activité",
  "Libellé secteur d'activité",
  'Code section tableau pharmaciens',
  'Libellé section tableau pharmaciens',
  'Code fonction',
  'Libellé fonction',
  "Code genre d'activité",
  "Libellé genre d'activité",
] as const;
export type PsColumn = (typeof PS_COLUMNS)[number];

/**
 * Activity `a` of professional p: RPPS (ADELI for every 9th professional), names with accents,
 * a salaried activity in a FINESS site for a = 0, a liberal practice (SIRET, no FINESS) for a ≥ 1.
 */
export function psRow(p: number, a = 0, over: Partial<Record<PsColumn, string>> = {}): string[] {
  const v: Record<string, string> = Object.fromEntries(PS_COLUMNS.map((c) => [c, '']));
  const adeli = p % 9 === 8;
  const idNat = adeli ? adeliIdNatFor(p) : idNatFor(p);
  const s = (p + a) % 13;
  const [postal, dept, city] = CITIES[s % CITIES.length]!;
  v["Type d'identifiant PP"] = adeli ? '0' : '8';
  v['Identifiant PP'] = idNat.slice(1);
  v['Identification nationale PP'] = idNat;
  v["Code civilité d'exercice"] = p % 3 ? 'DR' : '';
  v["Libellé civilité d'exercice"] = p % 3 ? 'Docteur' : '';
  v['Code civilité'] = p % 2 ? 'M' : 'MME';
  v['Libellé civilité'] = p % 2 ? 'Monsieur' : 'Madame';
  v["Nom d'exercice"] = LAST_NAMES[p % LAST_NAMES.length]!.toUpperCase();
  v["Prénom d'exercice"] = FIRST_NAMES[p % FIRST_NAMES.length]!;
  v['Code profession'] = adeli ? '60' : '10';
  v['Libellé profession'] = adeli ? 'Infirmier' : 'Médecin';
  v['Code catégorie professionnelle'] = 'C';
  v['Libellé catégorie professionnelle'] = 'Civil';
  if (a === 0) {
    v['Code mode exercice'] = 'S';
    v['Libellé mode exercice'] = 'Salarié';
    v['Numéro FINESS site'] = finessFor(s);
    v['Numéro FINESS établissement juridique'] = finessFor(s + 100);
    v['Identifiant technique de la structure'] = `F${finessFor(s)}`;
    v['Raison sociale site'] = STRUCTURES[s % STRUCTURES.length]!;
    v['Code fonction'] = p % 4 === 0 ? 'FON-05' : '';
    v['Libellé fonction'] = p % 4 === 0 ? 'Médecin coordonnateur' : '';
  } else {
    const siret = `4${String(p).padStart(8, '0')}0001`;
    v['Code mode exercice'] = 'L';
    v['Libellé mode exercice'] = 'Libéral';
    v['Numéro SIRET site'] = siret + luhnKey(siret);
    v['Identifiant technique de la structure'] = `C${idNat}${a}`;
    v['Raison sociale site'] = `CABINET DU DR ${v["Nom d'exercice"]}`;
  }
  v['Libellé Voie (coord. structure)'] = 'DE LA RÉPUBLIQUE';
  v['Code postal (coord. structure)'] = postal;
  v['Libellé commune (coord. structure)'] = city;
  v['Code département (coord. structure)'] = dept;
  v['Téléphone (coord. structure)'] = p % 2 ? `01${String(p).padStart(8, '0')}` : '';
  v['Adresse e-mail (coord. structure)'] = p % 5 === 0 ? `contact${s}@example.org` : '';
  for (const [k, value] of Object.entries(over)) v[k] = value;
  return PS_COLUMNS.map((c) => v[c]!);
}

/** Activities per professional in generated PS files: 2 for every 3rd professional, else 1. */
export function psActivities(p: number): number {
  return p % 3 === 0 ? 2 : 1;
}

/** The first `count` lines of a generated PS file (professionals 0, 1, … with their activities). */
export function* psRows(count: number): Generator<string[]> {
  let n = 0;
  for (let p = 0; n < count; p++) {
    for (let a = 0; a < psActivities(p) && n < count; a++, n++) yield psRow(p, a);
  }
}

export function writePsExtract(
  path: string,
  rowsOrCount: number | Iterable<ExtractRow>,
  opts: WriteExtractOptions = {},
): Promise<void> {
  const rows = typeof rowsOrCount === 'number' ? psRows(rowsOrCount) : rowsOrCount;
  return writeExtract(path, opts.header ?? `${PS_COLUMNS.join('|')}|`, rows, true, {
    entryName: PS_ENTRY,
    ...opts,
  });
}

// ---------------------------------------------------------------------------------------------
// Awkward lines

/** A line cut after `keep` fields (too few fields). */
export function truncated(fields: readonly string[], keep = 10): string {
  return fields.slice(0, keep).join('|');
}

/** The same row with one column replaced. */
export function withField(fields: readonly string[], index: number, value: string): string[] {
  const copy = [...fields];
  copy[index] = value;
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Writing

function* generate(count: number, row: (i: number) => string[]): Generator<string[]> {
  for (let i = 0; i < count; i++) yield row(i);
}

/** The file's text, in chunks of about 64 KiB. */
function* chunks(
  header: string,
  rows: Iterable<ExtractRow>,
  trailingPipe: boolean,
  opts: WriteExtractOptions,
): Generator<string> {
  const eol = opts.crlf ? '\r\n' : '\n';
  let buf = (opts.bom ? '\uFEFF' : '') + header + eol;
  for (const row of rows) {
    buf += (typeof row === 'string' ? row : row.join('|') + (trailingPipe ? '|' : '')) + eol;
    if (buf.length >= 65_536) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}

async function writeExtract(
  path: string,
  header: string,
  rows: Iterable<ExtractRow>,
  trailingPipe: boolean,
  opts: WriteExtractOptions & { entryName: string },
): Promise<void> {
  const text = Readable.from(chunks(header, rows, trailingPipe, opts), { objectMode: false });
  if (!opts.zip) {
    await pipeline(text, createWriteStream(path));
    return;
  }
  const zip = new yazl.ZipFile();
  zip.addReadStream(text, opts.entryName);
  for (const extra of opts.extraEntries ?? []) zip.addBuffer(Buffer.from(extra.text), extra.name);
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(path));
}
