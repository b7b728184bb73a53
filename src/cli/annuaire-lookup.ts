import type { Command } from 'commander';
import {
  SEARCH_DEFAULT_LIMIT,
  SEARCH_MAX_LIMIT,
  STRUCTURE_DEFAULT_LIMIT,
  STRUCTURE_MAX_LIMIT,
} from '../annuaire/local-directory.ts';
import type { Directory, MailboxRecord, ProfessionalRecord, SnapshotInfo } from '../annuaire/types.ts';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import type { CliContext } from './context.ts';
import { table } from './output.ts';

/*
 * `mssante annuaire search|show|structure|status`: reads of the Annuaire Santé mirror
 * (and of the FHIR API on a miss when annuaire.fhir.enabled). Every command has --json.
 */

function parseLimit(value: string, max: number): number {
  if (!/^\d+$/.test(value.trim())) {
    throw new ValidationError(
      'limit',
      'limit.range',
      `--limit must be a whole number from 1 to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

const fullName = (civility: string | null, first: string | null, last: string | null) =>
  [civility, first, last].filter(Boolean).join(' ');

const place = (postalCode: string | null, locality: string | null) =>
  [postalCode, locality].filter(Boolean).join(' ');

export function mailboxTable(list: MailboxRecord[]): string {
  return table(
    ['address', 'type', 'name', 'idNat', 'structure', 'organisation / service', 'place'],
    list.map((m) => [
      m.address,
      m.balType,
      fullName(null, m.firstName, m.lastName),
      m.idNat,
      m.structureId,
      [m.orgName, m.service].filter(Boolean).join(' / '),
      place(m.postalCode, m.locality),
    ]),
  );
}

function professionalsTable(list: ProfessionalRecord[]): string {
  return table(
    ['idNat', 'name', 'profession', 'activities', 'BALs'],
    list.map((p) => [
      p.idNat,
      fullName(p.civility, p.firstName, p.lastName),
      [...new Set(p.activities.map((a) => a.professionLabel).filter(Boolean))].join(', '),
      p.activities.length,
      p.mailboxes.map((m) => m.address).join(', '),
    ]),
  );
}

function professionalText(p: ProfessionalRecord): string {
  const lines = [
    `${fullName(p.civility, p.firstName, p.lastName) || '(no name)'}  idNat ${p.idNat}${p.ppIdType ? ` (${p.ppIdType} ${p.ppId ?? ''})` : ''}`,
    `source: ${p.source === 'local' ? 'local mirror' : 'Annuaire Santé FHIR API'}`,
    '',
    `Activities (${p.activities.length})`,
  ];
  if (p.activities.length > 0) {
    lines.push(
      table(
        ['profession', 'mode', 'structure', 'organisation', 'place', 'role'],
        p.activities.map((a) => [
          a.professionLabel ?? a.professionCode,
          a.modeLabel,
          a.structureId,
          a.orgName,
          place(a.postalCode, a.city),
          a.roleLabel,
        ]),
      ),
    );
  }
  lines.push('', `BALs (${p.mailboxes.length})`);
  if (p.mailboxes.length > 0) lines.push(mailboxTable(p.mailboxes));
  return lines.join('\n');
}

function mailboxText(m: MailboxRecord): string {
  const rows: [string, string | null][] = [
    ['address', m.address],
    ['type', m.balType],
    ['holder', fullName(m.civility, m.firstName, m.lastName) || null],
    ['idNat', m.idNat],
    ['profession', m.professionLabel],
    ['structure', m.structureId],
    ['organisation', m.orgName],
    ['service', m.service],
    ['place', place(m.postalCode, m.locality) || null],
    ['department', m.department],
    ['source', m.source === 'local' ? 'local mirror' : 'Annuaire Santé FHIR API'],
  ];
  return rows
    .filter(([, v]) => v)
    .map(([k, v]) => `${`${k}:`.padEnd(14)}${v}`)
    .join('\n');
}

function snapshotsText(list: SnapshotInfo[]): string {
  if (list.length === 0) return 'no extract imported yet (run `mssante annuaire import`)';
  return table(
    ['extract', 'snapshot', 'file', 'finished', 'rows read', 'imported', 'rejected'],
    list.map((s) => [
      s.kind === 'mss' ? 'mss (BALs)' : 'ps (professionals)',
      s.id,
      s.source,
      s.finishedAt,
      s.rowsRead,
      s.rowsImported,
      s.rowsRejected,
    ]),
  );
}

export function addAnnuaireLookupCommands(annuaire: Command, ctx: CliContext): void {
  const directory = async (): Promise<Directory> => (await ctx.services()).directory;

  annuaire
    .command('search')
    .description('professionals and BALs whose name starts with the words given (accents and case ignored)')
    .argument('<name...>', 'e.g. "dupont j", "jean dup", "lefevre"')
    .option(
      '--limit <n>',
      `at most n professionals and n BALs (1–${SEARCH_MAX_LIMIT})`,
      String(SEARCH_DEFAULT_LIMIT),
    )
    .option('--json', 'machine-readable output')
    .action(async (words: string[], opts: { limit: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const query = words.join(' ');
      const result = await (await directory()).searchByName(query, {
        limit: parseLimit(opts.limit, SEARCH_MAX_LIMIT),
      });
      out.result(result, () => {
        if (result.professionals.length === 0 && result.mailboxes.length === 0) {
          return `nothing in the directory matches ${JSON.stringify(query)}`;
        }
        return [
          `Professionals (${result.professionals.length})`,
          ...(result.professionals.length ? [professionalsTable(result.professionals)] : []),
          '',
          `BALs (${result.mailboxes.length})`,
          ...(result.mailboxes.length ? [mailboxTable(result.mailboxes)] : []),
        ].join('\n');
      });
    });

  annuaire
    .command('show')
    .description(
      'a professional (by idNat: 8+RPPS or 0+ADELI) with activities and BALs, or a BAL (by address)',
    )
    .argument('<idNat|address>')
    .option('--json', 'machine-readable output')
    .action(async (key: string, _opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const dir = await directory();
      if (key.includes('@')) {
        const m = await dir.findMailbox(key);
        if (!m) throw new NotFoundError(`no BAL ${key.trim()} in the directory`);
        out.result(m, () => mailboxText(m));
      } else {
        const p = await dir.findProfessional(key);
        if (!p) throw new NotFoundError(`no professional with idNat ${key.trim()} in the directory`);
        out.result(p, () => professionalText(p));
      }
    });

  annuaire
    .command('structure')
    .description("BALs attached to a structure ('1'+FINESS or '3'+SIRET)")
    .argument('<structureId>')
    .option('--limit <n>', `at most n BALs (1–${STRUCTURE_MAX_LIMIT})`, String(STRUCTURE_DEFAULT_LIMIT))
    .option('--json', 'machine-readable output')
    .action(async (structureId: string, opts: { limit: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const list = await (await directory()).findByStructure(structureId, {
        limit: parseLimit(opts.limit, STRUCTURE_MAX_LIMIT),
      });
      if (list.length === 0)
        throw new NotFoundError(`no BAL attached to structure ${structureId.trim()} in the directory`);
      out.result(
        { structureId: structureId.trim(), mailboxes: list },
        () => `BALs (${list.length})\n${mailboxTable(list)}`,
      );
    });

  annuaire
    .command('status')
    .description('the current snapshot of each imported extract')
    .option('--json', 'machine-readable output')
    .action(async (_opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const list = await (await directory()).snapshots();
      out.result({ snapshots: list }, () => snapshotsText(list));
    });
}
