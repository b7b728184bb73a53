import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.ts';
import {
  type Check,
  checkAdeli,
  checkBalAddress,
  checkFiness,
  checkIdNat,
  checkRpps,
  checkSiret,
  checkStructureId,
  luhnKey,
  luhnValid,
  requireAdeli,
  requireBalAddress,
  requireFiness,
  requireIdNat,
  requireRpps,
  requireSiret,
  requireStructureId,
} from '../../src/domain/identifiers.ts';

const withKey = (digits: string) => digits + luhnKey(digits);
/** Flip the last digit so a Luhn-valid number becomes invalid. */
const badKey = (valid: string) => valid.slice(0, -1) + String((Number(valid.at(-1)) + 1) % 10);

const RPPS = withKey('1000123456'); // 10001234565
const RPPS2 = withKey('1999999999');
const SIRET = withKey('7328293200007'); // 73282932000074, the classic INSEE example
const FINESS = withKey('75000001');
const FINESS_2A = `2A000001${luhnKey('20000001')}`;
const FINESS_2B = `2B123456${luhnKey('20123456')}`;

function expectFail<T>(result: Check<T>, rule: string, mentions: string) {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.rule).toBe(rule);
  expect(result.reason).toContain(mentions);
}

describe('luhn', () => {
  it.each([
    ['79927398713', true],
    ['79927398710', false],
    ['0', true],
    ['18', true],
    ['', false],
    ['12a4', false],
    [' 18', false],
  ])('luhnValid(%j) is %s', (digits, expected) => {
    expect(luhnValid(digits)).toBe(expected);
  });

  it.each(['7992739871', '1000123456', '7328293200007', '0', '9', '123456789012345678'])(
    'luhnKey(%j) makes the number Luhn-valid, and no other key does',
    (digits) => {
      const key = luhnKey(digits);
      expect(key).toMatch(/^\d$/);
      expect(luhnValid(digits + key)).toBe(true);
      for (let k = 0; k <= 9; k++) {
        if (String(k) !== key) expect(luhnValid(digits + k)).toBe(false);
      }
    },
  );

  it.each(['', '12a', '1 2'])('luhnKey(%j) throws RangeError', (bad) => {
    expect(() => luhnKey(bad)).toThrow(RangeError);
  });
});

describe('checkRpps', () => {
  it.each([
    [RPPS, RPPS],
    [RPPS2, RPPS2],
    ['100 0123 4565', '10001234565'],
    ['  10001234565\t', '10001234565'],
    ['1\u00a00001234565', '10001234565'], // non-breaking space from a copy-paste
  ])('accepts %j as %j', (input, value) => {
    expect(checkRpps(input)).toEqual({ ok: true, value });
    expect(requireRpps(input)).toBe(value);
  });

  it.each([
    ['1000123456', 'rpps.length', '"1000123456"'],
    ['100012345655', 'rpps.length', '"100012345655"'],
    ['', 'rpps.length', '""'],
    ['1000-123-4565', 'rpps.digits', '"1000-123-4565"'],
    ['1000123456X', 'rpps.digits', '"1000123456X"'],
    ['１0001234565', 'rpps.digits', '"１0001234565"'], // full-width digit
    ['10001234568', 'rpps.luhn', '"10001234568"'],
    [badKey(RPPS2), 'rpps.luhn', `"${badKey(RPPS2)}"`],
  ])('rejects %j with %s', (input, rule, mentions) => {
    expectFail(checkRpps(input), rule, mentions);
  });

  it('names the rule in the reason', () => {
    const r = checkRpps('1000123456');
    expect(r).toEqual({
      ok: false,
      rule: 'rpps.length',
      reason: 'RPPS must be 11 digits, got 10 ("1000123456")',
    });
    expect(checkRpps('10001234568')).toMatchObject({
      reason: 'RPPS check digit (Luhn) is wrong for "10001234568"',
    });
  });

  it('rejects non-strings coming from untyped callers', () => {
    expectFail(checkRpps(undefined as unknown as string), 'rpps.digits', 'undefined');
    expectFail(checkRpps(10001234565 as unknown as string), 'rpps.digits', 'number');
  });
});

