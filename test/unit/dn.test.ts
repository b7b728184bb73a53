import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import {
  canonicalType,
  DnSyntaxError,
  dnKey,
  formatDn,
  normaliseDn,
  normaliseForgeName,
  normaliseNodeSubject,
  parseDn,
  sameDn,
  tryNormaliseDn,
} from '../../src/trust/dn.ts';

describe('canonicalType', () => {
  it.each([
    ['CN', 'CN'],
    ['cn', 'CN'],
    ['commonName', 'CN'],
    ['2.5.4.3', 'CN'],
    ['OID.2.5.4.3', 'CN'],
    ['S', 'ST'],
    ['st', 'ST'],
    ['stateOrProvinceName', 'ST'],
    ['2.5.4.8', 'ST'],
    ['E', 'EMAILADDRESS'],
    ['emailAddress', 'EMAILADDRESS'],
    ['1.2.840.113549.1.9.1', 'EMAILADDRESS'],
    ['organizationalUnitName', 'OU'],
    ['0.9.2342.19200300.100.1.25', 'DC'],
    ['userid', 'UID'],
    ['1.2.3.4', '1.2.3.4'],
    ['x-custom', 'X-CUSTOM'],
  ])('%s → %s', (input, expected) => {
    expect(canonicalType(input)).toBe(expected);
  });
});

/** DNs as written in the liste blanche of 2025-03-13, the awkward ones, and their keys. */
const REAL: [string, string][] = [
  [
    'CN=medimail-asip.mipih.fr,OU=318310021300028,O=GIP MIPIH,ST=Haute-Garonne (31),C=FR',
    'CN=medimail-asip.mipih.fr,OU=318310021300028,O=gip mipih,ST=haute-garonne (31),C=fr',
  ],
  // quoted value with a double space, and its unquoted twin
  [
    'CN=mss.ch-cadillac.fr,OU=1330781295,O="C.H. DE  CADILLAC",ST=Gironde (33),C=FR',
    'CN=mss.ch-cadillac.fr,OU=1330781295,O=c.h. de cadillac,ST=gironde (33),C=fr',
  ],
  [
    'CN=mss.ch-cadillac.fr,OU=1330781295,O=C.H. DE  CADILLAC,ST=Gironde (33),C=FR',
    'CN=mss.ch-cadillac.fr,OU=1330781295,O=c.h. de cadillac,ST=gironde (33),C=fr',
  ],
  [
    'CN=mss.ch-orthez.fr,OU=1640780813,O="CENTRE HOSPITALIER   ORTHEZ",ST=Pyrénées-Atlantiques (64),C=FR',
    'CN=mss.ch-orthez.fr,OU=1640780813,O=centre hospitalier orthez,ST=pyrénées-atlantiques (64),C=fr',
  ],
  // quotes inside an unquoted value are literal (escaped in the key)
  [
    'CN=mss.strasbourg.unicancer.fr,OU=1670000033,O=CRLCC "PAUL STRAUSS",ST=Bas-Rhin (67),C=FR',
    'CN=mss.strasbourg.unicancer.fr,OU=1670000033,O=crlcc \\"paul strauss\\",ST=bas-rhin (67),C=fr',
  ],
  [
    'CN=mssante.ch-ouestguyane.fr,OU=1970300083,O=CENTRE HOSPITALIER "FRANCK-JOLY",ST=Guyane (973),C=FR',
    'CN=mssante.ch-ouestguyane.fr,OU=1970300083,O=centre hospitalier \\"franck-joly\\",ST=guyane (973),C=fr',
  ],
  // space before the comma
  [
    'CN=smtp-1.mssante.adista.fr ,OU=332315971500305,O=ADISTA,ST=Meurthe et Moselle(54),C=FR',
    'CN=smtp-1.mssante.adista.fr,OU=332315971500305,O=adista,ST=meurthe et moselle(54),C=fr',
  ],
  [
    'CN=mssante.clinique-sainthilaire.fr,OU=1760780619,O=CLINIQUE SAINT-HILAIRE ,ST=Seine-Maritime (76),C=FR',
    'CN=mssante.clinique-sainthilaire.fr,OU=1760780619,O=clinique saint-hilaire,ST=seine-maritime (76),C=fr',
  ],
  // spaces after the commas
  [
    'CN=mailin.interop-mssante.apicrypt.org, OU=343975235300037, O=APICEM, ST=Nord (59), C=FR',
    'CN=mailin.interop-mssante.apicrypt.org,OU=343975235300037,O=apicem,ST=nord (59),C=fr',
  ],
  // L instead of ST, a hyphen in O
  [
    'CN=cert-expire-audit.espacedeconfiance.mssante.fr,OU=300000000099622,O=GIP - TEST9962,L=Paris (75),C=FR',
    'CN=cert-expire-audit.espacedeconfiance.mssante.fr,OU=300000000099622,O=gip - test9962,L=paris (75),C=fr',
  ],
  // a slash and an apostrophe in values
  [
    'CN=mss.hlrs-lamusse.net,OU=1270000912,O="HOPITAL LA  MUSSE ST SEBASTIEN/MORSENT",ST=Eure (27),C=FR',
    'CN=mss.hlrs-lamusse.net,OU=1270000912,O=hopital la musse st sebastien/morsent,ST=eure (27),C=fr',
  ],
  [
    "CN=mail.mss.norm-uni.fr,OU=1140028093,O=GCS NORMAND'E-SANTE,ST=Calvados (14),C=FR",
    "CN=mail.mss.norm-uni.fr,OU=1140028093,O=gcs normand'e-sante,ST=calvados (14),C=fr",
  ],
];

