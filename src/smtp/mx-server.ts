/**
 * The inbound MX of the trust space, on smtp-server.
 *
 * Phases (each a typed handler below):
 *  - connect: limits (maxClients, idle timeout); no AUTH on the MX, STARTTLS offered;
 *  - STARTTLS (onSecure): the client certificate is asked for during the handshake and validated
 *    ONCE per connection (chain to the IGC-Santé anchors, dates, clientAuth usage, CRL); nothing is
 *    refused yet, so that the refusal can name the reason at MAIL FROM;
 *  - MAIL FROM: TLS required (530 5.7.0), then the peer check of smtp/peer-check.ts against the
 *    sender's domain (550 5.7.1 with the reason). The null sender (bounces, DSNs) is accepted from
 *    a peer whose DN is listed for at least one domain. Every decision goes to the structured log
 *    and to the audit table (`smtp.in.accept` / `smtp.in.refuse`);
 *  - RCPT TO: local active BALs only (550 5.1.1 unknown, 450 4.2.1 suspended, 550 5.1.6 closed,
 *    550 5.7.1 for a domain we do not serve: no relay);
 *  - DATA: SIZE advertised and enforced (552 5.3.4); a `Received:` header with the TLS details
 *    and the peer DN is prepended; ENVID de-duplication (see InboundDedupe); `deliverLocal` stores
 *    the message durably and only then is 250 sent. Any failure answers 451 4.3.0: nothing was
 *    acknowledged, so nothing is lost (the peer retries).
 *
 * Replies carry our own enhanced status codes (SmtpReplyError): smtp-server would add its own
 * guess from the reply code, so each connection's send() is told to leave a reply alone when its
 * text already starts with an enhanced code of the same class.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { TLSSocket, TlsOptions } from 'node:tls';
import {
  SMTPServer,
  type SMTPServerAddress,
  type SMTPServerDataStream,
  type SMTPServerOptions,
  type SMTPServerSession,
} from 'smtp-server';
import type { Logger } from '../logger.ts';
import type { AuditEntry } from '../store/audit.ts';
import { tryNormaliseDn } from '../trust/dn.ts';
import { type CertificateValidator, peerChainFromTls, type Verdict } from '../trust/pki/validator.ts';
import { normaliseDomain } from '../trust/whitelist/list.ts';
import { rfc5322Date } from './dsn.ts';
import { checkPeer, type PeerDecision, type WhitelistView } from './peer-check.ts';
import { isSmtpReplyError, refusals, type SmtpReplyError, safeText } from './reply.ts';

export type RecipientStatus = 'active' | 'suspended' | 'closed';

export interface InboundRecipient {
  /** As given in RCPT TO, lower-cased. */
  address: string;
  /** RFC 3461 NOTIFY ('NEVER' or a subset of 'SUCCESS,FAILURE,DELAY'), or null. */
  notify: string | null;
  /** RFC 3461 ORCPT, decoded ('rfc822;a@b.fr'), or null. */
  orcpt: string | null;
}

export interface InboundMeta {
  /** `<session id>.<transaction>`: the id in the Received header and the logs. */
  id: string;
  /** Envelope sender; '' for the null sender. */
  mailFrom: string;
  envid: string | null;
  ret: 'FULL' | 'HDRS' | null;
  peer: {
    ip: string;
    helo: string;
    /** Subject DN of the validated client certificate. */
    dn: string | null;
    fingerprint: string | null;
    /** The rule that admitted the sender (listed-dn, listed-dn-null-sender). */
    rule: string;
  };
  tls: { protocol: string | null; cipher: string | null };
  /** Size of the message as received (without our Received header). */
  size: number;
  receivedAt: Date;
  /**
   * The ENVID de-duplication key of this message (null without ENVID, without a peer DN, or
   * without `dedupe`). A `deliverLocal` that records it in the delivery's own transaction says
   * so (`{ dedupeRecorded: true }`), and the MX does not record it again.
   */
  dedupeKey: DedupeKey | null;
}

/** Identifies one message from one peer: the de-duplication key without the recipient. */
export interface DedupeKey {
  /** DN key of the peer certificate. */
  peerDn: string;
  envid: string;
  /** SHA-256 (hex) of the message as received. */
  sha256: string;
}

/**
 * ENVID de-duplication: a sending operator that did not see our 250 (its worker died after it)
 * sends the message again with the same ENVID; the recipients already stored are answered 250
 * without being stored twice.
 */
