/**
 * The on-disk form of an encrypted blob: AES-256-GCM (Node's crypto) with a random 12-byte IV
 * per blob, behind a small versioned header.
 *
 *   offset  size  field
 *   0       4     magic "MSSB"
 *   4       1     format version (1)
 *   5       8     key id: first 8 bytes of SHA-256("mssante-blob-key-id" NUL key)
 *   13      12    IV
 *   25      16    GCM authentication tag
 *   41      …     ciphertext (same length as the plaintext)
 *
 * The first 13 bytes are authenticated as additional data, so the header cannot be altered
 * either. The key id tells a wrong key (BlobKeyError) from a damaged file (BlobIntegrityError)
 * without trying to decrypt. Pure functions: no I/O.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export const BLOB_MAGIC = Buffer.from('MSSB', 'latin1');
export const BLOB_FORMAT_VERSION = 1;
const KEY_ID_SIZE = 8;
const IV_SIZE = 12;
const TAG_SIZE = 16;
const AAD_SIZE = BLOB_MAGIC.length + 1 + KEY_ID_SIZE;
/** Bytes an encrypted blob takes on top of its plaintext. */
export const BLOB_HEADER_SIZE = AAD_SIZE + IV_SIZE + TAG_SIZE;

/** The file is not an encrypted blob of a format this version knows. */
export class BlobFormatError extends Error {
  override readonly name = 'BlobFormatError';
}

/** The blob cannot be read with the configured key (none configured, or another one). */
export class BlobKeyError extends Error {
  override readonly name = 'BlobKeyError';
}

/** The blob's bytes were altered or damaged: authentication or hash check failed. */
export class BlobIntegrityError extends Error {
  override readonly name = 'BlobIntegrityError';
}

function requireKey(key: Buffer): void {
  if (key.length !== 32) throw new BlobKeyError(`blob encryption key must be 32 bytes, got ${key.length}`);
}

/** Lower-case hex SHA-256 of `bytes`: a blob's id. */
export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The 8-byte identifier of a key, stored in each blob it encrypts (not secret, not reversible). */
export function blobKeyId(key: Buffer): Buffer {
  requireKey(key);
  return createHash('sha256')
    .update('mssante-blob-key-id\u0000')
    .update(key)
    .digest()
    .subarray(0, KEY_ID_SIZE);
}

/** True when `bytes` starts like an encrypted blob of a known version. */
export function isEncryptedBlob(bytes: Buffer): boolean {
  return (
    bytes.length >= BLOB_HEADER_SIZE &&
    bytes.subarray(0, BLOB_MAGIC.length).equals(BLOB_MAGIC) &&
    bytes[BLOB_MAGIC.length] === BLOB_FORMAT_VERSION
  );
}

/** Encrypts `plaintext`. `iv` is for tests only: production always draws a random one. */
export function encryptBlob(plaintext: Buffer, key: Buffer, iv: Buffer = randomBytes(IV_SIZE)): Buffer {
  requireKey(key);
  if (iv.length !== IV_SIZE) throw new RangeError(`IV must be ${IV_SIZE} bytes`);
  const aad = Buffer.concat([BLOB_MAGIC, Buffer.of(BLOB_FORMAT_VERSION), blobKeyId(key)]);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_SIZE });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([aad, iv, cipher.getAuthTag(), ciphertext]);
}

/** The key id written in an encrypted blob's header. */
export function readBlobKeyId(bytes: Buffer): Buffer {
  if (!isEncryptedBlob(bytes))
    throw new BlobFormatError('not an encrypted blob (bad magic, version or size)');
  return bytes.subarray(BLOB_MAGIC.length + 1, AAD_SIZE);
}

/**
 * Decrypts an encrypted blob. Throws BlobFormatError (not this format), BlobKeyError (encrypted
 * with another key) or BlobIntegrityError (altered: authentication failed).
 */
export function decryptBlob(bytes: Buffer, key: Buffer): Buffer {
  const stored = readBlobKeyId(bytes);
  const expected = blobKeyId(key);
  if (!stored.equals(expected)) {
    throw new BlobKeyError(
      `blob was encrypted with another key (key id ${stored.toString('hex')}, configured key id ${expected.toString('hex')})`,
    );
  }
  const iv = bytes.subarray(AAD_SIZE, AAD_SIZE + IV_SIZE);
  const tag = bytes.subarray(AAD_SIZE + IV_SIZE, BLOB_HEADER_SIZE);
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_SIZE });
  decipher.setAAD(bytes.subarray(0, AAD_SIZE));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(bytes.subarray(BLOB_HEADER_SIZE)), decipher.final()]);
  } catch {
    throw new BlobIntegrityError('encrypted blob failed authentication: it was altered or damaged');
  }
}
