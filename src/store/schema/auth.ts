import type { Generated } from 'kysely';

/*
 * Client authentication (migration 006_auth).
 *
 * app_passwords: operator-issued passwords for mail clients (IMAP, submission: SASL PLAIN and
 * LOGIN). Each belongs either to a professional (id_nat; the PER/CAB BALs it holds and the ORG
 * BALs it is a member or responsible of follow from it) or to an APP BAL (bal_address), never
 * both. Only the scrypt hash is kept; the clear password is shown once, when issued. Rows are
 * never deleted: revoking sets revoked_at.
 */

export interface AppPasswordsTable {
  id: Generated<number>;
  /** idNat of the professional, or null for an APP BAL's password. */
  id_nat: string | null;
  /** Address of the APP BAL, or null for a professional's password. */
  bal_address: string | null;
  /** What it is for ("Thunderbird at the office"), chosen by the operator. */
  label: string;
  /** PHC-like string: `$scrypt$ln=15,r=8,p=1$<salt b64>$<key b64>`. Never shown. */
  hash: string;
  created_at: string;
  /** The actor that issued it. */
  created_by: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface AuthTables {
  app_passwords: AppPasswordsTable;
}
