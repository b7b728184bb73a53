import type { AuthTables } from './auth.ts';
import type { DirectoryTables } from './directory.ts';
import type { MailTables } from './mail.ts';
import type { RegistryTables } from './registry.ts';
import type { SmtpTables } from './smtp.ts';
import type { SpoolTables } from './spool.ts';

export type * from './auth.ts';
export type * from './directory.ts';
export type * from './mail.ts';
export type * from './registry.ts';
export type * from './smtp.ts';
export type * from './spool.ts';

/** Every table of the store, as Kysely sees them. */
export interface Database
  extends RegistryTables,
    DirectoryTables,
    MailTables,
    SpoolTables,
    SmtpTables,
    AuthTables {}
