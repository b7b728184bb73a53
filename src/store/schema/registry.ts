import type { Generated } from 'kysely';

/*
 * Tables of the operator's own registry: structures, BALs, their members and certificates,
 * and the append-only audit log. Booleans are stored as 0/1 integers and timestamps as ISO-8601
 * UTC text in both engines, so that one set of queries serves SQLite and PostgreSQL.
 */

export type BalType = 'PER' | 'ORG' | 'APP' | 'CAB';
export type BalStatus = 'active' | 'suspended' | 'closed';

export interface StructuresTable {
  /** '1' + FINESS or '3' + SIRET. */
  structure_id: string;
  kind: 'FINESS' | 'SIRET';
  name: string | null;
  created_at: string;
}

export interface BalsTable {
  /** Lower-case address; the key. Never reused once closed. */
  address: string;
  type: BalType;
  status: BalStatus;
  /** idNat of the holder (PER, CAB). */
  holder_id_nat: string | null;
  /** Structure id (ORG, APP; optional for PER/CAB). */
  structure_id: string | null;
  display_name: string | null;
  description: string | null;
  service: string | null;
  /** idNat of the responsible professional (ORG, APP). */
  responsible_id_nat: string | null;
  phone: string | null;
  /** 1: must not be published nor shown in directories. */
  liste_rouge: number;
  /** 1: the holder accepts dematerialised documents (annuaire "Dématérialisation"). */
  digitization: number;
  /** 1 = the holder's preferred BAL; null = no rank. */
  preferred_rank: number | null;
  status_reason: string | null;
  created_at: string;
  updated_at: string;
  suspended_at: string | null;
  closed_at: string | null;
}

export interface BalMembersTable {
  address: string;
  id_nat: string;
  added_at: string;
}

export interface BalCertificatesTable {
  id: Generated<number>;
  address: string;
  /** Normalised subject DN (RFC 4514 string) or null. */
  subject_dn: string | null;
  /** Lower-case hex SHA-256 of the DER certificate, or null. */
  fingerprint_sha256: string | null;
  added_at: string;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: string;
  /** Who: `cli:<user>`, `api:<token label>`, `system`. */
  actor: string;
  /** What: `bal.create`, `bal.update`, `bal.suspend`, `annuaire.import`… */
  action: string;
  /** On what: a BAL address, a snapshot id… */
  subject: string;
  /** JSON text: the change (before/after, parameters). Never secrets. */
  details: string;
}

export interface RegistryTables {
  structures: StructuresTable;
  bals: BalsTable;
  bal_members: BalMembersTable;
  bal_certificates: BalCertificatesTable;
  audit_log: AuditLogTable;
}
