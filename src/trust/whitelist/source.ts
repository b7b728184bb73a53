import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the liste blanche comes from: a file or an https:// URL, with an optional SHA-256
 * checksum (a file or URL holding the hex digest) verified on the bytes BEFORE they are parsed.
 * Plain http:// is refused except on loopback (tests, a local mirror).
 */

export class WhitelistSourceError extends Error {
  override readonly name = 'WhitelistSourceError';
}

export interface SourceOptions {
  /** Download timeout for URLs, in milliseconds (whole transfer). */
  timeoutMs: number;
  /** Base of relative file paths; defaults to the working directory. */
  cwd?: string;
  /** Aborts the transfer (service stop). */
  signal?: AbortSignal;
  /** Refuse documents larger than this (default 64 MiB; the 2025 list is 3.7 MB). */
  maxBytes?: number;
}

export type Location = { kind: 'file'; path: string } | { kind: 'url'; url: URL };

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** True for localhost, 127.0.0.0/8 and ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h);
}

/** Classifies a configured location; refuses schemes other than https (and http on loopback) and file. */
export function parseLocation(location: string, cwd = process.cwd()): Location {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    let url: URL;
    try {
      url = new URL(location);
    } catch {
      throw new WhitelistSourceError(`not a valid URL: ${location}`);
    }
    if (url.protocol === 'file:') return { kind: 'file', path: fileURLToPath(url) };
    checkUrlAllowed(url);
    return { kind: 'url', url };
  }
  return { kind: 'file', path: resolve(cwd, location) };
}

function checkUrlAllowed(url: URL): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return;
  if (url.protocol === 'http:')
    throw new WhitelistSourceError(
      `refusing ${redact(url)}: plain http is only allowed on loopback, use https://`,
    );
  throw new WhitelistSourceError(
    `unsupported URL scheme ${url.protocol} in ${redact(url)} (https:// expected)`,
  );
}