export interface InboundDedupe {
  /** Of these recipients (lower case), those already stored for this key. */
  seen(key: DedupeKey, rcpts: readonly string[]): Promise<Set<string>>;
  record(key: DedupeKey, rcpts: readonly string[]): Promise<void>;
}

export interface MxServerOptions {
  /** TLS options of the listener (smtp/tls-policy.ts mxTlsOptions). */
  tls: TlsOptions;
  /** The liste blanche in use (the service's current()). */
  whitelist: { current(): WhitelistView };
  validator: Pick<CertificateValidator, 'validate'>;
  /** Status of a local BAL, null when there is none. */
  recipients: (address: string) => Promise<RecipientStatus | null>;
  /** Domains served here: RCPT TO for any other is relaying, refused. */
  localDomains: readonly string[];
  /**
   * Stores the message durably for these recipients; resolves once committed. Resolves with
   * `{ dedupeRecorded: true }` when it recorded `meta.dedupeKey` for them in the same commit.
   */
  deliverLocal: (
    raw: Buffer,
    rcpts: InboundRecipient[],
    meta: InboundMeta,
    // biome-ignore lint/suspicious/noConfusingVoidType: an `async () => {}` that records nothing is fine
  ) => Promise<void | { dedupeRecorded: boolean }>;
  maxMessageBytes: number;
  /** Our host name (greeting, Received: by). */
  hostname: string;
  logger: Logger;
  /** Records an audit entry; not awaited by the SMTP dialogue, failures are logged. */
  audit: (entry: AuditEntry) => void | Promise<void>;
  dedupe?: InboundDedupe;
  maxClients?: number;
  socketTimeoutMs?: number;
  /** Recipients per transaction (RFC 5321 §4.5.3.1.8 asks for at least 100). Default 100. */
  maxRecipients?: number;
  /** How long stop() lets transactions in progress finish. Default 10 s. */
  closeTimeoutMs?: number;
  clock?: () => Date;
}

export interface MxServer {
  readonly server: SMTPServer;
  listen(port: number, host: string): Promise<AddressInfo>;
  /** The bound address once listening. */
  address(): AddressInfo | null;
  /** Stops accepting, lets transactions in progress end (closeTimeoutMs), closes. */
  close(): Promise<void>;
}

/** What a connection knows once STARTTLS is done and MAIL FROM has been judged. */
interface ConnectionState {
  verdict: Verdict | null;
  protocol: string | null;
  cipher: string | null;
  decision: PeerDecision | null;
}

const ENHANCED_PREFIX = /^([245])\.\d{1,3}\.\d{1,3} /;

/** Lower-case domain of an address, '' when it has none. */
function domainPart(address: string): string {
  const at = address.lastIndexOf('@');
  return at > 0 && at < address.length - 1 ? address.slice(at + 1).toLowerCase() : '';
}

/** A header comment: ASCII, no parentheses or backslashes left unescaped. */
const comment = (text: string) => safeText(text, 300).replace(/([()\\])/g, '\\$1');

