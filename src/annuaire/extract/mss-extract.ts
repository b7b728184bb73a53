import { checkBalAddress } from '../../domain/identifiers.ts';
import type { DirectoryMailboxesTable } from '../../store/schema/directory.ts';
import { searchKey } from '../search-key.ts';

/*
 * Parser of `Extraction_Correspondance_MSSante`, the public extract of every BAL of the trust
 * space (spec §9): UTF-8, `|`-separated, one header line, 31 columns in a fixed order. Pure: takes
 * the text of a line, returns a row for `directory_mailboxes` (without its snapshot id) or why the
 * line is rejected. Also holds the field splitting shared with the PS_LibreAcces parser.
 */

/** A parsed data line: the row, or the reason it is rejected. */
export type RowResult<T> = { row: T } | { rejected: string };

/** The header check: what a format needs to read its rows, or why the header is not this format's. */
export type HeaderResult<L> = { ok: true; layout: L } | { ok: false; reason: string };

/**
 * Splits a line on `|`. One trailing empty field more than `expected` is a trailing `|` and is
 * dropped (the PS_LibreAcces files end every line with one). Returns the reason when the count is wrong.
 */
export function splitFields(text: string, expected: number): string[] | string {
  const fields = text.split('|');
  if (fields.length === expected + 1 && fields[expected] === '') fields.pop();
  if (fields.length !== expected) {
    if (text === '') return 'empty line';
    if (text.endsWith('|')) return `expected ${expected} fields, found ${fields.length - 1} and a trailing |`;
    return `expected ${expected} fields, found ${fields.length}`;
  }
  return fields;
}

/** Header names, with one trailing empty name (a trailing `|`) dropped. */
export function splitHeader(text: string): string[] {
  const names = text.split('|');
  if (names.length > 1 && names.at(-1) === '') names.pop();
  return names;
}

/** A field's value: surrounding spaces removed; empty → null. */
export function nullIfEmpty(value: string): string | null {
  const v = value.trim();
  return v === '' ? null : v;
}

/** The 31 columns of Extraction_Correspondance_MSSante, in order, with the table column each goes to. */
const MSS_LAYOUT = [
  ['Type de BAL', 'bal_type'],
  ['Adresse BAL', 'address'],
  ['Type Identifiant PP', 'pp_id_type'],
  ['Identifiant PP', 'pp_id'],
  ['Identification nationale PP', 'id_nat'],
  ['Type identifiant structure', 'structure_id_type'],
  ['Identification Structure', 'structure_id'],
  ['Service de rattachement', 'service'],
  ["Civilité d'exercice", 'civility'],
  ["Nom d'exercice", 'last_name'],
  ["Prénom d'exercice", 'first_name'],
  ['Catégorie profession', 'category_code'],
  ['Libellé de catégorie profession', 'category_label'],
  ['Code Profession', 'profession_code'],
  ['Libellé Profession', 'profession_label'],
  ['Code savoir-faire', 'skill_code'],
  ['Libellé savoir-faire', 'skill_label'],
  ['Dématérialisation', 'digitization'],
  ['Raison Sociale structure BAL', 'org_name'],
  ['Enseigne commerciale structure BAL', 'org_trade_name'],
  ['L2COMPLEMENTLOCALISATION', 'addr_complement'],
  ['L3COMPLEMENTDISTRIBUTION', 'addr_distribution'],
  ['L4NUMEROVOIE', 'addr_number'],
  ['L4COMPLEMENTNUMEROVOIE', 'addr_number_complement'],
  ['NL4TYPEVOIE', 'addr_street_type'],
  ['L4LIBELLEVOIE', 'addr_street'],
  ['L5LIEUDITMENTION', 'addr_locality'],
  ['L6LIGNEACHEMINEMENT', 'addr_routing'],
  ['Code postal', 'postal_code'],
  ['Département', 'department'],
  ['Pays', 'country'],
] as const satisfies readonly (readonly [string, keyof DirectoryMailboxesTable])[];

export const MSS_COLUMNS: readonly string[] = MSS_LAYOUT.map(([name]) => name);
export type MssColumn = (typeof MSS_LAYOUT)[number][0];

