import type { Logger } from '../../logger.ts';
import { Whitelist } from './list.ts';
import { parseWhitelist } from './parse.ts';
import { describeLocation, fetchList } from './source.ts';

/**
 * The liste blanche as a running service: loads it at start-up (or fails start-up), refreshes it
 * every `refreshMinutes`, and swaps the in-memory list atomically only once a new version has been
 * downloaded, its checksum verified and the XML parsed. A failed refresh keeps the last good list,
 * logs a warning with the reason and shows it in status(). Staleness is judged on the list's own
 * DateDeGeneration.
 */

export interface WhitelistServiceOptions {
  /** File path or https:// URL of the XML (config trust.whitelist.source). */
  source: string;
  /** File path or URL of the SHA-256 digest; null: not checked. */
  checksum: string | null;
  /** Minutes between refreshes; 0: never. */
  refreshMinutes: number;
  /** status().stale once the list's DateDeGeneration is older than this. */
  staleAfterHours: number;
  timeoutMs: number;
  logger: Logger;
  clock?: () => Date;
  /** Base of relative paths; defaults to the working directory. */
  cwd?: string;
  /** Log a warning when the loaded list is stale (default true; the CLI reports it itself). */
  warnWhenStale?: boolean;
}

export interface WhitelistStatus {
  source: string;
  checksum: string | null;
  /** When the list in use was loaded (swapped in). */
  loadedAt: Date | null;
  /** DateDeGeneration of the list in use. */
  generatedAt: Date | null;
  entries: number;
  domains: number;
  dns: number;
  /** SHA-256 of the list in use. */
  sha256: string | null;
  checksumVerified: boolean;
  /** True when the list in use is older than staleAfterHours (by DateDeGeneration). */
  stale: boolean;
  /** Age of the list in use by DateDeGeneration, in hours (one decimal). */
  ageHours: number | null;
  staleAfterHours: number;
  refreshMinutes: number;
  /** Reason of the last failed load/refresh; null once one succeeds. */
  lastError: string | null;
  lastAttemptAt: Date | null;
  lastSuccessAt: Date | null;
}

export type RefreshOutcome =
  | { outcome: 'swapped'; list: Whitelist }
  | { outcome: 'unchanged'; list: Whitelist }
  | { outcome: 'failed'; list: Whitelist; error: string };

export interface WhitelistService {
  /** Loads the list (throws WhitelistLoadError when it cannot) and starts the refresh timer. */
  start(): Promise<Whitelist>;
  /** The list in use. Never null once start() has resolved. */
  current(): Whitelist;
  /** Loads the source now; swaps on success, keeps the last good list on failure. Never rejects after start. */
  refresh(): Promise<RefreshOutcome>;
  status(): WhitelistStatus;
  /** Stops the timer and aborts a download in progress. */
  stop(): Promise<void>;
}

export class WhitelistLoadError extends Error {
  override readonly name = 'WhitelistLoadError';
}

/** setInterval's limit (2^31-1 ms, about 24.8 days). */
const MAX_INTERVAL_MS = 2_147_483_647;

interface Loaded {
  list: Whitelist;
  sha256: string;
  checksumVerified: boolean;
  loadedAt: Date;
}

