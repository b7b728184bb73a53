/**
 * The mail side of a running operator: trust (PKI, validator, liste blanche), storage (blob store,
 * mail store), the outbound spool with its job queue and delivery worker, and the inbound MX.
 *
 *   startMailRuntime({ config, store, logger })
 *     → resolvePki (dev PKI generated when configured so) → liste blanche service + validator
 *     → blob store + mail store → spool + job queue (memory | BullMQ) + delivery worker
 *       (deliverer: smtp/deliverer.ts; bounces: local sender → its INBOX, remote → spooled with
 *       the null sender) → MX on smtp.mx.host:port (smtp/mx-server.ts).
 *
 * Also here, because they are wiring and not protocol:
 *  - the SQL adapter of the MX's ENVID de-duplication (table smtp_dedupe);
 *  - the audit sink of the SMTP trust decisions: entries are written in small batches (one commit
 *    per batch, not per message) and flushed on stop;
 *  - `spoolOutbound`, shared with the `mail inject` command: the message bytes are stored and
 *    referenced, and the spool rows committed, in one transaction;
 *  - recovery of the leases of a crashed previous run of this node (see releaseDeadLeases).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Transaction } from 'kysely';
import type { BalRegistry } from '../bal/registry.ts';
import { dataPath } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import type { Logger } from '../logger.ts';
import { type BlobStore, createLocalBlobStore } from '../mail/blob-store.ts';
import {
  type BlobReferences,
  createBlobReferences,
  createMailStore,
  type DeliveryResult,
  type MailStore,
  UnknownRecipientError,
} from '../mail/mail-store.ts';
import { createJobQueue } from '../queue/from-config.ts';
import {
  createSpool,
  domainOf,
  type EnqueueRecipient,
  type EnqueueResult,
  type Spool,
} from '../queue/spool.ts';
import { type BounceSink, createDeliveryWorker, type DeliveryWorker } from '../queue/worker.ts';
import { type AuditEntry, appendAudit } from '../store/audit.ts';
import type { Store } from '../store/open.ts';
import type { Database, SpoolDsnRet } from '../store/schema/index.ts';
import { type ResolvedPki, resolvePki, validatorFromPki } from '../trust/pki/from-config.ts';
import type { CertificateValidator } from '../trust/pki/validator.ts';
import { normaliseDomain } from '../trust/whitelist/list.ts';
import { createWhitelistService, type WhitelistService } from '../trust/whitelist/service.ts';
import { createSmtpDeliverer, type MxResolver } from './deliverer.ts';
import { buildDsn, notifyAllows } from './dsn.ts';
import {
  createMxServer,
  type DedupeKey,
  type InboundDedupe,
  type InboundMeta,
  type InboundRecipient,
  type MxServer,
  type RecipientStatus,
} from './mx-server.ts';
import { cachingValidator } from './peer-check.ts';
import { mxTlsOptions, tlsPolicy } from './tls-policy.ts';

// ---------------------------------------------------------------------------------------------
// Storage components (also used by the CLI, without starting anything)

export interface MailComponents {
  blobs: BlobStore;
  refs: BlobReferences;
  mailStore: MailStore;
  spool: Spool;
}

export function mailComponents(
  config: Config,
  store: Store,
  opts: { clock?: () => Date } = {},
): MailComponents {
  const key = config.blobs.encryptionKey ? Buffer.from(config.blobs.encryptionKey, 'base64') : null;
  const blobs = createLocalBlobStore({ dir: dataPath(config, config.blobs.dir), encryptionKey: key });
  const clock = opts.clock ? { clock: opts.clock } : {};
  return {
    blobs,
    refs: createBlobReferences(store, blobs, clock),
    mailStore: createMailStore(store, blobs, clock),
    spool: createSpool(store, {
      ...clock,
      retryDelaysSeconds: config.delivery.retryDelaysSeconds,
      expireHours: config.delivery.expireHours,
    }),
  };
}

export interface SpoolOutboundInput {
  raw: Buffer;
  /** '' for the null sender. */
  mailFrom: string;
  recipients: readonly (string | EnqueueRecipient)[];
  /** RFC 3461 ENVID; assigned (`mss-<uuid>`) when not given: the receiving MX de-duplicates on it. */
  envid?: string | null;
  ret?: SpoolDsnRet | null;
  source: string;
  authIdentity?: string | null;
}

