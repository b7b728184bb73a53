/**
 * Outbound delivery to another operator of the trust space: the `Deliverer` the delivery worker
 * (queue/worker.ts) calls with one message and the recipients of one domain.
 *
 *  1. The destination domain must be on the liste blanche: else every recipient fails at once,
 *     permanently (5.7.1 [domain-not-listed]); the worker sends the DSN.
 *  2. Route: `delivery.routes[domain]` ("host:port", tests and private links) or the DNS MX
 *     records (lowest preference first; no MX record: the domain itself, its A/AAAA; a null MX:
 *     permanent 5.1.10; no such domain: permanent 5.1.2; DNS trouble: temporary 4.4.3).
 *  3. For each host in turn: connect, STARTTLS required (not offered: temporary 4.7.4 like
 *     Postfix, nothing ever goes in clear), our SERV_SSL certificate as the client certificate,
 *     then BEFORE MAIL FROM our own check of the server: its chain (validator, serverAuth) and
 *     its subject DN among the liste blanche DNs of the domain (smtp/peer-check.ts). A refused
 *     server is QUIT and the next host tried; when every host reached was refused on trust the
 *     failure is permanent (5.7.1 with the reason), otherwise temporary.
 *  4. One transaction: MAIL FROM with ENVID/RET, RCPT TO with each recipient's NOTIFY/ORCPT
 *     (RFC 3461, when the server advertises DSN), DATA. Results per recipient: 2xx delivered,
 *     4xx temporary, 5xx permanent; connection trouble is temporary.
 *
 * Idempotency between two of our operators: the ENVID sent is the message's own (RFC 3461,
 * assigned at spool time when the submitter gave none; derived from the message's SHA-256 as a
 * last resort) and the receiving MX does not store the same (peer DN, ENVID, recipient, message)
 * twice. So a worker killed after the peer's 250 but before recording it does not duplicate the
 * message. A third-party MTA that ignores ENVID may still get it twice in that window (RFC 5321
 * §6.1 accepts duplicates over losses).
 */
import { createHash } from 'node:crypto';
import { resolveMx as dnsResolveMx } from 'node:dns/promises';
import type { TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import type { Logger } from '../logger.ts';
import type { Deliverer, DeliveryRecipient, DeliveryRequest, RecipientResult } from '../queue/worker.ts';
import type { AuditEntry } from '../store/audit.ts';
import { type CertificateValidator, peerChainFromTls } from '../trust/pki/validator.ts';
import { normaliseDomain } from '../trust/whitelist/list.ts';
import { checkPeer, type PeerDecision, type WhitelistView } from './peer-check.ts';
import { parseReply, refusals, type SmtpReplyError } from './reply.ts';
import { clientSecureContext, clientTlsOptions, type TlsIdentity, type TlsPolicy } from './tls-policy.ts';

export interface MxRecord {
  exchange: string;
  priority: number;
}

/** DNS port: MX records of a domain. Errors carry node:dns codes (ENODATA, ENOTFOUND, ETIMEOUT…). */
export interface MxResolver {
  resolveMx(domain: string): Promise<MxRecord[]>;
}

export const dnsMxResolver: MxResolver = { resolveMx: (domain) => dnsResolveMx(domain) };

export interface Hop {
  host: string;
  port: number;
  /** How the hop was found. */
  via: 'route' | 'mx' | 'implicit-mx';
}

export interface SmtpDelivererOptions {
  whitelist: { current(): WhitelistView };
  validator: Pick<CertificateValidator, 'validate'>;
  policy: TlsPolicy;
  identity: TlsIdentity;
  /** Static routes: domain -> "host:port" (config delivery.routes). */
  routes?: Readonly<Record<string, string>>;
  resolver?: MxResolver;
  /** Our host name (EHLO). */
  heloName: string;
  connectTimeoutMs: number;
  /** Greeting and inactivity timeouts. Default 60 s and 5 min. */
  greetingTimeoutMs?: number;
  socketTimeoutMs?: number;
  /** Port of MX hosts found in DNS. Default 25. */
  mxPort?: number;
  /**
   * A connection whose transaction went well is kept this long for the next message to the same
   * domain and host (no new TCP + TLS handshake). Default 5 s; 0 closes at once.
   */
  idleConnectionMs?: number;
  /** Idle connections kept per domain and host. Default 20. */
  maxIdleConnections?: number;
  /** Transactions on one connection before it is closed. Default 100. */
  maxTransactionsPerConnection?: number;
  logger: Logger;
  /** Records an audit entry (smtp.out.accept / smtp.out.refuse); not awaited, failures logged. */
  audit?: (entry: AuditEntry) => void | Promise<void>;
}

type Failure = Extract<RecipientResult, { ok: false }>;

const failAll = (recipients: readonly DeliveryRecipient[], f: Failure): RecipientResult[] =>
  recipients.map(() => ({ ...f }));

const fromReplyError = (e: SmtpReplyError, remoteMta: string | null = null): Failure => ({
  ok: false,
  permanent: e.permanent,
  // Our own decision, not a reply of the remote server: no code, the enhanced status says it.
  code: null,
  enhanced: e.enhanced,
  message: e.text,
  remoteMta,
});

function transient(enhanced: string, message: string, remoteMta: string | null = null): Failure {
  return { ok: false, permanent: false, code: null, enhanced, message, remoteMta };
}

/** Parses "host:port" (config routes). */
export function parseRoute(route: string): { host: string; port: number } {
  const i = route.lastIndexOf(':');
  const port = Number(route.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`not a host:port route: ${route}`);
  }
  return { host: route.slice(0, i).replace(/^\[|\]$/g, ''), port };
}

