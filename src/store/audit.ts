import type { Kysely } from 'kysely';
import type { Database } from './schema/index.ts';

export interface AuditEntry {
  /** Who: `cli:<user>`, `api:<label>`, `system`. */
  actor: string;
  /** What: dotted verb, e.g. `bal.create`. */
  action: string;
  /** On what: a BAL address, a snapshot id… */
  subject: string;
  /** The change; serialised as JSON. Never put secrets here. */
  details?: Record<string, unknown>;
}

/**
 * Appends one entry to the audit log. Pass the transaction that makes the change, so that the
 * change and its audit entry are committed (or rolled back) together.
 */
export async function appendAudit(db: Kysely<Database>, entry: AuditEntry, at = new Date()): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      at: at.toISOString(),
      actor: entry.actor,
      action: entry.action,
      subject: entry.subject,
      details: JSON.stringify(entry.details ?? {}),
    })
    .execute();
}

export interface AuditRecord {
  id: number;
  at: string;
  actor: string;
  action: string;
  subject: string;
  details: Record<string, unknown>;
}

/** The audit entries about one subject (or all), newest first. */
export async function readAudit(
  db: Kysely<Database>,
  opts: { subject?: string; limit?: number } = {},
): Promise<AuditRecord[]> {
  let q = db
    .selectFrom('audit_log')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(opts.limit ?? 100);
  if (opts.subject) q = q.where('subject', '=', opts.subject);
  const rows = await q.execute();
  return rows.map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
}
