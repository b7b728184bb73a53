import { describe, expect, it } from 'vitest';
import {
  normaliseCertificate,
  normaliseCertificates,
  normaliseCreateInput,
  normaliseFingerprint,
  normaliseMembers,
  normalisePatch,
  normaliseSubjectDn,
  optionalRank,
  requireReason,
} from '../../src/bal/model.ts';
import { ValidationError } from '../../src/domain/errors.ts';
import { luhnKey } from '../../src/domain/identifiers.ts';

const withKey = (digits: string) => digits + luhnKey(digits);
const ID_A = `8${withKey('1000123456')}`;
const ID_B = `8${withKey('1999999999')}`;
const STRUCT = `1${withKey('75000001')}`;
const DOMAINS = ['ch-test.mssante.fr'];
const FP = 'ab'.repeat(32);

/** Runs `fn`, expecting a ValidationError with that rule; returns it for more checks. */
function refused(fn: () => unknown, rule: string): ValidationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    expect((e as ValidationError).rule).toBe(rule);
    return e as ValidationError;
  }
  throw new Error(`expected a ValidationError ${rule}, nothing was thrown`);
}

describe('normaliseSubjectDn', () => {
  it.each([
    [
      'CN=mx.ch-test.mssante.fr,OU=1750000002,O=CH Test,C=FR',
      'CN=mx.ch-test.mssante.fr,OU=1750000002,O=CH Test,C=FR',
    ],
    ['cn=mx.example.fr, ou=1750000002 , o=CH Test,c=FR', 'CN=mx.example.fr,OU=1750000002,O=CH Test,C=FR'],
    ['  CN = app.example.fr ,  O = Éditeur  ', 'CN=app.example.fr,O=Éditeur'],
    // values keep their case and inner spaces
    ['CN=Logiciel DPI  v2,O=Hôpital', 'CN=Logiciel DPI  v2,O=Hôpital'],
    // escaped comma stays inside its value
    ['CN=Dupont\\, Jean , O=X', 'CN=Dupont\\, Jean,O=X'],
    // escaped trailing space is part of the value
    ['CN=abc\\  , O=X', 'CN=abc\\ ,O=X'],
    // multi-valued RDN
    ['cn=a + uid=b,o=X', 'CN=a+UID=b,O=X'],
    // dotted OID types stay as they are
    ['2.5.4.3=host.example.fr, serialNumber=42', '2.5.4.3=host.example.fr,SERIALNUMBER=42'],
    // quoted value with a comma (RFC 1779 style) is not split
    ['O="ACME, Inc",C=FR', 'O="ACME, Inc",C=FR'],
    // '=' inside a value is kept
    ['CN=a=b,O=X', 'CN=a=b,O=X'],
  ])('%j → %j', (input, expected) => {
    expect(normaliseSubjectDn(input)).toBe(expected);
  });

  it('is idempotent', () => {
    const once = normaliseSubjectDn('cn = x , o = Y\\, Z, c=FR');
    expect(normaliseSubjectDn(once)).toBe(once);
  });

  it.each([
    ['', 'certificate.dn.empty', 'empty'],
    ['   ', 'certificate.dn.empty', 'empty'],
    ['CN', 'certificate.dn.syntax', "has no '='"],
    ['CN=x,,O=y', 'certificate.dn.syntax', "has no '='"],
    ['CN=x,O=', 'certificate.dn.value', 'O has an empty value'],
    ['=x', 'certificate.dn.attribute', 'attribute type ""'],
    ['C N=x', 'certificate.dn.attribute', '"C N"'],
    ['1CN=x', 'certificate.dn.attribute', '"1CN"'],
    ['CN=x\\', 'certificate.dn.syntax', 'dangling backslash'],
    ['O="ACME,C=FR', 'certificate.dn.syntax', 'unbalanced quote'],
    ['/C=FR/O=X/CN=y', 'certificate.dn.syntax', 'RFC 4514'],
    ['CN=a\nb', 'certificate.dn.syntax', 'control characters'],
    [`CN=${'x'.repeat(1100)}`, 'certificate.dn.length', 'at most 1024'],
  ])('refuses %j (%s)', (input, rule, mentions) => {
    expect(refused(() => normaliseSubjectDn(input), rule).message).toContain(mentions);
  });

  it('refuses a non-string', () => {
    refused(() => normaliseSubjectDn(42), 'certificate.dn.syntax');
  });
});