/** URL without credentials, for messages and logs. */
function redact(url: URL): string {
  if (!url.username && !url.password) return url.href;
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

/** A location for messages and logs (URL credentials removed). */
export function describeLocation(location: string): string {
  try {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return redact(new URL(location));
  } catch {}
  return location;
}

/** Reads all the bytes of a file or URL location. */
export async function readLocation(location: string, opts: SourceOptions): Promise<Buffer> {
  const loc = parseLocation(location, opts.cwd);
  const max = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  if (loc.kind === 'file') {
    try {
      const st = await stat(loc.path);
      if (!st.isFile()) throw new WhitelistSourceError(`${loc.path} is not a file`);
      if (st.size > max) throw new WhitelistSourceError(`${loc.path} is larger than ${max} bytes`);
      return await readFile(loc.path, opts.signal ? { signal: opts.signal } : {});
    } catch (e) {
      if (e instanceof WhitelistSourceError) throw e;
      const err = e as NodeJS.ErrnoException;
      throw new WhitelistSourceError(`cannot read ${loc.path}: ${err.code ?? err.message}`);
    }
  }
  return download(loc.url, opts, max);
}

async function download(url: URL, opts: SourceOptions, max: number): Promise<Buffer> {
  const shown = redact(url);
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  const failure = (e: unknown): WhitelistSourceError => {
    if (timeout.aborted)
      return new WhitelistSourceError(`${shown}: no complete answer within ${opts.timeoutMs} ms`);
    if (opts.signal?.aborted) return new WhitelistSourceError(`${shown}: download aborted`);
    if (e instanceof WhitelistSourceError) return e;
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const cause = err.cause?.code ?? err.cause?.message;
    return new WhitelistSourceError(`${shown}: ${err.message}${cause ? ` (${cause})` : ''}`);
  };
  try {
    const res = await fetch(url, {
      signal,
      redirect: 'follow',
      headers: { accept: 'application/xml, text/plain, */*' },
    });
    if (res.redirected) checkUrlAllowed(new URL(res.url));
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new WhitelistSourceError(`${shown}: HTTP ${res.status} ${res.statusText}`.trimEnd());
    }
    const declared = Number(res.headers.get('content-length') ?? Number.NaN);
    if (declared > max) {
      await res.body?.cancel().catch(() => {});
      throw new WhitelistSourceError(`${shown}: ${declared} bytes announced, more than the ${max} allowed`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (res.body) {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > max) throw new WhitelistSourceError(`${shown}: more than the ${max} bytes allowed`);
        chunks.push(chunk);
      }
    }
    return Buffer.concat(chunks, size);
  } catch (e) {
    throw failure(e);
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The digest in a checksum document: `<hex>`, `<hex>  <file name>` (sha256sum, possibly several
 * lines, then the one naming `forName` is used) or `SHA256 (<file name>) = <hex>` (BSD).
 */
export function parseChecksum(text: string, forName?: string): string {
  const found: { digest: string; name: string | null }[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const gnu = /^\\?([0-9a-fA-F]{64})(?:\s+\*?(.+))?$/.exec(line);
    const bsd = /^SHA-?256\s*\((.+)\)\s*=\s*([0-9a-fA-F]{64})$/i.exec(line);
    if (gnu) found.push({ digest: gnu[1]!.toLowerCase(), name: gnu[2]?.trim() ?? null });
    else if (bsd) found.push({ digest: bsd[2]!.toLowerCase(), name: bsd[1]!.trim() });
    else throw new WhitelistSourceError(`not a SHA-256 checksum line: ${JSON.stringify(line.slice(0, 100))}`);
  }
  if (found.length === 0) throw new WhitelistSourceError('no SHA-256 digest in the checksum document');
  if (found.length === 1) return found[0]!.digest;
  const named = forName ? found.filter((f) => f.name !== null && basename(f.name) === forName) : [];
  if (named.length === 1) return named[0]!.digest;
  throw new WhitelistSourceError(
    `the checksum document holds ${found.length} digests and ${forName ? `none names ${forName}` : 'no file name to choose one'}`,
  );
}

/** The file name part of a location (last path segment), to pick a line in a multi-file checksum. */
function nameOf(location: string): string {
  try {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) return basename(new URL(location).pathname);
  } catch {}
  return basename(location);
}

export interface FetchedList {
  bytes: Buffer;
  /** SHA-256 of `bytes`, hex. */
  sha256: string;
  /** True when a configured checksum matched; false when no checksum is configured. */
  checksumVerified: boolean;
}

/**
 * Downloads (or reads) the list and, when a checksum location is given, its digest; the digests
 * are compared before anything else looks at the bytes. A mismatch names both digests.
 */
export async function fetchList(
  source: string,
  checksum: string | null,
  opts: SourceOptions,
): Promise<FetchedList> {
  // When one of the two transfers fails, the other one is abandoned.
  const both = new AbortController();
  const signal = opts.signal ? AbortSignal.any([both.signal, opts.signal]) : both.signal;
  const abandon = (e: unknown) => {
    both.abort();
    throw e;
  };
  const [bytes, expected] = await Promise.all([
    readLocation(source, { ...opts, signal }).catch(abandon),
    checksum
      ? readLocation(checksum, { ...opts, signal, maxBytes: 64 * 1024 })
          .then((b) => parseChecksum(b.toString('utf8'), nameOf(source)))
          .catch((e: Error) =>
            abandon(new WhitelistSourceError(`checksum ${describeLocation(checksum)}: ${e.message}`)),
          )
      : Promise.resolve(null),
  ]);
  const actual = sha256Hex(bytes);
  if (expected !== null && expected !== actual) {
    throw new WhitelistSourceError(
      `checksum mismatch for ${describeLocation(source)}: expected sha256 ${expected} (from ${describeLocation(checksum!)}), got ${actual}`,
    );
  }
  return { bytes, sha256: actual, checksumVerified: expected !== null };
}
