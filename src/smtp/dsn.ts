import { createHash } from 'node:crypto';

/*
 * Delivery status notifications: RFC 3461 parameters (NOTIFY, ORCPT, RET, ENVID) and the
 * RFC 3464 report sent back to the sender. Pure: values in, bytes out; no clock, no I/O
 * (the Message-ID and the boundary are derived from the content).
 */

export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';
export type DsnRet = 'FULL' | 'HDRS';
export type NotifyEvent = 'SUCCESS' | 'FAILURE' | 'DELAY';

const NOTIFY_ORDER: readonly NotifyEvent[] = ['SUCCESS', 'FAILURE', 'DELAY'];

/**
 * NOTIFY as given by the client (string 'FAILURE,DELAY' or list) in its stored form: 'NEVER',
 * or a subset of 'SUCCESS,FAILURE,DELAY' in that order; null when absent.
 */
export function normalizeNotify(value: string | readonly string[] | null | undefined): string | null {
  if (value == null) return null;
  const items = (typeof value === 'string' ? value.split(',') : [...value])
    .map((v) => v.trim().toUpperCase())
    .filter(Boolean);
  if (items.length === 0) return null;
  if (items.includes('NEVER')) {
    if (items.length > 1) throw new RangeError('NOTIFY=NEVER cannot be combined with other values');
    return 'NEVER';
  }
  for (const item of items) {
    if (!(NOTIFY_ORDER as readonly string[]).includes(item))
      throw new RangeError(`unknown NOTIFY value ${item}`);
  }
  return NOTIFY_ORDER.filter((e) => items.includes(e)).join(',');
}

/**
 * Whether a report of this kind may be sent (RFC 3461 §4.1): NEVER forbids all; a list allows
 * what it names; without NOTIFY, failures are reported, delays may be, successes are not.
 */
export function notifyAllows(notify: string | null, event: NotifyEvent): boolean {
  if (notify == null) return event !== 'SUCCESS';
  return notify.split(',').includes(event);
}

/** Whether a DSN of `action` is owed to `mailFrom` for a recipient with this NOTIFY. */
export function noticeOwed(
  action: 'failed' | 'delayed' | 'relayed',
  notify: string | null,
  mailFrom: string,
) {
  if (mailFrom === '') return false; // never bounce a bounce (RFC 5321 §6.1)
  const event: NotifyEvent = action === 'failed' ? 'FAILURE' : action === 'delayed' ? 'DELAY' : 'SUCCESS';
  return notifyAllows(notify, event);
}

/** Status code of the report: the enhanced code of the reply when there is one, else its class. */
export function dsnStatus(args: {
  action: DsnAction;
  code: number | null;
  enhanced: string | null;
  expired?: boolean;
}): string {
  if (args.expired) return '4.4.7';
  if (args.action === 'delivered' || args.action === 'relayed' || args.action === 'expanded') return '2.0.0';
  if (args.enhanced && /^[245]\.\d{1,3}\.\d{1,3}$/.test(args.enhanced)) return args.enhanced;
  if (args.code != null && args.code >= 400 && args.code < 600) return `${Math.floor(args.code / 100)}.0.0`;
  return args.action === 'failed' ? '5.0.0' : '4.0.0';
}

export interface DsnRecipientReport {
  /** The envelope recipient. */
  recipient: string;
  /** RFC 3461 ORCPT as received (decoded): 'addr-type;address'. */
  originalRecipient?: string | null;
  action: DsnAction;
  /** x.y.z (see dsnStatus). */
  status: string;
  /** Host name of the MX that answered. */
  remoteMta?: string | null;
  /** The reply that decided: SMTP code and text; code null for a failure without reply (network, local). */
  diagnostic?: { code: number | null; text: string } | null;
  lastAttemptAt?: Date | null;
  /** For 'delayed': attempts go on until then. */
  willRetryUntil?: Date | null;
}