describe('normaliseDn on the DNs of the real list', () => {
  it.each(REAL)('%s', (input, key) => {
    expect(normaliseDn(input)).toBe(key);
    // the key is a fixed point
    expect(normaliseDn(key)).toBe(key);
  });

  it('merges the quoted/unquoted and spacing twins, keeps real differences apart', () => {
    expect(
      sameDn(
        'CN=mssante.ch-ouestguyane.fr,OU=1970300083,O="CENTRE HOSPITALIER  FRANCK-JOLY",ST=Guyane (973),C=FR',
        'CN=mssante.ch-ouestguyane.fr,OU=1970300083,O=CENTRE HOSPITALIER  FRANCK-JOLY,ST=Guyane (973),C=FR',
      ),
    ).toBe(true);
    // literal quotes are part of the value
    expect(
      sameDn(
        'CN=mssante.ch-ouestguyane.fr,OU=1970300083,O=CENTRE HOSPITALIER "FRANCK-JOLY",ST=Guyane (973),C=FR',
        'CN=mssante.ch-ouestguyane.fr,OU=1970300083,O=CENTRE HOSPITALIER FRANCK-JOLY,ST=Guyane (973),C=FR',
      ),
    ).toBe(false);
    // "Meurthe et Moselle(54)" is not "Meurthe-et-Moselle (54)": normalisation does not guess
    expect(
      sameDn(
        'CN=smtp-1.mssante.adista.fr ,OU=332315971500305,O=ADISTA,ST=Meurthe et Moselle(54),C=FR',
        'CN=smtp-1.mssante.adista.fr,OU=332315971500305,O=ADISTA,ST=Meurthe-et-Moselle (54),C=FR',
      ),
    ).toBe(false);
  });
});

const CADILLAC = 'CN=mss.ch-cadillac.fr,OU=1330781295,O=c.h. de cadillac,ST=gironde (33),C=fr';

describe('normaliseDn: syntax variants give the same key', () => {
  it.each([
    ['list order', 'CN=mss.ch-cadillac.fr,OU=1330781295,O=C.H. DE  CADILLAC,ST=Gironde (33),C=FR'],
    ['reverse order', 'C=FR,ST=Gironde (33),O=C.H. DE CADILLAC,OU=1330781295,CN=mss.ch-cadillac.fr'],
    [
      'reverse order with spaces',
      'C = FR , ST = Gironde (33) , O = C.H. DE CADILLAC , OU = 1330781295 , CN = mss.ch-cadillac.fr',
    ],
    ['mixed order', 'O=C.H. DE CADILLAC,CN=mss.ch-cadillac.fr,C=FR,OU=1330781295,ST=Gironde (33)'],
    [
      'lower-case types, S for ST',
      'cn=mss.ch-cadillac.fr,ou=1330781295,o=C.H. DE CADILLAC,s=Gironde (33),c=FR',
    ],
    [
      'long names',
      'commonName=mss.ch-cadillac.fr,organizationalUnitName=1330781295,organizationName=C.H. DE CADILLAC,stateOrProvinceName=Gironde (33),countryName=FR',
    ],
    [
      'OIDs',
      '2.5.4.3=mss.ch-cadillac.fr,2.5.4.11=1330781295,OID.2.5.4.10=C.H. DE CADILLAC,2.5.4.8=Gironde (33),2.5.4.6=FR',
    ],
    [
      'semicolons (RFC 2253 legacy)',
      'CN=mss.ch-cadillac.fr;OU=1330781295;O=C.H. DE CADILLAC;ST=Gironde (33);C=FR',
    ],
    ['value case', 'CN=MSS.CH-CADILLAC.FR,OU=1330781295,O=c.h. de cadillac,ST=GIRONDE (33),C=fr'],
    [
      'tabs and no-break spaces',
      'CN=mss.ch-cadillac.fr,OU=1330781295,O=C.H.\tDE\u00a0 CADILLAC,ST=Gironde (33),C=FR',
    ],
    [
      'hex-escaped bytes',
      'CN=mss.ch-cadillac.fr,OU=1330781295,O=C.H.\\20DE CADILLAC,ST=Gironde \\2833\\29,C=FR',
    ],
    [
      '#hex PrintableString',
      'CN=mss.ch-cadillac.fr,OU=#130a31333330373831323935,O=C.H. DE CADILLAC,ST=Gironde (33),C=FR',
    ],
    ['OpenSSL one-line', '/C=FR/ST=Gironde (33)/O=C.H. DE  CADILLAC/OU=1330781295/CN=mss.ch-cadillac.fr'],
    [
      'one RDN per line (X509Certificate.subject)',
      'C=FR\nST=Gironde (33)\nO=C.H. DE  CADILLAC\nOU=1330781295\nCN=mss.ch-cadillac.fr',
    ],
  ])('%s', (_label, input) => {
    expect(normaliseDn(input)).toBe(CADILLAC);
  });
});

