import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDevPki } from '../../src/trust/pki/dev-pki.ts';
import {
  type CertInfo,
  CertificateParseError,
  checkChain,
  checkLeafUsage,
  derToPem,
  formatDn,
  normaliseSerial,
  type ParsedCert,
  parseCertificate,
  parseCertificates,
  readCertificates,
} from '../../src/trust/pki/inspect.ts';
import { parseCrl, verifyCrlSignature } from '../../src/trust/pki/validator.ts';

/**
 * A self-signed EC P-256 certificate made with `openssl req -x509 -utf8` (forge alone cannot
 * read EC certificates): UTF-8 ST with an accent, a comma in O, serial 00FF01, SANs DNS + IP,
 * critical keyUsage, EKU serverAuth + clientAuth, CRL distribution point.
 */
const EC_CERT = `-----BEGIN CERTIFICATE-----
MIIC7TCCApKgAwIBAgIDAP8BMAoGCCqGSM49BAMCMIGIMQswCQYDVQQGEwJGUjEa
MBgGA1UECAwRUHV5LWRlLUTDtG1lICg2MykxKjAoBgNVBAoMIUNFTlRSRSBERSBM
VVRURSwgQ09OVFJFIExFIENBTkNFUjETMBEGA1UECwwKMTYzMDAwMDQ3OTEcMBoG
A1UEAwwTYmFpbGxldWwuZXhhbXBsZS5mcjAeFw0yNjExMjMxNzI2MzBaFw0zNjEx
MjAxNzI2MzBaMIGIMQswCQYDVQQGEwJGUjEaMBgGA1UECAwRUHV5LWRlLUTDtG1l
ICg2MykxKjAoBgNVBAoMIUNFTlRSRSBERSBMVVRURSwgQ09OVFJFIExFIENBTkNF
UjETMBEGA1UECwwKMTYzMDAwMDQ3OTEcMBoGA1UEAwwTYmFpbGxldWwuZXhhbXBs
ZS5mcjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABCnR5z3PF/S9qDxNdbdzYEZe
pjYtIiaxge3/fqttTSx+5eVJVjj4VXCUeEsntjR6U/l14ccHRHxtsO6YPLD3WFaj
gegwgeUwHQYDVR0OBBYEFLP7O62iCR7hlGVf8nYkVr9YeFI3MB8GA1UdIwQYMBaA
FLP7O62iCR7hlGVf8nYkVr9YeFI3MA8GA1UdEwEB/wQFMAMBAf8wNAYDVR0RBC0w
K4ITYmFpbGxldWwuZXhhbXBsZS5mcoIObXgyLmV4YW1wbGUuZnKHBH8AAAEwHQYD
VR0lBBYwFAYIKwYBBQUHAwEGCCsGAQUFBwMCMA4GA1UdDwEB/wQEAwIHgDAtBgNV
HR8EJjAkMCKgIKAehhxodHRwOi8vY3JsLmV4YW1wbGUuZnIvYWMuY3JsMAoGCCqG
SM49BAMCA0kAMEYCIQCkUI/nkIuQ4NEXDhLVsJyjoxHHB2m8+MskKfnG06e1FgIh
AOwfht6B5mJ/N2UIgdOoYbakVxBXnEyjPbIfUQrZMDBc
-----END CERTIFICATE-----
`;

describe('readCertificates', () => {
  it('reads every block of a PEM bundle, ignoring text around them', () => {
    const bundle = `subject=whatever\n${EC_CERT}\nsome comment\n${EC_CERT}`;
    const ders = readCertificates(bundle);
    expect(ders).toHaveLength(2);
    expect(ders[0]!.equals(ders[1]!)).toBe(true);
  });

  it('reads a DER certificate', () => {
    const der = readCertificates(EC_CERT)[0]!;
    expect(readCertificates(der)).toEqual([der]);
    expect(derToPem(der).trim()).toBe(EC_CERT.trim());
  });

  it.each([
    ['empty', ''],
    ['text', 'hello world'],
    ['PEM of another kind', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'],
  ])('refuses %s', (_label, input) => {
    expect(() => readCertificates(input)).toThrow(CertificateParseError);
  });

  it('refuses DER that is not a certificate', () => {
    expect(() => parseCertificate(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]))).toThrow(
      CertificateParseError,
    );
  });
});