describe('normaliseFingerprint', () => {
  const upperColons = FP.toUpperCase().match(/../g)!.join(':');
  it.each([
    [FP, FP],
    [FP.toUpperCase(), FP],
    [upperColons, FP],
    [upperColons.toLowerCase(), FP],
    [`  ${FP}  `, FP],
    [
      '0123456789ABCDEFabcdef0123456789ABCDEFabcdef0123456789abcdef0123',
      '0123456789abcdefabcdef0123456789abcdefabcdef0123456789abcdef0123',
    ],
  ])('%j → %j', (input, expected) => {
    expect(normaliseFingerprint(input)).toBe(expected);
  });

  it.each([
    ['', 'certificate.fingerprint.length', 'got 0'],
    [FP.slice(0, 62), 'certificate.fingerprint.length', 'got 62'],
    [`${FP}00`, 'certificate.fingerprint.length', 'got 66'],
    ['ab'.repeat(20), 'certificate.fingerprint.length', 'SHA-1'],
    [`${FP.slice(0, 63)}g`, 'certificate.fingerprint.syntax', 'hexadecimal'],
    [`${FP.slice(0, 62)} 0`, 'certificate.fingerprint.syntax', 'hexadecimal'],
    // colons in the wrong places
    [`${FP.slice(0, 3)}:${FP.slice(3)}`, 'certificate.fingerprint.syntax', 'pairs of hex digits'],
    [`${upperColons}:`, 'certificate.fingerprint.syntax', 'pairs of hex digits'],
  ])('refuses %j (%s)', (input, rule, mentions) => {
    expect(refused(() => normaliseFingerprint(input), rule).message).toContain(mentions);
  });
});

describe('certificates', () => {
  it('needs a DN or a fingerprint, and normalises both', () => {
    expect(normaliseCertificate({ subjectDn: 'cn=a, o=B' })).toEqual({
      subjectDn: 'CN=a,O=B',
      fingerprintSha256: null,
    });
    expect(normaliseCertificate({ fingerprintSha256: FP.toUpperCase() })).toEqual({
      subjectDn: null,
      fingerprintSha256: FP,
    });
    refused(() => normaliseCertificate({}), 'certificate.identity.missing');
    refused(
      () => normaliseCertificate({ subjectDn: ' ', fingerprintSha256: null }),
      'certificate.identity.missing',
    );
    refused(() => normaliseCertificate({ subjectDn: 'CN=a', pem: 'x' }), 'bal.field.unknown');
    refused(() => normaliseCertificate('CN=a'), 'certificate.syntax');
  });

  it('names the failing entry and drops duplicates after normalisation', () => {
    const e = refused(
      () => normaliseCertificates([{ subjectDn: 'CN=a' }, { fingerprintSha256: 'zz' }]),
      'certificate.fingerprint.syntax',
    );
    expect(e.field).toBe('certificates[1].fingerprintSha256');
    expect(normaliseCertificates([{ subjectDn: 'CN=a,O=b' }, { subjectDn: 'cn = a , o = b' }])).toEqual([
      { subjectDn: 'CN=a,O=b', fingerprintSha256: null },
    ]);
  });
});