class RouteError extends Error {
  constructor(readonly failure: Failure) {
    super(failure.message);
  }
}

/** The hops of a domain, in the order to try them. Throws RouteError. */
export async function routeFor(
  domain: string,
  opts: { routes?: Readonly<Record<string, string>>; resolver: MxResolver; mxPort: number },
): Promise<Hop[]> {
  const d = normaliseDomain(domain);
  const route = Object.entries(opts.routes ?? {}).find(([k]) => normaliseDomain(k) === d)?.[1];
  if (route) return [{ ...parseRoute(route), via: 'route' }];
  let records: MxRecord[];
  try {
    records = await opts.resolver.resolveMx(d);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENODATA') return [{ host: d, port: opts.mxPort, via: 'implicit-mx' }];
    if (code === 'ENOTFOUND') {
      throw new RouteError({
        ok: false,
        permanent: true,
        code: null,
        enhanced: '5.1.2',
        message: `the domain ${d} does not exist (DNS)`,
      });
    }
    throw new RouteError(
      transient('4.4.3', `DNS lookup of the MX of ${d} failed (${code ?? (e as Error).message})`),
    );
  }
  if (records.length === 0) return [{ host: d, port: opts.mxPort, via: 'implicit-mx' }];
  // RFC 7505 null MX: the domain takes no mail.
  if (records.some((r) => r.exchange === '' || r.exchange === '.')) {
    throw new RouteError({
      ok: false,
      permanent: true,
      code: null,
      enhanced: '5.1.10',
      message: `the domain ${d} accepts no mail (null MX)`,
    });
  }
  return [...records]
    .sort((a, b) => a.priority - b.priority)
    .map((r) => ({
      host: r.exchange.replace(/\.$/, '').toLowerCase(),
      port: opts.mxPort,
      via: 'mx' as const,
    }));
}

/** RFC 3461 RCPT parameters of one recipient (xtext-encoded). */
export function rcptDsnArgs(r: Pick<DeliveryRecipient, 'notify' | 'orcpt'>): string {
  const args: string[] = [];
  if (r.notify) args.push(`NOTIFY=${xtext(r.notify)}`);
  if (r.orcpt) args.push(`ORCPT=${xtext(r.orcpt.includes(';') ? r.orcpt : `rfc822;${r.orcpt}`)}`);
  return args.length ? ` ${args.join(' ')}` : '';
}

