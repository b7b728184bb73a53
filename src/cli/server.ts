import type { Command } from 'commander';
import { startOperator } from '../app.ts';
import { dataPath } from '../config/load.ts';
import { createLogger } from '../logger.ts';
import { migrate } from '../store/open.ts';
import type { WhitelistStatus } from '../trust/whitelist/service.ts';
import type { CliContext } from './context.ts';

function whitelistLine(w: WhitelistStatus): string {
  const generated = w.generatedAt ? w.generatedAt.toISOString().slice(0, 10) : 'unknown date';
  const stale = w.stale ? `, STALE (older than ${w.staleAfterHours} h)` : '';
  return `  liste blanche: ${w.domains} domains, generated ${generated}${stale}, from ${w.source}`;
}

/** `start`, `migrate` and `config` commands. */
export function registerServerCommands(program: Command, ctx: CliContext): void {
  program
    .command('start')
    .description('run the operator (admin API; mail services come with later releases)')
    .action(async () => {
      const config = ctx.config();
      const logger = createLogger(config.log.level);
      const op = await startOperator(config, logger);
      const lines = [
        `MSSanté operator ${config.operator.name}`,
        `  domains:    ${config.operator.domains.join(', ')}`,
        `  data:       ${config.dataDir}`,
        `  store:      ${op.services.store.dialect} ${op.services.store.location}`,
        `  blobs:      ${dataPath(config, config.blobs.dir)}`,
        `  queue:      ${config.queue.driver === 'redis' ? 'redis' : 'in-process'}`,
        op.adminUrl
          ? `  admin API:  ${op.adminUrl}/api/v1 (OpenAPI: ${op.adminUrl}/openapi.json)`
          : '  admin API:  disabled',
        op.adminTokenFile ? `  admin token: in ${op.adminTokenFile}` : '',
        op.mail.mxAddress
          ? `  MX (SMTP):  ${op.mail.mxAddress.address}:${op.mail.mxAddress.port} (STARTTLS + client certificate, liste blanche)`
          : '  MX (SMTP):  disabled',
        `  certificate: ${op.mail.pki.certFile}${op.mail.pki.dev ? ' (development PKI, NOT FOR PRODUCTION)' : ''}`,
        whitelistLine(op.mail.whitelist.status()),
        'Press Ctrl-C to stop.',
      ];
      process.stderr.write(`${lines.filter(Boolean).join('\n')}\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          logger.info({ signal }, 'stopping');
          op.stop().then(resolve, (e) => {
            logger.error({ err: e }, 'error while stopping');
            resolve();
          });
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });

  program
    .command('migrate')
    .description('apply pending database migrations (start does it too)')
    .option('--json', 'machine-readable output')
    .action(async (_opts, cmd: Command) => {
      const out = ctx.output(cmd);
      const store = await ctx.store();
      // openStore has migrated already; a second pass reports that nothing is left.
      const applied = await migrate(store);
      out.result({ store: store.location, applied }, () =>
        applied.length ? `applied: ${applied.join(', ')}` : `${store.location}: schema is up to date`,
      );
    });

  program
    .command('config')
    .description('validate the configuration and print the effective values (secrets masked)')
    .action(() => {
      const c = structuredClone(ctx.config());
      if (c.admin.token) c.admin.token = '****';
      if (c.annuaire.fhir.apiKey) c.annuaire.fhir.apiKey = '****';
      if (c.store.postgres.url) c.store.postgres.url = c.store.postgres.url.replace(/:[^:@/]*@/, ':****@');
      process.stdout.write(`${JSON.stringify(c, null, 2)}\n`);
    });
}