export interface DsnInput {
  /** Host name of this MTA (Reporting-MTA). */
  reportingMta: string;
  /** The report comes from MAILER-DAEMON@ this domain. */
  mailerDaemonDomain: string;
  /** The original envelope sender, who gets the report. Never empty. */
  to: string;
  envid?: string | null;
  arrivalDate: Date;
  /** Date of the report. */
  date: Date;
  recipients: readonly DsnRecipientReport[];
  /** The original message; null when it is no longer available (the third part is then left out). */
  original?: Buffer | null;
  ret?: DsnRet | null;
  /** A larger original is returned as headers only, whatever RET says. Default 2 MiB. */
  maxOriginalBytes?: number;
}

export interface Dsn {
  raw: Buffer;
  to: string;
  messageId: string;
}

const CRLF = '\r\n';
export const DEFAULT_MAX_ORIGINAL_BYTES = 2 * 1024 * 1024;

/** Builds the multipart/report; report-type=delivery-status message (RFC 3464, RFC 6522). */
export function buildDsn(input: DsnInput): Dsn {
  if (!input.to) throw new RangeError('a DSN is never sent to the null sender');
  if (input.recipients.length === 0) throw new RangeError('a DSN reports on at least one recipient');

  const original = input.original ?? null;
  const maxOriginal = input.maxOriginalBytes ?? DEFAULT_MAX_ORIGINAL_BYTES;
  const tooLarge = original != null && input.ret !== 'HDRS' && original.length > maxOriginal;
  const headersOnly = original != null && (input.ret === 'HDRS' || tooLarge);
  const originalPart = original == null ? null : headersOnly ? headerBlock(original) : normalizeEol(original);

  const digest = createHash('sha256')
    .update(
      JSON.stringify({
        m: input.reportingMta,
        t: input.to,
        e: input.envid ?? null,
        d: input.date.toISOString(),
        r: input.recipients,
      }),
    )
    .update(original ?? Buffer.alloc(0))
    .digest('hex');
  const messageId = `<dsn.${digest.slice(0, 24)}@${clean(input.reportingMta)}>`;
  let boundary = `=_mss-dsn-${digest.slice(24, 48)}`;
  for (let n = 1; originalPart?.includes(boundary); n++) boundary = `=_mss-dsn-${digest.slice(24, 48)}-${n}`;

  const action = mainAction(input.recipients);
  const originalMessageId = original ? headerValue(headerBlock(original), 'message-id') : null;
  const headers = [
    `From: Mail Delivery System <MAILER-DAEMON@${clean(input.mailerDaemonDomain)}>`,
    `To: <${clean(input.to)}>`,
    `Subject: ${encodeWord(SUBJECTS[action])}`,
    `Date: ${rfc5322Date(input.date)}`,
    `Message-ID: ${messageId}`,
    ...(originalMessageId ? [`In-Reply-To: ${originalMessageId}`, `References: ${originalMessageId}`] : []),
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;${CRLF} boundary="${boundary}"`,
  ];

  const human = humanText(input, { headersOnly, tooLarge, hasOriginal: original != null });
  const parts: Buffer[] = [
    Buffer.from(
      [
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: quoted-printable',
        'Content-Description: Notification',
        '',
        quotedPrintable(human),
      ].join(CRLF),
    ),
    Buffer.from(
      [
        'Content-Type: message/delivery-status',
        'Content-Description: Delivery report',
        '',
        deliveryStatus(input),
      ].join(CRLF),
    ),
  ];
  if (originalPart) {
    const eightBit = originalPart.some((b) => b > 0x7f);
    const head = [
      `Content-Type: ${headersOnly ? 'text/rfc822-headers' : 'message/rfc822'}`,
      `Content-Description: ${headersOnly ? 'Undelivered message headers' : 'Undelivered message'}`,
      ...(eightBit ? ['Content-Transfer-Encoding: 8bit'] : []),
      '',
      '',
    ].join(CRLF);
    parts.push(Buffer.concat([Buffer.from(head), originalPart]));
  }

  const chunks: Buffer[] = [
    Buffer.from(
      `${headers.join(CRLF)}${CRLF}${CRLF}This is a MIME-encapsulated delivery status notification.${CRLF}`,
    ),
  ];
  for (const part of parts) {
    chunks.push(Buffer.from(`${CRLF}--${boundary}${CRLF}`), part);
  }
  chunks.push(Buffer.from(`${CRLF}--${boundary}--${CRLF}`));
  return { raw: Buffer.concat(chunks), to: input.to, messageId };
}

const SUBJECTS: Record<DsnAction, string> = {
  failed: 'Message non remis / Undelivered Mail Returned to Sender',
  delayed: 'Remise retardée / Delayed Mail (still being retried)',
  relayed: 'Message relayé / Delivery Status Notification (relayed)',
  delivered: 'Message remis / Delivery Status Notification (delivered)',
  expanded: 'Message remis / Delivery Status Notification (expanded)',
};

const ACTION_PRIORITY: readonly DsnAction[] = ['failed', 'delayed', 'relayed', 'delivered', 'expanded'];

function mainAction(recipients: readonly DsnRecipientReport[]): DsnAction {
  return ACTION_PRIORITY.find((a) => recipients.some((r) => r.action === a)) ?? 'failed';
}

/** The machine-readable part (RFC 3464 §2.2, §2.3). */
function deliveryStatus(input: DsnInput): string {
  const perMessage = [`Reporting-MTA: dns; ${clean(input.reportingMta)}`];
  if (input.envid) perMessage.push(`Original-Envelope-Id: ${clean(input.envid)}`);
  perMessage.push(`Arrival-Date: ${rfc5322Date(input.arrivalDate)}`);
  const blocks = [perMessage.join(CRLF)];
  for (const r of input.recipients) {
    const lines = [`Final-Recipient: ${addressField(r.recipient)}`];
    if (r.originalRecipient) lines.push(`Original-Recipient: ${originalRecipientField(r.originalRecipient)}`);
    lines.push(`Action: ${r.action}`, `Status: ${clean(r.status)}`);
    if (r.remoteMta) lines.push(`Remote-MTA: dns; ${clean(r.remoteMta)}`);
    if (r.diagnostic) lines.push(fold(`Diagnostic-Code: ${diagnosticField(r.diagnostic)}`));
    if (r.lastAttemptAt) lines.push(`Last-Attempt-Date: ${rfc5322Date(r.lastAttemptAt)}`);
    if (r.willRetryUntil && r.action === 'delayed') {
      lines.push(`Will-Retry-Until: ${rfc5322Date(r.willRetryUntil)}`);
    }
    blocks.push(lines.join(CRLF));
  }
  return blocks.join(CRLF + CRLF) + CRLF;
}

function diagnosticField(d: { code: number | null; text: string }): string {
  const text = clean(d.text).slice(0, 900);
  // Failures without an SMTP reply (connection, TLS, local) have no "smtp" diagnostic.
  return d.code == null ? `x-local; ${text}` : `smtp; ${d.code} ${text}`.trimEnd();
}

/** 'rfc822; a@b.fr', or RFC 6533 'utf-8; ' with \x{HEX} escapes for an internationalised address. */
function addressField(address: string): string {
  const a = address.replace(/[\r\n]/g, '');
  if (/^[\x00-\x7f]*$/.test(a)) return `rfc822; ${clean(a)}`;
  const escaped = [...a]
    .map((ch) => {
      const cp = ch.codePointAt(0)!;
      return cp < 0x80 && cp >= 0x20 && ch !== '\\' ? ch : `\\x{${cp.toString(16).toUpperCase()}}`;
    })
    .join('');
  return `utf-8; ${escaped}`;
}

function originalRecipientField(orcpt: string): string {
  const i = orcpt.indexOf(';');
  if (i < 0) return addressField(orcpt);
  return `${clean(orcpt.slice(0, i))}; ${clean(orcpt.slice(i + 1))}`;
}

interface HumanFlags {
  headersOnly: boolean;
  tooLarge: boolean;
  hasOriginal: boolean;
}

/** The short explanation for people, in French then English. */
function humanText(input: DsnInput, flags: HumanFlags): string {
  const host = humanClean(input.reportingMta);
  const byAction = (a: DsnAction) => input.recipients.filter((r) => r.action === a);
  const fr: string[] = [`Ceci est un message automatique du serveur de messagerie ${host}.`, ''];
  const en: string[] = [`This is an automatic message from the mail server ${host}.`, ''];

  const section = (list: DsnRecipientReport[], frTitle: string, enTitle: string) => {
    if (list.length === 0) return;
    fr.push(frTitle, '');
    en.push(enTitle, '');
    for (const r of list) {
      const why = explain(r);
      fr.push(`  <${humanClean(r.recipient)}> : ${why.fr}`);
      en.push(`  <${humanClean(r.recipient)}>: ${why.en}`);
      if (r.diagnostic) {
        const reply = humanClean(`${r.diagnostic.code ?? ''} ${r.diagnostic.text}`);
        const from = r.remoteMta ? humanClean(r.remoteMta) : null;
        fr.push(from ? `    Réponse de ${from} : ${reply}` : `    Détail : ${reply}`);
        en.push(from ? `    Reply from ${from}: ${reply}` : `    Detail: ${reply}`);
      }
    }
    fr.push('');
    en.push('');
  };

  section(
    byAction('failed'),
    "Votre message n'a pas pu être remis aux destinataires suivants ; il ne sera plus réessayé :",
    'Your message could not be delivered to the following recipients; it will not be retried:',
  );
  const delayed = byAction('delayed');
  const until = delayed.find((r) => r.willRetryUntil)?.willRetryUntil;
  section(
    delayed,
    `La remise de votre message aux destinataires suivants est retardée. De nouvelles tentatives auront lieu${
      until ? ` jusqu'au ${rfc5322Date(until)}` : ''
    } ; vous n'avez rien à faire pour l'instant :`,
    `Delivery of your message to the following recipients is delayed. It will be retried${
      until ? ` until ${rfc5322Date(until)}` : ''
    }; you need not do anything yet:`,
  );
  section(
    byAction('relayed'),
    "Votre message a été transmis au serveur des destinataires suivants, qui ne renverra pas d'accusé de remise :",
    'Your message was relayed to the server of the following recipients, which will not send delivery reports:',
  );
  section(
    [...byAction('delivered'), ...byAction('expanded')],
    'Votre message a été remis aux destinataires suivants :',
    'Your message was delivered to the following recipients:',
  );

  if (flags.hasOriginal) {
    if (flags.tooLarge) {
      fr.push("Le message d'origine est trop volumineux pour être joint : seuls ses en-têtes le sont.");
      en.push('The original message is too large to be attached: only its headers are.');
    } else if (flags.headersOnly) {
      fr.push("Les en-têtes du message d'origine sont joints.");
      en.push('The headers of the original message are attached.');
    } else {
      fr.push("Le message d'origine est joint.");
      en.push('The original message is attached.');
    }
  }
  return `${fr.join('\n').trimEnd()}\n\n-- English --\n\n${en.join('\n').trimEnd()}\n`;
}

const SUBJECT_EXPLANATIONS: Record<string, { fr: string; en: string }> = {
  '1': {
    fr: 'adresse du destinataire invalide ou inconnue',
    en: 'the recipient address is invalid or unknown',
  },
  '2': {
    fr: 'boîte aux lettres du destinataire indisponible ou pleine',
    en: "the recipient's mailbox is unavailable or full",
  },
  '3': {
    fr: 'le système de messagerie du destinataire ne peut pas recevoir ce message',
    en: "the recipient's mail system cannot accept this message",
  },
  '4': {
    fr: 'le serveur du destinataire est injoignable',
    en: "the recipient's server could not be reached",
  },
  '5': {
    fr: 'erreur de protocole avec le serveur du destinataire',
    en: "protocol error with the recipient's server",
  },
  '6': { fr: 'contenu du message refusé', en: 'the message content was refused' },
  '7': {
    fr: 'refusé pour raison de sécurité ou de politique (certificat, liste blanche MSSanté)',
    en: 'refused for security or policy reasons (certificate, MSSanté whitelist)',
  },
};

/** Why, in a few words, from the action and the status code. */
export function explain(r: Pick<DsnRecipientReport, 'action' | 'status'>): { fr: string; en: string } {
  switch (r.action) {
    case 'delivered':
    case 'expanded':
      return { fr: 'remis', en: 'delivered' };
    case 'relayed':
      return { fr: 'transmis', en: 'relayed' };
    case 'delayed': {
      const cause = SUBJECT_EXPLANATIONS[r.status.split('.')[1] ?? ''];
      return cause
        ? { fr: `pas encore remis (${cause.fr})`, en: `not delivered yet (${cause.en})` }
        : { fr: 'pas encore remis', en: 'not delivered yet' };
    }
    case 'failed': {
      if (r.status === '4.4.7' || r.status === '5.4.7') {
        return {
          fr: "délai de remise dépassé : le serveur du destinataire n'a pas accepté le message à temps",
          en: "delivery time expired: the recipient's server did not accept the message in time",
        };
      }
      return (
        SUBJECT_EXPLANATIONS[r.status.split('.')[1] ?? ''] ?? {
          fr: 'remise impossible',
          en: 'delivery failed',
        }
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Small MIME helpers (exported for tests).

/** RFC 5322 date in UTC: 'Tue, 01 Jul 2025 10:00:00 +0000'. */
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

/** Header-safe printable ASCII: line breaks become spaces, other characters '?'. */
function clean(s: string): string {
  return s
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();
}

/** Text for the human part: Unicode kept, control characters removed. */
function humanClean(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
}

/** An unstructured header value, RFC 2047 B-encoded when it is not plain ASCII. */
export function encodeWord(text: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const words: string[] = [];
  let chunk = '';
  for (const ch of text) {
    if (Buffer.byteLength(chunk + ch) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join(`${CRLF} `);
}

/** Folds a header line at spaces so that lines stay under 78 characters where possible. */
function fold(line: string): string {
  if (line.length <= 78) return line;
  const out: string[] = [];
  let rest = line;
  while (rest.length > 78) {
    const at = rest.lastIndexOf(' ', 78);
    if (at <= 0) break;
    out.push(rest.slice(0, at));
    rest = rest.slice(at); // the space starts the continuation line
  }
  out.push(rest);
  return out.join(CRLF);
}

/** Quoted-printable (RFC 2045 §6.7) of UTF-8 text; '\n' separates lines; output lines ≤ 76. */
export function quotedPrintable(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const bytes = Buffer.from(line, 'utf8');
      const out: string[] = [];
      let cur = '';
      bytes.forEach((b, i) => {
        const last = i === bytes.length - 1;
        const plain = (b >= 33 && b <= 126 && b !== 61) || ((b === 32 || b === 9) && !last);
        const token = plain ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
        if (cur.length + token.length > 75) {
          out.push(`${cur}=`);
          cur = '';
        }
        cur += token;
      });
      out.push(cur);
      return out.join(CRLF);
    })
    .join(CRLF);
}

/** The header block of a message, with its final line break (everything before the first empty line). */
export function headerBlock(raw: Buffer): Buffer {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return raw.subarray(0, crlf + 2);
  if (lf >= 0) return normalizeEol(raw.subarray(0, lf + 1));
  return normalizeEol(raw);
}

function headerValue(block: Buffer, name: string): string | null {
  const unfolded = block.toString('latin1').replace(/\r?\n[ \t]+/g, ' ');
  const m = unfolded.match(new RegExp(`^${name}:[ \\t]*(<[^>\\r\\n]+>)`, 'im'));
  return m ? clean(m[1]!) : null;
}

/** Bare LF line ends become CRLF (messages travel with CRLF). */
function normalizeEol(raw: Buffer): Buffer {
  if (!raw.includes('\n')) return raw;
  let bare = false;
  for (let i = raw.indexOf('\n'); i >= 0; i = raw.indexOf('\n', i + 1)) {
    if (i === 0 || raw[i - 1] !== 0x0d) {
      bare = true;
      break;
    }
  }
  if (!bare) return raw;
  return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}
