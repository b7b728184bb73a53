import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { normaliseDn } from '../../src/trust/dn.ts';
import { normaliseDomain, Whitelist } from '../../src/trust/whitelist/list.ts';
import { parseWhitelist, WhitelistParseError } from '../../src/trust/whitelist/parse.ts';

const REAL_FILE = resolve(import.meta.dirname, '../../../shared/fixtures/listeblanchemssante-2025-03-13.xml');
const real = readFileSync(REAL_FILE);

const NS = 'https://listeblanche.mssante.fr/schema';
const MIPIH = 'CN=medimail-asip.mipih.fr,OU=318310021300028,O=GIP MIPIH,ST=Haute-Garonne (31),C=FR';

function domaine(nom: string, dn = MIPIH, extra = ''): string {
  return `    <Domaine>
      <Nom>${nom}</Nom>
      <Description>desc ${nom}</Description>
      <DNCertificatOperateur>${dn}</DNCertificatOperateur>
      <ResponsableContact>01 02 03 04 05, resp@example.fr</ResponsableContact>
      <SupportContact>01 02 03 04 06, support@example.fr</SupportContact>
      <DateMAJ>2025-01-02T03:04:05Z</DateMAJ>${extra}
    </Domaine>
`;
}

function doc(body: string, { root = `<ListeBlancheMSSante xmlns="${NS}">`, close = true } = {}): string {
  return `<?xml version="1.0" encoding="UTF-8"?>${root}
  <DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration>
  <ListeDomaines>
${body}  </ListeDomaines>
${close ? '</ListeBlancheMSSante>\n' : ''}`;
}

function parseError(input: string | Uint8Array): WhitelistParseError {
  try {
    parseWhitelist(input);
  } catch (e) {
    expect(e).toBeInstanceOf(WhitelistParseError);
    return e as WhitelistParseError;
  }
  throw new Error('expected a WhitelistParseError');
}

