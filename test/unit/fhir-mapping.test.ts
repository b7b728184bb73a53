import { describe, expect, it } from 'vitest';
import {
  type FhirBundle,
  idNatOf,
  indexBundle,
  isMssMailbox,
  mailboxFromBundle,
  mailboxMetadata,
  mergeIndexes,
  professionalFromIndex,
  structureIdsOf,
} from '../../src/annuaire/fhir/mapping.ts';

/*
 * Samples in the shapes the Annuaire Santé FHIR API serves, after the examples of the ANS IG
 * (github.com/ansforge/IG-fhir-annuaire: pp16dr-practitioner, example-organization-nancy,
 * AsExamplePractitionerBalMssPer.fsh, PP16DR-PractitionerRole.fsh) and the ANS draft
 * openapi-balmss.yaml. Written out literally, not built by the code under test.
 */

const META =
  'https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata';
const EMAIL_TYPE = {
  url: 'https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-contact-point-email-type',
  valueCoding: {
    system: 'https://mos.esante.gouv.fr/NOS/TRE_R256-TypeMessagerie/FHIR/TRE-R256-TypeMessagerie',
    code: 'MSSANTE',
  },
};
const typeBal = (code: string) => ({
  url: 'type',
  valueCodeableConcept: {
    coding: [{ system: 'https://mos.esante.gouv.fr/NOS/TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL', code }],
  },
});

