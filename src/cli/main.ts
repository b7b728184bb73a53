import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/load.ts';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { VERSION } from '../version.ts';
import { addAnnuaireImportCommand } from './annuaire-import.ts';
import { addAnnuaireLookupCommands } from './annuaire-lookup.ts';
import { addAuthCommands } from './auth.ts';
import { addBalCommands } from './bal.ts';
import { addCertsCommands } from './certs.ts';
import { createCliContext } from './context.ts';
import { addMailCommands } from './mail.ts';
import { registerServerCommands } from './server.ts';
import { addWhitelistCommands } from './whitelist.ts';

/** Exit codes: 0 ok, 1 refused (bad input, not found, conflict), 2 usage or configuration, 3 unexpected failure. */
export const EXIT = { ok: 0, refused: 1, usage: 2, failure: 3 } as const;

const program = new Command('mssante')
  .description('MSSanté operator server: BAL registry, Annuaire Santé mirror, trust-space mail')
  .version(VERSION)
  .option('-c, --config <file>', 'configuration file merged over the embedded defaults (or MSS_CONFIG)')
  .option('--actor <name>', 'who to record in the audit log (default cli:<user>)')
  .showHelpAfterError()
  .exitOverride();

const ctx = createCliContext(program);
registerServerCommands(program, ctx);
addBalCommands(program, ctx);
addCertsCommands(program, ctx);

const annuaire = program
  .command('annuaire')
  .description(
    'local mirror of the Annuaire Santé: import the public extracts, look up professionals and BALs',
  );
addAnnuaireImportCommand(annuaire, ctx);
addAnnuaireLookupCommands(annuaire, ctx);
addWhitelistCommands(program, ctx);
addMailCommands(program, ctx);
addAuthCommands(program, ctx);

function exitCodeFor(err: unknown): number {
  if (err instanceof ValidationError || err instanceof NotFoundError || err instanceof ConflictError)
    return EXIT.refused;
  if (err instanceof ConfigError) return EXIT.usage;
  return EXIT.failure;
}

let code: number = EXIT.ok;
try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander printed the message (or the help/version) already.
    code = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else {
    const e = err as Error;
    process.stderr.write(`mssante: ${e.message}\n`);
    code = exitCodeFor(err);
    if (code === EXIT.failure && process.env['MSS_DEBUG']) process.stderr.write(`${e.stack}\n`);
  }
} finally {
  await ctx.close().catch(() => {});
}
process.exitCode = code;