describe('parseCertificate (EC certificate made by OpenSSL)', () => {
  const info: CertInfo = parseCertificates(EC_CERT)[0]!.info;

  it('writes the subject and issuer in the liste blanche format, UTF-8 and RFC 4514 escapes', () => {
    expect(info.subject).toBe(
      'CN=bailleul.example.fr,OU=1630000479,O=CENTRE DE LUTTE\\, CONTRE LE CANCER,ST=Puy-de-Dôme (63),C=FR',
    );
    expect(info.issuer).toBe(info.subject);
    expect(info.selfIssued).toBe(true);
    expect(info.subjectAttributes.map((a) => a.name)).toEqual(['C', 'ST', 'O', 'OU', 'CN']);
  });

  it('reads serial, dates, usages, names and the key', () => {
    expect(info.serial).toBe('FF01');
    expect(info.notBefore.toISOString()).toBe('2026-11-23T17:26:30.000Z');
    expect(info.notAfter.toISOString()).toBe('2036-11-20T17:26:30.000Z');
    expect(info.keyUsage).toEqual(['digitalSignature']);
    expect(info.extKeyUsage).toEqual(['serverAuth', 'clientAuth']);
    expect(info.subjectAltNames).toEqual([
      { type: 'DNS', value: 'bailleul.example.fr' },
      { type: 'DNS', value: 'mx2.example.fr' },
      { type: 'IP', value: '127.0.0.1' },
    ]);
    expect(info.crlDistributionPoints).toEqual(['http://crl.example.fr/ac.crl']);
    expect(info.basicConstraints).toEqual({ ca: true, pathLen: null });
    expect(info.subjectKeyId).toBe(info.authorityKeyId);
    expect(info.publicKey).toEqual({ type: 'ec', bits: null, curve: 'prime256v1' });
    expect(info.signatureAlgorithm).toBe('1.2.840.10045.4.3.2');
    expect(info.fingerprint256).toBe(
      '3C:76:EC:E5:D1:8E:5B:47:31:4E:FE:CE:EF:0D:E1:E8:B6:BF:88:B4:75:94:73:FA:F7:46:5C:10:6A:6A:4E:27',
    );
    expect(info.unknownCriticalExtensions).toEqual([]);
  });
});

describe('formatDn', () => {
  const attr = (name: string, value: string) => ({ type: name, name, value });
  it.each([
    [[attr('C', 'FR'), attr('O', 'GIP - TEST9962'), attr('CN', 'a.fr')], 'CN=a.fr,O=GIP - TEST9962,C=FR'],
    [[attr('O', "SSR CENTRE DE L'ARCHE")], "O=SSR CENTRE DE L'ARCHE"],
    [[attr('O', 'A,B+C;D"E\\F<G>')], 'O=A\\,B\\+C\\;D\\"E\\\\F\\<G\\>'],
    [[attr('O', '#lead')], 'O=\\#lead'],
    [[attr('O', ' both ')], 'O=\\ both\\ '],
    [[attr('ST', 'Hérault (34)')], 'ST=Hérault (34)'],
  ])('%j → %s', (attrs, expected) => {
    expect(formatDn(attrs)).toBe(expected);
  });
});

describe('normaliseSerial', () => {
  it.each([
    ['00ff01', 'FF01'],
    ['0a:0B', 'A0B'],
    ['000', '0'],
    ['7E5B', '7E5B'],
  ])('%s → %s', (input, expected) => {
    expect(normaliseSerial(input)).toBe(expected);
  });
});

describe('checkLeafUsage', () => {
  const base = parseCertificates(EC_CERT)[0]!.info;
  it.each([
    [['serverAuth', 'clientAuth'], ['digitalSignature', 'keyEncipherment'], 'serverAuth', null],
    [['serverAuth', 'clientAuth'], null, 'clientAuth', null],
    [['anyExtendedKeyUsage'], null, 'clientAuth', null],
    [['serverAuth'], null, 'clientAuth', /not allowed for TLS client authentication/],
    [['clientAuth'], null, 'serverAuth', /not allowed for TLS server authentication/],
    [null, null, 'serverAuth', /no extended key usage/],
    [['serverAuth'], ['keyEncipherment'], 'serverAuth', /lacks digitalSignature/],
  ] as const)('eku %j ku %j as %s', (eku, ku, purpose, expected) => {
    const info = {
      ...base,
      extKeyUsage: eku ? [...eku] : null,
      keyUsage: ku ? [...ku] : null,
    } as CertInfo;
    const res = checkLeafUsage(info, purpose);
    if (expected === null) expect(res).toBeNull();
    else expect(res).toMatch(expected);
  });
});

