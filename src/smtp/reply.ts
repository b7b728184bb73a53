/**
 * SMTP replies as values. PURE: no I/O.
 *
 * `SmtpReplyError` is the one error type that carries SMTP semantics through the code (see
 * ARCHITECTURE.md): the reply code, the enhanced status code (RFC 3463), whether it is temporary
 * (4xx) or permanent (5xx), a text that is safe to send to the peer (ASCII, one line, no secrets)
 * and details for the log and the audit table only. The MX answers with it; the deliverer turns
 * the replies it gets (and its own refusals) into it; a DSN reads its code and enhanced code.
 *
 * The catalogue below lists every refusal the operator itself makes, with its code. The peer
 * text of a trust refusal names the reason in a fixed bracketed tag (`[cert-expired]`, …) so
 * that a peer operator, or the ANS audit tool, can tell the cases apart without parsing prose.
 */

export type ReplyClass = 'temporary' | 'permanent';

/** Machine name of a refusal (log field `rule`, audit `details.rule`). */
export type RefusalReason =
  // Trust space (both directions)
  | 'tls-required'
  | 'no-certificate'
  | 'untrusted-issuer'
  | 'expired'
  | 'not-yet-valid'
  | 'revoked'
  | 'wrong-usage'
  | 'bad-signature'
  | 'domain-not-listed'
  | 'dn-not-listed'
  | 'trust-check-failed'
  // Recipients (inbound)
  | 'unknown-recipient'
  | 'recipient-suspended'
  | 'recipient-closed'
  | 'relay-denied'
  | 'bad-address'
  // Transaction (inbound)
  | 'message-too-large'
  | 'local-error'
  // Outbound transport
  | 'dns-no-domain'
  | 'dns-null-mx'
  | 'dns-temporary'
  | 'connection-failed'
  | 'starttls-unavailable'
  | 'tls-handshake-failed'
  | 'remote-reply';

export interface SmtpReplyInit {
  code: number;
  /** x.y.z, its class digit the same as the code's. */
  enhanced: string;
  /** Safe for the peer: made ASCII and one line here. */
  text: string;
  reason: RefusalReason;
  /** For the log and the audit table only (never sent to the peer). */
  details?: Record<string, unknown>;
  cause?: unknown;
}

const ENHANCED_RE = /^([245])\.(\d{1,3})\.(\d{1,3})$/;

/** ASCII, one line, trimmed, at most `max` characters: what may go into a reply line. */
export function safeText(text: string, max = 400): string {
  const clean = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();
  return clean.length > max ? `${clean.slice(0, max - 3)}...` : clean;
}

export class SmtpReplyError extends Error {
  override readonly name = 'SmtpReplyError';
  readonly code: number;
  readonly enhanced: string;
  /** The peer-safe text (without code and enhanced code). */
  readonly text: string;
  readonly reason: RefusalReason;
  readonly details: Record<string, unknown>;

