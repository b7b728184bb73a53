/** How a command prints: human text on a terminal, or one JSON document with --json. */
export interface Output {
  readonly json: boolean;
  /** Prints `value` as JSON when --json, else the human text `human()` returns. */
  result(value: unknown, human: () => string): void;
  /** A line for humans only (progress, hints); goes to stderr so that stdout stays parseable. */
  info(line: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    result(value, human) {
      process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
    },
    info(line) {
      process.stderr.write(`${line}\n`);
    },
  };
}

/** Formats rows as an aligned text table. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (c ?? '').padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
