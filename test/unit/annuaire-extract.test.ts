import { describe, expect, it } from 'vitest';
import {
  checkMssHeader,
  type MailboxRow,
  MSS_COLUMNS,
  parseMssRow,
  splitFields,
} from '../../src/annuaire/extract/mss-extract.ts';
import {
  checkPsHeader,
  type PsLayout,
  type PsRow,
  parsePsRow,
} from '../../src/annuaire/extract/ps-extract.ts';
import { detectExtractKind } from '../../src/annuaire/import.ts';
import { formatProgress } from '../../src/annuaire/progress.ts';
import { idNatFor, mssRow, PS_COLUMNS, psRow, rppsFor, truncated } from '../support/extracts.ts';

const MSS_HEADER = MSS_COLUMNS.join('|');
const PS_HEADER = `${PS_COLUMNS.join('|')}|`;
/** The 52-column header of older PS_LibreAcces files (other spelling of the department columns). */
const PS_HEADER_52 = `${PS_COLUMNS.slice(0, 52)
  .map((c) =>
    c === 'Code département (coord. structure)'
      ? 'Code Département (structure)'
      : c === 'Libellé département (coord. structure)'
        ? 'Libellé Département (structure)'
        : c,
  )
  .join('|')}|`;

const line = (fields: readonly string[]) => fields.join('|');

function mssOk(text: string): MailboxRow {
  const r = parseMssRow(text);
  if ('rejected' in r) throw new Error(`rejected: ${r.rejected}`);
  return r.row;
}

function psLayout(header: string): PsLayout {
  const h = checkPsHeader(header);
  if (!h.ok) throw new Error(h.reason);
  return h.layout;
}

function psOk(text: string, layout = psLayout(PS_HEADER)): PsRow {
  const r = parsePsRow(text, layout);
  if ('rejected' in r) throw new Error(`rejected: ${r.rejected}`);
  return r.row;
}

describe('splitFields', () => {
  it.each([
    ['a|b|c', 3, ['a', 'b', 'c']],
    ['a|b|c|', 3, ['a', 'b', 'c']],
    ['a||', 3, ['a', '', '']],
    ['a|||', 3, ['a', '', '']],
    ['a|b', 3, 'expected 3 fields, found 2'],
    ['a|b|c|d', 3, 'expected 3 fields, found 4'],
    ['a|b|c||', 3, 'expected 3 fields, found 4 and a trailing |'],
    ['a|b|', 3, ['a', 'b', '']],
    ['a|', 3, 'expected 3 fields, found 1 and a trailing |'],
    ['', 3, 'empty line'],
  ])('%j with %i expected → %j', (text, expected, want) => {
    expect(splitFields(text, expected)).toEqual(want);
  });
});

describe('detectExtractKind', () => {
  it.each([
    [MSS_HEADER, 'mss'],
    [`${MSS_HEADER}|`, 'mss'],
    ['Type de BAL|Adresse BAL|Autre', 'mss'],
    [PS_HEADER, 'ps'],
    [PS_HEADER_52, 'ps'],
    ["type d'identifiant pp|x", 'ps'],
    ['nom|prenom|email', null],
    ['', null],
  ])('%j → %s', (header, kind) => {
    expect(detectExtractKind(header)).toBe(kind);
  });
});