  constructor(init: SmtpReplyInit) {
    const code = init.code;
    if (!Number.isInteger(code) || code < 400 || code > 599)
      throw new RangeError(`not an error reply: ${code}`);
    const m = ENHANCED_RE.exec(init.enhanced);
    if (!m || Number(m[1]) !== Math.floor(code / 100)) {
      throw new RangeError(`enhanced status ${init.enhanced} does not match reply code ${code}`);
    }
    const text = safeText(init.text);
    // smtp-server sends `${responseCode} ${message}`; the MX keeps it from adding its own
    // enhanced code when the message already starts with one (see mx-server.ts).
    super(`${init.enhanced} ${text}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = code;
    this.enhanced = init.enhanced;
    this.text = text;
    this.reason = init.reason;
    this.details = init.details ?? {};
  }

  /** smtp-server reads the reply code from here. */
  get responseCode(): number {
    return this.code;
  }

  get temporary(): boolean {
    return this.code < 500;
  }

  get permanent(): boolean {
    return this.code >= 500;
  }

  get replyClass(): ReplyClass {
    return this.temporary ? 'temporary' : 'permanent';
  }

  /** The reply line as sent: `550 5.7.1 text`. */
  override toString(): string {
    return `${this.code} ${this.enhanced} ${this.text}`;
  }
}

export function isSmtpReplyError(e: unknown): e is SmtpReplyError {
  return e instanceof SmtpReplyError;
}

// ---------------------------------------------------------------------------------------------
// Parsing replies we receive (outbound)

export interface ParsedReply {
  code: number | null;
  enhanced: string | null;
  /** The text after the code and the enhanced code, lines joined by a space. */
  text: string;
}

/**
 * Splits a (possibly multi-line) reply as nodemailer reports it (`550 5.1.1 <x>: unknown`,
 * or `550-5.1.1 a\n550 5.1.1 b`) into its code, enhanced code and text. When the reply has no
 * valid enhanced code, `enhanced` is null.
 */
export function parseReply(response: string | null | undefined, fallbackCode?: number | null): ParsedReply {
  const lines = String(response ?? '')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  let code: number | null = null;
  let enhanced: string | null = null;
  const texts: string[] = [];
  for (const line of lines) {
    const m = /^(\d{3})[ -]?(.*)$/.exec(line);
    let rest = line;
    if (m) {
      code ??= Number(m[1]);
      rest = m[2]!;
    }
    const e = /^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)(.*)$/.exec(rest);
    if (e) {
      enhanced ??= e[1]!;
      rest = e[2]!;
    }
    if (rest) texts.push(rest);
  }
  code ??= fallbackCode ?? null;
  if (enhanced && code != null && Number(enhanced[0]) !== Math.floor(code / 100)) enhanced = null;
  return { code, enhanced, text: safeText(texts.join(' '), 1000) };
}

// ---------------------------------------------------------------------------------------------
// The catalogue of our own refusals
//
// Codes, and why:
//  - 530 5.7.0 before STARTTLS: the reply RFC 3207 §4 prescribes ("Must issue a STARTTLS command
//    first"); permanent because a peer that does not do TLS will not start by retrying.
//  - 550 5.7.1 for every trust refusal (no client certificate, untrusted issuer, expired, not yet
//    valid, revoked, wrong key usage, bad signature, domain not on the liste blanche, DN not
//    listed for the domain): they are refused at MAIL FROM, where RFC 5321 §4.3.2 allows 550
//    (554 is not a MAIL reply), and X.7.1 is "delivery not authorized, message refused"
//    (RFC 3463). They are permanent: retrying with the same certificate gives the same answer,
//    and MSSanté wants the sender told at once. The bracketed tag in the text names the case.
//  - 451 4.7.0 when the trust check itself could not run (liste blanche or validator not ready):
//    our fault, the peer retries.
//  - 550 5.1.1 unknown local BAL; 550 5.1.6 closed BAL ("mailbox has moved", X.1.6: the address
//    was valid once and no longer takes mail, never given to someone else); 450 4.2.1 suspended
//    BAL ("mailbox disabled", X.2.1, temporary: the sender retries until its queue expiry and the
//    mail arrives if the BAL is reactivated in time, else it bounces); 550 5.7.1 relaying denied
//    for a domain we do not serve (the MX takes mail for local BALs only).
//  - 552 5.3.4 message larger than mail.maxMessageBytes (SIZE, RFC 1870).
//  - 451 4.3.0 when storing the message failed: nothing was acknowledged, the peer retries.

type TrustDirection = 'inbound' | 'outbound';

const who = (direction: TrustDirection) =>
  direction === 'inbound' ? 'your TLS client certificate' : 'the TLS server certificate';

export const refusals = {
  tlsRequired(): SmtpReplyError {
    return new SmtpReplyError({
      code: 530,
      enhanced: '5.7.0',
      reason: 'tls-required',
      text: 'Must issue a STARTTLS command first [tls-required] (MSSante: TLS is mandatory)',
    });
  },

  noCertificate(direction: TrustDirection = 'inbound', details?: Record<string, unknown>): SmtpReplyError {
    return new SmtpReplyError({
      code: 550,
      enhanced: '5.7.1',
      reason: 'no-certificate',
      text:
        direction === 'inbound'
          ? 'Refused [no-certificate]: no TLS client certificate was presented (MSSante requires the SERV_SSL certificate of the operator)'
          : 'Refused [no-certificate]: the server presented no TLS certificate',
      ...(details ? { details } : {}),
    });
  },

  certificate(
    reason: 'untrusted-issuer' | 'expired' | 'not-yet-valid' | 'revoked' | 'wrong-usage' | 'bad-signature',
    direction: TrustDirection,
    details?: Record<string, unknown>,
  ): SmtpReplyError {
    const what: Record<typeof reason, [string, string]> = {
      'untrusted-issuer': [
        'untrusted-issuer',
        'is not issued by a trusted IGC-Sante certification authority',
      ],
      expired: ['cert-expired', 'has expired'],
      'not-yet-valid': ['cert-not-yet-valid', 'is not valid yet'],
      revoked: ['cert-revoked', 'has been revoked'],
      'wrong-usage': [
        'cert-wrong-usage',
        `is not allowed for ${direction === 'inbound' ? 'TLS client' : 'TLS server'} authentication`,
      ],
      'bad-signature': ['cert-bad-signature', 'has an invalid signature or cannot be read'],
    };
    const [tag, sentence] = what[reason];
    return new SmtpReplyError({
      code: 550,
      enhanced: '5.7.1',
      reason,
      text: `Refused [${tag}]: ${who(direction)} ${sentence}`,
      ...(details ? { details } : {}),
    });
  },

  domainNotListed(
    domain: string,
    direction: TrustDirection,
    details?: Record<string, unknown>,
  ): SmtpReplyError {
    return new SmtpReplyError({
      code: 550,
      enhanced: '5.7.1',
      reason: 'domain-not-listed',
      text:
        direction === 'inbound'
          ? `Refused [domain-not-listed]: the sender domain ${domain} is not on the MSSante liste blanche`
          : `Not sent [domain-not-listed]: the domain ${domain} is not on the MSSante liste blanche`,
      ...(details ? { details } : {}),
    });
  },

  dnNotListed(
    domain: string,
    direction: TrustDirection,
    differs: readonly string[],
    details?: Record<string, unknown>,
  ): SmtpReplyError {
    const tag = differs.length === 1 && differs[0] === 'CN' ? 'cn-mismatch' : 'dn-mismatch';
    const diff = differs.length
      ? ` (${differs.join(', ')} ${differs.length === 1 ? 'differs' : 'differ'} from the listed DN)`
      : '';
    return new SmtpReplyError({
      code: 550,
      enhanced: '5.7.1',
      reason: 'dn-not-listed',
      text: `Refused [${tag}]: the subject DN of ${who(direction)} is not listed for ${domain} on the MSSante liste blanche${diff}`,
      ...(details ? { details } : {}),
    });
  },

  nullSenderNotListed(details?: Record<string, unknown>): SmtpReplyError {
    return new SmtpReplyError({
      code: 550,
      enhanced: '5.7.1',
      reason: 'dn-not-listed',
      text: 'Refused [dn-mismatch]: the subject DN of your TLS client certificate is not listed for any domain of the MSSante liste blanche',
      ...(details ? { details } : {}),
    });
  },

  trustCheckFailed(cause?: unknown): SmtpReplyError {
    return new SmtpReplyError({
      code: 451,
      enhanced: '4.7.0',
      reason: 'trust-check-failed',
      text: 'Trust check temporarily unavailable, try again later',
      cause,
    });
  },

  unknownRecipient(address: string): SmtpReplyError {
    return new SmtpReplyError({
      code: 550,
      enhanced: '5.1.1',
      reason: 'unknown-recipient',
      text: `<${address}>: no such mailbox (BAL) here`,
    });
  },

  recipientSuspended(address: string): SmtpReplyError {
    return new SmtpReplyError({
      code: 450,
      enhanced: '4.2.1',
      reason: 'recipient-suspended',
      text: `<${address}>: this mailbox (BAL) is suspended, try again later`,
    });
  },

  recipientClosed(address: string): SmtpReplyError {
    return new SmtpReplyError({
      code: 550,
      enhanced: '5.1.6',
      reason: 'recipient-closed',
      text: `<${address}>: this mailbox (BAL) is closed and no longer receives mail`,
    });
  },

  relayDenied(address: string): SmtpReplyError {
    return new SmtpReplyError({
      code: 550,
      enhanced: '5.7.1',
      reason: 'relay-denied',
      text: `<${address}>: relaying denied, this MX only takes mail for its own domains`,
    });
  },

  badAddress(address: string): SmtpReplyError {
    return new SmtpReplyError({
      code: 553,
      enhanced: '5.1.3',
      reason: 'bad-address',
      text: `<${address}>: not a valid mailbox address`,
    });
  },

  messageTooLarge(limit: number): SmtpReplyError {
    return new SmtpReplyError({
      code: 552,
      enhanced: '5.3.4',
      reason: 'message-too-large',
      text: `Message exceeds the maximum size of ${limit} bytes`,
    });
  },

  localError(cause?: unknown): SmtpReplyError {
    return new SmtpReplyError({
      code: 451,
      enhanced: '4.3.0',
      reason: 'local-error',
      text: 'Local error while storing the message, nothing was accepted: try again later',
      cause,
    });
  },
} as const;
