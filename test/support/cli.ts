import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const BIN = resolve(import.meta.dirname, '../../bin/mssante.mjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `mssante` command to completion (bounded by timeoutMs). */
export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
) {
  return new Promise<CliResult>((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`mssante ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 20_000} ms\n${stderr}`),
      );
    }, opts.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running `mssante` command; resolves once `ready` matches its stderr. */
export function startCli(
  args: string[],
  ready: RegExp,
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let all = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mssante ${args.join(' ')} was not ready in time:\n${all}`));
    }, opts.timeoutMs ?? 20_000);
    const onData = (d: Buffer) => {
      all += d.toString();
      const m = all.match(ready);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, match: m, output: () => all });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`mssante ${args.join(' ')} exited (${code}) before being ready:\n${all}`));
    });
  });
}

/** Sends a signal and waits for the exit code (bounded). */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000) {
  return new Promise<number | null>((resolvePromise, reject) => {
    if (child.exitCode !== null) return resolvePromise(child.exitCode);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process did not stop within ${timeoutMs} ms after ${signal}`));
    }, timeoutMs);
    child.removeAllListeners('exit');
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise(code);
    });
    child.kill(signal);
  });
}

/**
 * Writes <dir>/config.yaml for the spawned command: its data (and so its SQLite store,
 * <dir>/mssante.sqlite) in `dir`, the given served domains, warnings only. Returns its path.
 */
export function writeCliConfig(dir: string, domains: readonly string[]): string {
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    [
      `dataDir: ${JSON.stringify(dir)}`,
      'operator:',
      `  domains: [${domains.join(', ')}]`,
      'log:',
      '  level: warn',
      '',
    ].join('\n'),
  );
  return file;
}