describe('checkAdeli', () => {
  it.each([
    ['751234567', '751234567'],
    ['75 123 456 7', '751234567'],
    ['000000000', '000000000'],
    ['751234568', '751234568'], // no check key: any 9 digits pass
  ])('accepts %j as %j', (input, value) => {
    expect(checkAdeli(input)).toEqual({ ok: true, value });
    expect(requireAdeli(input)).toBe(value);
  });

  it.each([
    ['75123456', 'adeli.length', '"75123456"'],
    ['7512345678', 'adeli.length', '"7512345678"'],
    ['2A1234567', 'adeli.digits', '"2A1234567"'],
    ['75.123.456.7', 'adeli.digits', '"75.123.456.7"'],
  ])('rejects %j with %s', (input, rule, mentions) => {
    expectFail(checkAdeli(input), rule, mentions);
  });
});

describe('checkIdNat', () => {
  it.each([
    [`8${RPPS}`, { idNat: `8${RPPS}`, kind: 'RPPS', id: RPPS }],
    [' 8 1000 123 4565 ', { idNat: '810001234565', kind: 'RPPS', id: '10001234565' }],
    ['0751234567', { idNat: '0751234567', kind: 'ADELI', id: '751234567' }],
  ])('accepts %j', (input, value) => {
    expect(checkIdNat(input)).toEqual({ ok: true, value });
    expect(requireIdNat(input)).toEqual(value);
  });

  it.each([
    [RPPS, 'idnat.prefix', `"${RPPS}"`], // bare RPPS, prefix missing
    ['310001234565', 'idnat.prefix', '"310001234565"'],
    ['', 'idnat.prefix', '""'],
    ['X10001234565', 'idnat.prefix', '"X10001234565"'],
    ['81000123456', 'idnat.length', '"81000123456"'],
    ['8100012345650', 'idnat.length', '"8100012345650"'],
    ['075123456', 'idnat.length', '"075123456"'],
    ['810001234568', 'rpps.luhn', '"10001234568"'],
    ['81000123456X', 'rpps.digits', '"81000123456X"'],
    ['075123456A', 'adeli.digits', '"075123456A"'],
  ])('rejects %j with %s', (input, rule, mentions) => {
    expectFail(checkIdNat(input), rule, mentions);
  });

  it('says where an embedded failure happened', () => {
    const r = checkIdNat('810001234568');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain('in idNat "810001234568"');
  });
});

describe('checkFiness', () => {
  it.each([
    // real FINESS found as OU = '1' + FINESS in the ANS liste blanche of 2025-03-13
    ['630013605', '630013605'],
    ['750048886', '750048886'],
    ['970112421', '970112421'],
    [FINESS, FINESS],
    ['75 004 888 6', '750048886'], // the "NN NNN NNN N" display form of finess.esante.gouv.fr
    [FINESS_2A, FINESS_2A], // Corsica: Luhn computed with the letter as 0 (documented choice)
    [FINESS_2B, FINESS_2B],
  ])('accepts %j as %j', (input, value) => {
    expect(checkFiness(input)).toEqual({ ok: true, value });
    expect(requireFiness(input)).toBe(value);
  });

  it.each([
    ['63001360', 'finess.length', '"63001360"'],
    ['6300136050', 'finess.length', '"6300136050"'],
    ['', 'finess.length', '""'],
    ['2a0000016', 'finess.syntax', '"2a0000016"'], // lower case is not silently fixed
    ['2C0000016', 'finess.syntax', '"2C0000016"'],
    ['0B0078671', 'finess.syntax', '"0B0078671"'], // ANS test value seen in the liste blanche
    ['6300136-5', 'finess.syntax', '"6300136-5"'],
    ['63001360A', 'finess.syntax', '"63001360A"'],
    ['630013606', 'finess.key', '"630013606"'],
    [badKey(FINESS_2A), 'finess.key', `"${badKey(FINESS_2A)}"`],
    [badKey(FINESS_2B), 'finess.key', `"${badKey(FINESS_2B)}"`],
  ])('rejects %j with %s', (input, rule, mentions) => {
    expectFail(checkFiness(input), rule, mentions);
  });
});

