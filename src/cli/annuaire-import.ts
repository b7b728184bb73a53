import { createWriteStream } from 'node:fs';
import { type Command, Option } from 'commander';
import { EXTRACT_NAMES, type ExtractKind, type ImportSummary, importExtract } from '../annuaire/import.ts';
import { createProgressBar } from '../annuaire/progress.ts';
import type { CliContext } from './context.ts';
import { table } from './output.ts';

/** `mssante annuaire import <file>`: loads a public extract of the Annuaire Santé into the local mirror. */
export function addAnnuaireImportCommand(annuaire: Command, ctx: CliContext): void {
  annuaire
    .command('import <file>')
    .description(
      `import a public extract (.txt or .zip) of the Annuaire Santé: ${EXTRACT_NAMES.mss} (BALs) or ${EXTRACT_NAMES.ps} (professionals); it replaces the previous one only once it is read completely`,
    )
    .addOption(
      new Option('--kind <kind>', 'which extract the file is (default: from its header)').choices([
        'mss',
        'ps',
      ]),
    )
    .option('--rejects <file>', 'write every rejected line there (line number, tab, reason)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { kind?: ExtractKind; rejects?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const config = ctx.config();
      const store = await ctx.store();
      const rejects = opts.rejects ? await openRejectsFile(opts.rejects) : undefined;
      const progress = createProgressBar({ label: 'importing' });
      // Ctrl-C discards the snapshot being loaded instead of leaving it to the next import.
      const abort = new AbortController();
      const onSigint = () => abort.abort(new Error('interrupted (SIGINT)'));
      process.once('SIGINT', onSigint);
      let summary: ImportSummary;
      try {
        summary = await importExtract(store, file, {
          ...(opts.kind ? { kind: opts.kind } : {}),
          batchSize: config.annuaire.importBatchSize,
          maxListedRejects: config.annuaire.maxListedRejects,
          actor: ctx.actor(),
          onProgress: (p) => progress.update(p),
          ...(rejects ? { onReject: (r) => rejects.write(`${r.line}\t${r.reason}\n`) } : {}),
          signal: abort.signal,
        });
      } finally {
        process.off('SIGINT', onSigint);
        progress.done();
        await rejects?.close();
      }
      out.result(summary, () => formatSummary(summary, opts.rejects));
    });
}

interface RejectsFile {
  write(line: string): void;
  /** Flushes and closes; throws the first write error, if any. */
  close(): Promise<void>;
}

/** The --rejects file, opened before the import starts so that a wrong path fails early. */
function openRejectsFile(path: string): Promise<RejectsFile> {
  return new Promise((resolve, reject) => {
    const stream = createWriteStream(path);
    let failure: Error | undefined;
    stream.once('error', reject);
    stream.once('open', () => {
      stream.off('error', reject);
      stream.on('error', (e) => {
        failure ??= e;
      });
      resolve({
        write: (line) => {
          if (!failure) stream.write(line);
        },
        close: () =>
          new Promise<void>((done, fail) =>
            stream.end(() => (failure ? fail(new Error(`--rejects ${path}: ${failure.message}`)) : done())),
          ),
      });
    });
  });
}

function formatSummary(s: ImportSummary, rejectsFile: string | undefined): string {
  const lines = [
    table(
      ['extract', 'snapshot', 'source', 'read', 'imported', 'rejected', 'duration'],
      [
        [
          EXTRACT_NAMES[s.kind],
          s.snapshotId,
          s.source,
          s.rowsRead,
          s.rowsImported,
          s.rowsRejected,
          `${(s.durationMs / 1000).toFixed(1)} s`,
        ],
      ],
    ),
  ];
  if (s.rejects.length > 0) {
    lines.push('', 'rejected lines:', ...s.rejects.map((r) => `  line ${r.line}: ${r.reason}`));
    const more = s.rowsRejected - s.rejects.length;
    if (more > 0) {
      lines.push(
        rejectsFile
          ? `  … and ${more} more, all listed in ${rejectsFile}`
          : `  … and ${more} more (use --rejects FILE to list them all)`,
      );
    }
  }
  return lines.join('\n');
}