describe('checkMssHeader', () => {
  it('accepts the 31 names in order, with or without a trailing |', () => {
    expect(checkMssHeader(MSS_HEADER)).toEqual({ ok: true, layout: null });
    expect(checkMssHeader(`${MSS_HEADER}|`)).toEqual({ ok: true, layout: null });
  });

  it.each([
    [
      'a renamed column',
      MSS_HEADER.replace('Code postal', 'Code Postal'),
      'column 29 should be "Code postal", found "Code Postal"',
    ],
    [
      'a missing last column',
      MSS_COLUMNS.slice(0, 30).join('|'),
      'expected 31 columns, found 30 (column 31 "Pays" is missing)',
    ],
    ['an extra column', `${MSS_HEADER}|Extra`, 'expected 31 columns, found 32 (extra column 32 "Extra")'],
    [
      'two columns swapped',
      line([MSS_COLUMNS[1]!, MSS_COLUMNS[0]!, ...MSS_COLUMNS.slice(2)]),
      'column 1 should be "Type de BAL", found "Adresse BAL"',
    ],
    [
      'names without accents',
      MSS_HEADER.replace('Dématérialisation', 'Dematerialisation'),
      'column 18 should be "Dématérialisation", found "Dematerialisation"',
    ],
  ])('rejects %s and says which column', (_what, header, reason) => {
    expect(checkMssHeader(header)).toEqual({
      ok: false,
      reason: `Extraction_Correspondance_MSSante header: ${reason}`,
    });
  });
});

describe('parseMssRow', () => {
  it('reads a PER row: every column, empty fields as null, name keys without accents', () => {
    const fields = mssRow(1); // Zoë D'ARC-LÉVÊQUE, no skill, Dématérialisation empty
    const row = mssOk(line(fields));
    expect(row).toMatchObject({
      bal_type: 'PER',
      address: 'zoe.darc-leveque.1@sainte-therese1.mssante.fr',
      pp_id_type: '8',
      pp_id: rppsFor(1),
      id_nat: idNatFor(1),
      civility: 'DR',
      last_name: "D'ARC-LÉVÊQUE",
      first_name: 'Zoë',
      profession_label: 'Médecin',
      skill_code: 'SM54',
      digitization: null,
      org_name: 'Clinique Sainte-Thérèse',
      addr_street: 'de la Procession',
      addr_complement: null,
      postal_code: '25000',
      department: '25',
      country: 'FRANCE',
      name_key: 'd arc leveque zoe',
      given_key: 'zoe d arc leveque',
    });
    expect(Object.keys(row).sort()).toEqual(
      [
        ...[
          'address',
          'bal_type',
          'pp_id_type',
          'pp_id',
          'id_nat',
          'structure_id_type',
          'structure_id',
          'service',
          'civility',
          'last_name',
          'first_name',
          'category_code',
          'category_label',
          'profession_code',
          'profession_label',
          'skill_code',
          'skill_label',
          'digitization',
          'org_name',
          'org_trade_name',
          'addr_complement',
          'addr_distribution',
          'addr_number',
          'addr_number_complement',
          'addr_street_type',
          'addr_street',
          'addr_locality',
          'addr_routing',
          'postal_code',
          'department',
          'country',
        ],
        'name_key',
        'given_key',
      ].sort(),
    );
  });

  it('maps each column to its own table column (a distinct value in each)', () => {
    const fields = MSS_COLUMNS.map((_, i) => `v${i}`);
    fields[0] = 'PER';
    fields[1] = 'A.B@X.mssante.fr';
    const row = mssOk(line(fields));
    const values = Object.entries(row).filter(([k]) => !k.endsWith('_key'));
    expect(values).toHaveLength(31);
    expect(new Set(values.map(([, v]) => v)).size).toBe(31);
    expect(row.country).toBe('v30');
    expect(row.first_name).toBe('v10');
    expect(row.addr_routing).toBe('v27');
  });

  it('lower-cases the address and trims fields', () => {
    const fields = mssRow(10); // its address has capitals
    expect(fields[1]).toMatch(/[A-Z]/);
    const row = mssOk(line(mssRow(10, { 'Adresse BAL': ' Paul.Petit@CH-Test.MSSante.fr ', Pays: '  ' })));
    expect(row.address).toBe('paul.petit@ch-test.mssante.fr');
    expect(row.country).toBeNull();
  });

  it('keys an ORG row without a person by structure then service, and by service first', () => {
    const row = mssOk(line(mssRow(6)));
    expect(row).toMatchObject({
      bal_type: 'ORG',
      last_name: null,
      first_name: null,
      service: 'Urgences',
      org_name: 'EHPAD Les Érables',
      name_key: 'ehpad les erables urgences',
      given_key: 'urgences ehpad les erables',
    });
  });

  it('keys an APP row without a service by its structure (trade name when no legal name)', () => {
    const row = mssOk(
      line(
        mssRow(49, {
          'Raison Sociale structure BAL': '',
          'Enseigne commerciale structure BAL': 'Clinique Zoë',
        }),
      ),
    );
    expect(row).toMatchObject({ bal_type: 'APP', service: null, name_key: 'clinique zoe', given_key: null });
  });

  it('keys a row with only a last name', () => {
    const row = mssOk(line(mssRow(2, { "Prénom d'exercice": '' })));
    expect(row).toMatchObject({ name_key: 'martin', given_key: 'martin' });
  });

  it('accepts a trailing | and CAB rows', () => {
    expect(mssOk(`${line(mssRow(96))}|`).bal_type).toBe('CAB');
  });

  it.each([
    ['too few fields', truncated(mssRow(0), 10), 'expected 31 fields, found 10'],
    ['too many fields', `${line(mssRow(0))}|x|y`, 'expected 31 fields, found 33'],
    ['an empty line', '', 'empty line'],
    [
      'an unknown BAL type',
      line(mssRow(0, { 'Type de BAL': 'XYZ' })),
      'unknown BAL type "XYZ" (expected PER, ORG, APP, CAB)',
    ],
    ['a lower-case BAL type', line(mssRow(0, { 'Type de BAL': 'per' })), 'unknown BAL type "per"'],
    ['an empty BAL type', line(mssRow(0, { 'Type de BAL': '' })), 'empty BAL type (Type de BAL)'],
    ['an empty address', line(mssRow(0, { 'Adresse BAL': ' ' })), 'empty BAL address (Adresse BAL)'],
    [
      'an address without @',
      line(mssRow(0, { 'Adresse BAL': 'nobody' })),
      'invalid BAL address: address must have the form local-part@domain',
    ],
    [
      'an address with an accent',
      line(mssRow(0, { 'Adresse BAL': 'élodie@x.mssante.fr' })),
      'invalid BAL address: address must be printable ASCII',
    ],
  ])('rejects %s, saying why', (_what, text, reason) => {
    const r = parseMssRow(text);
    expect(r).toHaveProperty('rejected');
    expect((r as { rejected: string }).rejected).toContain(reason);
  });
});

