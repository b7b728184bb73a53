/*
 * What the directory (local mirror of the Annuaire Santé, optionally backed by the FHIR API)
 * answers. Implemented in directory.ts; used by the BAL registry, the CLI and the admin API.
 */

export type DirectorySource = 'local' | 'fhir';

export interface ActivityRecord {
  professionCode: string | null;
  professionLabel: string | null;
  categoryCode: string | null;
  categoryLabel: string | null;
  skillLabel: string | null;
  modeLabel: string | null;
  /** '1' + FINESS site when known, else '3' + SIRET, else null. */
  structureId: string | null;
  finessSite: string | null;
  finessEj: string | null;
  siret: string | null;
  orgName: string | null;
  postalCode: string | null;
  city: string | null;
  roleLabel: string | null;
}

export interface MailboxRecord {
  address: string;
  /** PER, ORG, APP, CAB. */
  balType: string;
  idNat: string | null;
  structureId: string | null;
  service: string | null;
  civility: string | null;
  lastName: string | null;
  firstName: string | null;
  professionLabel: string | null;
  orgName: string | null;
  postalCode: string | null;
  locality: string | null;
  department: string | null;
  source: DirectorySource;
}

export interface ProfessionalRecord {
  idNat: string;
  /** 'RPPS' | 'ADELI' as given by the extract type code, or null. */
  ppIdType: string | null;
  ppId: string | null;
  civility: string | null;
  lastName: string | null;
  firstName: string | null;
  activities: ActivityRecord[];
  mailboxes: MailboxRecord[];
  source: DirectorySource;
}

export interface SnapshotInfo {
  id: number;
  kind: 'mss' | 'ps';
  source: string;
  startedAt: string;
  finishedAt: string | null;
  rowsRead: number;
  rowsImported: number;
  rowsRejected: number;
}

export interface NameSearchResult {
  professionals: ProfessionalRecord[];
  mailboxes: MailboxRecord[];
}

/** The port other modules use. */
export interface Directory {
  /** By idNat ('8'+RPPS or '0'+ADELI): local mirror first, then the FHIR API when enabled. */
  findProfessional(idNat: string): Promise<ProfessionalRecord | null>;
  /** By BAL address (case-insensitive): local mirror first, then the FHIR API when enabled. */
  findMailbox(address: string): Promise<MailboxRecord | null>;
  /** Accent- and case-insensitive prefix of "last first" or "first last" names. */
  searchByName(query: string, opts?: { limit?: number }): Promise<NameSearchResult>;
  /** BALs and professionals' activities attached to a structure id ('1'+FINESS or '3'+SIRET). */
  findByStructure(structureId: string, opts?: { limit?: number }): Promise<MailboxRecord[]>;
  /** The current snapshot of each extract kind. */
  snapshots(): Promise<SnapshotInfo[]>;
}
