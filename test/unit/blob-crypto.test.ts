import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BLOB_HEADER_SIZE,
  BlobFormatError,
  BlobIntegrityError,
  BlobKeyError,
  blobKeyId,
  decryptBlob,
  encryptBlob,
  isEncryptedBlob,
  readBlobKeyId,
  sha256Hex,
} from '../../src/mail/blob-crypto.ts';

const key = Buffer.alloc(32, 7);
const otherKey = Buffer.alloc(32, 9);
const iv = Buffer.alloc(12, 1);
const plaintext = Buffer.from('Subject: compte rendu\r\n\r\nDonnées de santé\r\n');

describe('blob encryption format', () => {
  it('lays out magic, version, key id, IV, tag, then ciphertext of the same length', () => {
    const sealed = encryptBlob(plaintext, key, iv);
    expect(sealed.length).toBe(plaintext.length + BLOB_HEADER_SIZE);
    expect(BLOB_HEADER_SIZE).toBe(41);
    expect(sealed.subarray(0, 4).toString('latin1')).toBe('MSSB');
    expect(sealed[4]).toBe(1);
    expect(sealed.subarray(5, 13)).toEqual(blobKeyId(key));
    expect(sealed.subarray(13, 25)).toEqual(iv);
    expect(sealed.subarray(BLOB_HEADER_SIZE).includes(Buffer.from('santé'))).toBe(false);
    expect(isEncryptedBlob(sealed)).toBe(true);
    expect(isEncryptedBlob(plaintext)).toBe(false);
  });

  it('round-trips, and draws a fresh IV each time by default', () => {
    const a = encryptBlob(plaintext, key);
    const b = encryptBlob(plaintext, key);
    expect(a.subarray(13, 25).equals(b.subarray(13, 25))).toBe(false);
    expect(decryptBlob(a, key)).toEqual(plaintext);
    expect(decryptBlob(b, key)).toEqual(plaintext);
    expect(decryptBlob(encryptBlob(Buffer.alloc(0), key), key)).toEqual(Buffer.alloc(0));
  });

  it('derives a stable 8-byte key id that differs between keys', () => {
    expect(blobKeyId(key)).toHaveLength(8);
    expect(blobKeyId(key)).toEqual(blobKeyId(Buffer.from(key)));
    expect(blobKeyId(key).equals(blobKeyId(otherKey))).toBe(false);
    expect(readBlobKeyId(encryptBlob(plaintext, otherKey))).toEqual(blobKeyId(otherKey));
  });

  it('names a wrong key as such, with both key ids', () => {
    const sealed = encryptBlob(plaintext, key, iv);
    expect(() => decryptBlob(sealed, otherKey)).toThrow(BlobKeyError);
    expect(() => decryptBlob(sealed, otherKey)).toThrow(
      new RegExp(`another key .*${blobKeyId(key).toString('hex')}.*${blobKeyId(otherKey).toString('hex')}`),
    );
  });

  it.each([
    ['a ciphertext byte', BLOB_HEADER_SIZE + 3],
    ['the last ciphertext byte', -1],
    ['the tag', 30],
    ['the IV', 14],
  ])('detects a change in %s', (_what, offset) => {
    const sealed = encryptBlob(plaintext, key, iv);
    const at = offset < 0 ? sealed.length + offset : offset;
    sealed[at] = sealed[at]! ^ 0x01;
    expect(() => decryptBlob(sealed, key)).toThrow(BlobIntegrityError);
  });

  it('authenticates the header: a forged key id is refused, truncation too', () => {
    const sealed = encryptBlob(plaintext, key, iv);
    const forged = Buffer.from(sealed);
    forged[6] = forged[6]! ^ 0xff;
    expect(() => decryptBlob(forged, key)).toThrow(BlobKeyError);
    expect(() => decryptBlob(sealed.subarray(0, sealed.length - 1), key)).toThrow(BlobIntegrityError);
  });

  it.each([
    ['too short', Buffer.from('MSSB\u0001')],
    ['another magic', Buffer.concat([Buffer.from('XXXX\u0001'), Buffer.alloc(60)])],
    ['an unknown version', Buffer.concat([Buffer.from('MSSB\u0002'), Buffer.alloc(60)])],
  ])('refuses %s as not an encrypted blob', (_what, bytes) => {
    expect(isEncryptedBlob(bytes)).toBe(false);
    expect(() => decryptBlob(bytes, key)).toThrow(BlobFormatError);
  });

  it('refuses keys that are not 32 bytes', () => {
    expect(() => encryptBlob(plaintext, Buffer.alloc(16))).toThrow(BlobKeyError);
    expect(() => blobKeyId(Buffer.alloc(31))).toThrow(/32 bytes/);
    expect(() => encryptBlob(plaintext, key, Buffer.alloc(8))).toThrow(RangeError);
  });

  it('names blobs by the SHA-256 of their plaintext', () => {
    expect(sha256Hex(plaintext)).toBe(createHash('sha256').update(plaintext).digest('hex'));
    expect(sha256Hex(Buffer.alloc(0))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});
