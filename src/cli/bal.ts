import { type Command, Option } from 'commander';
import type { Bal, BalCertificateInput, BalCreateInput, BalFilter, BalPatch } from '../bal/model.ts';
import type { BalRegistry } from '../bal/registry.ts';
import { ValidationError } from '../domain/errors.ts';
import type { AuditRecord } from '../store/audit.ts';
import type { CliContext } from './context.ts';
import { table } from './output.ts';

/*
 * `mssante bal …`: the BAL registry from the command line. Every command takes --json; the
 * human output is a short summary plus the BAL, or a table. Refusals come back as errors that
 * main.ts prints on stderr with exit code 1.
 */

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** "12" → 12; anything else is passed on as written, for the registry to refuse with its reason. */
const intOrRaw = (value: string): number | string => (/^\s*\d+\s*$/.test(value) ? Number(value) : value);

async function registryOf(ctx: CliContext): Promise<BalRegistry> {
  return (await ctx.services()).registry;
}

/**
 * Certificates from --cert-dn and --cert-fingerprint, paired in order: the n-th DN and the
 * n-th fingerprint describe the same certificate; extra ones of either kind stand alone.
 */
export function pairCertificates(
  dns: readonly string[],
  fingerprints: readonly string[],
): BalCertificateInput[] {
  const n = Math.max(dns.length, fingerprints.length);
  const out: BalCertificateInput[] = [];
  for (let i = 0; i < n; i++) {
    const c: BalCertificateInput = {};
    if (dns[i] !== undefined) c.subjectDn = dns[i]!;
    if (fingerprints[i] !== undefined) c.fingerprintSha256 = fingerprints[i]!;
    out.push(c);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Human output

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

/** A BAL as labelled lines, members and certificates listed under it. */
export function formatBal(b: Bal): string {
  const rows: [string, string | number | null][] = [
    ['address', b.address],
    ['type', b.type],
    ['status', b.statusReason ? `${b.status} (${b.statusReason})` : b.status],
    ['holder', b.holderIdNat],
    ['structure', b.structureId],
    ['responsible', b.responsibleIdNat],
    ['display name', b.displayName],
    ['description', b.description],
    ['service', b.service],
    ['phone', b.phone],
    ['liste rouge', yesNo(b.listeRouge)],
    ['digitization', yesNo(b.digitization)],
    ['preferred rank', b.preferredRank],
    ['created', b.createdAt],
    ['updated', b.updatedAt],
    ['suspended', b.suspendedAt],
    ['closed', b.closedAt],
  ];
  const shown = rows.filter(([, v]) => v !== null && v !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length));
  const lines = shown.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  if (b.type === 'ORG') {
    lines.push('', b.members.length ? `members (${b.members.length}):` : 'members: none');
    for (const m of b.members) lines.push(`  ${m}`);
  }
  if (b.type === 'APP') {
    lines.push('');
    if (b.certificates.length === 0) lines.push('certificates: none');
    else {
      lines.push(`certificates (${b.certificates.length}):`);
      lines.push(
        table(
          ['  SUBJECT DN', 'SHA-256'],
          b.certificates.map((c) => [`  ${c.subjectDn ?? '-'}`, c.fingerprintSha256 ?? '-']),
        ),
      );
    }
  }
  return lines.join('\n');
}

function formatList(bals: Bal[]): string {
  if (bals.length === 0) return 'no BAL matches';
  const rows = bals.map((b) => [
    b.address,
    b.type,
    b.status,
    b.holderIdNat ?? b.responsibleIdNat,
    b.structureId,
    b.preferredRank,
    [b.listeRouge ? 'liste-rouge' : '', b.type === 'ORG' ? `${b.members.length} member(s)` : '']
      .filter(Boolean)
      .join(' '),
  ]);
  return `${table(['ADDRESS', 'TYPE', 'STATUS', 'HOLDER/RESPONSIBLE', 'STRUCTURE', 'RANK', 'NOTES'], rows)}\n(${bals.length} BAL${bals.length > 1 ? 's' : ''})`;
}

const shortValue = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/** One readable line for an audit entry's details (--json gives them whole). */
export function formatDetails(details: Record<string, unknown>): string {
  const changes = details['changes'];
  if (changes && typeof changes === 'object') {
    const parts = Object.entries(changes as Record<string, { before: unknown; after: unknown }>).map(
      ([field, c]) => `${field}: ${shortValue(c.before)} → ${shortValue(c.after)}`,
    );
    if (typeof details['cause'] === 'string') parts.push(`(${details['cause']})`);
    return parts.join('; ');
  }
  const bal = details['bal'];
  // bal.create: the fields that were set
  const fields = bal && typeof bal === 'object' ? (bal as Record<string, unknown>) : details;
  return Object.entries(fields)
    .filter(([k, v]) => k !== 'address' && v !== null && v !== false && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}=${shortValue(v)}`)
    .join(' ');
}

function formatHistory(entries: AuditRecord[]): string {
  if (entries.length === 0) return 'no audit entries';
  return table(
    ['AT', 'ACTOR', 'ACTION', 'DETAILS'],
    entries.map((e) => [e.at, e.actor, e.action, formatDetails(e.details)]),
  );
}

// ---------------------------------------------------------------------------------------------
// Commands

interface MetadataOptions {
  structure?: string;
  responsible?: string;
  displayName?: string;
  description?: string;
  service?: string;
  phone?: string;
  listeRouge?: boolean;
  digitization?: boolean;
  preferredRank?: number | string | false;
  certDn?: string[];
  certFingerprint?: string[];
}

function addMetadataOptions(cmd: Command, mode: 'create' | 'update'): Command {
  const clear = mode === 'update' ? ' ("" clears it)' : '';
  cmd
    .option(
      '--structure <id>',
      `structure id: '1' + FINESS or '3' + SIRET${mode === 'update' ? ' (PER/CAB only; "" detaches)' : ''}`,
    )
    .option('--responsible <idNat>', 'idNat of the responsible professional (ORG, APP)')
    .option('--display-name <text>', `name shown for the BAL${clear}`)
    .option('--description <text>', `description${clear}`)
    .option('--service <text>', `service of the structure${clear}`)
    .option('--phone <number>', `phone number${clear}`)
    .option('--liste-rouge', 'must not be published nor shown in directories')
    .option('--digitization', 'the holder accepts dematerialised documents')
    .option('--preferred-rank <n>', 'preferred rank, 1 = preferred BAL of its holder', intOrRaw)
    .option(
      '--cert-dn <dn>',
      'subject DN of a client certificate (APP; repeatable; paired in order with --cert-fingerprint)',
      collect,
    )
    .option(
      '--cert-fingerprint <sha256>',
      'SHA-256 fingerprint of a client certificate, hex with or without colons (APP; repeatable)',
      collect,
    );
  if (mode === 'update') {
    cmd
      .option('--no-liste-rouge', 'may be published in directories')
      .option('--no-digitization', 'does not accept dematerialised documents')
      .option('--no-preferred-rank', 'remove the preferred rank')
      .addOption(
        new Option('--clear-certs', 'remove every bound certificate (APP)').conflicts([
          'certDn',
          'certFingerprint',
        ]),
      );
  }
  return cmd.option('--json', 'machine-readable output');
}

/** The metadata fields given on the command line, as registry input (absent flags are left out). */
function metadataFrom(o: MetadataOptions & { clearCerts?: boolean }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (o.structure !== undefined) out['structureId'] = o.structure === '' ? null : o.structure;
  if (o.responsible !== undefined) out['responsibleIdNat'] = o.responsible;
  if (o.displayName !== undefined) out['displayName'] = o.displayName;
  if (o.description !== undefined) out['description'] = o.description;
  if (o.service !== undefined) out['service'] = o.service;
  if (o.phone !== undefined) out['phone'] = o.phone;
  if (o.listeRouge !== undefined) out['listeRouge'] = o.listeRouge;
  if (o.digitization !== undefined) out['digitization'] = o.digitization;
  if (o.preferredRank !== undefined)
    out['preferredRank'] = o.preferredRank === false ? null : o.preferredRank;
  if (o.certDn?.length || o.certFingerprint?.length) {
    out['certificates'] = pairCertificates(o.certDn ?? [], o.certFingerprint ?? []);
  }
  if (o.clearCerts) out['certificates'] = [];
  return out;
}

export function addBalCommands(program: Command, ctx: CliContext): void {
  const bal = program
    .command('bal')
    .description('BAL registry: create, list, show, update, suspend, reactivate, close, members, history');

  addMetadataOptions(
    bal
      .command('create')
      .description(
        'open a BAL (PER: --holder; ORG: --structure --responsible [--member…]; APP: --structure --responsible [--cert-…])',
      )
      .requiredOption('--type <type>', 'PER, ORG, APP or CAB')
      .requiredOption('--address <address>', 'the address, in one of the served domains')
      .option('--holder <idNat>', 'idNat of the holder (PER, CAB)')
      .option('--member <idNat>', 'idNat of a member (ORG; repeatable)', collect),
    'create',
  ).action(
    async (
      o: MetadataOptions & { type: string; address: string; holder?: string; member?: string[] },
      cmd: Command,
    ) => {
      const input: Record<string, unknown> = { address: o.address, type: o.type, ...metadataFrom(o) };
      if (o.holder !== undefined) input['holderIdNat'] = o.holder;
      if (o.member?.length) input['members'] = o.member;
      const created = await (await registryOf(ctx)).create(input as unknown as BalCreateInput, ctx.actor());
      ctx
        .output(cmd)
        .result(created, () => `created ${created.type} BAL ${created.address}\n\n${formatBal(created)}`);
    },
  );

  bal
    .command('list')
    .description('list BALs, ordered by address')
    .option('--type <type>', 'PER, ORG, APP or CAB')
    .option('--status <status>', 'active, suspended or closed')
    .option('--structure <id>', 'structure id')
    .option('--holder <idNat>', 'holder idNat')
    .option('--member <idNat>', 'ORG BALs having this member')
    .option('--limit <n>', 'at most n BALs (1–1000, default 100)', intOrRaw)
    .option('--offset <n>', 'skip the first n', intOrRaw)
    .option('--json', 'machine-readable output')
    .action(async (o: Record<string, string | number | undefined>, cmd: Command) => {
      const filter: Record<string, unknown> = {};
      const map: [string, keyof BalFilter][] = [
        ['type', 'type'],
        ['status', 'status'],
        ['structure', 'structureId'],
        ['holder', 'holderIdNat'],
        ['member', 'memberIdNat'],
        ['limit', 'limit'],
        ['offset', 'offset'],
      ];
      for (const [flag, key] of map) if (o[flag] !== undefined) filter[key] = o[flag];
      const bals = await (await registryOf(ctx)).list(filter as BalFilter);
      ctx.output(cmd).result(bals, () => formatList(bals));
    });

  bal
    .command('show')
    .description('show one BAL with its members and certificates')
    .argument('<address>')
    .option('--json', 'machine-readable output')
    .action(async (address: string, _o: unknown, cmd: Command) => {
      const found = await (await registryOf(ctx)).get(address);
      ctx.output(cmd).result(found, () => formatBal(found));
    });

  addMetadataOptions(
    bal
      .command('update')
      .description('change the metadata of a BAL (address, type and holder never change)')
      .argument('<address>')
      .addOption(new Option('--type <type>').hideHelp())
      .addOption(new Option('--holder <idNat>').hideHelp()),
    'update',
  ).action(
    async (
      address: string,
      o: MetadataOptions & { clearCerts?: boolean; type?: string; holder?: string },
      cmd: Command,
    ) => {
      const patch = metadataFrom(o);
      // Given only to be refused by the registry with its reason (bal.immutable).
      if (o.type !== undefined) patch['type'] = o.type;
      if (o.holder !== undefined) patch['holderIdNat'] = o.holder;
      if (Object.keys(patch).length === 0) {
        throw new ValidationError(
          'patch',
          'bal.patch.empty',
          'nothing to update: give at least one of --structure, --responsible, --display-name, --description, --service, --phone, --[no-]liste-rouge, --[no-]digitization, --preferred-rank/--no-preferred-rank, --cert-dn/--cert-fingerprint, --clear-certs',
        );
      }
      const updated = await (await registryOf(ctx)).update(address, patch as BalPatch, ctx.actor());
      ctx.output(cmd).result(updated, () => `updated BAL ${updated.address}\n\n${formatBal(updated)}`);
    },
  );

  bal
    .command('suspend')
    .description('suspend a BAL (it can be reactivated)')
    .argument('<address>')
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'machine-readable output')
    .action(async (address: string, o: { reason: string }, cmd: Command) => {
      const b = await (await registryOf(ctx)).suspend(address, o.reason, ctx.actor());
      ctx.output(cmd).result(b, () => `suspended BAL ${b.address} (${b.statusReason})`);
    });

  bal
    .command('reactivate')
    .description('reactivate a suspended BAL')
    .argument('<address>')
    .option('--json', 'machine-readable output')
    .action(async (address: string, _o: unknown, cmd: Command) => {
      const b = await (await registryOf(ctx)).reactivate(address, ctx.actor());
      ctx.output(cmd).result(b, () => `reactivated BAL ${b.address}`);
    });

  bal
    .command('close')
    .description('close a BAL for good: its address is never reassigned')
    .argument('<address>')
    .requiredOption('--reason <text>', 'why (kept in the audit log)')
    .option('--json', 'machine-readable output')
    .action(async (address: string, o: { reason: string }, cmd: Command) => {
      const b = await (await registryOf(ctx)).close(address, o.reason, ctx.actor());
      ctx
        .output(cmd)
        .result(b, () => `closed BAL ${b.address} (${b.statusReason}); the address will never be reassigned`);
    });

  const member = bal.command('member').description('members of an ORG BAL');
  member
    .command('add')
    .description('allow a professional to use an ORG BAL')
    .argument('<address>')
    .argument('<idNat>')
    .option('--json', 'machine-readable output')
    .action(async (address: string, idNat: string, _o: unknown, cmd: Command) => {
      const b = await (await registryOf(ctx)).addMember(address, idNat, ctx.actor());
      ctx
        .output(cmd)
        .result(b, () => `added ${idNat.trim()} to ${b.address} (${b.members.length} member(s))`);
    });
  member
    .command('remove')
    .description('withdraw a professional from an ORG BAL')
    .argument('<address>')
    .argument('<idNat>')
    .option('--json', 'machine-readable output')
    .action(async (address: string, idNat: string, _o: unknown, cmd: Command) => {
      const b = await (await registryOf(ctx)).removeMember(address, idNat, ctx.actor());
      ctx
        .output(cmd)
        .result(b, () => `removed ${idNat.trim()} from ${b.address} (${b.members.length} member(s))`);
    });

  bal
    .command('history')
    .description('audit entries of a BAL, newest first')
    .argument('<address>')
    .option('--limit <n>', 'at most n entries (1–1000, default 100)', intOrRaw)
    .option('--json', 'machine-readable output')
    .action(async (address: string, o: { limit?: number }, cmd: Command) => {
      const entries = await (await registryOf(ctx)).history(
        address,
        o.limit === undefined ? {} : { limit: o.limit },
      );
      ctx.output(cmd).result(entries, () => formatHistory(entries));
    });
}
