import { z } from 'zod';

/*
 * The configuration schema. Values arrive from YAML (typed) or from MSS_* environment
 * variables (always strings), so numbers, booleans and lists accept their string forms too.
 */

const num = (schema: z.ZodNumber) =>
  z.preprocess((v) => (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v), schema);

const bool = () =>
  z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    const s = v.trim().toLowerCase();
    if (['true', 'yes', 'on', '1'].includes(s)) return true;
    if (['false', 'no', 'off', '0'].includes(s)) return false;
    return v;
  }, z.boolean());

const stringList = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (v) =>
      typeof v === 'string'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : v,
    z.array(item),
  );

const port = num(z.number().int().min(0).max(65535));
const nullableString = z.string().min(1).nullable();

export const configSchema = z.strictObject({
  operator: z.strictObject({
    /** Shown in banners and audit entries. */
    name: z.string().min(1),
    /** Mail domains this operator serves; BAL addresses must be in one of them. */
    domains: stringList(
      z.string().regex(/^[a-z0-9.-]+$/i, 'a domain name (letters, digits, dots, hyphens)'),
    ).refine((list) => list.length > 0, 'at least one domain'),
    /** Structure id of the operator: '1' + FINESS or '3' + SIRET (checked at start-up). */
    structureId: z
      .string()
      .regex(/^[13]\d{9}(\d{5})?$/, "'1' followed by a FINESS (9) or '3' followed by a SIRET (14)"),
    /** Public host name of the MX (the CN of the SERV_SSL certificate). */
    mxHost: z.string().regex(/^[a-z0-9.-]+$/i, 'a host name'),
  }),
  /** Folder for the embedded store, blobs and generated secrets. Relative paths are relative to the working directory. */
  dataDir: z.string().min(1),
  store: z.strictObject({
    driver: z.enum(['sqlite', 'postgres']),
    sqlite: z.strictObject({
      /** SQLite database file; relative to dataDir unless absolute. */
      path: z.string().min(1),
      /** FULL: every commit is on disk before it is acknowledged (mail needs this). */
      synchronous: z.enum(['FULL', 'NORMAL']),
      busyTimeoutMs: num(z.number().int().min(0)),
    }),
    postgres: z.strictObject({
      url: nullableString,
      /** Schema to use (created if missing); null means the server's search_path. */
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]*$/, 'a lower-case SQL identifier')
        .nullable(),
      poolSize: num(z.number().int().min(1).max(200)),
    }),
  }),
  blobs: z.strictObject({
    driver: z.enum(['local']),
    /** Relative to dataDir unless absolute. */
    dir: z.string().min(1),
    /** 32-byte key, base64: message bodies are encrypted at rest with AES-256-GCM. null: stored in clear. */
    encryptionKey: z
      .string()
      .refine(
        (k) => Buffer.from(k, 'base64').length === 32,
        '32 bytes encoded in base64 (openssl rand -base64 32)',
      )
      .nullable(),
  }),
  mail: z.strictObject({
    /** Largest message accepted, in bytes (SIZE). */
    maxMessageBytes: num(z.number().int().min(1024)),
  }),
  delivery: z.strictObject({
    /** Delays before each new attempt, in seconds; the last one repeats until expiry. */
    retryDelaysSeconds: stringList(num(z.number().int().min(1))).refine(
      (l) => l.length > 0,
      'at least one delay',
    ),
    /** A message not delivered after this many hours is bounced (DSN to the sender). */
    expireHours: num(z.number().int().min(1)),
    /** Deliveries worked on at once by this node. */
    concurrency: num(z.number().int().min(1).max(500)),
    connectTimeoutMs: num(z.number().int().min(100)),
    /** Static routes: domain -> "host:port", used before DNS MX lookup (tests, private links). */
    routes: z.preprocess(
      // From the environment: "ch-b.mssante.fr=127.0.0.1:2525,ch-c.mssante.fr=10.0.0.7:25".
      (v) =>
        typeof v === 'string'
          ? Object.fromEntries(
              v
                .split(',')
                .map((pair) => pair.trim())
                .filter(Boolean)
                .map((pair) => pair.split('=').map((x) => x.trim())),
            )
          : v,
      z.record(z.string(), z.string().regex(/^[^\s:]+:\d+$/, 'host:port')),
    ),
  }),
  queue: z.strictObject({
    driver: z.enum(['memory', 'redis']),
  }),
  redis: z.strictObject({
    url: nullableString,
  }),
  admin: z.strictObject({
    enabled: bool(),
    host: z.string().min(1),
    port,
    /** Bearer token of the admin API. null: generated once into <dataDir>/admin-token (mode 0600). */
    token: z.string().min(24, 'at least 24 characters').nullable(),
  }),
  smtp: z.strictObject({
    /** The inbound MX of the trust space (STARTTLS + mutual TLS, liste blanche). */
    mx: z.strictObject({
      enabled: bool(),
      /** Listen address (0.0.0.0: every IPv4 interface). */
      host: z.string().min(1),
      /** 25 in production; 0 picks a free port (tests). */
      port,
      /** Connections served at once; more get 421 4.4.2. */
      maxClients: num(z.number().int().min(1).max(100_000)),
      /** A connection idle this long is closed (421). */
      socketTimeoutMs: num(z.number().int().min(1000)),
    }),
  }),
  trust: z.strictObject({
    whitelist: z.strictObject({
      /** The ANS liste blanche XML: a file path (relative to the working directory) or an https:// URL. */
      source: z.string().min(1),
      /** SHA-256 checksum of the list (file path or https:// URL holding the hex digest); null: not checked. */
      checksum: nullableString,
      /** Minutes between refreshes; 0 never refreshes. */
      refreshMinutes: num(z.number().int().min(0)),
      /** The list is reported stale (logged, health) when older than this, in hours. */
      staleAfterHours: num(z.number().int().min(1)),
      /** Download timeout for URL sources, in milliseconds. */
      timeoutMs: num(z.number().int().min(100).max(600_000)),
    }),
    pki: z.strictObject({
      /** PEM files of the trust anchors (production: IGC-Santé roots). Empty: the development PKI's root. */
      trustAnchors: stringList(z.string().min(1)),
      /** PEM files of intermediate CAs (production: AC IGC-SANTE ELEMENTAIRE ORGANISATIONS). */
      intermediates: stringList(z.string().min(1)),
      /** CRLs: file paths or http(s) URLs (PEM or DER). */
      crls: stringList(z.string().min(1)),
      /** Minutes between CRL refreshes; the last good CRL is kept when a refresh fails. */
      crlRefreshMinutes: num(z.number().int().min(1)),
      /** Where the development PKI is generated (relative to the working directory). */
      devDir: z.string().min(1),
      /** Generate the development PKI at start-up when no server certificate is configured. */
      autoDevPki: bool(),
    }),
    tls: z.strictObject({
      /** SERV_SSL certificate (PEM, with its chain) and key of the MX. null: the development PKI's. */
      certFile: nullableString,
      keyFile: nullableString,
      /** Référentiel #2: TLS 1.2 with the four ECDHE-RSA suites. TLS 1.3 only when allowed here. */
      allowTls13: bool(),
      ciphers: z.string().min(1),
    }),
  }),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  }),
  annuaire: z.strictObject({
    /** Rows per INSERT statement while importing extracts. */
    importBatchSize: num(z.number().int().min(1).max(1000)),
    /** How many rejected rows an import lists in its summary (all are counted). */
    maxListedRejects: num(z.number().int().min(0)),
    fhir: z.strictObject({
      /** When true, lookups missing from the local mirror are asked of the Annuaire Santé FHIR API. */
      enabled: bool(),
      baseUrl: z.url(),
      /** Value of the ESANTE-API-KEY header. Required when enabled. */
      apiKey: nullableString,
      timeoutMs: num(z.number().int().min(100).max(120_000)),
    }),
  }),
});

export const validatedConfigSchema = configSchema.superRefine((c, ctx) => {
  if (c.store.driver === 'postgres' && !c.store.postgres.url) {
    ctx.addIssue({
      code: 'custom',
      path: ['store', 'postgres', 'url'],
      message: 'a postgres:// URL when store.driver is postgres',
    });
  }
  if (c.queue.driver === 'redis' && !c.redis.url) {
    ctx.addIssue({
      code: 'custom',
      path: ['redis', 'url'],
      message: 'a redis:// URL when queue.driver is redis',
    });
  }
  if (Boolean(c.trust.tls.certFile) !== Boolean(c.trust.tls.keyFile)) {
    ctx.addIssue({
      code: 'custom',
      path: ['trust', 'tls', 'keyFile'],
      message: 'certFile and keyFile given together',
    });
  }
  if (c.annuaire.fhir.enabled && !c.annuaire.fhir.apiKey) {
    ctx.addIssue({
      code: 'custom',
      path: ['annuaire', 'fhir', 'apiKey'],
      message: 'an API key when annuaire.fhir.enabled is true',
    });
  }
});

export type Config = z.infer<typeof configSchema>;