describe('members, rank, reason', () => {
  it('validates, de-duplicates and sorts member idNats', () => {
    expect(normaliseMembers([ID_B, ` ${ID_A} `, ID_B])).toEqual([ID_A, ID_B].sort());
    expect(refused(() => normaliseMembers([ID_A, '812345']), 'idnat.length').field).toBe('members[1]');
  });

  it.each([1, 2, 999, null, undefined])('accepts rank %j', (rank) => {
    expect(optionalRank(rank)).toBe(rank ?? null);
  });

  it.each([0, -1, 1.5, 1000, '1', true])('refuses rank %j', (rank) => {
    expect(refused(() => optionalRank(rank), 'bal.rank.range').message).toContain('preferredRank');
  });

  it('requires a one-line reason', () => {
    expect(requireReason('  départ  ', 'close')).toBe('départ');
    refused(() => requireReason('', 'suspend'), 'bal.reason.required');
    refused(() => requireReason(undefined, 'close'), 'bal.reason.required');
    refused(() => requireReason('x'.repeat(501), 'close'), 'bal.field.too-long');
  });
});

describe('normaliseCreateInput', () => {
  it('normalises a PER input', () => {
    const bal = normaliseCreateInput(
      {
        address: ' Jean.Dupont@CH-Test.mssante.fr ',
        type: 'per',
        holderIdNat: ` ${ID_A}`,
        displayName: '  Jean Dupont ',
        description: '',
        preferredRank: 1,
      },
      DOMAINS,
    );
    expect(bal).toMatchObject({
      address: 'jean.dupont@ch-test.mssante.fr',
      type: 'PER',
      holderIdNat: ID_A,
      displayName: 'Jean Dupont',
      description: null,
      listeRouge: false,
      digitization: false,
      preferredRank: 1,
      members: [],
      certificates: [],
    });
  });

  const base = { address: 'x@ch-test.mssante.fr' };
  it.each([
    [{ ...base, type: 'PER' }, 'bal.field.required', 'holderIdNat'],
    [{ ...base, type: 'CAB' }, 'bal.field.required', 'holderIdNat'],
    [{ ...base, type: 'ORG', responsibleIdNat: ID_A }, 'bal.field.required', 'structureId'],
    [{ ...base, type: 'ORG', structureId: STRUCT }, 'bal.field.required', 'responsibleIdNat'],
    [{ ...base, type: 'APP', structureId: STRUCT }, 'bal.field.required', 'responsibleIdNat'],
    [{ ...base, type: 'PER', holderIdNat: ID_A, members: [ID_B] }, 'bal.field.not-for-type', 'members'],
    [
      { ...base, type: 'PER', holderIdNat: ID_A, responsibleIdNat: ID_B },
      'bal.field.not-for-type',
      'responsibleIdNat',
    ],
    [
      {
        ...base,
        type: 'ORG',
        structureId: STRUCT,
        responsibleIdNat: ID_A,
        certificates: [{ fingerprintSha256: FP }],
      },
      'bal.field.not-for-type',
      'certificates',
    ],
    [
      { ...base, type: 'APP', structureId: STRUCT, responsibleIdNat: ID_A, holderIdNat: ID_B },
      'bal.field.not-for-type',
      'holderIdNat',
    ],
    [
      { ...base, type: 'APP', structureId: STRUCT, responsibleIdNat: ID_A, members: [ID_B] },
      'bal.field.not-for-type',
      'members',
    ],
    [{ ...base, type: 'MSS' }, 'bal.type.unknown', 'PER, ORG, APP, CAB'],
    [{ ...base, type: 'PER', holderIdNat: ID_A, colour: 'red' }, 'bal.field.unknown', '"colour"'],
    [
      { address: 'x@elsewhere.fr', type: 'PER', holderIdNat: ID_A },
      'address.domain.not-served',
      'ch-test.mssante.fr',
    ],
    [{ type: 'PER', holderIdNat: ID_A }, 'address.syntax', 'address is required'],
    [{ ...base, type: 'PER', holderIdNat: '8123' }, 'idnat.length', '8123'],
    [{ ...base, type: 'ORG', structureId: '1750000003', responsibleIdNat: ID_A }, 'finess.key', '1750000003'],
    [{ ...base, type: 'PER', holderIdNat: ID_A, listeRouge: 'yes' }, 'bal.field.type', 'listeRouge'],
    [{ ...base, type: 'PER', holderIdNat: ID_A, phone: 'call me' }, 'bal.phone.syntax', 'call me'],
    [{ ...base, type: 'PER', holderIdNat: ID_A, service: 'a\tb' }, 'bal.field.chars', 'service'],
    [
      { ...base, type: 'PER', holderIdNat: ID_A, description: 'd'.repeat(1001) },
      'bal.field.too-long',
      '1000',
    ],
  ])('refuses %j with %s', (input, rule, mentions) => {
    expect(refused(() => normaliseCreateInput(input, DOMAINS), rule).message).toContain(mentions);
  });

  it('accepts members on ORG and certificates on APP; null and [] count as absent for other types', () => {
    const org = normaliseCreateInput(
      { ...base, type: 'ORG', structureId: STRUCT, responsibleIdNat: ID_A, members: [ID_B, ID_A] },
      DOMAINS,
    );
    expect(org.members).toEqual([ID_A, ID_B].sort());
    const app = normaliseCreateInput(
      {
        ...base,
        type: 'APP',
        structureId: STRUCT,
        responsibleIdNat: ID_A,
        certificates: [{ subjectDn: 'cn=x' }],
      },
      DOMAINS,
    );
    expect(app.certificates).toEqual([{ subjectDn: 'CN=x', fingerprintSha256: null }]);
    const per = normaliseCreateInput(
      { ...base, type: 'PER', holderIdNat: ID_A, members: [], certificates: null },
      DOMAINS,
    );
    expect(per.members).toEqual([]);
  });
});