describe('checkPsHeader', () => {
  it('finds the columns by name in the current 56-column header', () => {
    const layout = psLayout(PS_HEADER);
    expect(layout.fieldCount).toBe(56);
    const at = Object.fromEntries([...layout.professional, ...layout.activity]);
    expect(at).toMatchObject({
      pp_id_type: 0,
      id_nat: 2,
      exercise_civility_label: 4,
      last_name: 7,
      first_name: 8,
      skill_code: 15,
      finess_site: 21,
      finess_ej: 22,
      city: 37,
      department: 44,
      email: 43,
      role_code: 52,
      role_label: 53,
    });
  });

  it('reads the older 52-column header, with its other spellings', () => {
    const layout = psLayout(PS_HEADER_52.replace("Libellé civilité d'exercice", 'Libellé civilité exercice'));
    expect(layout.fieldCount).toBe(52);
    const at = Object.fromEntries([...layout.professional, ...layout.activity]);
    expect(at).toMatchObject({ exercise_civility_label: 4, department: 44, role_code: -1, role_label: -1 });
  });

  it('finds columns in any order, ignoring case and accents', () => {
    const layout = psLayout(
      "NOM D'EXERCICE|Identification nationale PP|Prenom d'exercice|Identifiant PP|Type d'identifiant PP",
    );
    expect(Object.fromEntries(layout.professional)).toMatchObject({
      last_name: 0,
      id_nat: 1,
      first_name: 2,
      pp_id: 3,
      pp_id_type: 4,
      civility_code: -1,
    });
  });

  it.each([
    [
      'the identity columns',
      'Code profession|Libellé profession',
      `missing columns "Type d'identifiant PP", "Identifiant PP", "Identification nationale PP", "Nom d'exercice", "Prénom d'exercice" (found 2 columns)`,
    ],
    [
      'the idNat column',
      PS_HEADER.replace('Identification nationale PP', 'idNat'),
      'missing column "Identification nationale PP" (found 56 columns)',
    ],
  ])('rejects a header without %s', (_what, header, reason) => {
    expect(checkPsHeader(header)).toEqual({
      ok: false,
      reason: `PS_LibreAcces_Personne_activite header: ${reason}`,
    });
  });
});