describe('checkSiret', () => {
  it.each([
    [SIRET, SIRET],
    ['18310021300028', '18310021300028'], // from OU=318310021300028 in the liste blanche: Luhn-valid
    ['35600000000048', '35600000000048'], // La Poste head office: plain Luhn
    ['35600000000001', '35600000000001'], // La Poste: not Luhn, digit sum 15 is a multiple of 5
    ['356 000 000 00001', '35600000000001'],
    ['732 829 320 00074', '73282932000074'],
  ])('accepts %j as %j', (input, value) => {
    expect(checkSiret(input)).toEqual({ ok: true, value });
    expect(requireSiret(input)).toBe(value);
  });

  it('La Poste samples really exercise the exception', () => {
    expect(luhnValid('35600000000001')).toBe(false);
    expect(luhnValid('35600000000048')).toBe(true);
  });

  it.each([
    ['7328293200007', 'siret.length', '"7328293200007"'],
    ['732829320000744', 'siret.length', '"732829320000744"'],
    ['732-829-320-00074', 'siret.digits', '"732-829-320-00074"'],
    ['73282932000075', 'siret.luhn', '"73282932000075"'],
    ['18310021300029', 'siret.luhn', '"18310021300029"'],
    ['35600000000002', 'siret.luhn', '"35600000000002"'], // La Poste, sum 16: neither rule
    ['35600000100001', 'siret.luhn', '"35600000100001"'], // sum 16 too
  ])('rejects %j with %s', (input, rule, mentions) => {
    expectFail(checkSiret(input), rule, mentions);
  });

  it('mentions the La Poste rule when it was tried', () => {
    const r = checkSiret('35600000000002');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain('La Poste');
  });

  it('does not apply the La Poste rule to other SIRENs', () => {
    // digit sum 10 (multiple of 5) but not Luhn and not SIREN 356000000
    expect(luhnValid('10000000000009')).toBe(false);
    expectFail(checkSiret('10000000000009'), 'siret.luhn', '"10000000000009"');
  });
});

describe('checkStructureId', () => {
  it.each([
    ['318310021300028', { structureId: '318310021300028', kind: 'SIRET', id: '18310021300028' }],
    ['1630013605', { structureId: '1630013605', kind: 'FINESS', id: '630013605' }],
    [`1${FINESS_2A}`, { structureId: `1${FINESS_2A}`, kind: 'FINESS', id: FINESS_2A }],
    ['3 356000000 00048', { structureId: '335600000000048', kind: 'SIRET', id: '35600000000048' }],
  ])('accepts %j', (input, value) => {
    expect(checkStructureId(input)).toEqual({ ok: true, value });
    expect(requireStructureId(input)).toEqual(value);
  });

  it.each([
    ['2630013605', 'structure.prefix', '"2630013605"'],
    ['', 'structure.prefix', '""'],
    ['163001360', 'structure.length', '"163001360"'],
    ['31831002130002', 'structure.length', '"31831002130002"'],
    ['1630013606', 'finess.key', '"630013606"'],
    ['1630013X05', 'finess.syntax', '"630013X05"'],
    ['318310021300029', 'siret.luhn', '"18310021300029"'],
    ['31831002130002X', 'siret.digits', '"31831002130002X"'],
  ])('rejects %j with %s', (input, rule, mentions) => {
    expectFail(checkStructureId(input), rule, mentions);
  });

  it('a bare SIRET is never read as a structure id', () => {
    // '1' + 13 digits: structure.length, since FINESS ids are 10 characters with their prefix
    expectFail(checkStructureId('18310021300028'), 'structure.length', '"18310021300028"');
  });
});

