import type { DirectoryActivitiesTable, DirectoryProfessionalsTable } from '../../store/schema/directory.ts';
import { searchKey } from '../search-key.ts';
import {
  type HeaderResult,
  nameKeys,
  nullIfEmpty,
  type RowResult,
  splitFields,
  splitHeader,
} from './mss-extract.ts';

/*
 * Parser of `PS_LibreAcces_Personne_activite`, the public extract of the professionals (RPPS and
 * ADELI) with one line per activity: UTF-8, `|`-separated, one header line, every line ending
 * with a `|`. Pure: takes the text of a line, returns the professional and the activity it
 * describes, or why the line is rejected.
 *
 * The ANS has added columns over the years (52, then 56 with "Code fonction"…) and spelt a few
 * of them differently, so columns are found by name in the header: names are compared by their
 * search key (case, accents and punctuation ignored), and each table column lists the spellings
 * seen in published files. Only the identity columns are required.
 *
 * Header of the current files (56 columns), as published on annuaire.sante.fr / data.gouv.fr:
 *   Type d'identifiant PP | Identifiant PP | Identification nationale PP | Code civilité d'exercice |
 *   Libellé civilité d'exercice | Code civilité | Libellé civilité | Nom d'exercice | Prénom d'exercice |
 *   Code profession | Libellé profession | Code catégorie professionnelle |
 *   Libellé catégorie professionnelle | Code type savoir-faire | Libellé type savoir-faire |
 *   Code savoir-faire | Libellé savoir-faire | Code mode exercice | Libellé mode exercice |
 *   Numéro SIRET site | Numéro SIREN site | Numéro FINESS site | Numéro FINESS établissement juridique |
 *   Identifiant technique de la structure | Raison sociale site | Enseigne commerciale site |
 *   Complément destinataire (coord. structure) | Complément point géographique (coord. structure) |
 *   Numéro Voie (coord. structure) | Indice répétition voie (coord. structure) |
 *   Code type de voie (coord. structure) | Libellé type de voie (coord. structure) |
 *   Libellé Voie (coord. structure) | Mention distribution (coord. structure) |
 *   Bureau cedex (coord. structure) | Code postal (coord. structure) | Code commune (coord. structure) |
 *   Libellé commune (coord. structure) | Code pays (coord. structure) | Libellé pays (coord. structure) |
 *   Téléphone (coord. structure) | Téléphone 2 (coord. structure) | Télécopie (coord. structure) |
 *   Adresse e-mail (coord. structure) | Code département (coord. structure) |
 *   Libellé département (coord. structure) | Ancien identifiant de la structure |
 *   Autorité d'enregistrement | Code secteur d'activité | Libellé secteur d'activité |
 *   Code section tableau pharmaciens | Libellé section tableau pharmaciens | Code fonction |
 *   Libellé fonction | Code genre d'activité | Libellé genre d'activité |
 * Older files stop after "Libellé section tableau pharmaciens" and say
 * "Code Département (structure)" / "Libellé Département (structure)".
 */

export type ProfessionalRow = Omit<DirectoryProfessionalsTable, 'snapshot_id'>;
export type ActivityRow = Omit<DirectoryActivitiesTable, 'snapshot_id'>;

/** One line: the professional (identity columns) and one of their activities. */
export interface PsRow {
  professional: ProfessionalRow;
  activity: ActivityRow;
}

type ProfessionalColumn = Exclude<keyof ProfessionalRow, 'name_key' | 'given_key'>;
type ActivityColumn = Exclude<keyof ActivityRow, 'id_nat'>;

/** Table column → the header names it is read from (first found wins). */
const PROFESSIONAL_COLUMNS: Record<ProfessionalColumn, readonly string[]> = {
  pp_id_type: ["Type d'identifiant PP"],
  pp_id: ['Identifiant PP'],
  id_nat: ['Identification nationale PP'],
  exercise_civility_code: ["Code civilité d'exercice"],
  exercise_civility_label: ["Libellé civilité d'exercice", 'Libellé civilité exercice'],
  civility_code: ['Code civilité'],
  civility_label: ['Libellé civilité'],
  last_name: ["Nom d'exercice"],
  first_name: ["Prénom d'exercice"],
};

