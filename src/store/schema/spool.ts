import type { Generated } from 'kysely';

/*
 * The outbound spool: the truth for mail in flight towards other operators. A message is
 * acknowledged (SMTP 250) only once its rows here are committed; the job queue (BullMQ or
 * in-process) only decides who works on which recipient group when, and is rebuilt from
 * these tables by the reconciler. Timestamps are ISO-8601 UTC text (they sort as text).
 */

export type SpoolDsnRet = 'FULL' | 'HDRS';
export type SpoolRecipientStatus = 'queued' | 'delivering' | 'delivered' | 'failed' | 'expired';
/** The delivery status notification owed to the sender for a recipient. */
export type SpoolNotice = 'failed' | 'delayed' | 'relayed';

export interface SpoolMessagesTable {
  id: Generated<number>;
  /** Key of the raw message in the blob store. */
  blob_id: string;
  /** Envelope sender; '' for the null sender (bounces, which are never bounced). */
  mail_from: string;
  /** Size of the raw message in bytes. */
  size: number;
  /** Where it came from: 'mx', 'submission', 'dsn'… */
  source: string;
  /** Authenticated identity of the submitter (idNat, client certificate…), or null. */
  auth_identity: string | null;
  /** RFC 3461 ENVID (decoded), or null. */
  dsn_envid: string | null;
  /** RFC 3461 RET, or null when not given. */
  dsn_ret: SpoolDsnRet | null;
  received_at: string;
  /** Undelivered recipients are given up (and bounced) after this instant. */
  expires_at: string;
}

export interface SpoolRecipientsTable {
  id: Generated<number>;
  message_id: number;
  /** Envelope recipient, as received. */
  rcpt: string;
  /** Lower-case domain of rcpt: recipients of one message and domain share one SMTP transaction. */
  domain: string;
  /** RFC 3461 ORCPT, decoded: 'addr-type;address' (e.g. 'rfc822;a@b.fr'), or null. */
  orcpt: string | null;
  /** RFC 3461 NOTIFY, normalised: 'NEVER', or a subset of 'SUCCESS,FAILURE,DELAY' in that order; null when not given. */
  notify: string | null;
  status: SpoolRecipientStatus;
  /** Delivery attempts started (counted when claimed). */
  attempts: number;
  /** A queued recipient is due from this instant. */
  next_attempt_at: string;
  /** Worker holding the recipient while status is 'delivering', until lease_until. */
  lease_owner: string | null;
  lease_until: string | null;
  /** Last SMTP reply code, enhanced status (x.y.z) and text; null when there was no reply (network). */
  last_code: number | null;
  last_enhanced: string | null;
  last_error: string | null;
  /** Host name of the MX that gave the last answer. */
  remote_mta: string | null;
  /** DSN owed to the sender (sent by a worker, retried by the reconciler), or null. */
  notice: SpoolNotice | null;
  /** Worker sending that DSN, until notice_until. */
  notice_owner: string | null;
  notice_until: string | null;
  /** When a DSN was last sent for this recipient (a delay notice is sent at most once). */
  notice_sent_at: string | null;
  updated_at: string;
  delivered_at: string | null;
}

export interface SpoolTables {
  spool_messages: SpoolMessagesTable;
  spool_recipients: SpoolRecipientsTable;
}
