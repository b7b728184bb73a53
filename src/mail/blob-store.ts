/**
 * Message bodies, content-addressed: a blob's id is the SHA-256 (lower-case hex) of its
 * plaintext, so the same message delivered to several BALs is stored once.
 *
 * `BlobStore` is the port; `createLocalBlobStore` the embedded adapter (a directory on this
 * machine; SQL- or S3-backed adapters can follow). The local adapter:
 *  - stores a blob at `<dir>/ab/cd/<id>` (first two byte pairs of the id as folders);
 *  - writes a temporary file, fsyncs it, renames it into place and fsyncs the folder (and the
 *    parents of new folders, all at once), so a put that returned is on disk before the SQL
 *    transaction that references it commits;
 *  - `sweep` lists a shard's blobs for the collection of files no row knows (after a crash);
 *  - does not rewrite a blob that is already there (a put is idempotent);
 *  - encrypts with AES-256-GCM when a key is configured (format in blob-crypto.ts); blobs
 *    written before a key was configured stay readable in clear;
 *  - checks on every read that the SHA-256 of the plaintext is the id.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError } from '../domain/errors.ts';
import {
  BLOB_HEADER_SIZE,
  BlobIntegrityError,
  BlobKeyError,
  decryptBlob,
  encryptBlob,
  isEncryptedBlob,
  sha256Hex,
} from './blob-crypto.ts';

export { BlobFormatError, BlobIntegrityError, BlobKeyError } from './blob-crypto.ts';

export interface BlobPutResult {
  /** SHA-256 of the plaintext, lower-case hex. */
  id: string;
  /** Plaintext size in bytes. */
  size: number;
  /** Size of what is stored (plaintext plus the encryption header when encrypted). */
  storedSize: number;
  /** Whether the stored copy is encrypted (an existing copy keeps the form it was written in). */
  encrypted: boolean;
  /** False when the blob was already stored and nothing was written. */
  created: boolean;
}

export interface BlobStore {
  /** Stores `bytes` durably (or finds them already stored). */
  put(bytes: Buffer): Promise<BlobPutResult>;
  /** The plaintext. Throws BlobNotFoundError, BlobKeyError or BlobIntegrityError. */
  get(id: string): Promise<Buffer>;
  has(id: string): Promise<boolean>;
  /** Removes the blob; no error when it is not there. */
  delete(id: string): Promise<void>;
  /**
   * The blobs of one shard (`shard`: the first two hex digits of the id) last written before
   * `olderThan`, with their stored size; also removes the temporary files of interrupted puts
   * older than that. For the collection of files that no row knows (after a crash).
   */
  sweep?(shard: string, olderThan: Date): Promise<{ id: string; storedSize: number }[]>;
}

/** No blob with that id (a NotFoundError, so callers that map those need nothing more). */
export class BlobNotFoundError extends NotFoundError {}

export interface LocalBlobStoreOptions {
  dir: string;
  /** 32-byte AES-256-GCM key; null stores new blobs in clear. */
  encryptionKey: Buffer | null;
}

const ID = /^[0-9a-f]{64}$/;

function requireId(id: string): void {
  if (!ID.test(id)) throw new RangeError(`not a blob id (64 lower-case hex digits): ${JSON.stringify(id)}`);
}

const isCode = (e: unknown, code: string) => (e as { code?: unknown } | null)?.code === code;

/** Makes a folder's entries durable. Not possible on every platform: ignored there. */
async function syncDir(path: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    await handle.sync();
  } catch (e) {
    if (!isCode(e, 'EISDIR') && !isCode(e, 'EINVAL') && !isCode(e, 'EPERM')) throw e;
  } finally {
    await handle?.close();
  }
}

