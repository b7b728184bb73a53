import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { domainOf } from '../queue/spool.ts';
import { mailComponents, spoolOutbound } from '../smtp/runtime.ts';
import { appendAudit } from '../store/audit.ts';
import { normaliseDomain } from '../trust/whitelist/list.ts';
import type { CliContext } from './context.ts';
import { table } from './output.ts';

/*
 * `mssante mail …`: outbound mail without a mail client (submission comes later).
 *   inject --from <BAL> --to <addr>… <file.eml>   stores the message for local recipients and
 *                                                  spools it for the others; a running operator
 *                                                  delivers it (its reconciler finds new spool
 *                                                  entries within reconcileEverySeconds, 30 s);
 *   queue [--json]                                 spool counters and the recipients in flight;
 *   retry <id>                                     makes the deferred recipients of spool message
 *                                                  <id> due now.
 */

const ADDRESS = /^[^\s@<>]+@[a-z0-9.-]+\.[a-z]{2,}$/i;

export function addMailCommands(program: Command, ctx: CliContext): void {
  const mail = program
    .command('mail')
    .description(
      'outbound mail: inject a message for delivery, look at the spool, retry deferred recipients',
    );

  mail
    .command('inject')
    .description('send a message (.eml) from a local BAL: local recipients get it now, others are spooled')
    .argument('[file]', 'the message, RFC 5322 (.eml); "-" reads standard input')
    .requiredOption('--from <address>', 'envelope sender: an active BAL of this operator')
    .requiredOption('--to <address...>', 'envelope recipients')
    .option('--envid <id>', 'RFC 3461 envelope id (default: one is assigned)')
    .option('--ret <FULL|HDRS>', 'RFC 3461 RET: what a DSN returns of the message')
    .option('--notify <list>', 'RFC 3461 NOTIFY for every recipient: NEVER, or SUCCESS,FAILURE,DELAY')
    .option('--json', 'machine-readable output')
    .action(
      async (
        fileArg: string | undefined,
        opts: { from: string; to: string[]; envid?: string; ret?: string; notify?: string },
        cmd: Command,
      ) => {
        const out = ctx.output(cmd);
        const config = ctx.config();
        // `--to a b msg.eml`: the variadic option takes the file too; it is the last non-address.
        const toArgs = [...opts.to];
        let file = fileArg;
        if (file === undefined && toArgs.length > 1 && !ADDRESS.test(toArgs.at(-1)!.trim()))
          file = toArgs.pop();
        if (file === undefined) {
          throw new ValidationError(
            'file',
            'file.missing',
            'give the message file (.eml), or - for standard input',
          );
        }
        const raw = file === '-' ? readFileSync(0) : readFileSync(file);
        if (raw.length === 0) throw new ValidationError('file', 'message.empty', `${file} is empty`);
        if (raw.length > config.mail.maxMessageBytes) {
          throw new ValidationError(
            'file',
            'message.size',
            `${file} is ${raw.length} bytes, more than mail.maxMessageBytes (${config.mail.maxMessageBytes})`,
          );
        }
        if (!/\r?\n\r?\n/.test(raw.subarray(0, 256 * 1024).toString('latin1'))) {
          throw new ValidationError(
            'file',
            'message.headers',
            `${file} has no header/body separator (empty line)`,
          );
        }
        const from = opts.from.trim().toLowerCase();
        const to = toArgs.map((t) => t.trim().toLowerCase()).filter(Boolean);
        for (const a of [from, ...to]) {
          if (!ADDRESS.test(a))
            throw new ValidationError('address', 'address.syntax', `not an address: ${a}`);
        }
        const ret = opts.ret?.toUpperCase();
        if (ret !== undefined && ret !== 'FULL' && ret !== 'HDRS') {
          throw new ValidationError('ret', 'dsn.ret', '--ret is FULL or HDRS');
        }
        const notify = opts.notify?.toUpperCase() ?? null;
        if (notify !== null && !/^(NEVER|(SUCCESS|FAILURE|DELAY)(,(SUCCESS|FAILURE|DELAY))*)$/.test(notify)) {
          throw new ValidationError(
            'notify',
            'dsn.notify',
            '--notify is NEVER, or a list of SUCCESS, FAILURE, DELAY',
          );
        }

        const store = await ctx.store();
        const sender = await store.db
          .selectFrom('bals')
          .select(['address', 'status'])
          .where('address', '=', from)
          .executeTakeFirst();
        if (!sender) throw new NotFoundError(`${from} is not a BAL of this operator`);
        if (sender.status !== 'active') {
          throw new ConflictError('bal.not-active', `${from} is ${sender.status}: it cannot send`);
        }

        const parts = mailComponents(config, store);
        const localDomains = new Set(config.operator.domains.map((d) => normaliseDomain(d)));
        const local = to.filter((a) => localDomains.has(domainOf(a)));
        const remote = to.filter((a) => !localDomains.has(domainOf(a)));
        const delivered = local.length ? await parts.mailStore.deliver(raw, local) : [];
        const spooled = remote.length
          ? await spoolOutbound(parts, store, {
              raw,
              mailFrom: from,
              recipients: remote.map((rcpt) => ({ rcpt, notify, orcpt: null })),
              envid: opts.envid ?? null,
              ret: (ret as 'FULL' | 'HDRS' | undefined) ?? null,
              source: 'cli',
              authIdentity: ctx.actor(),
            })
          : null;
        await appendAudit(store.db, {
          actor: ctx.actor(),
          action: 'mail.inject',
          subject: from,
          details: { local, remote, size: raw.length, spoolMessageId: spooled?.messageId ?? null },
        });
        const result = {
          from,
          size: raw.length,
          delivered: delivered.map((d) => ({ address: d.address, mailboxId: d.mailboxId, uid: d.uid })),
          spooled: spooled ? { messageId: spooled.messageId, recipients: remote } : null,
        };
        out.result(result, () =>
          [
            ...delivered.map((d) => `stored: ${d.address} (INBOX, UID ${d.uid})`),
            ...(spooled
              ? [
                  `spooled: message ${spooled.messageId} for ${remote.join(', ')}`,
                  'a running operator delivers it (`mssante mail queue` shows where it stands)',
                ]
              : []),
          ].join('\n'),
        );
      },
    );

  mail
    .command('queue')
    .description('the outbound spool: counters and the recipients not delivered yet')
    .option('--all', 'also list delivered and failed recipients (the 200 latest)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { all?: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      const store = await ctx.store();
      const { spool } = mailComponents(ctx.config(), store);
      const stats = await spool.stats();
      let q = store.db
        .selectFrom('spool_recipients as r')
        .innerJoin('spool_messages as m', 'm.id', 'r.message_id')
        .select([
          'r.message_id',
          'r.rcpt',
          'r.status',
          'r.attempts',
          'r.next_attempt_at',
          'r.last_code',
          'r.last_enhanced',
          'r.last_error',
          'r.remote_mta',
          'm.mail_from',
          'm.received_at',
        ])
        .orderBy('r.id', 'desc')
        .limit(200);
      if (!opts.all) q = q.where('r.status', 'in', ['queued', 'delivering']);
      const rows = await q.execute();
      const items = rows.map((r) => ({
        id: r.message_id,
        from: r.mail_from || '<>',
        rcpt: r.rcpt,
        status: r.status,
        attempts: r.attempts,
        nextAttemptAt: r.status === 'queued' ? r.next_attempt_at : null,
        lastReply: r.last_error
          ? [r.last_code, r.last_enhanced, r.last_error].filter((x) => x != null).join(' ')
          : null,
        remoteMta: r.remote_mta,
        receivedAt: r.received_at,
      }));
      out.result(
        { ...stats, oldestPendingAt: stats.oldestPendingAt?.toISOString() ?? null, recipients: items },
        () =>
          [
            `queued ${stats.queued}, delivering ${stats.delivering}, delivered ${stats.delivered}, failed ${stats.failed}, expired ${stats.expired}, DSNs owed ${stats.noticesPending}`,
            ...(stats.oldestPendingAt ? [`oldest pending since ${stats.oldestPendingAt.toISOString()}`] : []),
            ...(items.length
              ? [
                  '',
                  table(
                    ['ID', 'FROM', 'TO', 'STATUS', 'TRIES', 'NEXT', 'LAST REPLY'],
                    items.map((i) => [
                      i.id,
                      i.from,
                      i.rcpt,
                      i.status,
                      i.attempts,
                      i.nextAttemptAt ?? '',
                      (i.lastReply ?? '').slice(0, 80),
                    ]),
                  ),
                ]
              : []),
          ].join('\n'),
      );
    });

  mail
    .command('retry')
    .description('make the deferred recipients of a spool message due now')
    .argument('<id>', 'spool message id (see `mssante mail queue`)')
    .option('--json', 'machine-readable output')
    .action(async (idText: string, _opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const id = Number(idText);
      if (!Number.isInteger(id) || id <= 0)
        throw new ValidationError('id', 'id.syntax', `not a spool message id: ${idText}`);
      const store = await ctx.store();
      const now = new Date().toISOString();
      const r = await store.db
        .updateTable('spool_recipients')
        .set({ next_attempt_at: now, updated_at: now })
        .where('message_id', '=', id)
        .where('status', '=', 'queued')
        .executeTakeFirst();
      const n = Number(r.numUpdatedRows);
      if (n === 0) {
        const exists = await store.db
          .selectFrom('spool_messages')
          .select('id')
          .where('id', '=', id)
          .executeTakeFirst();
        throw exists
          ? new ConflictError(
              'spool.nothing-deferred',
              `spool message ${id} has no deferred recipient to retry`,
            )
          : new NotFoundError(`no spool message ${id}`);
      }
      await appendAudit(store.db, {
        actor: ctx.actor(),
        action: 'mail.retry',
        subject: String(id),
        details: { recipients: n },
      });
      out.result(
        { id, recipients: n },
        () => `message ${id}: ${n} recipient(s) due now; a running operator retries them`,
      );
    });
}