describe('the real liste blanche of 2025-03-13', () => {
  const parsed = parseWhitelist(real);
  const list = Whitelist.from(parsed);

  it('has 6,554 entries, 5,002 domains, 392 DNs, and its generation date', () => {
    expect(parsed.entries).toHaveLength(6554);
    expect(parsed.generatedAt.toISOString()).toBe('2025-03-13T14:54:10.000Z');
    const stats = list.stats();
    expect(stats).toMatchObject({ entries: 6554, domains: 5002, dns: 392, unparseableDns: [] });
    // quoted/unquoted, spacing and case twins merge
    expect(stats.normalisedDns).toBe(384);
    expect(stats.generatedAt.toISOString()).toBe('2025-03-13T14:54:10.000Z');
  });

  it('accepts the missing closing root tag, and says so', () => {
    expect(real.toString('utf8').trimEnd().endsWith('</ListeDomaines>')).toBe(true);
    expect(parsed.warnings).toEqual(['the document ends without </ListeBlancheMSSante>']);
  });

  it('reads every field of an entry, with its line', () => {
    expect(parsed.entries[0]).toEqual({
      domain: 'adsea29.mssante.fr',
      description: 'BREST LA SAUVEGARDE',
      dn: MIPIH,
      responsibleContact: '08 10  61 50 50, medimail.diffusion@mipih.fr',
      supportContact: '08 10  61 50 50, medimail.technique@mipih.fr',
      updatedAt: new Date('2025-03-13T14:54:10Z'),
      line: 4,
    });
    expect(parsed.entries.at(-1)).toMatchObject({ domain: 'zenidoc.mssante.fr', line: 52450 });
  });

  it('decodes the entities the file uses', () => {
    const byDomain = (d: string) => parsed.entries.find((e) => e.domain === d)!;
    expect(byDomain('age-et-vie.mssante.fr').description).toBe(
      'Domaine de messagerie MSSanté SSIAD AGE & VIE',
    );
    expect(byDomain('acsea.mssante.fr').responsibleContact).toBe(
      '06 04 59 42 38, jl.lyncee@normand-esante.fr</ResponsableContact',
    );
    expect(byDomain('adlca.mssante.fr').supportContact).toBe(
      'SupportContact>06 04 98 11 03, technique@esante-bfc.fr',
    );
  });

  it('gives all the DNs of a domain listed several times', () => {
    expect(list.entries('crf.mssante.fr')).toHaveLength(5);
    expect(list.allowedDns('crf.mssante.fr').sort()).toEqual(
      [
        'CN=medimail-asip.mipih.fr,OU=318310021300028,O=GIP MIPIH,ST=Haute-Garonne (31),C=FR',
        'CN=smtp-1.mssante.adista.fr,OU=332315971500305,O=ADISTA,ST=Meurthe-et-Moselle (54),C=FR',
        'CN=smtp-2.mssante.adista.fr,OU=332315971500305,O=ADISTA,ST=Meurthe-et-Moselle (54),C=FR',
        'CN=smtp-1.sante.santnet.com,OU=341459958900028,O=DEDALUS HEALTHCARE FRANCE,ST=Gironde (33),C=FR',
        'CN=smtp-2.sante.santnet.com,OU=341459958900028,O=DEDALUS HEALTHCARE FRANCE,ST=Gironde (33),C=FR',
      ]
        .map(normaliseDn)
        .sort(),
    );
    // several entries, one DN once normalised (quoted and unquoted O=)
    expect(list.entries('ch-cadillac.mssante.fr')).toHaveLength(2);
    expect(list.allowedDns('ch-cadillac.mssante.fr')).toEqual([
      'CN=mss.ch-cadillac.fr,OU=1330781295,O=c.h. de cadillac,ST=gironde (33),C=fr',
    ]);
  });

  it('matches domains case-insensitively, upper-case ones of the file included', () => {
    expect(parsed.entries.some((e) => e.domain === 'UC-CMP.mssante.fr')).toBe(true);
    for (const d of ['UC-CMP.mssante.fr', 'uc-cmp.mssante.fr', 'Uc-Cmp.MSSANTE.fr', ' uc-cmp.mssante.fr. '])
      expect(list.isListed(d), d).toBe(true);
    expect(list.allowedDns('uc-cmp.mssante.fr')).toEqual([normaliseDn(MIPIH)]);
    expect(list.isListed('ADSEA29.MSSANTE.FR')).toBe(true);
    expect(list.isListed('not-there.mssante.fr')).toBe(false);
    expect(list.allowedDns('not-there.mssante.fr')).toEqual([]);
  });

  it('decides: listed DN, domain not listed, DN not listed', () => {
    const ok = list.allows(
      'CRF.mssante.fr.',
      'C=FR, ST=Gironde (33), O=Dedalus Healthcare France, OU=341459958900028, CN=smtp-2.sante.santnet.com',
    );
    expect(ok).toMatchObject({ allowed: true, rule: 'listed-dn', domain: 'crf.mssante.fr' });
    expect(ok.allowedDns).toHaveLength(5);
    expect(ok.explain).toMatch(
      /^allowed: CN=smtp-2\.sante\.santnet\.com,.* is a listed .* for crf\.mssante\.fr$/,
    );

    const absent = list.allows('evil.example.com', MIPIH);
    expect(absent).toMatchObject({
      allowed: false,
      rule: 'domain-not-listed',
      domain: 'evil.example.com',
      allowedDns: [],
    });
    expect(absent.explain).toContain('evil.example.com is not on the liste blanche');

    // the ANS audit case "CN different from the listed DN": right O/OU, other CN
    const wrongCn = list.allows('adsea29.mssante.fr', MIPIH.replace('medimail-asip', 'other-host'));
    expect(wrongCn).toMatchObject({ allowed: false, rule: 'dn-not-listed' });
    expect(wrongCn.explain).toContain(normaliseDn(MIPIH));

    // a Node tls subject object works as well
    expect(
      list.allows('adsea29.mssante.fr', {
        C: 'FR',
        ST: 'Haute-Garonne (31)',
        O: 'GIP MIPIH',
        OU: '318310021300028',
        CN: 'medimail-asip.mipih.fr',
      }).allowed,
    ).toBe(true);

    const garbage = list.allows('adsea29.mssante.fr', 'not a dn');
    expect(garbage).toMatchObject({ allowed: false, rule: 'dn-not-listed', dn: 'not a dn' });
    expect(garbage.explain).toContain('cannot be parsed');
  });

  it('is immutable', () => {
    expect(Object.isFrozen(list)).toBe(true);
    const dns = list.allowedDns('crf.mssante.fr');
    dns.push('CN=intruder');
    expect(list.allowedDns('crf.mssante.fr')).toHaveLength(5);
    expect(Object.isFrozen(list.entries('crf.mssante.fr'))).toBe(true);
    expect(Object.isFrozen(list.entries('crf.mssante.fr')[0])).toBe(true);
    list.generatedAt.setFullYear(2000);
    expect(list.generatedAt.toISOString()).toBe('2025-03-13T14:54:10.000Z');
  });

  it('rejects the real file cut in the middle of a <Domaine>, naming its line', () => {
    const text = real.toString('utf8');
    const cut = text.slice(0, Math.floor(text.length * 0.6));
    const lastDomaine = cut.lastIndexOf('<Domaine>');
    const line = cut.slice(0, lastDomaine).split('\n').length;
    const e = parseError(cut);
    expect(e.message).toContain('truncated document');
    expect(e.message).toContain(`<Domaine> (line ${line}) is not closed`);
  });

  it('rejects the real file cut between two <Domaine>s (no </ListeDomaines>)', () => {
    const text = real.toString('utf8');
    const cut = text.slice(0, text.lastIndexOf('</Domaine>') + '</Domaine>'.length);
    expect(parseError(cut).message).toMatch(
      /truncated document: end of input; <ListeDomaines> \(line 3\) is not closed/,
    );
  });
});

