import type { Generated } from 'kysely';

/*
 * Tables of the local mirror of the Annuaire Santé, filled from the public extracts.
 *
 * Each import writes a new snapshot (rows tagged with its snapshot_id) and, only when the
 * whole file has been read, makes it the current one for its kind in one transaction; the
 * previous snapshot's rows are deleted after. Readers always filter on the current snapshot,
 * so a failed or interrupted import never shows: the old data stays in place.
 *
 * `*_key` columns hold search keys: lower case, accents removed, spaces folded (see
 * src/annuaire/search-key.ts); prefix searches are range scans on them.
 */

export type SnapshotKind = 'mss' | 'ps';
export type SnapshotStatus = 'loading' | 'current' | 'retired' | 'failed';

export interface DirectorySnapshotsTable {
  id: Generated<number>;
  /** mss: Extraction_Correspondance_MSSante (BALs); ps: PS_LibreAcces_Personne_activite. */
  kind: SnapshotKind;
  status: SnapshotStatus;
  /** File name it was imported from (no directory). */
  source: string;
  started_at: string;
  finished_at: string | null;
  rows_read: number;
  rows_imported: number;
  rows_rejected: number;
}

/** One row per BAL of the national extract (Extraction_Correspondance_MSSante, 31 columns). */
export interface DirectoryMailboxesTable {
  snapshot_id: number;
  /** Lower-case address: the key of the extract. */
  address: string;
  /** PER, ORG, APP, CAB as in the extract's "Type de BAL". */
  bal_type: string;
  pp_id_type: string | null;
  pp_id: string | null;
  id_nat: string | null;
  structure_id_type: string | null;
  structure_id: string | null;
  service: string | null;
  civility: string | null;
  last_name: string | null;
  first_name: string | null;
  category_code: string | null;
  category_label: string | null;
  profession_code: string | null;
  profession_label: string | null;
  skill_code: string | null;
  skill_label: string | null;
  digitization: string | null;
  org_name: string | null;
  org_trade_name: string | null;
  addr_complement: string | null;
  addr_distribution: string | null;
  addr_number: string | null;
  addr_number_complement: string | null;
  addr_street_type: string | null;
  addr_street: string | null;
  addr_locality: string | null;
  addr_routing: string | null;
  postal_code: string | null;
  department: string | null;
  country: string | null;
  /** search key of "last first" (or the structure name for ORG/APP without a person). */
  name_key: string | null;
  /** search key of "first last". */
  given_key: string | null;
}

/** One row per professional (idNat) of PS_LibreAcces_Personne_activite. */
export interface DirectoryProfessionalsTable {
  snapshot_id: number;
  id_nat: string;
  pp_id_type: string | null;
  pp_id: string | null;
  civility_code: string | null;
  civility_label: string | null;
  exercise_civility_code: string | null;
  exercise_civility_label: string | null;
  last_name: string | null;
  first_name: string | null;
  name_key: string | null;
  given_key: string | null;
}

/** One row per activity of a professional (PS_LibreAcces_Personne_activite). */
export interface DirectoryActivitiesTable {
  snapshot_id: number;
  id_nat: string;
  profession_code: string | null;
  profession_label: string | null;
  category_code: string | null;
  category_label: string | null;
  skill_code: string | null;
  skill_label: string | null;
  mode_code: string | null;
  mode_label: string | null;
  siret: string | null;
  siren: string | null;
  finess_site: string | null;
  finess_ej: string | null;
  structure_tech_id: string | null;
  org_name: string | null;
  org_trade_name: string | null;
  postal_code: string | null;
  city: string | null;
  department: string | null;
  phone: string | null;
  email: string | null;
  role_code: string | null;
  role_label: string | null;
}

export interface DirectoryTables {
  directory_snapshots: DirectorySnapshotsTable;
  directory_mailboxes: DirectoryMailboxesTable;
  directory_professionals: DirectoryProfessionalsTable;
  directory_activities: DirectoryActivitiesTable;
}