/** RFC 3461 xtext: '+', '=' and anything outside '!'..'~' as +XX. */
export function xtext(value: string): string {
  return Buffer.from(value, 'utf8')
    .toString('latin1')
    .replace(
      /[^\x21-\x2a\x2c-\x3c\x3e-\x7e]/g,
      (c) => `+${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
    );
}

/** The ENVID of a message: its own, else one derived from its bytes (stable across retries). */
export function envidOf(request: Pick<DeliveryRequest, 'envid' | 'raw' | 'mailFrom'>): string {
  if (request.envid) return request.envid;
  return `mss-h-${createHash('sha256').update(request.mailFrom).update('\u0000').update(request.raw).digest('hex').slice(0, 32)}`;
}

/** nodemailer internals the transaction needs (pinned by the tests of this module). */
interface ConnectionInternals {
  _socket: TLSSocket;
  _supportedExtensions: string[];
  _getDsnRcptToArgs: () => string;
}

interface SmtpError extends Error {
  code?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  recipient?: string;
  rejectedErrors?: SmtpError[];
}

type Attempt =
  | { kind: 'done'; results: RecipientResult[] }
  | { kind: 'connection'; failure: Failure }
  | { kind: 'trust'; failure: Failure; decision: PeerDecision };

/** An SMTP connection past STARTTLS, whose server was accepted for `domain`. */
interface Session {
  conn: SMTPConnection;
  internals: ConnectionInternals;
  hop: Hop;
  domain: string;
  key: string;
  supportsDsn: boolean;
  /** Where connection-level failures go: the transaction in progress, or the idle cache. */
  onFailure: (f: Failure) => void;
  idleTimer: NodeJS.Timeout | null;
  transactions: number;
}

export interface SmtpDeliverer extends Deliverer {
  /** Closes the idle connections kept for reuse. */
  close(): Promise<void>;
}

export function createSmtpDeliverer(opts: SmtpDelivererOptions): SmtpDeliverer {
  const log = opts.logger.child({ mod: 'smtp-out' });
  const resolver = opts.resolver ?? dnsMxResolver;
  const mxPort = opts.mxPort ?? 25;
  const secureContext = clientSecureContext(opts.policy, opts.identity);
  const idleMs = opts.idleConnectionMs ?? 5000;
  const maxIdle = opts.maxIdleConnections ?? 20;
  const maxTransactions = opts.maxTransactionsPerConnection ?? 100;
  /** Idle connections by `${domain}|${host}:${port}`: a server is accepted for one domain. */
  const idle = new Map<string, Session[]>();
  let closed = false;

  const audit = (entry: AuditEntry) => {
    if (!opts.audit) return;
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

  const quit = (s: Session) => {
    if (s.idleTimer) clearTimeout(s.idleTimer);
    s.idleTimer = null;
    s.onFailure = () => {};
    try {
      s.conn.quit();
    } catch {
      // already closed
    }
  };

  const unpark = (s: Session) => {
    const list = idle.get(s.key);
    const i = list?.indexOf(s) ?? -1;
    if (list && i >= 0) list.splice(i, 1);
    if (list && list.length === 0) idle.delete(s.key);
    if (s.idleTimer) clearTimeout(s.idleTimer);
    s.idleTimer = null;
  };

  /** Keeps a healthy connection for the next message to the same domain and host. */
  const park = (s: Session) => {
    const list = idle.get(s.key) ?? [];
    if (closed || s.transactions >= maxTransactions || list.length >= maxIdle || !usable(s)) return quit(s);
    s.onFailure = () => unpark(s);
    s.idleTimer = setTimeout(() => {
      unpark(s);
      quit(s);
    }, idleMs);
    s.idleTimer.unref();
    list.push(s);
    idle.set(s.key, list);
  };

  const usable = (s: Session) => {
    const sock = s.internals._socket;
    return !s.conn.destroyed && !!sock && !sock.destroyed && sock.writable && s.conn.secure;
  };

  const take = (key: string): Session | null => {
    const list = idle.get(key);
    while (list?.length) {
      const s = list.pop()!;
      if (s.idleTimer) clearTimeout(s.idleTimer);
      s.idleTimer = null;
      if (usable(s)) {
        if (list.length === 0) idle.delete(key);
        return s;
      }
      quit(s);
    }
    idle.delete(key);
    return null;
  };

  /** The server check of a connection, for `domain`: chain + liste blanche. Audited. */
  function checkServer(s: Pick<Session, 'internals' | 'hop'>, request: DeliveryRequest): PeerDecision {
    const sock = s.internals._socket;
    const verdict = opts.validator.validate(peerChainFromTls(sock.getPeerCertificate(true)), {
      purpose: 'serverAuth',
    });
    const decision = checkPeer({
      direction: 'outbound',
      tls: true,
      verdict,
      whitelist: opts.whitelist.current(),
      domain: request.domain,
    });
    const fields = {
      domain: request.domain,
      host: s.hop.host,
      port: s.hop.port,
      via: s.hop.via,
      dn: decision.dn,
      fingerprint: decision.fingerprint,
      rule: decision.rule,
      protocol: sock.getProtocol?.() ?? null,
      cipher: sock.getCipher?.()?.name ?? null,
    };
    audit({
      actor: 'smtp:delivery',
      action: decision.ok ? 'smtp.out.accept' : 'smtp.out.refuse',
      subject: request.domain,
      details: {
        ...fields,
        explain: decision.explain,
        mailFrom: request.mailFrom || '<>',
        ...(decision.ok ? {} : { reply: String(decision.error) }),
      },
    });
    if (decision.ok) log.debug({ ...fields, explain: decision.explain }, 'server accepted');
    else log.warn({ ...fields, explain: decision.explain }, 'server refused: not sending');
    return decision;
  }

  /** Connects to one hop and checks it. Never rejects. */
  function open(
    hop: Hop,
    request: DeliveryRequest,
  ): Promise<{ kind: 'open'; session: Session } | Exclude<Attempt, { kind: 'done' }>> {
    const remoteMta = hop.host;
    return new Promise((resolve) => {
      let settled = false;
      const conn = new SMTPConnection({
        host: hop.host,
        port: hop.port,
        secure: false,
        requireTLS: true,
        name: opts.heloName,
        connectionTimeout: opts.connectTimeoutMs,
        greetingTimeout: opts.greetingTimeoutMs ?? 60_000,
        socketTimeout: opts.socketTimeoutMs ?? 300_000,
        tls: clientTlsOptions(opts.policy, opts.identity, hop.host, secureContext),
        logger: false,
      });
      const internals = conn as unknown as ConnectionInternals;
      const session: Session = {
        conn,
        internals,
        hop,
        domain: request.domain,
        key: `${request.domain}|${hop.host}:${hop.port}`,
        supportsDsn: false,
        onFailure: () => {},
        idleTimer: null,
        transactions: 0,
      };
      const finish = (
        r: { kind: 'open'; session: Session } | Exclude<Attempt, { kind: 'done' }>,
        close: 'keep' | 'quit' | 'close',
      ) => {
        if (settled) return;
        settled = true;
        request.signal.removeEventListener('abort', onAbort);
        if (close !== 'keep') {
          session.onFailure = () => {};
          try {
            if (close === 'quit') conn.quit();
            else conn.close();
          } catch {
            // already closed
          }
        }
        resolve(r);
      };
      const onAbort = () =>
        finish(
          { kind: 'connection', failure: transient('4.4.7', 'delivery attempt timed out', remoteMta) },
          'close',
        );
      if (request.signal.aborted) return onAbort();
      request.signal.addEventListener('abort', onAbort, { once: true });
      session.onFailure = (failure) => finish({ kind: 'connection', failure }, 'close');
      conn.on('error', (err: SmtpError) => session.onFailure(connectionFailure(err, remoteMta)));
      conn.on('end', () =>
        session.onFailure(transient('4.4.2', 'connection closed by the server', remoteMta)),
      );

      conn.connect((err?: SmtpError) => {
        if (err) return session.onFailure(connectionFailure(err, remoteMta));
        if (!conn.secure) {
          return finish(
            {
              kind: 'connection',
              failure: transient('4.7.4', 'TLS is required, but the connection is not encrypted', remoteMta),
            },
            'quit',
          );
        }
        let decision: PeerDecision;
        try {
          decision = checkServer(session, request);
        } catch (e) {
          log.error({ err: e, host: hop.host }, 'peer check failed');
          return finish(
            { kind: 'connection', failure: fromReplyError(refusals.trustCheckFailed(e), remoteMta) },
            'quit',
          );
        }
        if (!decision.ok) {
          return finish(
            { kind: 'trust', failure: fromReplyError(decision.error, remoteMta), decision },
            'quit',
          );
        }
        session.supportsDsn = internals._supportedExtensions.includes('DSN');
        finish({ kind: 'open', session }, 'keep');
      });
    });
  }

  /**
   * One transaction on a checked connection. `fresh`: false for a reused connection, on which a
   * failure before the server took MAIL FROM (it closed the idle connection meanwhile) is
   * reported as `stale` so that the message goes on a new connection at once.
   */
  function transact(
    s: Session,
    request: DeliveryRequest,
  ): Promise<{ kind: 'done'; results: RecipientResult[]; reusable: boolean } | { kind: 'stale' }> {
    const remoteMta = s.hop.host;
    const fresh = s.transactions === 0;
    s.transactions++;
    return new Promise((resolve) => {
      let settled = false;
      let mailAccepted = false;
      const done = (
        r: { kind: 'done'; results: RecipientResult[]; reusable: boolean } | { kind: 'stale' },
      ) => {
        if (settled) return;
        settled = true;
        request.signal.removeEventListener('abort', onAbort);
        s.onFailure = () => {};
        resolve(r);
      };
      const failAllNow = (failure: Failure) => {
        if (!fresh && !mailAccepted) return done({ kind: 'stale' });
        done({ kind: 'done', results: failAll(request.recipients, failure), reusable: false });
      };
      const onAbort = () => failAllNow(transient('4.4.7', 'delivery attempt timed out', remoteMta));
      if (request.signal.aborted) return onAbort();
      request.signal.addEventListener('abort', onAbort, { once: true });
      s.onFailure = failAllNow;

      const perRecipient = request.recipients.map((r) => (s.supportsDsn ? rcptDsnArgs(r) : ''));
      let next = 0;
      // nodemailer's DSN options are per envelope; RFC 3461 NOTIFY/ORCPT are per recipient.
      // Its RCPT TO commands are built in recipient order, one call each, after MAIL FROM's 250.
      s.internals._getDsnRcptToArgs = () => {
        mailAccepted = true;
        return perRecipient[next++] ?? '';
      };
      s.conn.send(
        {
          from: request.mailFrom,
          to: request.recipients.map((r) => r.rcpt),
          size: request.raw.length,
          use8BitMime: request.raw.some((b) => b > 0x7f),
          dsn: {
            envid: envidOf(request),
            ...(request.ret ? { ret: request.ret === 'FULL' ? 'Full' : 'HDRS' } : {}),
          },
        },
        request.raw,
        (sendErr, info) => {
          const err = sendErr as SmtpError | null;
          // A reused connection the server had closed: nothing was sent, go again on a new one.
          if (err && !fresh && !mailAccepted && (!err.responseCode || err.responseCode === 421)) {
            return done({ kind: 'stale' });
          }
          const results = transactionResults(request.recipients, err, info, {
            remoteMta,
            dsnRelayed: s.supportsDsn,
          });
          log.info(
            {
              domain: request.domain,
              host: s.hop.host,
              port: s.hop.port,
              mailFrom: request.mailFrom || '<>',
              envid: s.supportsDsn ? envidOf(request) : null,
              reused: !fresh,
              delivered: results.filter((r) => r.ok).length,
              failed: results.filter((r) => !r.ok).length,
              response: info?.response ?? err?.message,
            },
            'transaction done',
          );
          done({ kind: 'done', results, reusable: !err });
        },
      );
    });
  }

  /** One hop: an idle checked connection when there is one, else a new one. Never rejects. */
  async function attempt(hop: Hop, request: DeliveryRequest): Promise<Attempt> {
    const key = `${request.domain}|${hop.host}:${hop.port}`;
    for (;;) {
      let s = take(key);
      if (s) {
        // The liste blanche or a CRL may have changed since the connection was checked.
        let decision: PeerDecision;
        try {
          decision = checkServer(s, request);
        } catch (e) {
          quit(s);
          return { kind: 'connection', failure: fromReplyError(refusals.trustCheckFailed(e), hop.host) };
        }
        if (!decision.ok) {
          quit(s);
          return { kind: 'trust', failure: fromReplyError(decision.error, hop.host), decision };
        }
      } else {
        const o = await open(hop, request);
        if (o.kind !== 'open') return o;
        s = o.session;
      }
      const r = await transact(s, request);
      if (r.kind === 'stale') {
        quit(s);
        log.debug({ host: hop.host, port: hop.port }, 'idle connection went away; opening a new one');
        continue;
      }
      if (r.reusable) park(s);
      else quit(s);
      return { kind: 'done', results: r.results };
    }
  }

  return {
    async close() {
      closed = true;
      for (const list of idle.values()) for (const s of [...list]) quit(s);
      idle.clear();
    },
    async deliver(request) {
      const domain = normaliseDomain(request.domain);
      const base = { domain, mailFrom: request.mailFrom || '<>', rcpts: request.recipients.length };
      // 1. The liste blanche.
      let listed: boolean;
      try {
        listed = opts.whitelist.current().isListed(domain);
      } catch (e) {
        return failAll(request.recipients, fromReplyError(refusals.trustCheckFailed(e)));
      }
      if (!listed) {
        const e = refusals.domainNotListed(domain, 'outbound');
        log.warn({ ...base, rule: e.reason }, 'destination not on the liste blanche: not sent');
        audit({
          actor: 'smtp:delivery',
          action: 'smtp.out.refuse',
          subject: domain,
          details: { ...base, rule: 'domain-not-listed', reply: String(e) },
        });
        return failAll(request.recipients, fromReplyError(e));
      }
      // 2. The route.
      let hops: Hop[];
      try {
        hops = await routeFor(domain, { ...(opts.routes ? { routes: opts.routes } : {}), resolver, mxPort });
      } catch (e) {
        if (e instanceof RouteError) {
          log.warn({ ...base, error: e.message }, 'no route');
          return failAll(request.recipients, e.failure);
        }
        return failAll(request.recipients, transient('4.4.3', `routing failed: ${(e as Error).message}`));
      }
      // 3. Each hop in turn.
      const req = { ...request, domain };
      let lastConnection: Failure | null = null;
      let lastTrust: Failure | null = null;
      for (const hop of hops) {
        if (request.signal.aborted) break;
        const a = await attempt(hop, req);
        if (a.kind === 'done') return a.results;
        if (a.kind === 'trust') lastTrust = a.failure;
        else {
          lastConnection = a.failure;
          log.info({ ...base, host: hop.host, port: hop.port, error: a.failure.message }, 'hop failed');
        }
      }
      // Every host reached was refused on trust: permanent. Some host was unreachable: later.
      if (lastTrust && !lastConnection) return failAll(request.recipients, lastTrust);
      return failAll(request.recipients, lastConnection ?? transient('4.4.7', 'delivery attempt timed out'));
    },
  };
}

/** A failure without a usable SMTP transaction (connection, greeting, TLS). Always temporary. */
function connectionFailure(err: SmtpError, remoteMta: string): Failure {
  const reply = err.response ? parseReply(err.response, err.responseCode ?? null) : null;
  const message = (err.message || String(err)).replace(/\s+/g, ' ').slice(0, 500);
  if (err.code === 'ETLS') {
    const notOffered = reply?.code != null;
    return {
      ok: false,
      permanent: false,
      code: reply?.code ?? null,
      enhanced: notOffered ? '4.7.4' : '4.7.5',
      message: notOffered ? `STARTTLS refused by the server: ${reply?.text || message}` : message,
      remoteMta,
    };
  }
  if (reply?.code != null) {
    return {
      ok: false,
      permanent: false,
      code: reply.code,
      enhanced: reply.enhanced?.startsWith('4') ? reply.enhanced : '4.4.2',
      message: reply.text || message,
      remoteMta,
    };
  }
  const timeout = err.code === 'ETIMEDOUT' || /timeout/i.test(message);
  return {
    ok: false,
    permanent: false,
    code: null,
    enhanced: timeout ? '4.4.1' : '4.4.2',
    message,
    remoteMta,
  };
}

/** Per-recipient results of a transaction from nodemailer's callback. */
export function transactionResults(
  recipients: readonly DeliveryRecipient[],
  err: SmtpError | null,
  info:
    | { accepted?: string[]; rejected?: string[]; rejectedErrors?: SmtpError[]; response?: string }
    | undefined,
  ctx: { remoteMta: string; dsnRelayed: boolean },
): RecipientResult[] {
  const fromError = (e: SmtpError): Failure => {
    const reply = parseReply(e.response ?? null, e.responseCode ?? null);
    const code = reply.code;
    if (code == null || code < 400) {
      return {
        ok: false,
        permanent: false,
        code: null,
        enhanced: '4.4.2',
        message: e.message,
        remoteMta: ctx.remoteMta,
      };
    }
    return {
      ok: false,
      permanent: code >= 500,
      code,
      enhanced: reply.enhanced,
      message: reply.text || e.message,
      remoteMta: ctx.remoteMta,
    };
  };
  const rejected = new Map<string, SmtpError>();
  for (const e of err?.rejectedErrors ?? info?.rejectedErrors ?? []) {
    if (e.recipient) rejected.set(e.recipient.toLowerCase(), e);
  }
  if (err && err.command !== 'RCPT TO') {
    // MAIL FROM or DATA failed, or the connection broke: every recipient not refused already gets it.
    const f = fromError(err);
    return recipients.map((r) => {
      const own = rejected.get(r.rcpt.toLowerCase());
      return own ? fromError(own) : { ...f };
    });
  }
  return recipients.map((r) => {
    const own = rejected.get(r.rcpt.toLowerCase());
    if (own) return fromError(own);
    if (err) return fromError(err);
    return { ok: true, remoteMta: ctx.remoteMta, dsnRelayed: ctx.dsnRelayed };
  });
}