const ACTIVITY_COLUMNS: Record<ActivityColumn, readonly string[]> = {
  profession_code: ['Code profession'],
  profession_label: ['Libellé profession'],
  category_code: ['Code catégorie professionnelle'],
  category_label: ['Libellé catégorie professionnelle'],
  skill_code: ['Code savoir-faire'],
  skill_label: ['Libellé savoir-faire'],
  mode_code: ['Code mode exercice'],
  mode_label: ['Libellé mode exercice'],
  siret: ['Numéro SIRET site'],
  siren: ['Numéro SIREN site'],
  finess_site: ['Numéro FINESS site'],
  finess_ej: ['Numéro FINESS établissement juridique'],
  structure_tech_id: ['Identifiant technique de la structure'],
  org_name: ['Raison sociale site'],
  org_trade_name: ['Enseigne commerciale site'],
  postal_code: ['Code postal (coord. structure)'],
  city: ['Libellé commune (coord. structure)'],
  department: ['Code département (coord. structure)', 'Code Département (structure)'],
  phone: ['Téléphone (coord. structure)'],
  email: ['Adresse e-mail (coord. structure)'],
  role_code: ['Code fonction'],
  role_label: ['Libellé fonction'],
};

/** Columns a file must have to be imported: who the professional is. */
const REQUIRED: readonly ProfessionalColumn[] = ['pp_id_type', 'pp_id', 'id_nat', 'last_name', 'first_name'];

/** Where each table column is in the lines of one file (-1: not in this file). */
export interface PsLayout {
  /** Fields per line (a trailing `|` not counted). */
  fieldCount: number;
  professional: [ProfessionalColumn, number][];
  activity: [ActivityColumn, number][];
}

/** Whether a header is meant to be this format: it starts with the professional's identity columns. */
export function looksLikePsHeader(text: string): boolean {
  const keys = splitHeader(text).map(searchKey);
  return (
    keys[0] === searchKey("Type d'identifiant PP") || keys.includes(searchKey('Identification nationale PP'))
  );
}

/** Finds the columns by name. Fails when an identity column is missing. */
export function checkPsHeader(text: string): HeaderResult<PsLayout> {
  const keys = splitHeader(text).map(searchKey);
  const find = (names: readonly string[]) => {
    for (const name of names) {
      const i = keys.indexOf(searchKey(name));
      if (i >= 0) return i;
    }
    return -1;
  };
  const professional = Object.entries(PROFESSIONAL_COLUMNS).map(
    ([column, names]) => [column as ProfessionalColumn, find(names)] as [ProfessionalColumn, number],
  );
  const missing = professional.filter(([column, i]) => i < 0 && REQUIRED.includes(column));
  if (missing.length > 0) {
    const names = missing.map(([column]) => JSON.stringify(PROFESSIONAL_COLUMNS[column][0]));
    return {
      ok: false,
      reason: `PS_LibreAcces_Personne_activite header: missing column${missing.length > 1 ? 's' : ''} ${names.join(', ')} (found ${keys.length} columns)`,
    };
  }
  const activity = Object.entries(ACTIVITY_COLUMNS).map(
    ([column, names]) => [column as ActivityColumn, find(names)] as [ActivityColumn, number],
  );
  return { ok: true, layout: { fieldCount: keys.length, professional, activity } };
}

/** Parses one data line with the layout its header gave. */
export function parsePsRow(text: string, layout: PsLayout): RowResult<PsRow> {
  const fields = splitFields(text, layout.fieldCount);
  if (typeof fields === 'string') return { rejected: fields };
  const value = (i: number) => (i < 0 ? null : nullIfEmpty(fields[i]!));

  const professional = {} as Record<ProfessionalColumn, string | null>;
  for (const [column, i] of layout.professional) professional[column] = value(i);
  const idNat = professional.id_nat;
  if (idNat === null) return { rejected: 'missing idNat (Identification nationale PP is empty)' };
  const keys = nameKeys(professional.last_name, professional.first_name);

  const activity = { id_nat: idNat } as ActivityRow;
  for (const [column, i] of layout.activity) activity[column] = value(i);
  return {
    row: {
      professional: Object.assign(professional as ProfessionalRow, keys),
      activity,
    },
  };
}