describe('parsePsRow', () => {
  it('reads the professional and the activity of a line (trailing |)', () => {
    const { professional, activity } = psOk(`${line(psRow(1))}|`);
    expect(professional).toEqual({
      id_nat: idNatFor(1),
      pp_id_type: '8',
      pp_id: rppsFor(1),
      exercise_civility_code: 'DR',
      exercise_civility_label: 'Docteur',
      civility_code: 'M',
      civility_label: 'Monsieur',
      last_name: "D'ARC-LÉVÊQUE",
      first_name: 'Zoë',
      name_key: 'd arc leveque zoe',
      given_key: 'zoe d arc leveque',
    });
    expect(activity).toMatchObject({
      id_nat: idNatFor(1),
      profession_code: '10',
      profession_label: 'Médecin',
      mode_code: 'S',
      mode_label: 'Salarié',
      finess_site: psRow(1)[21],
      finess_ej: psRow(1)[22],
      siret: null,
      org_name: 'Clinique Sainte-Thérèse',
      postal_code: '25000',
      city: 'BESANCON',
      department: '25',
      phone: psRow(1)[40],
      email: null,
      role_code: null,
    });
    expect(Object.keys(activity)).toHaveLength(23);
  });

  it('reads an ADELI professional with an empty exercise civility', () => {
    const { professional } = psOk(`${line(psRow(8))}|`);
    expect(professional).toMatchObject({ pp_id_type: '0', id_nat: '0750000008', pp_id: '750000008' });
    expect(psOk(`${line(psRow(0))}|`).professional.exercise_civility_code).toBeNull();
  });

  it('reads a line of an older file with the layout of its own header', () => {
    const layout = psLayout(PS_HEADER_52);
    const { activity } = psOk(`${line(psRow(4).slice(0, 52))}|`, layout);
    expect(activity).toMatchObject({ department: '92', role_code: null, role_label: null });
  });

  it.each([
    ['too few fields', `${truncated(psRow(0), 20)}|`, 'expected 56 fields, found 20 and a trailing |'],
    ['too many fields', `${line(psRow(0))}|x|`, 'expected 56 fields, found 57 and a trailing |'],
    ['a missing idNat', `${line(psRow(0, 0, { 'Identification nationale PP': '' }))}|`, 'missing idNat'],
    ['an empty line', '', 'empty line'],
  ])('rejects %s, saying why', (_what, text, reason) => {
    const r = parsePsRow(text, psLayout(PS_HEADER));
    expect((r as { rejected: string }).rejected).toContain(reason);
  });
});

describe('formatProgress', () => {
  it('shows the bar, the percentage, the rows and the rate', () => {
    expect(formatProgress('importing', { bytesRead: 50, bytesTotal: 200, rows: 12_345 }, 2000)).toBe(
      'importing [########----------------------]  25%  12,345 rows  6,173 rows/s',
    );
    expect(formatProgress('x', { bytesRead: 0, bytesTotal: 0, rows: 0 }, 0)).toBe(
      `x [${'-'.repeat(30)}]   0%  0 rows  0 rows/s`,
    );
  });
});