const practitioner = {
  resourceType: 'Practitioner',
  id: '3719500',
  meta: {
    versionId: '0.1',
    lastUpdated: '2019-08-31T01:00:00.000+01:00',
    source: 'https://annuaire.sante.fr',
  },
  identifier: [
    {
      use: 'official',
      type: {
        coding: [{ system: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203', code: 'IDNPS' }],
      },
      system: 'urn:oid:1.2.250.1.71.4.2.1',
      value: '810102727017',
    },
    {
      use: 'official',
      type: {
        coding: [{ system: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203', code: 'RPPS' }],
      },
      system: 'https://rpps.esante.gouv.fr',
      value: '10102727017',
    },
  ],
  active: true,
  name: [
    { use: 'official', family: 'CHATELIER-OFFICIEL', given: ['David'] },
    { use: 'usual', family: 'CHATELIER', given: ['David'], prefix: ['M'], suffix: ['DR'] },
  ],
  telecom: [
    {
      extension: [EMAIL_TYPE, { extension: [typeBal('PER')], url: META }],
      system: 'email',
      value: 'DavidChatelier@pro.mssante.fr',
      rank: 1,
    },
    { system: 'email', value: 'davidchatelier@orange.fr' },
    {
      extension: [
        EMAIL_TYPE,
        { extension: [typeBal('PER'), { url: 'listeRouge', valueBoolean: true }], url: META },
      ],
      system: 'email',
      value: 'david.cache@pro.mssante.fr',
    },
    { system: 'phone', value: '0383153030' },
  ],
  qualification: [
    {
      code: {
        coding: [
          {
            system: 'https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante',
            code: '21',
            display: 'Pharmacien',
          },
          {
            system:
              'https://mos.esante.gouv.fr/NOS/TRE_R09-CategorieProfessionnelle/FHIR/TRE-R09-CategorieProfessionnelle',
            code: 'C',
          },
        ],
      },
    },
  ],
};

const organization = {
  resourceType: 'Organization',
  id: 'example-organization-nancy',
  identifier: [
    {
      use: 'official',
      type: {
        coding: [{ system: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203', code: 'IDNST' }],
      },
      system: 'urn:oid:1.2.250.1.71.4.2.2',
      value: '1540002698',
    },
    {
      type: {
        coding: [{ system: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203', code: 'FINEG' }],
      },
      system: 'https://finess.esante.gouv.fr',
      value: '540002698',
    },
    {
      type: {
        coding: [{ system: 'https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203', code: 'FINEJ' }],
      },
      system: 'https://finess.esante.gouv.fr',
      value: '540023264',
    },
  ],
  active: true,
  name: 'CHRU NANCY - HOPITAUX DE BRABOIS',
  telecom: [
    { system: 'phone', value: '0383153030', rank: 1 },
    { system: 'email', value: 'direction.generale@chu-nancy.fr' },
    {
      extension: [
        EMAIL_TYPE,
        {
          extension: [
            typeBal('ORG'),
            { url: 'description', valueString: 'Description-mss' },
            { url: 'service', valueString: 'Service des admissions' },
            { url: 'digitization', valueBoolean: true },
            { url: 'listeRouge', valueBoolean: false },
          ],
          url: META,
        },
      ],
      system: 'email',
      value: 'exemple.address@address.mssante.fr',
    },
  ],
  address: [
    {
      line: ['R DU MORVAN, 54511 VANDOEUVRE LES NANCY CEDEX'],
      city: 'VANDOEUVRE LES NANCY CEDEX',
      postalCode: '54511',
    },
  ],
};

const role = {
  resourceType: 'PractitionerRole',
  id: '5015602',
  active: true,
  identifier: [{ system: 'https://annuaire.sante.fr', value: '1001500032' }],
  practitioner: { reference: 'Practitioner/3719500' },
  organization: { reference: 'Organization/example-organization-nancy' },
  code: [
    {
      coding: [
        {
          system: 'https://mos.esante.gouv.fr/NOS/TRE_R22-GenreActivite/FHIR/TRE-R22-GenreActivite',
          code: 'GENR01',
        },
      ],
    },
    {
      coding: [
        {
          system: 'https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice',
          code: 'S',
        },
      ],
    },
    {
      coding: [
        {
          system: 'https://mos.esante.gouv.fr/NOS/TRE_R21-Fonction/FHIR/TRE-R21-Fonction',
          code: 'FON-AU',
          display: 'Autre fonction',
        },
      ],
    },
  ],
  extension: [
    {
      url: 'https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-practitionerrole-name',
      valueHumanName: { family: 'CHATELIER-EXERCICE', given: ['David'], suffix: ['DR'] },
    },
  ],
  telecom: [
    {
      // The draft OpenAPI's schema form: type as valueCode.
      extension: [
        {
          url: META,
          extension: [
            { url: 'type', valueCode: 'PER' },
            { url: 'listeRouge', valueBoolean: false },
          ],
        },
      ],
      system: 'email',
      value: 'david.chatelier@chu-nancy.mssante.fr',
    },
  ],
};

const bundle = (entries: { resource: object; mode?: string }[]): FhirBundle =>
  ({
    resourceType: 'Bundle',
    type: 'searchset',
    total: entries.filter((e) => e.mode !== 'include').length,
    entry: entries.map((e) => ({ resource: e.resource, search: { mode: e.mode ?? 'match' } })),
  }) as FhirBundle;

describe('FHIR mapping: mailbox metadata', () => {
  it('reads the as-ext-mailbox-mss-metadata sub-extensions (valueCodeableConcept or valueCode type)', () => {
    expect(mailboxMetadata(organization.telecom[2]!)).toEqual({
      type: 'ORG',
      description: 'Description-mss',
      service: 'Service des admissions',
      responsible: null,
      phone: null,
      listeRouge: false,
      digitization: true,
    });
    expect(mailboxMetadata(role.telecom[0]!)).toMatchObject({ type: 'PER', listeRouge: false });
    expect(mailboxMetadata({ system: 'email', value: 'x@y.fr' })).toBeNull();
  });

  it('tells MSSanté BALs from other telecoms', () => {
    expect(practitioner.telecom.map((t) => isMssMailbox(t))).toEqual([true, false, true, false]);
    // The MSSANTE email type alone is enough.
    expect(isMssMailbox({ system: 'email', value: 'a@b.mssante.fr', extension: [EMAIL_TYPE] })).toBe(true);
    // Extension URL compared on its StructureDefinition path.
    expect(
      isMssMailbox({
        system: 'email',
        value: 'a@b.mssante.fr',
        extension: [{ url: META.replace('https:', 'http:'), extension: [typeBal('ORG')] }],
      }),
    ).toBe(true);
  });
});

describe('FHIR mapping: identities', () => {
  it('takes the idNat from the urn:oid:1.2.250.1.71.4.2.1 identifier', () => {
    expect(idNatOf(practitioner)).toBe('810102727017');
    expect(
      idNatOf({ identifier: [{ system: 'https://rpps.esante.gouv.fr', value: '10102727017' }] }),
    ).toBeNull();
  });

  it("takes an Organization's structure id from idNatSt, and FINESS EG/EJ from the typed identifiers", () => {
    expect(structureIdsOf(organization)).toEqual({
      structureId: '1540002698',
      finessSite: '540002698',
      finessEj: '540023264',
      siret: null,
    });
    expect(
      structureIdsOf({
        identifier: [
          { type: { coding: [{ code: 'SIRET' }] }, system: 'http://sirene.fr', value: '35600000000048' },
        ],
      }).structureId,
    ).toBe('335600000000048');
  });
});

describe('FHIR mapping: records', () => {
  it('builds a professional from a Practitioner search and its PractitionerRole search (_include organization)', () => {
    const index = mergeIndexes(
      indexBundle(bundle([{ resource: practitioner }])),
      indexBundle(bundle([{ resource: role }, { resource: organization, mode: 'include' }])),
    );
    const p = professionalFromIndex(index, '810102727017');
    expect(p).toMatchObject({
      idNat: '810102727017',
      ppIdType: 'RPPS',
      ppId: '10102727017',
      civility: 'DR',
      lastName: 'CHATELIER',
      firstName: 'David',
      source: 'fhir',
    });
    expect(p!.activities).toEqual([
      {
        professionCode: '21',
        professionLabel: 'Pharmacien',
        categoryCode: 'C',
        categoryLabel: null,
        skillLabel: null,
        modeLabel: 'S',
        structureId: '1540002698',
        finessSite: '540002698',
        finessEj: '540023264',
        siret: null,
        orgName: 'CHRU NANCY - HOPITAUX DE BRABOIS',
        postalCode: '54511',
        city: 'VANDOEUVRE LES NANCY CEDEX',
        roleLabel: 'Autre fonction',
      },
    ]);
    // Liste rouge BAL and non-MSSanté emails are left out; addresses are lower-cased.
    expect(p!.mailboxes).toEqual([
      {
        address: 'davidchatelier@pro.mssante.fr',
        balType: 'PER',
        idNat: '810102727017',
        structureId: null,
        service: null,
        civility: 'DR',
        lastName: 'CHATELIER',
        firstName: 'David',
        professionLabel: 'Pharmacien',
        orgName: null,
        postalCode: null,
        locality: null,
        department: null,
        source: 'fhir',
      },
      expect.objectContaining({
        address: 'david.chatelier@chu-nancy.mssante.fr',
        balType: 'PER',
        idNat: '810102727017',
        structureId: '1540002698',
        lastName: 'CHATELIER-EXERCICE',
        orgName: 'CHRU NANCY - HOPITAUX DE BRABOIS',
      }),
    ]);
    expect(professionalFromIndex(index, '810000000000')).toBeNull();
  });

  it('finds the BAL of a mailbox-mss search, exactly and case-insensitively, on each carrier', () => {
    expect(
      mailboxFromBundle(bundle([{ resource: organization }]), 'Exemple.Address@address.mssante.fr'),
    ).toEqual({
      address: 'exemple.address@address.mssante.fr',
      balType: 'ORG',
      idNat: null,
      structureId: '1540002698',
      service: 'Service des admissions',
      civility: null,
      lastName: null,
      firstName: null,
      professionLabel: null,
      orgName: 'CHRU NANCY - HOPITAUX DE BRABOIS',
      postalCode: '54511',
      locality: 'VANDOEUVRE LES NANCY CEDEX',
      department: null,
      source: 'fhir',
    });
    const roles = bundle([
      { resource: role },
      { resource: practitioner, mode: 'include' },
      { resource: organization, mode: 'include' },
    ]);
    expect(mailboxFromBundle(roles, 'david.chatelier@chu-nancy.mssante.fr')).toMatchObject({
      idNat: '810102727017',
      structureId: '1540002698',
    });
    // mailbox-mss is a prefix search: "davidchatelier@pro.mssante.f" matches, but is not the BAL.
    expect(
      mailboxFromBundle(bundle([{ resource: practitioner }]), 'davidchatelier@pro.mssante.f'),
    ).toBeNull();
    // A liste rouge BAL is not published.
    expect(mailboxFromBundle(bundle([{ resource: practitioner }]), 'david.cache@pro.mssante.fr')).toBeNull();
    // Included resources are context, not answers.
    expect(mailboxFromBundle(roles, 'exemple.address@address.mssante.fr')).toBeNull();
  });

  it('copes with malformed resources without throwing', () => {
    const junk = bundle([
      {
        resource: { resourceType: 'Practitioner', id: 'x', identifier: null, telecom: 'nope', name: [null] },
      },
      { resource: { resourceType: 'Organization', telecom: [null, { system: 'email' }] } },
      {
        resource: {
          resourceType: 'Patient',
          telecom: [{ system: 'email', value: 'p@x.mssante.fr', extension: [EMAIL_TYPE] }],
        },
      },
    ]);
    expect(mailboxFromBundle(junk, 'p@x.mssante.fr')).toBeNull();
    expect(professionalFromIndex(indexBundle(junk), '810102727017')).toBeNull();
    expect(indexBundle(null).matches).toEqual([]);
  });
});
