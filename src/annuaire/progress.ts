import type { ImportProgress } from './import.ts';

/*
 * A one-line progress bar for imports, redrawn in place on stderr when it is a terminal
 * (percent, rows, rows/s). Silent when stderr is a pipe or a file, so logs and --json stay clean.
 */

export interface ProgressBar {
  update(p: ImportProgress): void;
  /** Ends the bar (a last redraw, then a new line). */
  done(): void;
}

export interface ProgressBarOptions {
  label: string;
  stream?: NodeJS.WriteStream;
  /** Clock in milliseconds (tests). */
  now?: () => number;
  /** Minimum time between two redraws. */
  intervalMs?: number;
}

const WIDTH = 30;

export function createProgressBar(opts: ProgressBarOptions): ProgressBar {
  const stream = opts.stream ?? process.stderr;
  if (!stream.isTTY) return { update() {}, done() {} };
  const now = opts.now ?? Date.now;
  const interval = opts.intervalMs ?? 100;
  const start = now();
  let lastDraw = Number.NEGATIVE_INFINITY;
  let last: ImportProgress | undefined;
  let drawn = false;

  const draw = (p: ImportProgress) => {
    stream.write(`\r${formatProgress(opts.label, p, now() - start)}\u001b[K`);
    drawn = true;
  };
  return {
    update(p) {
      last = p;
      const t = now();
      if (t - lastDraw < interval) return;
      lastDraw = t;
      draw(p);
    },
    done() {
      if (last) draw(last);
      if (drawn) stream.write('\n');
    },
  };
}

/** `label [#######---------] 42%  123,456 rows  45,678 rows/s` */
export function formatProgress(label: string, p: ImportProgress, elapsedMs: number): string {
  const ratio = p.bytesTotal > 0 ? Math.min(1, p.bytesRead / p.bytesTotal) : 0;
  const filled = Math.round(ratio * WIDTH);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}`;
  const rate = elapsedMs > 0 ? Math.round((p.rows * 1000) / elapsedMs) : 0;
  const n = (v: number) => v.toLocaleString('en-US');
  return `${label} [${bar}] ${String(Math.floor(ratio * 100)).padStart(3)}%  ${n(p.rows)} rows  ${n(rate)} rows/s`;
}
