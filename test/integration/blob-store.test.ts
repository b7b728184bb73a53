import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BLOB_HEADER_SIZE, sha256Hex } from '../../src/mail/blob-crypto.ts';
import {
  BlobIntegrityError,
  BlobKeyError,
  BlobNotFoundError,
  createLocalBlobStore,
} from '../../src/mail/blob-store.ts';

const message = Buffer.from(
  'From: a@ch-a.mssante.fr\r\nSubject: CR\r\n\r\nPatient DUPONT Marie, née le 01/01/1970: compte rendu confidentiel.\r\n',
);
const key = randomBytes(32);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mss-blobs-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const pathOf = (id: string) => join(dir, id.slice(0, 2), id.slice(2, 4), id);

/** Every file under `root`, relative. */
function files(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

describe.each([
  ['in clear', null],
  ['encrypted', key],
] as const)('local blob store %s', (_title, encryptionKey) => {
  it('stores content-addressed at <dir>/ab/cd/<sha256> and reads it back', async () => {
    const blobs = createLocalBlobStore({ dir, encryptionKey });
    const put = await blobs.put(message);
    const id = sha256Hex(message);
    expect(put).toEqual({
      id,
      size: message.length,
      storedSize: message.length + (encryptionKey ? BLOB_HEADER_SIZE : 0),
      encrypted: encryptionKey !== null,
      created: true,
    });
    expect(files(dir)).toEqual([join(id.slice(0, 2), id.slice(2, 4), id)]);
    expect(statSync(pathOf(id)).mode & 0o777).toBe(0o600);
    expect(await blobs.get(id)).toEqual(message);
    expect(await blobs.has(id)).toBe(true);
  });

  it('is idempotent: the same content is not written again', async () => {
    const blobs = createLocalBlobStore({ dir, encryptionKey });
    const first = await blobs.put(message);
    const before = readFileSync(pathOf(first.id));
    const mtime = statSync(pathOf(first.id)).mtimeMs;
    const again = await blobs.put(Buffer.from(message));
    expect(again).toEqual({ ...first, created: false });
    // With encryption a rewrite would show: a new random IV changes the bytes.
    expect(readFileSync(pathOf(first.id))).toEqual(before);
    expect(statSync(pathOf(first.id)).mtimeMs).toBe(mtime);
    expect(files(dir)).toHaveLength(1);
  });

  it('keeps no temporary file and survives concurrent puts of the same content', async () => {
    const blobs = createLocalBlobStore({ dir, encryptionKey });
    const results = await Promise.all(Array.from({ length: 8 }, () => blobs.put(message)));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(files(dir)).toEqual([
      join(results[0]!.id.slice(0, 2), results[0]!.id.slice(2, 4), results[0]!.id),
    ]);
    expect(await blobs.get(results[0]!.id)).toEqual(message);
  });

  it('detects a damaged file', async () => {
    const blobs = createLocalBlobStore({ dir, encryptionKey });
    const { id } = await blobs.put(message);
    const bytes = readFileSync(pathOf(id));
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0x20;
    writeFileSync(pathOf(id), bytes);
    await expect(blobs.get(id)).rejects.toThrow(BlobIntegrityError);
    await expect(blobs.get(id)).rejects.toThrow(id);
  });

  it('detects a file swapped for another blob', async () => {
    const blobs = createLocalBlobStore({ dir, encryptionKey });
    const a = await blobs.put(message);
    const b = await blobs.put(Buffer.from('another message'));
    writeFileSync(pathOf(a.id), readFileSync(pathOf(b.id)));
    await expect(blobs.get(a.id)).rejects.toThrow(BlobIntegrityError);
  });

  it('deletes, and says when a blob is missing', async () => {
    const blobs = createLocalBlobStore({ dir, encryptionKey });
    const { id } = await blobs.put(message);
    await blobs.delete(id);
    await blobs.delete(id); // no error the second time
    expect(await blobs.has(id)).toBe(false);
    await expect(blobs.get(id)).rejects.toThrow(BlobNotFoundError);
  });

  it('refuses ids that are not SHA-256 hex (no path tricks)', async () => {
    const blobs = createLocalBlobStore({ dir, encryptionKey });
    await expect(blobs.get('../../etc/passwd')).rejects.toThrow(RangeError);
    await expect(blobs.has('ABC')).rejects.toThrow(RangeError);
  });

  it('sweep: lists the blobs of a shard written before a date, and removes old temporary files', async () => {
    const blobs = createLocalBlobStore({ dir, encryptionKey });
    const put = await blobs.put(message);
    const shard = put.id.slice(0, 2);
    const folder = join(dir, shard, put.id.slice(2, 4));
    const temp = join(folder, `.${put.id}.abcdef.tmp`);
    writeFileSync(temp, 'interrupted');
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(temp, old, old);
    // Nothing older than an hour ago but the temporary file, which goes.
    expect(await blobs.sweep!(shard, new Date(Date.now() - 60_000))).toEqual([]);
    expect(files(dir)).toEqual([join(shard, put.id.slice(2, 4), put.id)]);
    expect(await blobs.sweep!(shard, new Date(Date.now() + 60_000))).toEqual([
      { id: put.id, storedSize: put.storedSize },
    ]);
    const other = shard === '00' ? '01' : '00';
    expect(await blobs.sweep!(other, new Date(Date.now() + 60_000))).toEqual([]);
    await expect(blobs.sweep!('../', new Date())).rejects.toThrow(RangeError);
  });

  it('stores an empty blob', async () => {
    const blobs = createLocalBlobStore({ dir, encryptionKey });
    const { id } = await blobs.put(Buffer.alloc(0));
    expect(await blobs.get(id)).toEqual(Buffer.alloc(0));
  });
});

describe('local blob store encryption at rest', () => {
  it('does not leave the plaintext on disk', async () => {
    const blobs = createLocalBlobStore({ dir, encryptionKey: key });
    const { id } = await blobs.put(message);
    const onDisk = readFileSync(pathOf(id));
    expect(onDisk.includes(Buffer.from('DUPONT'))).toBe(false);
    expect(onDisk.includes(Buffer.from('Subject'))).toBe(false);
    expect(onDisk.subarray(0, 4).toString()).toBe('MSSB');

    // The same store without a key would have written the plaintext.
    const clearDir = mkdtempSync(join(tmpdir(), 'mss-blobs-clear-'));
    try {
      const clear = createLocalBlobStore({ dir: clearDir, encryptionKey: null });
      await clear.put(message);
      expect(readFileSync(join(clearDir, id.slice(0, 2), id.slice(2, 4), id))).toEqual(message);
    } finally {
      rmSync(clearDir, { recursive: true, force: true });
    }
  });

  it('says clearly when the key is wrong, or missing', async () => {
    const { id } = await createLocalBlobStore({ dir, encryptionKey: key }).put(message);
    const wrong = createLocalBlobStore({ dir, encryptionKey: randomBytes(32) });
    await expect(wrong.get(id)).rejects.toThrow(BlobKeyError);
    await expect(wrong.get(id)).rejects.toThrow(/encrypted with another key/);
    const none = createLocalBlobStore({ dir, encryptionKey: null });
    await expect(none.get(id)).rejects.toThrow(/encrypted but no key is configured/);
  });

  it('still reads blobs stored in clear before a key was configured, and does not rewrite them', async () => {
    const { id } = await createLocalBlobStore({ dir, encryptionKey: null }).put(message);
    const withKey = createLocalBlobStore({ dir, encryptionKey: key });
    expect(await withKey.get(id)).toEqual(message);
    const again = await withKey.put(message);
    expect(again).toMatchObject({ created: false, encrypted: false, storedSize: message.length });
    expect(readFileSync(pathOf(id))).toEqual(message);
  });

  it('reads a clear blob whose content happens to start like the encryption header', async () => {
    const tricky = Buffer.concat([Buffer.from('MSSB\u0001'), randomBytes(80)]);
    const { id } = await createLocalBlobStore({ dir, encryptionKey: null }).put(tricky);
    expect(await createLocalBlobStore({ dir, encryptionKey: key }).get(id)).toEqual(tricky);
    expect(await createLocalBlobStore({ dir, encryptionKey: null }).get(id)).toEqual(tricky);
  });

  it('refuses a key of the wrong size at construction', () => {
    expect(() => createLocalBlobStore({ dir, encryptionKey: Buffer.alloc(16) })).toThrow(/32 bytes/);
  });
});