describe('normalisePatch', () => {
  it.each([
    [{ address: 'y@ch-test.mssante.fr' }, 'PER', 'bal.immutable', 'address'],
    [{ type: 'ORG' }, 'PER', 'bal.immutable', 'type'],
    [{ holderIdNat: ID_B }, 'PER', 'bal.immutable', 'holderIdNat'],
    [{ structureId: STRUCT }, 'ORG', 'bal.immutable', 'structureId'],
    [{ status: 'closed' }, 'PER', 'bal.field.read-only', 'suspend, reactivate and close'],
    [{ members: [ID_A] }, 'ORG', 'bal.field.read-only', 'member add'],
    [{ colour: 'red' }, 'PER', 'bal.field.unknown', '"colour"'],
    [{}, 'PER', 'bal.patch.empty', 'nothing to update'],
    [{ responsibleIdNat: ID_A }, 'PER', 'bal.field.not-for-type', 'responsibleIdNat'],
    [{ responsibleIdNat: null }, 'ORG', 'bal.field.required', 'responsibleIdNat'],
    [{ certificates: [{ subjectDn: 'CN=x' }] }, 'ORG', 'bal.field.not-for-type', 'certificates'],
    [{ preferredRank: 0 }, 'PER', 'bal.rank.range', '0'],
    [{ listeRouge: null }, 'PER', 'bal.field.type', 'listeRouge'],
  ] as const)('refuses %j on %s with %s', (patch, type, rule, mentions) => {
    expect(refused(() => normalisePatch(patch, type), rule).message).toContain(mentions);
  });

  it('keeps only the given keys; null and "" clear optional fields', () => {
    expect(
      normalisePatch(
        { description: '', service: null, listeRouge: true, preferredRank: null, structureId: STRUCT },
        'PER',
      ),
    ).toEqual({
      description: null,
      service: null,
      listeRouge: true,
      preferredRank: null,
      structureId: STRUCT,
    });
    expect(normalisePatch({ certificates: null }, 'APP')).toEqual({ certificates: [] });
    expect(normalisePatch({ responsibleIdNat: ` ${ID_B}` }, 'APP')).toEqual({ responsibleIdNat: ID_B });
  });
});