describe('parseDn: escapes, quotes, multi-valued RDNs', () => {
  it.each<[string, string, { type: string; value: string }[][]]>([
    ['escaped comma', 'CN=a\\,b,O=x', [[{ type: 'CN', value: 'a,b' }], [{ type: 'O', value: 'x' }]]],
    [
      'quoted comma and plus',
      'O="Dupont, Durand + Fils",C=FR',
      [[{ type: 'O', value: 'Dupont, Durand + Fils' }], [{ type: 'C', value: 'FR' }]],
    ],
    ['escaped quote in quotes', 'O="say \\"hi\\""', [[{ type: 'O', value: 'say "hi"' }]]],
    [
      'hex escapes inside quotes',
      'ST="Pyr\\C3\\A9n\\C3\\A9es, 64"',
      [[{ type: 'ST', value: 'Pyrénées, 64' }]],
    ],
    ['UTF-8 hex escapes', 'ST=Pyr\\C3\\A9n\\c3\\a9es', [[{ type: 'ST', value: 'Pyrénées' }]]],
    ['#hex UTF8String', 'O=#0c03c3a961', [[{ type: 'O', value: 'éa' }]]],
    ['#hex of an unknown type is kept', 'X=#0401ff', [[{ type: 'X', value: '#0401ff' }]]],
    [
      'multi-valued RDN',
      'CN=a+UID=b,O=x',
      [
        [
          { type: 'CN', value: 'a' },
          { type: 'UID', value: 'b' },
        ],
        [{ type: 'O', value: 'x' }],
      ],
    ],
    ['escaped plus', 'CN=a\\+b', [[{ type: 'CN', value: 'a+b' }]]],
    [
      'unescaped comma not followed by type=',
      'O=Dupont, Durand et fils,C=FR',
      [[{ type: 'O', value: 'Dupont, Durand et fils' }], [{ type: 'C', value: 'FR' }]],
    ],
    [
      'unescaped plus not followed by type=',
      'O=A+B,C=FR',
      [[{ type: 'O', value: 'A+B' }], [{ type: 'C', value: 'FR' }]],
    ],
    [
      'escaped trailing space is kept by the parser',
      'CN=a\\ ,O=x',
      [[{ type: 'CN', value: 'a ' }], [{ type: 'O', value: 'x' }]],
    ],
    ['empty value', 'CN=,O=x', [[{ type: 'CN', value: '' }], [{ type: 'O', value: 'x' }]]],
    [
      'emailAddress alias',
      'E=a@b.fr,CN=x',
      [[{ type: 'EMAILADDRESS', value: 'a@b.fr' }], [{ type: 'CN', value: 'x' }]],
    ],
    [
      'slash inside a one-line value',
      '/C=FR/O=A/B/CN=x',
      [[{ type: 'C', value: 'FR' }], [{ type: 'O', value: 'A/B' }], [{ type: 'CN', value: 'x' }]],
    ],
    ['empty DN', '   ', []],
  ])('%s', (_label, input, rdns) => {
    expect(parseDn(input)).toEqual(rdns);
  });

  it('formatDn writes RFC 4514 that parses back to the same RDNs', () => {
    const rdns = parseDn('CN=a\\,b+UID=x,O="Dupont, Durand + Fils",OU=#0c03c3a961,C=FR');
    expect(formatDn(rdns)).toBe('CN=a\\,b+UID=x,O=Dupont\\, Durand \\+ Fils,OU=éa,C=FR');
    expect(parseDn(formatDn(rdns))).toEqual(rdns);
  });
});