export function createWhitelistService(opts: WhitelistServiceOptions): WhitelistService {
  const { logger, staleAfterHours } = opts;
  const clock = opts.clock ?? (() => new Date());
  const source = describeLocation(opts.source);
  const checksum = opts.checksum ? describeLocation(opts.checksum) : null;
  const log = logger.child({ component: 'whitelist' });

  let loaded: Loaded | null = null;
  let lastError: string | null = null;
  let lastAttemptAt: Date | null = null;
  let lastSuccessAt: Date | null = null;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<RefreshOutcome> | null = null;
  let abort: AbortController | null = null;
  let stopped = false;
  let started: Promise<Whitelist> | null = null;

  const ageHoursOf = (list: Whitelist) => (clock().getTime() - list.generatedAt.getTime()) / 3_600_000;

  /** Download + checksum + parse + index; throws on any failure, touches no state. */
  async function load(
    signal: AbortSignal,
  ): Promise<Omit<Loaded, 'loadedAt'> & { ms: number; warnings: readonly string[] }> {
    const t0 = performance.now();
    const fetched = await fetchList(opts.source, opts.checksum, {
      timeoutMs: opts.timeoutMs,
      signal,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    if (loaded && fetched.sha256 === loaded.sha256)
      return {
        list: loaded.list,
        sha256: fetched.sha256,
        checksumVerified: fetched.checksumVerified,
        ms: 0,
        warnings: [],
      };
    const parsed = parseWhitelist(fetched.bytes);
    const list = Whitelist.from(parsed);
    return {
      list,
      sha256: fetched.sha256,
      checksumVerified: fetched.checksumVerified,
      ms: Math.round(performance.now() - t0),
      warnings: parsed.warnings,
    };
  }

  function warnIfStale(list: Whitelist) {
    if (opts.warnWhenStale === false) return;
    const ageHours = ageHoursOf(list);
    if (ageHours > staleAfterHours)
      log.warn(
        { source, generatedAt: list.generatedAt.toISOString(), ageHours: round1(ageHours), staleAfterHours },
        `liste blanche is stale: generated ${round1(ageHours)} h ago (limit ${staleAfterHours} h)`,
      );
  }

  function summary(list: Whitelist) {
    const s = list.stats();
    return { entries: s.entries, domains: s.domains, dns: s.dns, generatedAt: s.generatedAt.toISOString() };
  }

  async function attempt(): Promise<RefreshOutcome> {
    const previous = loaded;
    lastAttemptAt = clock();
    abort = new AbortController();
    try {
      const next = await load(abort.signal);
      if (stopped) throw new Error('stopped');
      if (previous && next.list === previous.list) {
        lastSuccessAt = clock();
        lastError = null;
        log.debug({ source, sha256: next.sha256 }, 'liste blanche unchanged');
        warnIfStale(previous.list);
        return { outcome: 'unchanged', list: previous.list };
      }
      if (previous && next.list.generatedAt < previous.list.generatedAt) {
        throw new Error(
          `the downloaded list (generated ${next.list.generatedAt.toISOString()}) is older than the one in use (${previous.list.generatedAt.toISOString()})`,
        );
      }
      lastSuccessAt = clock();
      lastError = null;
      // The swap: one assignment, after everything has succeeded.
      loaded = {
        list: next.list,
        sha256: next.sha256,
        checksumVerified: next.checksumVerified,
        loadedAt: clock(),
      };
      log.info(
        {
          source,
          sha256: next.sha256,
          checksumVerified: next.checksumVerified,
          ms: next.ms,
          ...summary(next.list),
          ...(previous ? { previousGeneratedAt: previous.list.generatedAt.toISOString() } : {}),
          ...(next.warnings.length ? { warnings: next.warnings } : {}),
        },
        previous ? 'liste blanche updated' : 'liste blanche loaded',
      );
      warnIfStale(next.list);
      return { outcome: 'swapped', list: next.list };
    } catch (e) {
      const reason = (e as Error).message;
      lastError = reason;
      if (!previous) throw new WhitelistLoadError(`liste blanche: cannot load ${source}: ${reason}`);
      if (stopped) return { outcome: 'failed', list: previous.list, error: reason };
      log.warn(
        { source, error: reason, kept: summary(previous.list), ageHours: round1(ageHoursOf(previous.list)) },
        'liste blanche refresh failed; keeping the last good list',
      );
      warnIfStale(previous.list);
      return { outcome: 'failed', list: previous.list, error: reason };
    } finally {
      abort = null;
    }
  }

  function refresh(): Promise<RefreshOutcome> {
    if (stopped) return Promise.reject(new Error('the liste blanche service is stopped'));
    if (!loaded && !inFlight) return Promise.reject(new Error('the liste blanche service is not started'));
    inFlight ??= attempt().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  return {
    start() {
      if (stopped) return Promise.reject(new Error('the liste blanche service is stopped'));
      started ??= (async () => {
        const first = attempt().finally(() => {
          inFlight = null;
        });
        inFlight = first;
        const { list } = await first.catch((e: unknown) => {
          started = null; // start() may be tried again
          throw e;
        });
        if (opts.refreshMinutes > 0 && !stopped) {
          const every = Math.min(opts.refreshMinutes * 60_000, MAX_INTERVAL_MS);
          timer = setInterval(() => {
            refresh().catch((e: Error) => log.error({ err: e }, 'liste blanche refresh crashed'));
          }, every);
          timer.unref();
        }
        return list;
      })();
      return started;
    },
    current() {
      if (!loaded) throw new Error('the liste blanche service is not started');
      return loaded.list;
    },
    refresh,
    status() {
      const list = loaded?.list ?? null;
      const age = list ? ageHoursOf(list) : null;
      const s = list?.stats();
      return {
        source,
        checksum,
        loadedAt: loaded ? new Date(loaded.loadedAt) : null,
        generatedAt: list ? list.generatedAt : null,
        entries: s?.entries ?? 0,
        domains: s?.domains ?? 0,
        dns: s?.dns ?? 0,
        sha256: loaded?.sha256 ?? null,
        checksumVerified: loaded?.checksumVerified ?? false,
        stale: age === null ? true : age > staleAfterHours,
        ageHours: age === null ? null : round1(age),
        staleAfterHours,
        refreshMinutes: opts.refreshMinutes,
        lastError,
        lastAttemptAt,
        lastSuccessAt,
      };
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      timer = null;
      abort?.abort();
      await inFlight?.catch(() => {});
    },
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;
