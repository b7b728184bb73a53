import type { Command } from 'commander';
import {
  type AppPasswordInfo,
  type AppPasswordOwnerInput,
  type AppPasswords,
  createAppPasswords,
} from '../auth/app-passwords.ts';
import { allowedBals, identityKey, identityOf } from '../auth/identity.ts';
import type { CliContext } from './context.ts';
import { table } from './output.ts';

/*
 * `mssante auth …`: client authentication. App passwords for mail clients (issued, listed,
 * revoked), and the BALs an identity may use. The clear password is printed once, by issue.
 */

async function appPasswordsOf(ctx: CliContext): Promise<AppPasswords> {
  return createAppPasswords(await ctx.store());
}

interface OwnerOptions {
  idNat?: string;
  bal?: string;
}

/** The owner flags as service input; the service refuses none or both, with its reason. */
function ownerFrom(o: OwnerOptions): AppPasswordOwnerInput {
  const owner: AppPasswordOwnerInput = {};
  if (o.idNat !== undefined) owner.idNat = o.idNat;
  if (o.bal !== undefined) owner.balAddress = o.bal;
  return owner;
}

const ownerOfInfo = (p: AppPasswordInfo) => p.idNat ?? p.balAddress ?? '';

function formatList(passwords: AppPasswordInfo[]): string {
  if (passwords.length === 0) return 'no app passwords';
  const rows = passwords.map((p) => [
    p.id,
    p.label,
    ownerOfInfo(p),
    p.revokedAt ? `revoked ${p.revokedAt}` : 'live',
    p.createdAt,
    p.createdBy,
    p.lastUsedAt ?? 'never',
  ]);
  return table(['ID', 'LABEL', 'OWNER', 'STATUS', 'CREATED', 'BY', 'LAST USED'], rows);
}

const WARNING = 'This password is shown only now: it cannot be shown again (only its hash is kept).';

export function addAuthCommands(program: Command, ctx: CliContext): void {
  const auth = program
    .command('auth')
    .description('client authentication: app passwords for mail clients, BALs an identity may use');

  const appPassword = auth
    .command('app-password')
    .description('passwords for mail clients (IMAP, submission), several per identity, revocable');

  appPassword
    .command('issue')
    .description('issue a new app password to a professional (--id-nat) or an APP BAL (--bal)')
    .option('--id-nat <idNat>', 'the professional (its PER/CAB and ORG BALs)')
    .option('--bal <address>', 'an APP BAL')
    .requiredOption('--label <text>', 'what it is for, e.g. "Thunderbird, office PC"')
    .option('--json', 'machine-readable output')
    .action(async (o: OwnerOptions & { label: string }, cmd: Command) => {
      const issued = await (await appPasswordsOf(ctx)).issue(
        { ...ownerFrom(o), label: o.label },
        ctx.actor(),
      );
      ctx
        .output(cmd)
        .result({ ...issued, warning: WARNING }, () =>
          [
            `issued app password ${issued.id} (${JSON.stringify(issued.label)}) for ${ownerOfInfo(issued)}`,
            '',
            `password: ${issued.password}`,
            '',
            WARNING,
            `If it is lost, revoke it (mssante auth app-password revoke ${issued.id}) and issue another.`,
          ].join('\n'),
        );
    });

  appPassword
    .command('list')
    .description('the app passwords of a professional or an APP BAL (never the passwords)')
    .option('--id-nat <idNat>', 'the professional')
    .option('--bal <address>', 'the APP BAL')
    .option('--json', 'machine-readable output')
    .action(async (o: OwnerOptions, cmd: Command) => {
      const passwords = await (await appPasswordsOf(ctx)).list(ownerFrom(o));
      ctx.output(cmd).result(passwords, () => formatList(passwords));
    });

  appPassword
    .command('revoke')
    .description('revoke an app password for good')
    .argument('<id>', 'its id (see list)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const revoked = await (await appPasswordsOf(ctx)).revoke(id as unknown as number, ctx.actor());
      ctx
        .output(cmd)
        .result(
          revoked,
          () =>
            `revoked app password ${revoked.id} (${JSON.stringify(revoked.label)}) of ${ownerOfInfo(revoked)}`,
        );
    });

  auth
    .command('bals')
    .description('the active BALs an identity may use: an idNat, a PER/CAB address or an APP BAL address')
    .argument('<login>', 'idNat or BAL address')
    .option('--json', 'machine-readable output')
    .action(async (login: string, _o: unknown, cmd: Command) => {
      const store = await ctx.store();
      const identity = await identityOf(store, login);
      const bals = await allowedBals(store, identity);
      ctx
        .output(cmd)
        .result({ identity, bals }, () =>
          bals.length === 0
            ? `${identityKey(identity)} may use no BAL (none active)`
            : `${identityKey(identity)} may use:\n${bals.map((b) => `  ${b}`).join('\n')}`,
        );
    });
}