/** A row of `directory_mailboxes` as read from the extract. */
export type MailboxRow = Omit<DirectoryMailboxesTable, 'snapshot_id'>;

/** BAL types of the extract (spec §2). */
export const BAL_TYPES: readonly string[] = ['PER', 'ORG', 'APP', 'CAB'];

/** Whether a header is meant to be this format (even a wrong version of it): it names the BAL columns. */
export function looksLikeMssHeader(text: string): boolean {
  const names = splitHeader(text);
  return names[0] === 'Type de BAL' || names.includes('Adresse BAL');
}

/** Checks the header: exactly the 31 names, in order (a trailing `|` is allowed). */
export function checkMssHeader(text: string): HeaderResult<null> {
  const names = splitHeader(text);
  for (let i = 0; i < Math.max(names.length, MSS_COLUMNS.length); i++) {
    const want = MSS_COLUMNS[i];
    const got = names[i];
    if (got === want) continue;
    const at = `column ${i + 1}`;
    if (want === undefined) {
      return {
        ok: false,
        reason: `Extraction_Correspondance_MSSante header: expected ${MSS_COLUMNS.length} columns, found ${names.length} (extra ${at} ${JSON.stringify(got)})`,
      };
    }
    if (got === undefined) {
      return {
        ok: false,
        reason: `Extraction_Correspondance_MSSante header: expected ${MSS_COLUMNS.length} columns, found ${names.length} (${at} ${JSON.stringify(want)} is missing)`,
      };
    }
    return {
      ok: false,
      reason: `Extraction_Correspondance_MSSante header: ${at} should be ${JSON.stringify(want)}, found ${JSON.stringify(got)}`,
    };
  }
  return { ok: true, layout: null };
}

/** Parses one data line of the extract. */
export function parseMssRow(text: string): RowResult<MailboxRow> {
  const fields = splitFields(text, MSS_LAYOUT.length);
  if (typeof fields === 'string') return { rejected: fields };
  const row = {} as Record<keyof MailboxRow, string | null>;
  for (let i = 0; i < MSS_LAYOUT.length; i++) row[MSS_LAYOUT[i]![1]] = nullIfEmpty(fields[i]!);

  const balType = row.bal_type;
  if (balType === null) return { rejected: 'empty BAL type (Type de BAL)' };
  if (!BAL_TYPES.includes(balType)) {
    return { rejected: `unknown BAL type ${JSON.stringify(balType)} (expected ${BAL_TYPES.join(', ')})` };
  }
  if (row.address === null) return { rejected: 'empty BAL address (Adresse BAL)' };
  const address = checkBalAddress(row.address);
  if (!address.ok) return { rejected: `invalid BAL address: ${address.reason}` };
  row.address = address.value.address;

  if (row.last_name !== null || row.first_name !== null) {
    const keys = nameKeys(row.last_name, row.first_name);
    row.name_key = keys.name_key;
    row.given_key = keys.given_key;
  } else {
    // A BAL without a person (ORG, APP) is found under its structure then its service, and
    // under its service first too, so that "cardiologie" finds every cardiology BAL.
    const structure = row.org_name ?? row.org_trade_name;
    row.name_key = keyOf(structure, row.service);
    row.given_key = row.service && keyOf(row.service, structure);
  }
  return { row: row as MailboxRow };
}

/** name_key ("last first") and given_key ("first last") of a person; null when empty. */
export function nameKeys(
  last: string | null,
  first: string | null,
): { name_key: string | null; given_key: string | null } {
  const l = last === null ? '' : searchKey(last);
  const f = first === null ? '' : searchKey(first);
  return { name_key: joinKeys(l, f), given_key: joinKeys(f, l) };
}

/** Search key of the non-null parts joined by a space; null when it is empty. */
function keyOf(...parts: (string | null)[]): string | null {
  return searchKey(parts.filter((p) => p !== null).join(' ')) || null;
}

/** Two search keys joined as searchKey(`${a} ${b}`) would (a key never starts or ends with a space). */
function joinKeys(a: string, b: string): string | null {
  return (a && b ? `${a} ${b}` : a || b) || null;
}