async function readHead(path: string, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

export function createLocalBlobStore(options: LocalBlobStoreOptions): BlobStore {
  const { dir } = options;
  const key = options.encryptionKey;
  if (key && key.length !== 32)
    throw new BlobKeyError(`blob encryption key must be 32 bytes, got ${key.length}`);

  const folderOf = (id: string) => join(dir, id.slice(0, 2), id.slice(2, 4));
  const pathOf = (id: string) => join(folderOf(id), id);

  async function existing(id: string, size: number): Promise<BlobPutResult | null> {
    try {
      const st = await stat(pathOf(id));
      const head = await readHead(pathOf(id), BLOB_HEADER_SIZE);
      const encrypted = isEncryptedBlob(head) && st.size === size + BLOB_HEADER_SIZE;
      // A concurrent put of the same bytes may have renamed the file without syncing the folder yet.
      await syncDir(folderOf(id));
      return { id, size, storedSize: st.size, encrypted, created: false };
    } catch (e) {
      if (isCode(e, 'ENOENT')) return null;
      throw e;
    }
  }

  return {
    async put(bytes) {
      const id = sha256Hex(bytes);
      const folder = folderOf(id);
      // The folder is made while we look for the blob (one step less on the way of each put).
      const [found, createdFolder] = await Promise.all([
        existing(id, bytes.length),
        mkdir(folder, { recursive: true, mode: 0o700 }),
      ]);
      if (found) return found;
      const data = key ? encryptBlob(bytes, key) : bytes;
      const temp = join(folder, `.${id}.${randomBytes(6).toString('hex')}.tmp`);
      try {
        const handle = await open(temp, 'wx', 0o600);
        try {
          await handle.writeFile(data);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, pathOf(id));
      } catch (e) {
        await unlink(temp).catch(() => {});
        throw e;
      }
      // The new entry, and the entries of new folders in their parents, all at once.
      const shard = join(dir, id.slice(0, 2));
      await Promise.all([
        syncDir(folder),
        ...(createdFolder ? [syncDir(shard)] : []),
        ...(createdFolder && createdFolder !== folder ? [syncDir(dir)] : []),
      ]);
      return { id, size: bytes.length, storedSize: data.length, encrypted: key !== null, created: true };
    },

    async get(id) {
      requireId(id);
      let data: Buffer;
      try {
        data = await readFile(pathOf(id));
      } catch (e) {
        if (isCode(e, 'ENOENT')) throw new BlobNotFoundError(`blob ${id} is not in the blob store`);
        throw e;
      }
      if (!isEncryptedBlob(data)) {
        if (sha256Hex(data) !== id) {
          throw new BlobIntegrityError(`blob ${id} is damaged: its content does not match its id`);
        }
        return data;
      }
      let plaintext: Buffer;
      try {
        if (!key) {
          throw new BlobKeyError(`blob ${id} is encrypted but no key is configured (blobs.encryptionKey)`);
        }
        plaintext = decryptBlob(data, key);
      } catch (e) {
        // A clear blob that merely starts like the header is still a good blob.
        if (sha256Hex(data) === id) return data;
        if (e instanceof Error) e.message = `blob ${id}: ${e.message}`;
        throw e;
      }
      if (sha256Hex(plaintext) !== id) {
        throw new BlobIntegrityError(`blob ${id} is damaged: its decrypted content does not match its id`);
      }
      return plaintext;
    },

    async has(id) {
      requireId(id);
      try {
        await stat(pathOf(id));
        return true;
      } catch (e) {
        if (isCode(e, 'ENOENT')) return false;
        throw e;
      }
    },

    async delete(id) {
      requireId(id);
      try {
        await unlink(pathOf(id));
      } catch (e) {
        if (!isCode(e, 'ENOENT')) throw e;
      }
    },

    async sweep(shard, olderThan) {
      if (!/^[0-9a-f]{2}$/.test(shard)) throw new RangeError(`not a shard (2 hex digits): ${shard}`);
      const list = async (path: string) => {
        try {
          return await readdir(path);
        } catch (e) {
          if (isCode(e, 'ENOENT')) return [];
          throw e;
        }
      };
      const found: { id: string; storedSize: number }[] = [];
      for (const sub of await list(join(dir, shard))) {
        if (!/^[0-9a-f]{2}$/.test(sub)) continue;
        const folder = join(dir, shard, sub);
        for (const name of await list(folder)) {
          const path = join(folder, name);
          let st: Awaited<ReturnType<typeof stat>>;
          try {
            st = await stat(path);
          } catch (e) {
            if (isCode(e, 'ENOENT')) continue;
            throw e;
          }
          if (st.mtime >= olderThan) continue;
          if (ID.test(name) && name.startsWith(shard + sub)) found.push({ id: name, storedSize: st.size });
          else if (name.startsWith('.') && name.endsWith('.tmp')) await unlink(path).catch(() => {});
        }
      }
      return found;
    },
  };
}
