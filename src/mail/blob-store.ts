/**
 * Message bodies, content-addressed: a blob's id is the SHA-256 (lower-case hex) of its
 * plaintext, so the same message delivered to several BALs is stored once.
 *
 * `BlobStore` is the port; `createLocalBlobStore` the embedded adapter (a directory on this
 * machine; SQL- or S3-backed adapters can follow). The local adapter:
 *  - stores a blob at `<dir>/ab/cd/<id>` (first two byte pairs of the id as folders);
 *  - writes a temporary file, fsyncs it, renames it into place and fsyncs the folder, so a put
 *    that returned is on disk before the SQL transaction that references it commits;
 *  - does not rewrite a blob that is already there (a put is idempotent);
 *  - encrypts with AES-256-GCM when a key is configured (format in blob-crypto.ts); blobs
 *    written before a key was configured stay readable in clear;
 *  - checks on every read that the SHA-256 of the plaintext is the id.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
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
      const found = await existing(id, bytes.length);
      if (found) return found;

      const folder = folderOf(id);
      const createdFolder = await mkdir(folder, { recursive: true, mode: 0o700 });
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
      await syncDir(folder);
      if (createdFolder) {
        // New folders: their own entries in their parents must be durable too.
        await syncDir(join(dir, id.slice(0, 2)));
        await syncDir(dir);
      }
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
  };
}
