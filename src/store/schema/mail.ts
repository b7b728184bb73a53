import type { Generated } from 'kysely';

/*
 * Mail storage (migration 003_mail): mailboxes of the BALs, the messages in them, the bodies they
 * point to, and the change journal IMAP sessions replay (CONDSTORE/QRESYNC, IDLE on every node).
 * Metadata only: message bytes are in the blob store, named by the `blobs.id` hash.
 * Counters that only grow (UIDVALIDITY, UIDs, MODSEQs) are bigint on PostgreSQL (read back as
 * numbers, see open.ts) and integer (64-bit) on SQLite.
 */

/** RFC 6154 SPECIAL-USE attribute of a mailbox. */
export type SpecialUse = '\\Sent' | '\\Drafts' | '\\Trash' | '\\Archive';

export interface MailboxesTable {
  id: Generated<number>;
  /** The BAL that owns it (an ORG BAL's mailboxes are shared by its members). */
  bal_address: string;
  /** Full name, `/` as hierarchy separator; `INBOX` in upper case. */
  name: string;
  special_use: SpecialUse | null;
  uid_validity: number;
  /** UID the next message will get. */
  uid_next: number;
  /** MODSEQ of the latest change in this mailbox (RFC 7162 HIGHESTMODSEQ); 1 when created. */
  highest_modseq: number;
  /** 0/1: listed by LSUB / LIST (SUBSCRIBED). */
  subscribed: number;
  created_at: string;
}

export interface MessagesTable {
  id: Generated<number>;
  mailbox_id: number;
  uid: number;
  /** MODSEQ of the message's last change (append or flags). */
  modseq: number;
  blob_id: string;
  /** RFC822.SIZE: stored bytes (CRLF line ends). */
  size: number;
  /** INTERNALDATE, ISO-8601 UTC. */
  internal_date: string;
  /** Space-separated system flags and keywords, e.g. `\Seen \Flagged $Forwarded`. */
  flags: string;
  /** Decoded Subject (SEARCH/SORT). */
  subject: string | null;
  /** Decoded From, To, Cc header text (SEARCH FROM/TO/CC). */
  from_header: string | null;
  to_header: string | null;
  cc_header: string | null;
  message_id: string | null;
  in_reply_to: string | null;
  references_header: string | null;
  /** Date header as ISO-8601 UTC; null when absent or unreadable. */
  sent_date: string | null;
  /** JSON of the IMAP ENVELOPE (src/mail/mime/envelope.ts). */
  envelope_json: string;
  /** JSON of the MIME tree with byte offsets (src/mail/mime/structure.ts). */
  structure_json: string;
}

export interface BlobsTable {
  /** SHA-256 of the plaintext, lower-case hex. */
  id: string;
  size: number;
  stored_size: number;
  /** 0/1 */
  encrypted: number;
  /** Message rows pointing to it. 0: collectable once older than the grace period. */
  ref_count: number;
  /** When the row was registered, or last re-registered while unreferenced (ISO-8601 UTC). */
  created_at: string;
}

export type MailboxChangeKind = 'append' | 'flags' | 'expunge';

export interface MailboxChangesTable {
  id: Generated<number>;
  mailbox_id: number;
  modseq: number;
  uid: number;
  kind: MailboxChangeKind;
  at: string;
}

export interface MailTables {
  mailboxes: MailboxesTable;
  messages: MessagesTable;
  blobs: BlobsTable;
  mailbox_changes: MailboxChangesTable;
}
