/*
 * Inter-operator SMTP (migration 005_smtp_dedupe).
 *
 * smtp_dedupe: what the MX has stored, by (peer certificate DN, RFC 3461 ENVID, recipient,
 * SHA-256 of the message as received). A sending operator that got no 250 (its worker died after
 * our 250, or the connection broke after the final dot) sends the same message again with the
 * same ENVID: the MX answers 250 without storing it twice. Rows expire after delivery.expireHours,
 * when the sender has given up retrying anyway.
 */

export interface SmtpDedupeTable {
  /** SHA-256 (hex) of peer DN key, ENVID, lower-case recipient and message SHA-256, NUL-separated. */
  key: string;
  /** DN key of the peer certificate. */
  peer_dn: string;
  envid: string;
  rcpt: string;
  received_at: string;
  expires_at: string;
}

export interface SmtpTables {
  smtp_dedupe: SmtpDedupeTable;
}