/** Stores the bytes, then references them and spools the recipients in one transaction. */
export async function spoolOutbound(
  parts: Pick<MailComponents, 'refs' | 'spool'>,
  store: Store,
  input: SpoolOutboundInput,
): Promise<EnqueueResult> {
  const put = await parts.refs.store(input.raw);
  return store.db.transaction().execute(async (trx) => {
    await parts.refs.retain(trx, input.raw, put, 1);
    return parts.spool.enqueue(
      {
        blobId: put.id,
        mailFrom: input.mailFrom,
        size: input.raw.length,
        recipients: input.recipients.map((r) => (typeof r === 'string' ? { rcpt: r } : r)),
        envid: input.envid ?? `mss-${randomUUID()}`,
        ret: input.ret ?? null,
        source: input.source,
        authIdentity: input.authIdentity ?? null,
      },
      trx,
    );
  });
}

// ---------------------------------------------------------------------------------------------
// ENVID de-duplication on SQL

export interface SqlDedupe extends InboundDedupe {
  /** `record`, in the caller's transaction (the one that stores the message). */
  record(key: DedupeKey, rcpts: readonly string[], trx?: Transaction<Database>): Promise<void>;
  purge(): Promise<number>;
}

export function createSqlDedupe(store: Store, opts: { expireHours: number; clock?: () => Date }): SqlDedupe {
  const clock = opts.clock ?? (() => new Date());
  const keyOf = (k: DedupeKey, rcpt: string) =>
    createHash('sha256')
      .update([k.peerDn, k.envid, rcpt.toLowerCase(), k.sha256].join('\u0000'))
      .digest('hex');
  return {
    async seen(k, rcpts) {
      if (rcpts.length === 0) return new Set();
      const keys = new Map(rcpts.map((r) => [keyOf(k, r), r.toLowerCase()]));
      const rows = await store.db
        .selectFrom('smtp_dedupe')
        .select('key')
        .where('key', 'in', [...keys.keys()])
        .where('expires_at', '>', clock().toISOString())
        .execute();
      return new Set(rows.map((r) => keys.get(r.key)!));
    },
    async record(k, rcpts, trx) {
      if (rcpts.length === 0) return;
      const now = clock();
      const expires = new Date(now.getTime() + opts.expireHours * 3_600_000).toISOString();
      await (trx ?? store.db)
        .insertInto('smtp_dedupe')
        .values(
          [...new Set(rcpts.map((r) => r.toLowerCase()))].map((rcpt) => ({
            key: keyOf(k, rcpt),
            peer_dn: k.peerDn,
            envid: k.envid.slice(0, 200),
            rcpt,
            received_at: now.toISOString(),
            expires_at: expires,
          })),
        )
        .onConflict((oc) => oc.column('key').doUpdateSet({ expires_at: expires }))
        .execute();
    },
    async purge() {
      const r = await store.db
        .deleteFrom('smtp_dedupe')
        .where('expires_at', '<=', clock().toISOString())
        .executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Audit entries in batches

export interface AuditSink {
  push(entry: AuditEntry): void;
  flush(): Promise<void>;
}

export function createAuditSink(
  store: Store,
  logger: Logger,
  opts: { maxBatch?: number; delayMs?: number } = {},
): AuditSink {
  const maxBatch = opts.maxBatch ?? 200;
  const delayMs = opts.delayMs ?? 100;
  let pending: { entry: AuditEntry; at: Date }[] = [];
  let timer: NodeJS.Timeout | null = null;
  let chain: Promise<void> = Promise.resolve();

  const write = (batch: { entry: AuditEntry; at: Date }[]) =>
    store.db
      .transaction()
      .execute(async (trx) => {
        for (const { entry, at } of batch) await appendAudit(trx, entry, at);
      })
      .catch((err: unknown) =>
        logger.error({ err, entries: batch.length }, 'could not write SMTP audit entries'),
      );

  const flush = (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (pending.length > 0) {
      const batch = pending;
      pending = [];
      chain = chain.then(() => write(batch));
    }
    return chain;
  };

  return {
    push(entry) {
      pending.push({ entry, at: new Date() });
      if (pending.length >= maxBatch) void flush();
      else if (!timer) {
        timer = setTimeout(() => void flush(), delayMs);
        timer.unref();
      }
    },
    flush,
  };
}

// ---------------------------------------------------------------------------------------------
// Leases of a crashed previous run

/**
 * Spool leases held by a previous process of this host that is gone (SIGKILL, power loss) would
 * block its recipients until the lease ends (15 min). Owners are `<host>/<pid>/<random>`: a lease
 * of this host whose pid is ours (a new process reusing the pid, e.g. pid 1 in a container) or
 * names no living process is released (queued again, due now). Those recipients may have been
 * delivered already: the ENVID de-duplication of the receiving MX keeps that from duplicating.
 */
export async function releaseDeadLeases(store: Store, owner: string, logger: Logger): Promise<number> {
  const host = hostname();
  const rows = await store.db
    .selectFrom('spool_recipients')
    .select('lease_owner')
    .distinct()
    .where('status', '=', 'delivering')
    .where('lease_owner', 'like', `${host}/%`)
    .execute();
  const dead: string[] = [];
  for (const { lease_owner } of rows) {
    if (!lease_owner || lease_owner === owner || !lease_owner.startsWith(`${host}/`)) continue;
    const pid = Number(lease_owner.slice(host.length + 1).split('/')[0]);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (pid === process.pid || !processAlive(pid)) dead.push(lease_owner);
  }
  if (dead.length === 0) return 0;
  const now = new Date().toISOString();
  const r = await store.db
    .updateTable('spool_recipients')
    .set({ status: 'queued', lease_owner: null, lease_until: null, next_attempt_at: now, updated_at: now })
    .where('status', '=', 'delivering')
    .where('lease_owner', 'in', dead)
    .executeTakeFirst();
  const n = Number(r.numUpdatedRows);
  if (n > 0)
    logger.warn({ owners: dead, recipients: n }, 'released the delivery leases of a crashed previous run');
  return n;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------------
// The runtime

export interface MailRuntimeOptions {
  config: Config;
  store: Store;
  logger: Logger;
  /**
   * BAL statuses for RCPT TO from the registry; when absent (the default of the running
   * operator), one indexed SELECT on the bals table, which is all the MX needs per recipient.
   */
  registry?: Pick<BalRegistry, 'get'>;
  /** Base of relative paths (PKI, liste blanche). Default: the working directory. */
  cwd?: string;
  /** DNS for outbound delivery (tests give a fake). */
  resolver?: MxResolver;
  /** BullMQ key prefix; default: derived from the store's location (one namespace per operator). */
  queuePrefix?: string;
  /** Seconds between reconciler passes of the delivery worker. Default 30. */
  reconcileEverySeconds?: number;
  clock?: () => Date;
}

export interface InjectOptions {
  envid?: string | null;
  ret?: SpoolDsnRet | null;
  source?: string;
  authIdentity?: string | null;
}

export interface InjectResult {
  /** Recipients in our own domains, stored at once. */
  local: DeliveryResult[];
  /** The spool entry of the other recipients, null when there were none. */
  spooled: EnqueueResult | null;
}

export interface MailRuntime {
  /** Where the MX listens; null when smtp.mx.enabled is false. */
  mxAddress: AddressInfo | null;
  pki: ResolvedPki;
  whitelist: WhitelistService;
  validator: CertificateValidator;
  components: MailComponents;
  worker: DeliveryWorker;
  mx: MxServer | null;
  /** Sends a message out: local recipients are stored now, the others spooled for delivery. */
  injectOutbound(
    raw: Buffer,
    mailFrom: string,
    rcpts: readonly (string | EnqueueRecipient)[],
    opts?: InjectOptions,
  ): Promise<InjectResult>;
  /** Writes the pending audit entries. */
  flushAudit(): Promise<void>;
  stop(): Promise<void>;
}

/** A listen error turned into a message naming the address and the config keys. */
function listenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  const hint =
    err.code === 'EACCES'
      ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE'
      : err.code === 'EADDRINUSE'
        ? 'another process listens there'
        : (err.message ?? 'listen failed');
  return new Error(
    `cannot start the MX on ${host}:${port} (${err.code ?? 'error'}: ${hint}); ` +
      'change smtp.mx.port / smtp.mx.host (MSS_SMTP__MX__PORT, MSS_SMTP__MX__HOST) or set smtp.mx.enabled: false',
    { cause: err },
  );
}

export async function startMailRuntime(opts: MailRuntimeOptions): Promise<MailRuntime> {
  const { config, store } = opts;
  const logger = opts.logger.child({ component: 'mail' });
  const cwd = opts.cwd ?? process.cwd();
  const clock = opts.clock ?? (() => new Date());
  const localDomains = new Set(config.operator.domains.map((d) => normaliseDomain(d)));
  const hostName = config.operator.mxHost.toLowerCase();
  const stops: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.error({ err }, 'error while stopping the mail runtime');
      }
    }
  };

  try {
    // Trust
    const pki = await resolvePki(config, { cwd, logger });
    const whitelist = createWhitelistService({
      source: config.trust.whitelist.source,
      checksum: config.trust.whitelist.checksum,
      refreshMinutes: config.trust.whitelist.refreshMinutes,
      staleAfterHours: config.trust.whitelist.staleAfterHours,
      timeoutMs: config.trust.whitelist.timeoutMs,
      logger,
      cwd,
    });
    await whitelist.start();
    stops.push(() => whitelist.stop());
    const validator = validatorFromPki(config, pki, logger);
    await validator.start();
    stops.push(() => validator.stop());
    const validate = cachingValidator(validator);
    const policy = tlsPolicy(config.trust.tls);
    const identity = { certPem: pki.certPem, keyPem: pki.keyPem };

    // Storage, audit
    const components = mailComponents(config, store, opts.clock ? { clock: opts.clock } : {});
    const { mailStore, spool, refs } = components;
    const auditSink = createAuditSink(store, logger);
    stops.push(() => auditSink.flush());
    const audit = (entry: AuditEntry) => auditSink.push(entry);
    const dedupe = createSqlDedupe(store, { expireHours: config.delivery.expireHours, clock });

    // Outbound
    const owner = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
    // The queue's namespace in Redis follows the store: the nodes of one operator (one store)
    // share their jobs, two operators on one Redis never see each other's.
    const queuePrefix =
      opts.queuePrefix ?? `mss-${createHash('sha256').update(store.location).digest('hex').slice(0, 12)}`;
    const queue = createJobQueue(config, { logger, prefix: queuePrefix });
    const deliverer = createSmtpDeliverer({
      whitelist,
      validator: validate,
      policy,
      identity,
      routes: config.delivery.routes,
      ...(opts.resolver ? { resolver: opts.resolver } : {}),
      heloName: hostName,
      connectTimeoutMs: config.delivery.connectTimeoutMs,
      logger,
      audit,
    });
    // Stops after the worker (stops run in reverse order): idle connections to peers are closed.
    stops.push(() => deliverer.close());

    let worker: DeliveryWorker | null = null;
    const spoolAndSchedule = async (input: SpoolOutboundInput) => {
      const res = await spoolOutbound(components, store, input);
      await worker?.schedule(res.jobs);
      return res;
    };

    const bounces: BounceSink = async (dsn) => {
      const to = dsn.to.toLowerCase();
      const domain = domainOf(to);
      if (localDomains.has(domain)) {
        try {
          await mailStore.deliver(dsn.raw, [to]);
        } catch (e) {
          if (e instanceof UnknownRecipientError) {
            logger.warn({ to }, 'DSN for a sender that is not a BAL here: dropped');
            return;
          }
          throw e;
        }
        return;
      }
      if (!whitelist.current().isListed(domain)) {
        // It could never be delivered; a DSN is never bounced (RFC 3461 §6.2).
        logger.warn({ to }, 'DSN for a sender outside the liste blanche: dropped');
        return;
      }
      await spoolAndSchedule({ raw: dsn.raw, mailFrom: '', recipients: [to], source: 'dsn' });
    };

    worker = createDeliveryWorker({
      spool,
      queue,
      deliverer,
      loadBlob: (id) => components.blobs.get(id),
      bounces,
      logger,
      reportingMta: hostName,
      mailerDaemonDomain: config.operator.domains[0]!,
      concurrency: config.delivery.concurrency,
      ...(opts.reconcileEverySeconds != null ? { reconcileEverySeconds: opts.reconcileEverySeconds } : {}),
      owner,
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
    await releaseDeadLeases(store, owner, logger);
    worker.start();
    const startedWorker = worker;
    stops.push(() => startedWorker.stop());

    // Inbound
    const recipients = async (address: string): Promise<RecipientStatus | null> => {
      if (opts.registry) {
        try {
          return (await opts.registry.get(address)).status;
        } catch (e) {
          if (e instanceof NotFoundError || e instanceof ValidationError) return null;
          throw e;
        }
      }
      const row = await store.db
        .selectFrom('bals')
        .select('status')
        .where('address', '=', address.toLowerCase())
        .executeTakeFirst();
      return row?.status ?? null;
    };

    const deliverLocal = async (raw: Buffer, rcpts: InboundRecipient[], meta: InboundMeta) => {
      const addresses = rcpts.map((r) => r.address);
      const key = meta.dedupeKey;
      // The ENVID is recorded in the transaction that stores the message: a retransmission after
      // a crash right after the commit is recognised.
      await mailStore.deliver(raw, addresses, {
        internalDate: meta.receivedAt,
        ...(key ? { inTransaction: (trx) => dedupe.record(key, addresses, trx) } : {}),
      });
      await notifySuccess(raw, rcpts, meta);
      return { dedupeRecorded: key !== null };
    };

    const notifySuccess = async (raw: Buffer, rcpts: InboundRecipient[], meta: InboundMeta) => {
      // RFC 3461: a successful final delivery is reported when the sender asked for it.
      const wanted = rcpts.filter((r) => r.notify !== null && notifyAllows(r.notify, 'SUCCESS'));
      if (meta.mailFrom === '' || wanted.length === 0) return;
      try {
        const dsn = buildDsn({
          reportingMta: hostName,
          mailerDaemonDomain: config.operator.domains[0]!,
          to: meta.mailFrom,
          envid: meta.envid,
          arrivalDate: meta.receivedAt,
          date: clock(),
          recipients: wanted.map((r) => ({
            recipient: r.address,
            originalRecipient: r.orcpt,
            action: 'delivered' as const,
            status: '2.0.0',
            remoteMta: hostName,
          })),
          original: raw,
          ret: meta.ret ?? 'HDRS',
        });
        await bounces({ raw: dsn.raw, to: dsn.to });
      } catch (err) {
        logger.error(
          { err, id: meta.id },
          'could not send the delivery notification (the message is stored)',
        );
      }
    };

    let mx: MxServer | null = null;
    let mxAddress: AddressInfo | null = null;
    if (config.smtp.mx.enabled) {
      mx = createMxServer({
        tls: mxTlsOptions(policy, identity),
        whitelist,
        validator: validate,
        recipients,
        localDomains: [...localDomains],
        deliverLocal,
        maxMessageBytes: config.mail.maxMessageBytes,
        hostname: hostName,
        logger,
        audit,
        dedupe,
        maxClients: config.smtp.mx.maxClients,
        socketTimeoutMs: config.smtp.mx.socketTimeoutMs,
        clock,
      });
      const server = mx;
      try {
        mxAddress = await server.listen(config.smtp.mx.port, config.smtp.mx.host);
      } catch (e) {
        throw listenError(e as NodeJS.ErrnoException, config.smtp.mx.host, config.smtp.mx.port);
      }
      // First in the stop order: take no new mail before the rest goes.
      stops.push(() => server.close());
    }

    // Housekeeping: finished spool entries, unreferenced blobs, expired de-duplication rows.
    const housekeeping = setInterval(() => {
      void (async () => {
        const purged = await components.spool.purge(new Date(clock().getTime() - 86_400_000));
        for (const blobId of purged.blobIds) {
          await store.db
            .transaction()
            .execute((trx) => refs.release(trx, blobId))
            .catch((err: unknown) => logger.warn({ err, blobId }, 'could not release a spooled blob'));
        }
        await refs.collectGarbage();
        await dedupe.purge();
      })().catch((err: unknown) => logger.error({ err }, 'mail housekeeping failed'));
    }, 3_600_000);
    housekeeping.unref();
    stops.push(() => clearInterval(housekeeping));

    logger.info(
      {
        mx: mxAddress ? `${mxAddress.address}:${mxAddress.port}` : null,
        queue: config.queue.driver,
        tls: policy.maxVersion,
        devPki: pki.dev,
        owner,
      },
      'mail runtime started',
    );

    return {
      mxAddress,
      pki,
      whitelist,
      validator,
      components,
      worker: startedWorker,
      mx,
      async injectOutbound(raw, mailFrom, rcpts, injectOpts = {}) {
        const list = rcpts.map((r) => (typeof r === 'string' ? { rcpt: r } : r));
        const local = list.filter((r) => localDomains.has(domainOf(r.rcpt)));
        const remote = list.filter((r) => !localDomains.has(domainOf(r.rcpt)));
        const delivered = local.length
          ? await mailStore.deliver(
              raw,
              local.map((r) => r.rcpt),
            )
          : [];
        const spooled = remote.length
          ? await spoolAndSchedule({
              raw,
              mailFrom,
              recipients: remote,
              envid: injectOpts.envid ?? null,
              ret: injectOpts.ret ?? null,
              source: injectOpts.source ?? 'inject',
              authIdentity: injectOpts.authIdentity ?? null,
            })
          : null;
        return { local: delivered, spooled };
      },
      flushAudit: () => auditSink.flush(),
      async stop() {
        await stopAll();
        logger.info('mail runtime stopped');
      },
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