describe('parseWhitelist on small documents', () => {
  it('reads a complete document', () => {
    const r = parseWhitelist(doc(domaine('a.mssante.fr') + domaine('B.mssante.fr')));
    expect(r.entries.map((e) => e.domain)).toEqual(['a.mssante.fr', 'B.mssante.fr']);
    expect(r.warnings).toEqual([]);
    expect(r.entries[1]!.line).toBe(12);
  });

  it('accepts a namespace prefix, comments, CDATA, entities and character references', () => {
    const text = `<?xml version="1.0"?>
<!-- published by the ANS -->
<lb:ListeBlancheMSSante xmlns:lb="${NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <lb:DateDeGeneration>2025-03-13T15:54:10+01:00</lb:DateDeGeneration>
  <lb:ListeDomaines>
    <lb:Domaine>
      <lb:Nom> <!-- c --> x.mssante.fr </lb:Nom>
      <lb:Description>A &amp; B &lt;C&gt; &quot;D&quot; &apos;E&apos; &#233;&#xE9; <![CDATA[<raw> & ]]>end</lb:Description>
      <lb:DNCertificatOperateur><![CDATA[CN=mx.x.fr,O=X & Y,C=FR]]></lb:DNCertificatOperateur>
      <lb:ResponsableContact/>
      <lb:DateMAJ>not a date</lb:DateMAJ>
    </lb:Domaine>
  </lb:ListeDomaines>
</lb:ListeBlancheMSSante>
<!-- trailing comment -->
`;
    const r = parseWhitelist(text);
    expect(r.generatedAt.toISOString()).toBe('2025-03-13T14:54:10.000Z');
    expect(r.entries[0]).toMatchObject({
      domain: 'x.mssante.fr',
      description: `A & B <C> "D" 'E' éé <raw> & end`,
      dn: 'CN=mx.x.fr,O=X & Y,C=FR',
      responsibleContact: '',
      supportContact: '',
      updatedAt: null,
    });
    expect(r.warnings).toEqual(['line 6: <DateMAJ> of x.mssante.fr is not a date: "not a date"']);
  });

  it('skips unknown elements and reports them', () => {
    const r = parseWhitelist(
      doc(
        domaine('a.mssante.fr', MIPIH, '\n      <Futur><x>1</x></Futur>') +
          domaine('b.mssante.fr', MIPIH, '<Futur/>'),
      ),
    );
    expect(r.entries).toHaveLength(2);
    expect(r.warnings).toEqual(['unknown element <Futur> skipped (2×, first at line 11)']);
  });

  it('decodes bytes: UTF-8 with a BOM, ISO-8859-1 when declared', () => {
    const text = doc(domaine('é.mssante.fr'));
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text, 'utf8')]);
    expect(parseWhitelist(bom).entries[0]!.domain).toBe('é.mssante.fr');
    const latin1 = Buffer.from(text.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'), 'latin1');
    expect(parseWhitelist(latin1).entries[0]!.domain).toBe('é.mssante.fr');
  });

  it.each<[string, string | Uint8Array, RegExp]>([
    [
      'wrong root',
      doc(domaine('a.fr'), { root: `<ListeNoire xmlns="${NS}">`, close: false }),
      /line 1: the root element must be <ListeBlancheMSSante>/,
    ],
    [
      'wrong namespace',
      doc(domaine('a.fr'), { root: '<ListeBlancheMSSante xmlns="urn:other">' }),
      /in namespace https:\/\/listeblanche\.mssante\.fr\/schema, found <ListeBlancheMSSante> in namespace urn:other/,
    ],
    ['no namespace', doc(domaine('a.fr'), { root: '<ListeBlancheMSSante>' }), /with no namespace/],
    [
      'undeclared prefix',
      doc(domaine('a.fr'), { root: '<lb:ListeBlancheMSSante>' }),
      /undeclared namespace prefix "lb"/,
    ],
    ['missing Nom', doc(domaine('a.fr').replace(/<Nom>.*<\/Nom>/, '')), /line 4: <Domaine> without <Nom>/],
    ['empty Nom', doc(domaine('  ')), /line 4: <Domaine> with an empty <Nom>/],
    [
      'missing DN',
      doc(
        domaine('a.fr') + domaine('b.fr').replace(/<DNCertificatOperateur>.*<\/DNCertificatOperateur>/, ''),
      ),
      /line 12: <Domaine> b\.fr without <DNCertificatOperateur>/,
    ],
    ['empty DN', doc(domaine('a.fr', ' ')), /<Domaine> a\.fr with an empty <DNCertificatOperateur>/],
    ['zero domains', doc(''), /the list holds no <Domaine>/],
    [
      'zero domains, self-closed list',
      doc('').replace(/<ListeDomaines>\s*<\/ListeDomaines>/, '<ListeDomaines/>'),
      /the list holds no <Domaine>/,
    ],
    [
      'no ListeDomaines',
      `<ListeBlancheMSSante xmlns="${NS}"><DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration></ListeBlancheMSSante>`,
      /no <ListeDomaines>/,
    ],
    [
      'no DateDeGeneration',
      doc(domaine('a.fr')).replace(/<DateDeGeneration>.*<\/DateDeGeneration>/, ''),
      /no <DateDeGeneration>/,
    ],
    [
      'bad DateDeGeneration',
      doc(domaine('a.fr')).replace('2025-03-13T14:54:10Z', '13/03/2025'),
      /line 2: <DateDeGeneration> is not a date: "13\/03\/2025"/,
    ],
    [
      'truncated inside a Domaine',
      doc(domaine('a.fr') + domaine('b.fr')).slice(
        0,
        doc(domaine('a.fr') + domaine('b.fr')).indexOf('<Nom>b.fr') + 8,
      ),
      /truncated document: end of input; <Domaine> \(line 12\) is not closed/,
    ],
    [
      'truncated inside a tag',
      doc(domaine('a.fr')).slice(0, doc(domaine('a.fr')).indexOf('<DateMAJ>') + 4),
      /line 10: truncated document: end of input inside a tag; <Domaine> \(line 4\) is not closed/,
    ],
    [
      'truncated before ListeDomaines ends',
      doc(domaine('a.fr')).slice(0, doc(domaine('a.fr')).indexOf('  </ListeDomaines>')),
      /<ListeDomaines> \(line 3\) is not closed/,
    ],
    ['empty input', '', /no <ListeBlancheMSSante> element/],
    [
      'HTML error page',
      '<html><body>502 Bad Gateway</body></html>',
      /root element must be <ListeBlancheMSSante>.*found <html>/,
    ],
    [
      'mismatched end tag',
      doc(domaine('a.fr').replace('</Nom>', '</Name>')),
      /line 5: end tag <\/Name> does not match <Nom> \(line 5\)/,
    ],
    [
      'element inside a field',
      doc(domaine('a.fr').replace('<Nom>a.fr', '<Nom><b>a.fr</b>')),
      /<Nom> must hold text only, found <b>/,
    ],
    [
      'stray text',
      doc(domaine('a.fr').replace('<Nom>', 'oops<Nom>')),
      /line 5: unexpected text inside <Domaine> \(line 4\)/,
    ],
    [
      'duplicate Nom',
      doc(domaine('a.fr').replace('<Description>', '<Nom>b.fr</Nom><Description>')),
      /a second <Nom> in the <Domaine> of line 4/,
    ],
    [
      'undefined entity',
      doc(domaine('a.fr').replace('desc', '&eacute;')),
      /line 6: undefined entity &eacute;/,
    ],
    ['bare ampersand', doc(domaine('a.fr').replace('desc', 'A & B')), /line 6: unescaped '&'/],
    ['bad character reference', doc(domaine('a.fr').replace('desc', '&#0;')), /bad character reference &#0;/],
    [
      'DOCTYPE',
      doc(domaine('a.fr')).replace('?>', '?><!DOCTYPE x [<!ENTITY e "x">]>'),
      /a DOCTYPE is not allowed/,
    ],
    ['second root', doc(domaine('a.fr')) + `<ListeBlancheMSSante xmlns="${NS}"/>`, /a second root element/],
    ['text after the root', `${doc(domaine('a.fr'))}junk`, /text after the root element/],
    [
      'invalid UTF-8',
      Buffer.concat([
        Buffer.from(doc(domaine('a.fr')).replace('desc', 'X'), 'utf8').subarray(0, 200),
        Buffer.from([0xff, 0xfe, 0x41]),
      ]),
      /line \d+: the document is not valid UTF-8/,
    ],
    [
      'unsupported encoding',
      Buffer.from(doc(domaine('a.fr')).replace('UTF-8', 'EBCDIC')),
      /unsupported encoding "EBCDIC"/,
    ],
  ])('rejects: %s', (_label, input, message) => {
    expect(parseError(input).message).toMatch(message);
  });

  it('an error carries the line', () => {
    const e = parseError(doc(domaine('a.fr').replace('</Nom>', '</Name>')));
    expect(e.line).toBe(5);
    expect(e.message).toMatch(/^liste blanche, line 5: /);
  });
});

describe('normaliseDomain', () => {
  it.each([
    ['CH-X.MSSANTE.FR', 'ch-x.mssante.fr'],
    ['  ch-x.mssante.fr.  ', 'ch-x.mssante.fr'],
    ['hôpital.example.fr', 'xn--hpital-ixa.example.fr'],
  ])('%s → %s', (input, expected) => {
    expect(normaliseDomain(input)).toBe(expected);
  });
});
