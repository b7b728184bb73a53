import type { Command } from 'commander';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { DnSyntaxError, normaliseDn } from '../trust/dn.ts';
import { type Decision, normaliseDomain } from '../trust/whitelist/list.ts';
import {
  createWhitelistService,
  type WhitelistService,
  type WhitelistStatus,
} from '../trust/whitelist/service.ts';
import type { CliContext } from './context.ts';

/*
 * `mssante whitelist …`: the liste blanche from the command line.
 *   check <domain> [--dn <dn>]  is the domain listed, which certificate DNs may act for it, and
 *                               is this DN one of them (exit 0 allowed/listed, 1 refused);
 *   status                      which list is loaded, how old, from where.
 * Both load the configured list once (file or URL, checksum verified), without a refresh timer.
 */

async function withList<T>(ctx: CliContext, run: (service: WhitelistService) => Promise<T> | T): Promise<T> {
  const w = ctx.config().trust.whitelist;
  const service = createWhitelistService({
    source: w.source,
    checksum: w.checksum,
    refreshMinutes: 0,
    staleAfterHours: w.staleAfterHours,
    timeoutMs: w.timeoutMs,
    logger: ctx.logger(),
    // The commands print the staleness themselves.
    warnWhenStale: false,
  });
  try {
    await service.start();
    return await run(service);
  } finally {
    await service.stop();
  }
}

const iso = (d: Date | null) => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : '-');

function listLine(s: WhitelistStatus): string {
  const age = s.ageHours === null ? '' : `, ${s.ageHours} h old`;
  const check = s.checksum ? 'checksum verified' : 'no checksum configured';
  return `list: generated ${iso(s.generatedAt)}${age}${s.stale ? ' (STALE)' : ''}, ${s.entries} entries, ${s.source}, ${check}`;
}

function staleWarning(s: WhitelistStatus): string | null {
  return s.stale
    ? `warning: the liste blanche is stale: generated ${iso(s.generatedAt)}, ${s.ageHours} h ago (limit ${s.staleAfterHours} h)`
    : null;
}

function jsonStatus(s: WhitelistStatus) {
  return {
    ...s,
    loadedAt: iso(s.loadedAt),
    generatedAt: iso(s.generatedAt),
    lastAttemptAt: iso(s.lastAttemptAt),
    lastSuccessAt: iso(s.lastSuccessAt),
  };
}

export function addWhitelistCommands(program: Command, ctx: CliContext): void {
  const whitelist = program
    .command('whitelist')
    .description('the ANS liste blanche: which domains and operator certificate DNs are in the trust space');

  whitelist
    .command('check')
    .description('explain the decision for a mail domain, and for a peer certificate DN with --dn')
    .argument('<domain>', 'mail domain (case-insensitive)')
    .option('--dn <dn>', 'subject DN of the peer certificate, e.g. "CN=mx.example.fr,OU=…,O=…,ST=…,C=FR"')
    .option('--json', 'machine-readable output')
    .action(async (domain: string, opts: { dn?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      let dnKey: string | null = null;
      if (opts.dn !== undefined) {
        try {
          dnKey = normaliseDn(opts.dn);
        } catch (e) {
          if (e instanceof DnSyntaxError) throw new ValidationError('dn', 'dn.syntax', e.message);
          throw e;
        }
      }
      await withList(ctx, (service) => {
        const list = service.current();
        const status = service.status();
        const listed = list.isListed(domain);
        const entries = list.entries(domain);
        const allowedDns = list.allowedDns(domain);
        const decision: Decision | null = opts.dn !== undefined ? list.allows(domain, opts.dn) : null;
        const lookup = normaliseDomain(domain);
        const warning = staleWarning(status);
        if (warning && !out.json) out.info(warning);
        out.result(
          {
            domain: lookup,
            listed,
            allowedDns,
            entries: entries.map((e) => ({
              line: e.line,
              domain: e.domain,
              dn: e.dn,
              description: e.description,
              responsibleContact: e.responsibleContact,
              supportContact: e.supportContact,
              updatedAt: iso(e.updatedAt),
            })),
            dn: opts.dn ?? null,
            dnKey,
            decision,
            list: jsonStatus(status),
          },
          () => {
            const lines: string[] = [];
            if (!listed) {
              lines.push(`${lookup}: NOT on the liste blanche`);
            } else {
              lines.push(
                `${lookup}: listed (${entries.length} ${entries.length > 1 ? 'entries' : 'entry'}, ${allowedDns.length} allowed certificate DN${allowedDns.length > 1 ? 's' : ''})`,
                'allowed certificate DNs (normalised):',
                ...allowedDns.map((d) => `  ${d}`),
                'entries as written:',
                ...entries.map(
                  (e) => `  line ${e.line}: ${e.dn}  [${e.description}; updated ${iso(e.updatedAt)}]`,
                ),
              );
            }
            if (decision) {
              lines.push(`presented DN: ${opts.dn}`, `  normalised:  ${dnKey}`);
              lines.push(
                `decision: ${decision.allowed ? 'ALLOWED' : 'REFUSED'} (rule ${decision.rule}): ${decision.explain}`,
              );
            }
            lines.push(listLine(status));
            return lines.join('\n');
          },
        );
        if (decision && !decision.allowed) {
          if (decision.rule === 'domain-not-listed') throw new NotFoundError(decision.explain);
          throw new ConflictError(`whitelist.${decision.rule}`, decision.explain);
        }
        if (!listed) throw new NotFoundError(`refused: the domain ${lookup} is not on the liste blanche`);
      });
    });

  whitelist
    .command('status')
    .description('load the configured list and show its version, age, size and source')
    .option('--json', 'machine-readable output')
    .action(async (_opts, cmd: Command) => {
      const out = ctx.output(cmd);
      await withList(ctx, (service) => {
        const s = { ...service.status(), refreshMinutes: ctx.config().trust.whitelist.refreshMinutes };
        const warning = staleWarning(s);
        if (warning && !out.json) out.info(warning);
        const st = service.current().stats();
        out.result(
          { ...jsonStatus(s), normalisedDns: st.normalisedDns, unparseableDns: st.unparseableDns },
          () =>
            [
              `source:        ${s.source}`,
              `checksum:      ${s.checksum ? `${s.checksum} (verified)` : 'not configured'}`,
              `sha256:        ${s.sha256}`,
              `generated:     ${iso(s.generatedAt)} (${s.ageHours} h ago${s.stale ? `, STALE: limit ${s.staleAfterHours} h` : ''})`,
              `loaded:        ${iso(s.loadedAt)}`,
              `entries:       ${s.entries}`,
              `domains:       ${s.domains}`,
              `DNs:           ${s.dns} as written, ${st.normalisedDns} after normalisation`,
              ...(st.unparseableDns.length ? [`unparseable:   ${st.unparseableDns.join(' | ')}`] : []),
              `refresh:       ${s.refreshMinutes ? `every ${s.refreshMinutes} min while the server runs` : 'never'}`,
            ].join('\n'),
        );
      });
    });
}