/** The `Received:` header (RFC 5321 §4.4), folded, CRLF-terminated. */
export function receivedHeader(args: {
  helo: string;
  clientHostname: string;
  ip: string;
  protocol: string | null;
  cipher: string | null;
  peerDn: string | null;
  peerRule: string;
  by: string;
  with: string;
  id: string;
  for?: string | null;
  date: Date;
}): Buffer {
  const ip = args.ip.includes(':') ? `IPv6:${args.ip}` : args.ip;
  const helo = safeText(args.helo || 'unknown', 255).replace(/[\s();\\]/g, '') || 'unknown';
  const host = safeText(args.clientHostname || '', 255).replace(/[\s();\\[\]]/g, '');
  const named = host && host !== args.ip && host !== `[${args.ip}]`;
  const lines = [`Received: from ${helo} (${named ? `${host} ` : ''}[${ip}])`];
  if (args.protocol) {
    lines.push(`\t(using ${comment(args.protocol)} with cipher ${comment(args.cipher ?? 'unknown')})`);
  }
  if (args.peerDn) {
    lines.push(
      `\t(client certificate "${comment(args.peerDn).replace(/"/g, "'")}" verified, ${comment(args.peerRule)})`,
    );
  }
  lines.push(`\tby ${args.by} with ${args.with} id ${args.id}`);
  lines.push(`\t${args.for ? `for <${safeText(args.for, 320)}>; ` : ''}${rfc5322Date(args.date)}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1');
}

export function dedupeKeyOf(peerDnKey: string, envid: string, raw: Buffer): DedupeKey {
  return { peerDn: peerDnKey, envid, sha256: createHash('sha256').update(raw).digest('hex') };
}

export function createMxServer(opts: MxServerOptions): MxServer {
  const log = opts.logger.child({ mod: 'smtp-mx' });
  const clock = opts.clock ?? (() => new Date());
  const localDomains = new Set(opts.localDomains.map((d) => normaliseDomain(d)));
  const states = new WeakMap<SMTPServerSession, ConnectionState>();
  const stateOf = (session: SMTPServerSession): ConnectionState => {
    let s = states.get(session);
    if (!s) {
      s = { verdict: null, protocol: null, cipher: null, decision: null };
      states.set(session, s);
    }
    return s;
  };

  const audit = (entry: AuditEntry) => {
    try {
      const p = opts.audit(entry);
      if (p)
        p.catch((err: unknown) =>
          log.error({ err, action: entry.action }, 'could not write the audit entry'),
        );
    } catch (err) {
      log.error({ err, action: entry.action }, 'could not write the audit entry');
    }
  };

  /** The reply of a failure: ours as is, anything else a local error (temporary). */
  const asReply = (e: unknown): SmtpReplyError => (isSmtpReplyError(e) ? e : refusals.localError(e));

  const options: SMTPServerOptions = {
    ...opts.tls,
    secure: false,
    name: opts.hostname,
    banner: 'MSSante operator MX (STARTTLS and a listed client certificate required)',
    size: opts.maxMessageBytes,
    rejectOversized: true,
    disabledCommands: ['AUTH'],
    hideSTARTTLS: false,
    hidePIPELINING: false,
    hide8BITMIME: false,
    hideSMTPUTF8: false,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: false,
    disableReverseLookup: true,
    logger: false,
    maxClients: opts.maxClients ?? 200,
    socketTimeout: opts.socketTimeoutMs ?? 60_000,
    closeTimeout: opts.closeTimeoutMs ?? 10_000,
    maxRecipients: opts.maxRecipients ?? 100,

    onConnect(session, callback) {
      // Our replies carry their own enhanced code: keep smtp-server from adding its guess.
      for (const conn of server.connections) {
        if (conn.session !== session) continue;
        const send = conn.send.bind(conn);
        conn.send = (code: number, data: string | string[], context?: string | false) => {
          const m = typeof data === 'string' ? ENHANCED_PREFIX.exec(data) : null;
          return m && Number(m[1]) === Math.floor(code / 100)
            ? send(code, data, false)
            : send(code, data, context);
        };
        break;
      }
      stateOf(session);
      log.debug({ session: session.id, ip: session.remoteAddress }, 'connection');
      callback();
    },

    onSecure(socket, session, callback) {
      const st = stateOf(session);
      const tls = socket as TLSSocket;
      try {
        st.protocol = tls.getProtocol?.() ?? null;
        st.cipher = tls.getCipher?.()?.name ?? null;
        st.verdict = opts.validator.validate(peerChainFromTls(tls.getPeerCertificate(true)), {
          purpose: 'clientAuth',
        });
      } catch (err) {
        log.error({ err, session: session.id }, 'could not validate the client certificate');
        st.verdict = {
          ok: false,
          reason: 'bad-signature',
          message: 'the TLS client certificate could not be validated',
        };
      }
      const v = st.verdict;
      log.info(
        {
          session: session.id,
          ip: session.remoteAddress,
          protocol: st.protocol,
          cipher: st.cipher,
          dn: v.subjectDn ?? null,
          fingerprint: v.fingerprint ?? null,
          certificate: v.ok ? 'valid' : v.reason,
          ...(v.ok ? { revocation: v.revocation } : { detail: v.message }),
        },
        'STARTTLS done',
      );
      callback();
    },

    onMailFrom(address, session, callback) {
      const st = stateOf(session);
      const mailFrom = address.address;
      const domain = mailFrom === '' ? '' : domainPart(mailFrom);
      if (mailFrom !== '' && domain === '') {
        callback(refusals.badAddress(mailFrom));
        return;
      }
      let decision: PeerDecision;
      try {
        decision = checkPeer({
          direction: 'inbound',
          tls: session.secure,
          verdict: session.secure ? st.verdict : null,
          whitelist: opts.whitelist.current(),
          domain,
        });
      } catch (err) {
        log.error({ err, session: session.id }, 'peer check failed');
        callback(refusals.trustCheckFailed(err));
        return;
      }
      st.decision = decision;
      const fields = {
        session: session.id,
        ip: session.remoteAddress,
        helo: session.hostNameAppearsAs || null,
        mailFrom,
        domain: decision.domain || '<>',
        dn: decision.dn,
        fingerprint: decision.fingerprint,
        rule: decision.rule,
      };
      audit({
        actor: 'smtp:mx',
        action: decision.ok ? 'smtp.in.accept' : 'smtp.in.refuse',
        subject: decision.domain || '<>',
        details: {
          ...fields,
          explain: decision.explain,
          ...(decision.ok ? {} : { reply: String(decision.error) }),
        },
      });
      if (decision.ok) {
        log.info({ ...fields, explain: decision.explain }, 'sender accepted');
        callback();
      } else {
        log.warn({ ...fields, explain: decision.explain, reply: String(decision.error) }, 'sender refused');
        callback(decision.error);
      }
    },

    onRcptTo(address, session, callback) {
      const rcpt = address.address.toLowerCase();
      const domain = domainPart(rcpt);
      const refuse = (e: SmtpReplyError) => {
        log.info({ session: session.id, rcpt, rule: e.reason, reply: String(e) }, 'recipient refused');
        callback(e);
      };
      if (!domain) return refuse(refusals.badAddress(rcpt));
      if (!localDomains.has(normaliseDomain(domain))) return refuse(refusals.relayDenied(rcpt));
      opts.recipients(rcpt).then(
        (status) => {
          if (status === 'active') return callback();
          if (status === 'suspended') return refuse(refusals.recipientSuspended(rcpt));
          if (status === 'closed') return refuse(refusals.recipientClosed(rcpt));
          return refuse(refusals.unknownRecipient(rcpt));
        },
        (err: unknown) => {
          log.error({ err, session: session.id, rcpt }, 'recipient lookup failed');
          callback(refusals.localError(err));
        },
      );
    },

    onData(stream: SMTPServerDataStream, session, callback) {
      const chunks: Buffer[] = [];
      let bytes = 0;
      stream.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        // Past the limit the message is refused (rejectOversized): stop keeping it.
        if (bytes <= opts.maxMessageBytes) chunks.push(chunk);
      });
      stream.once('error', (err) => {
        log.warn({ err, session: session.id }, 'DATA stream error');
      });
      stream.once('end', () => {
        if (stream.sizeExceeded || bytes > opts.maxMessageBytes) {
          log.info({ session: session.id, bytes, limit: opts.maxMessageBytes }, 'message too large');
          callback(refusals.messageTooLarge(opts.maxMessageBytes));
          return;
        }
        receive(Buffer.concat(chunks, Math.min(bytes, opts.maxMessageBytes)), session).then(
          (text) => callback(null, text),
          (err: unknown) => callback(asReply(err)),
        );
      });
    },
  };

  /** Stores a received message; resolves with the 250 text once it is durably stored. */
  async function receive(data: Buffer, session: SMTPServerSession): Promise<string> {
    const st = stateOf(session);
    const started = performance.now();
    const id = `${session.id}.${session.transaction}`;
    const envelope = session.envelope;
    const mailFrom = envelope.mailFrom ? envelope.mailFrom.address : '';
    const decision = st.decision;
    if (!decision?.ok) throw refusals.localError(new Error('DATA without an accepted sender'));
    const rcpts: InboundRecipient[] = envelope.rcptTo.map((r: SMTPServerAddress) => ({
      address: r.address.toLowerCase(),
      notify: r.dsn?.notify?.length ? r.dsn.notify.map((n) => n.toUpperCase()).join(',') : null,
      orcpt: r.dsn?.orcpt ?? null,
    }));
    const envid = envelope.dsn?.envid ?? null;
    const ret = envelope.dsn?.ret === 'FULL' || envelope.dsn?.ret === 'HDRS' ? envelope.dsn.ret : null;
    const now = clock();
    // De-duplication of a retransmission by the same peer (same DN, ENVID and bytes).
    const peerKey = decision.dn ? (tryNormaliseDn(decision.dn) ?? decision.dn) : null;
    const key = opts.dedupe && envid && peerKey ? dedupeKeyOf(peerKey, envid, data) : null;
    const meta: InboundMeta = {
      id,
      mailFrom,
      envid,
      ret,
      peer: {
        ip: session.remoteAddress,
        helo: session.hostNameAppearsAs || '',
        dn: decision.dn,
        fingerprint: decision.fingerprint,
        rule: decision.rule,
      },
      tls: { protocol: st.protocol, cipher: st.cipher },
      size: data.length,
      receivedAt: now,
      dedupeKey: key,
    };
    const logFields = {
      session: session.id,
      id,
      mailFrom: mailFrom || '<>',
      rcpts: rcpts.map((r) => r.address),
      size: data.length,
      dn: decision.dn,
      envid,
    };

    let todo = rcpts;
    if (key && opts.dedupe) {
      const seen = await opts.dedupe.seen(
        key,
        rcpts.map((r) => r.address),
      );
      if (seen.size > 0) {
        todo = rcpts.filter((r) => !seen.has(r.address));
        log.info({ ...logFields, duplicates: [...seen] }, 'already stored for this ENVID: not stored again');
      }
    }

    if (todo.length > 0) {
      const received = receivedHeader({
        helo: session.hostNameAppearsAs || '',
        clientHostname: session.clientHostname || '',
        ip: session.remoteAddress,
        protocol: st.protocol,
        cipher: st.cipher,
        peerDn: decision.dn,
        peerRule: decision.rule,
        by: opts.hostname,
        with: session.transmissionType || 'ESMTPS',
        id,
        for: rcpts.length === 1 ? rcpts[0]!.address : null,
        date: now,
      });
      let recorded = false;
      try {
        const r = await opts.deliverLocal(Buffer.concat([received, data]), todo, meta);
        recorded = r?.dedupeRecorded === true;
      } catch (err) {
        const reply = asReply(err);
        log.error({ ...logFields, err, reply: String(reply) }, 'message not stored');
        throw reply;
      }
      if (key && opts.dedupe && !recorded) {
        // Recorded after the commit: a crash in between lets a retransmission be stored again.
        await opts.dedupe
          .record(
            key,
            todo.map((r) => r.address),
          )
          .catch((err: unknown) =>
            log.error({ ...logFields, err }, 'could not record the ENVID for de-duplication'),
          );
      }
    }
    log.info({ ...logFields, ms: Math.round(performance.now() - started) }, 'message accepted');
    return `Message accepted, id ${id}`;
  }

  const server = new SMTPServer(options);
  server.on('error', (err: Error & { code?: string }) => {
    // Connection-level errors (a peer resetting, a failed handshake) end up here.
    log.debug({ err: { message: err.message, code: err.code } }, 'SMTP connection error');
  });

  let bound: AddressInfo | null = null;
  return {
    server,
    listen(port, host) {
      return new Promise<AddressInfo>((resolve, reject) => {
        const onError = (err: Error) => {
          server.server.off('listening', onListening);
          reject(err);
        };
        const onListening = () => {
          server.server.off('error', onError);
          bound = server.server.address() as AddressInfo;
          log.info({ host: bound.address, port: bound.port }, 'MX listening');
          resolve(bound);
        };
        server.server.once('error', onError);
        server.server.once('listening', onListening);
        server.listen(port, host);
      });
    },
    address: () => bound,
    close() {
      return new Promise<void>((resolve) => {
        if (!server.server.listening) {
          // Never listened (or already closed): still end the connections handed to connect().
          for (const conn of server.connections) conn.close();
          resolve();
          return;
        }
        // Connections between transactions (a peer keeping its connection for the next message)
        // are told 421 and closed now; the others once their transaction is over, or after
        // closeTimeoutMs (smtp-server's own 421).
        const sweep = () => {
          for (const conn of server.connections) {
            const inTransaction =
              Boolean(conn.session?.envelope?.mailFrom) ||
              Boolean((conn as { _dataStream?: unknown })._dataStream);
            if (!inTransaction) {
              conn.send(421, '4.3.2 Service shutting down, try again later');
              conn.close();
            }
          }
        };
        const timer = setInterval(sweep, 100);
        timer.unref();
        server.close(() => {
          clearInterval(timer);
          resolve();
        });
        sweep();
      });
    },
  };
}