describe('checkBalAddress', () => {
  const label63 = 'a'.repeat(63);

  it.each([
    ['jean.dupont@ch-exemple.mssante.fr', 'jean.dupont', 'ch-exemple.mssante.fr'],
    ['  Jean.Dupont@CH-Exemple.MSSante.fr ', 'jean.dupont', 'ch-exemple.mssante.fr'],
    ['cardiologie@ch-xxx.mssante.fr', 'cardiologie', 'ch-xxx.mssante.fr'],
    ['123456789012345@patient.mssante.fr', '123456789012345', 'patient.mssante.fr'],
    ["o'brien+tag@a.fr", "o'brien+tag", 'a.fr'],
    ["!#$%&'*+-/=?^_`{|}~@x.fr", "!#$%&'*+-/=?^_`{|}~", 'x.fr'],
    [`${'l'.repeat(64)}@x.fr`, 'l'.repeat(64), 'x.fr'],
    [`a@${label63}.fr`, 'a', `${label63}.fr`],
    ['a@1-2.3com', 'a', '1-2.3com'],
  ])('accepts %j', (input, localPart, domain) => {
    const value = { address: `${localPart}@${domain}`, localPart, domain };
    expect(checkBalAddress(input)).toEqual({ ok: true, value });
    expect(requireBalAddress(input)).toEqual(value);
  });

  it('accepts a 254-character address', () => {
    // 64 + 1 + 189 = 254, domain of labels ≤ 63
    const domain = `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    const address = `${'a'.repeat(64)}@${domain}`;
    expect(address.length).toBe(254);
    expect(checkBalAddress(address).ok).toBe(true);
  });

  it.each([
    ['jean.dupont', 'address.syntax', '"jean.dupont"'],
    ['', 'address.syntax', '""'],
    ['jéan@x.fr', 'address.ascii', '"jéan@x.fr"'],
    ['jean@exémple.fr', 'address.ascii', '"jean@exémple.fr"'],
    ['jean\n@x.fr', 'address.ascii', '"jean\\n@x.fr"'],
    ['@x.fr', 'address.local.length', '"@x.fr"'],
    [`${'l'.repeat(65)}@x.fr`, 'address.local.length', 'l'.repeat(40)],
    ['jean dupont@x.fr', 'address.local.chars', '"jean dupont"'],
    ['"jean"@x.fr', 'address.local.chars', '"\\"jean\\""'],
    ['a@b@x.fr', 'address.local.chars', '"a@b"'],
    ['jean(x)@x.fr', 'address.local.chars', '"jean(x)"'],
    ['.jean@x.fr', 'address.local.dots', '".jean"'],
    ['jean.@x.fr', 'address.local.dots', '"jean."'],
    ['jean..dupont@x.fr', 'address.local.dots', '"jean..dupont"'],
    ['jean@', 'address.domain.length', '"jean@"'],
    ['jean@localhost', 'address.domain.labels', '"localhost"'],
    ['jean@x_y.fr', 'address.domain.chars', '"x_y"'],
    ['jean@[10.0.0.1]', 'address.domain.chars', '"[10"'],
    ['jean@x.fr.', 'address.domain.label.length', '"x.fr."'],
    ['jean@.x.fr', 'address.domain.label.length', '".x.fr"'],
    ['jean@x..fr', 'address.domain.label.length', '"x..fr"'],
    [`jean@${'a'.repeat(64)}.fr`, 'address.domain.label.length', 'a'.repeat(40)],
    ['jean@-x.fr', 'address.domain.label.hyphen', '"-x"'],
    ['jean@x-.fr', 'address.domain.label.hyphen', '"x-"'],
    [`a@${`${label63}.`.repeat(4)}fr`, 'address.domain.length', '"a@'],
  ])('rejects %j with %s', (input, rule, mentions) => {
    expectFail(checkBalAddress(input), rule, mentions);
  });

  it('rejects an address over 254 characters even when its parts are within limits', () => {
    const domain = `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`;
    const address = `${'a'.repeat(64)}@${domain}`;
    expect(address.length).toBe(255);
    expectFail(checkBalAddress(address), 'address.length', 'got 255');
  });

  describe('served domains', () => {
    const served = ['CH-Exemple.mssante.fr', 'autre.mssante.fr'];

    it.each([
      ['jean@ch-exemple.mssante.fr', 'ch-exemple.mssante.fr'],
      ['jean@CH-EXEMPLE.MSSANTE.FR', 'ch-exemple.mssante.fr'],
      ['x@autre.mssante.fr', 'autre.mssante.fr'],
    ])('accepts %j on a served domain', (input, domain) => {
      const r = checkBalAddress(input, served);
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.value.domain).toBe(domain);
    });

    it('rejects another domain and lists the served ones', () => {
      const r = checkBalAddress('jean@ailleurs.mssante.fr', served);
      expectFail(r, 'address.domain.not-served', '"ailleurs.mssante.fr"');
      if (!r.ok) expect(r.reason).toContain('ch-exemple.mssante.fr, autre.mssante.fr');
    });

    it('rejects a sub-domain of a served domain', () => {
      expectFail(
        checkBalAddress('jean@sub.autre.mssante.fr', served),
        'address.domain.not-served',
        '"sub.autre.mssante.fr"',
      );
    });

    it('rejects everything when no domain is served', () => {
      expectFail(checkBalAddress('jean@x.fr', []), 'address.domain.not-served', 'none configured');
    });

    it('reports syntax before not-served', () => {
      expectFail(checkBalAddress('jean..x@autre.mssante.fr', served), 'address.local.dots', '"jean..x"');
    });
  });
});

describe('throwing twins', () => {
  it.each([
    ['requireRpps', () => requireRpps('10001234568'), 'rpps', 'rpps.luhn'],
    ['requireRpps (field)', () => requireRpps('1', 'rppsNumber'), 'rppsNumber', 'rpps.length'],
    ['requireAdeli', () => requireAdeli('12'), 'adeli', 'adeli.length'],
    ['requireIdNat', () => requireIdNat('910001234565'), 'idNat', 'idnat.prefix'],
    ['requireIdNat (inner)', () => requireIdNat('810001234568', 'holder'), 'holder', 'rpps.luhn'],
    ['requireFiness', () => requireFiness('630013606'), 'finess', 'finess.key'],
    ['requireSiret', () => requireSiret('73282932000075'), 'siret', 'siret.luhn'],
    ['requireStructureId', () => requireStructureId('5123'), 'structureId', 'structure.prefix'],
    ['requireStructureId (field)', () => requireStructureId('1630013606', 'ou'), 'ou', 'finess.key'],
    ['requireBalAddress', () => requireBalAddress('a..b@x.fr'), 'address', 'address.local.dots'],
    [
      'requireBalAddress (served, field)',
      () => requireBalAddress('a@y.fr', ['x.fr'], 'to'),
      'to',
      'address.domain.not-served',
    ],
  ])('%s throws ValidationError with field and rule', (_name, call, field, rule) => {
    let caught: unknown;
    try {
      call();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    const err = caught as ValidationError;
    expect(err.field).toBe(field);
    expect(err.rule).toBe(rule);
    expect(err.name).toBe('ValidationError');
    expect(err.message.length).toBeGreaterThan(10);
  });

  it('the thrown message is the check reason', () => {
    expect(() => requireRpps('1000123456')).toThrow('RPPS must be 11 digits, got 10 ("1000123456")');
  });
});
