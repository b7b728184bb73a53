import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../domain/errors.ts';
import { writeServSslCsr } from '../trust/pki/csr.ts';
import { type DevApp, type DevHost, generateDevPki } from '../trust/pki/dev-pki.ts';
import { trustMaterial } from '../trust/pki/from-config.ts';
import {
  CertificateParseError,
  certSummary,
  describeCertificate,
  type ParsedCert,
  type Purpose,
  parseCertificates,
} from '../trust/pki/inspect.ts';
import { createCertificateValidator } from '../trust/pki/validator.ts';
import type { CliContext } from './context.ts';
import { table } from './output.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function readPem(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ValidationError('ca', 'file.read', `cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    parseCertificates(text);
  } catch (e) {
    throw new ValidationError('ca', 'certificate.parse', `${file}: ${(e as Error).message}`);
  }
  return text;
}

/** `certs dev-pki`, `certs csr`, `certs inspect`. */
export function addCertsCommands(program: Command, ctx: CliContext): void {
  const certs = program
    .command('certs')
    .description('certificates: development PKI, SERV_SSL requests, inspection');

  certs
    .command('dev-pki')
    .description('generate the development PKI (IGC-Santé-like, NOT FOR PRODUCTION)')
    .option('--dir <dir>', 'output folder (default: trust.pki.devDir)')
    .option(
      '--host <host>',
      'MX host name of a server certificate (repeatable; default operator.mxHost)',
      collect,
    )
    .option(
      '--structure-id <id>',
      "OU of the matching --host: '1'+FINESS or '3'+SIRET (repeatable; default operator.structureId)",
      collect,
    )
    .option('--org <org>', 'O of the matching --host (repeatable; default operator.name)', collect)
    .option('--state <st>', 'ST of every certificate, e.g. "Paris (75)"')
    .option('--app <name>', 'client certificate of an applicative BAL (repeatable)', collect)
    .option('--with-bad-set', 'also generate the ANS audit cases under bad/')
    .option('--force', 'replace an existing development PKI')
    .option('--json', 'machine-readable output')
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const out = ctx.output(cmd);
      const config = ctx.config();
      const dir = resolve((opts['dir'] as string | undefined) ?? config.trust.pki.devDir);
      const hostNames = (opts['host'] as string[] | undefined) ?? [config.operator.mxHost];
      const ids = (opts['structureId'] as string[] | undefined) ?? [];
      const orgs = (opts['org'] as string[] | undefined) ?? [];
      if (ids.length > hostNames.length || orgs.length > hostNames.length) {
        throw new ValidationError(
          'host',
          'devpki.args',
          'give --structure-id and --org at most once per --host (they pair with the --host of the same rank)',
        );
      }
      const state = opts['state'] as string | undefined;
      // A --structure-id/--org pairs with the --host of the same rank; missing ones repeat the
      // last given, then fall back to the operator's.
      const pick = (list: string[], i: number, fallback: string) => list[i] ?? list.at(-1) ?? fallback;
      const hosts: DevHost[] = hostNames.map((host, i) => ({
        host,
        structureId: pick(ids, i, config.operator.structureId),
        org: pick(orgs, i, config.operator.name),
        ...(state ? { state } : {}),
      }));
      const apps: DevApp[] = ((opts['app'] as string[] | undefined) ?? []).map((name) => ({
        name,
        structureId: hosts[0]!.structureId,
        org: hosts[0]!.org,
        ...(state ? { state } : {}),
      }));
      const res = await generateDevPki({
        dir,
        hosts,
        appCerts: apps,
        withBadSet: opts['withBadSet'] === true,
        force: opts['force'] === true,
      });
      out.result(res.manifest, () =>
        [
          `Development PKI written to ${res.dir} in ${res.durationMs} ms — NOT FOR PRODUCTION`,
          table(
            ['role', 'file', 'subject'],
            res.manifest.entries.map((e) => [e.role, e.file, e.subjectDn]),
          ),
          `Trust anchor: ${relative(process.cwd(), resolve(res.dir, res.manifest.root)) || res.manifest.root}`,
        ].join('\n'),
      );
    });

  certs
    .command('csr')
    .description('generate a private key and a PKCS#10 request for a SERV_SSL order (form F413)')
    .requiredOption('--host <host>', 'MX host name (CN and subjectAltName)')
    .option('--structure-id <id>', "'1'+FINESS or '3'+SIRET (default operator.structureId)")
    .requiredOption('--org <org>', 'organisation (O), as registered for the structure')
    .option('--state <st>', 'state/department (ST), e.g. "Paris (75)"')
    .option('--country <cc>', 'country (C)', 'FR')
    .option('--out-dir <dir>', 'folder for <host>.key and <host>.csr', '.')
    .option('--bits <n>', 'RSA key size: 2048 or 4096', '2048')
    .option('--json', 'machine-readable output')
    .action(async (opts: Record<string, string | undefined>, cmd: Command) => {
      const out = ctx.output(cmd);
      const bits = Number(opts['bits']);
      const res = await writeServSslCsr({
        host: opts['host']!,
        structureId: opts['structureId'] ?? ctx.config().operator.structureId,
        org: opts['org']!,
        ...(opts['state'] ? { state: opts['state'] } : {}),
        country: opts['country'] ?? 'FR',
        bits: Number.isInteger(bits) ? bits : Number.NaN,
        outDir: opts['outDir'] ?? '.',
      });
      out.result({ subject: res.subjectDn, keyFile: res.keyFile, csrFile: res.csrFile }, () =>
        [
          `subject: ${res.subjectDn}`,
          `key:     ${res.keyFile} (mode 0600: keep it on the server, never send it)`,
          `request: ${res.csrFile} (attach it to the SERV_SSL order, form F413)`,
        ].join('\n'),
      );
    });

  certs
    .command('inspect <file>')
    .description('show a certificate (PEM, DER or chain file) and its chain status against the trust anchors')
    .option(
      '--purpose <p>',
      'check the leaf for server or client use (default: server if allowed, else client)',
    )
    .option('--ca <file>', 'trust anchor PEM file instead of the configured ones (repeatable)', collect)
    .option('--crl <source>', 'with --ca: CRL file or URL to check revocation against (repeatable)', collect)
    .option('--check', 'exit 1 when the chain status is not ok')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: Record<string, unknown>, cmd: Command) => {
      const out = ctx.output(cmd);
      let certsRead: ParsedCert[];
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch (e) {
        throw new ValidationError('file', 'file.read', `cannot read ${file}: ${(e as Error).message}`);
      }
      try {
        certsRead = parseCertificates(bytes);
      } catch (e) {
        if (e instanceof CertificateParseError) {
          throw new ValidationError('file', 'certificate.parse', `${file}: ${e.message}`);
        }
        throw e;
      }
      const leaf = certsRead[0]!.info;
      const given = opts['purpose'] as string | undefined;
      if (given !== undefined && given !== 'server' && given !== 'client') {
        throw new ValidationError(
          'purpose',
          'purpose.value',
          `--purpose is server or client, got ${JSON.stringify(given)}`,
        );
      }
      const purpose: Purpose =
        given === 'client'
          ? 'clientAuth'
          : given === 'server' || !leaf.extKeyUsage || leaf.extKeyUsage.includes('serverAuth')
            ? 'serverAuth'
            : 'clientAuth';

      const caFiles = opts['ca'] as string[] | undefined;
      const material = caFiles
        ? {
            anchors: caFiles.map((f) => readPem(f)),
            intermediates: [],
            crlSources: ((opts['crl'] as string[] | undefined) ?? []).map((c) =>
              /^(https?|file):/i.test(c) ? c : resolve(c),
            ),
            dev: false,
            devDir: '',
          }
        : trustMaterial(ctx.config());
      const anchorsLabel = caFiles
        ? caFiles.join(', ')
        : material.dev
          ? `development PKI (${material.devDir})`
          : 'trust.pki.trustAnchors';
      let chain: { status: string; purpose: Purpose; message: string; anchors: string; revocation?: string };
      if (material.anchors.length === 0) {
        chain = {
          status: 'unknown',
          purpose,
          message: 'no trust anchors configured and no development PKI found',
          anchors: 'none',
        };
      } else {
        const validator = createCertificateValidator({
          anchors: material.anchors,
          intermediates: material.intermediates,
          crlSources: material.crlSources,
          logger: ctx.logger(),
          crlTimeoutMs: 10_000,
        });
        await validator.refresh();
        const v = validator.validate(
          certsRead.map((c) => c.der),
          { purpose },
        );
        chain = v.ok
          ? {
              status: 'ok',
              purpose,
              message: `chains to a trust anchor; revocation: ${v.revocation}`,
              anchors: anchorsLabel,
              revocation: v.revocation,
            }
          : {
              status: v.reason,
              purpose,
              message: v.message,
              anchors: anchorsLabel,
            };
      }
      const now = new Date();
      out.result({ file, certificates: certsRead.map((c) => certSummary(c.info)), chain }, () =>
        [
          ...certsRead.map((c, i) => `[${i}]${i === 0 ? ' leaf' : ''}\n${describeCertificate(c.info, now)}`),
          `chain (${purpose}, anchors: ${chain.anchors}): ${chain.status} - ${chain.message}`,
        ].join('\n'),
      );
      if (opts['check'] === true && chain.status !== 'ok') {
        throw new ValidationError(
          'file',
          'certificate.chain',
          `${file}: chain status ${chain.status}: ${chain.message}`,
        );
      }
    });
}