describe('checkChain and CRL parsing on a generated development PKI', () => {
  let dir: string;
  let root: ParsedCert;
  let inter: ParsedCert;
  let chain: ParsedCert[];
  let crlPem: Buffer;
  const now = new Date();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mss-pki-unit-'));
    await generateDevPki({
      dir: join(dir, 'pki'),
      hosts: [{ host: 'mx.unit.mssante.fr', structureId: '1750000002', org: 'UNIT TEST' }],
      crlUrl: null,
      now,
    });
    const read = (f: string) => readFileSync(join(dir, 'pki', f));
    root = parseCertificates(read('root.crt'))[0]!;
    inter = parseCertificates(read('organisations.crt'))[0]!;
    chain = parseCertificates(read('mx.unit.mssante.fr.crt'));
    crlPem = read('crl.pem');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds leaf → intermediate → root from the presented chain', () => {
    const res = checkChain(chain, { anchors: [root], now, purpose: 'serverAuth' });
    expect(res.ok).toBe(true);
    if (res.ok)
      expect(res.path.map((c) => c.info.subject.split(',')[0])).toEqual([
        'CN=mx.unit.mssante.fr',
        `CN=${inter.info.subject.slice(3).split(',')[0]}`,
        `CN=${root.info.subject.slice(3).split(',')[0]}`,
      ]);
  });

  it('completes a leaf-only chain with configured intermediates, and refuses it without', () => {
    expect(checkChain([chain[0]!], { anchors: [root], intermediates: [inter], now }).ok).toBe(true);
    const res = checkChain([chain[0]!], { anchors: [root], now });
    expect(res).toMatchObject({ ok: false, reason: 'untrusted-issuer' });
  });

  it('refuses a chain that reaches no anchor', () => {
    expect(checkChain(chain, { anchors: [], now })).toMatchObject({ ok: false, reason: 'untrusted-issuer' });
    expect(checkChain(chain, { anchors: parseCertificates(EC_CERT), now })).toMatchObject({
      ok: false,
      reason: 'untrusted-issuer',
    });
  });

  it('reports no certificate', () => {
    expect(checkChain([], { anchors: [root], now })).toMatchObject({ ok: false, reason: 'no-certificate' });
  });

  it('checks dates at the given time', () => {
    const later = new Date(now.getTime() + 4 * 365 * 86_400_000);
    expect(checkChain(chain, { anchors: [root], now: later })).toMatchObject({
      ok: false,
      reason: 'expired',
    });
    const before = new Date(now.getTime() - 86_400_000);
    expect(checkChain(chain, { anchors: [root], now: before })).toMatchObject({
      ok: false,
      reason: 'not-yet-valid',
    });
  });

  it('detects a tampered signature', () => {
    const der = Buffer.from(chain[0]!.der);
    der[der.length - 5] = der[der.length - 5]! ^ 0xff;
    const res = checkChain([parseCertificate(der), inter], { anchors: [root], now });
    expect(res).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('refuses a CA certificate (no extended key usage) used as a TLS leaf', () => {
    expect(checkChain([inter], { anchors: [root], now, purpose: 'serverAuth' })).toMatchObject({
      ok: false,
      reason: 'wrong-usage',
    });
  });

  it('parses the CRL and verifies its signature with the intermediate only', () => {
    const crl = parseCrl(crlPem);
    expect(crl.issuerDn).toBe(inter.info.subject);
    expect(crl.revoked.size).toBe(0);
    expect(crl.crlNumber).toBe('01');
    expect(crl.nextUpdate!.getTime()).toBeGreaterThan(now.getTime());
    expect(verifyCrlSignature(crl, inter.x509.publicKey)).toBe(true);
    expect(verifyCrlSignature(crl, root.x509.publicKey)).toBe(false);
    // DER form too
    const der = Buffer.from(
      crlPem
        .toString()
        .replace(/-----[^-]+-----/g, '')
        .replace(/\s+/g, ''),
      'base64',
    );
    expect(parseCrl(der).issuerDn).toBe(inter.info.subject);
    expect(() => parseCrl(Buffer.from('not a crl'))).toThrow();
  });
});