describe('DN keys', () => {
  it('keeps the order of repeated attribute types, read in the list direction', () => {
    expect(normaliseDn('CN=x,OU=b,OU=a,O=y')).toBe('CN=x,OU=b,OU=a,O=y');
    expect(normaliseDn('O=y,OU=a,OU=b,CN=x')).toBe('CN=x,OU=b,OU=a,O=y');
    expect(sameDn('CN=x,OU=a,OU=b,O=y', 'CN=x,OU=b,OU=a,O=y')).toBe(false);
  });

  it('flattens multi-valued RDNs and escapes special characters in the key', () => {
    expect(normaliseDn('CN=A\\,B+UID=X,O="x;y<z>",C=FR')).toBe('CN=a\\,b,UID=x,O=x\\;y\\<z\\>,C=fr');
    expect(normaliseDn('UID=X+CN=A\\,B,O="x;y<z>",C=FR')).toBe('CN=a\\,b,UID=x,O=x\\;y\\<z\\>,C=fr');
  });

  it('normalises Unicode to NFC', () => {
    expect(normaliseDn('ST=Pyre\u0301ne\u0301es')).toBe(normaliseDn('ST=Pyrénées'));
  });

  it.each([
    ['no =', 'CN'],
    ['no type', '=x'],
    ['bad type', 'C N=x'],
    ['trailing separator', 'CN=a,'],
    ['unterminated quote', 'CN="abc'],
    ['text after a quoted value', 'CN="a" b,C=FR'],
    ['dangling backslash', 'CN=a\\'],
    ['bad hex value', 'CN=#zz'],
  ])('refuses: %s', (_label, input) => {
    expect(() => normaliseDn(input)).toThrow(DnSyntaxError);
    expect(tryNormaliseDn(input)).toBeNull();
    expect(sameDn(input, input)).toBe(false);
  });

  it('names the position in the error', () => {
    expect(() => normaliseDn('CN=a,C N=x')).toThrow(/bad attribute type "C N" at character 6/);
  });
});

describe('DNs from certificates (Node tls subject, X509Certificate, node-forge)', () => {
  const LISTED =
    'CN=mss.ch-orthez.fr,OU=1640780813,O="CENTRE HOSPITALIER   ORTHEZ",ST=Pyrénées-Atlantiques (64),C=FR';

  it('a tls peer-certificate subject object gives the list key', () => {
    expect(
      normaliseNodeSubject({
        C: 'FR',
        ST: 'Pyrénées-Atlantiques (64)',
        O: 'CENTRE HOSPITALIER   ORTHEZ',
        OU: '1640780813',
        CN: 'mss.ch-orthez.fr',
      }),
    ).toBe(normaliseDn(LISTED));
    // repeated types come as arrays in certificate order (most significant first)
    expect(normaliseNodeSubject({ C: 'FR', O: 'y', OU: ['a', 'b'], CN: 'x' })).toBe(
      normaliseDn('CN=x,OU=b,OU=a,O=y,C=FR'),
    );
    expect(dnKey({ CN: 'x', emailAddress: 'A@B.fr', C: 'FR' })).toBe('CN=x,EMAILADDRESS=a@b.fr,C=fr');
  });

  it('a real certificate: X509Certificate.subject, its legacy object and node-forge all match', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    cert.serialNumber = '01';
    cert.validity.notBefore = new Date();
    cert.validity.notAfter = new Date(Date.now() + 86_400_000);
    const UTF8 = forge.asn1.Type.UTF8;
    const subject = [
      { shortName: 'C', value: 'FR' },
      { shortName: 'ST', value: 'Pyrénées-Atlantiques (64)', valueTagClass: UTF8 },
      { shortName: 'O', value: 'CENTRE HOSPITALIER   ORTHEZ', valueTagClass: UTF8 },
      { shortName: 'OU', value: '1640780813' },
      { shortName: 'CN', value: 'mss.ch-orthez.fr' },
    ];
    cert.setSubject(subject as forge.pki.CertificateField[]);
    cert.setIssuer(subject as forge.pki.CertificateField[]);
    cert.sign(
      forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
      forge.md.sha256.create(),
    );
    const pem = forge.pki.certificateToPem(cert);
    const x509 = new X509Certificate(pem);
    const want = normaliseDn(LISTED);
    expect(normaliseDn(x509.subject)).toBe(want);
    expect(dnKey(x509.toLegacyObject().subject as unknown as Record<string, string>)).toBe(want);
    const parsed = forge.pki.certificateFromPem(pem);
    expect(normaliseForgeName(parsed.subject)).toBe(want);
    expect(dnKey(parsed.subject.attributes)).toBe(want);
  });

  it('reads special characters escaped by X509Certificate.subject', () => {
    // what Node prints for O = 'CENTRE, HOSPITALIER +  "ORTHEZ"'
    const printed = 'C=FR\nO=CENTRE\\, HOSPITALIER \\+  \\"ORTHEZ\\"\nCN=x';
    expect(normaliseDn(printed)).toBe(
      normaliseNodeSubject({ C: 'FR', O: 'CENTRE, HOSPITALIER +  "ORTHEZ"', CN: 'x' }),
    );
  });
});
