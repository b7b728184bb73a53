import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { createLogger, type Logger } from '../logger.ts';
import { createServices, type Services } from '../services.ts';
import { storeOptions } from '../store/from-config.ts';
import { openStore, type Store } from '../store/open.ts';
import { createOutput, type Output } from './output.ts';

/**
 * What every command gets: the configuration (from the global --config), the store opened
 * on demand, an output that honours --json, and the actor name for the audit log.
 */
export interface CliContext {
  config(): Config;
  /** The store, opened and migrated once per command run. */
  store(): Promise<Store>;
  /** Directory, registry… over that store, built once per command run. */
  services(): Promise<Services>;
  logger(): Logger;
  output(cmd: Command): Output;
  /** `cli:<os user>` unless --actor was given. */
  actor(): string;
  /** Releases what the command opened. */
  close(): Promise<void>;
}

export function createCliContext(program: Command): CliContext {
  let config: Config | undefined;
  let store: Promise<Store> | undefined;
  let logger: Logger | undefined;
  let services: Promise<Services> | undefined;
  const ctx: CliContext = {
    config() {
      config ??= loadConfig({ file: program.opts()['config'] as string | undefined });
      return config;
    },
    store() {
      store ??= openStore(storeOptions(ctx.config()));
      return store;
    },
    services() {
      services ??= ctx.store().then((store) => createServices(ctx.config(), ctx.logger(), store));
      return services;
    },
    logger() {
      // Commands log warnings and errors only, on stderr, so that their output stays readable.
      logger ??= createLogger(process.env['MSS_LOG__LEVEL'] ?? 'warn', process.stderr);
      return logger;
    },
    output(cmd) {
      return createOutput(Boolean(cmd.optsWithGlobals()['json']));
    },
    actor() {
      const given = program.opts()['actor'] as string | undefined;
      if (given) return given;
      let user = 'unknown';
      try {
        user = userInfo().username;
      } catch {}
      return `cli:${user}`;
    },
    async close() {
      if (store) await (await store).close();
    },
  };
  return ctx;
}
