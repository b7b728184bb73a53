#!/usr/bin/env node
// Completes package-lock.json with the platform-specific optional packages (biome, rollup,
// esbuild, msgpackr-extract … for darwin, win32, musl, arm …) that the registry reachable
// from this workplace does not serve. npm records nothing for a package it cannot fetch, and
// `npm ci` then refuses the lock file ("Missing: @rollup/rollup-darwin-arm64@ from lock file")
// although such a package would never be installed on this machine. Each one is added as an
// optional entry with the os/cpu/libc its name states, so that npm ci skips it, as it skips
// any optional package for another platform. Packages for this very platform are never
// added: those must come from the registry. Prints what it added; writes only if needed.
import { readFileSync, writeFileSync } from 'node:fs';

const file = process.argv[2] ?? 'package-lock.json';
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages;

const OS = [
  'darwin',
  'linux',
  'win32',
  'android',
  'freebsd',
  'openbsd',
  'netbsd',
  'sunos',
  'aix',
  'openharmony',
];
const CPU = ['arm64', 'x64', 'ia32', 'arm', 'loong64', 'ppc64', 's390x', 'riscv64', 'mips64el', 'wasm32'];

function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.find((p) => CPU.includes(p));
  if (!os || !cpu) return null;
  const libc =
    os === 'linux' ? (parts.includes('musl') || parts.includes('musleabihf') ? 'musl' : 'glibc') : null;
  return { os, cpu, libc };
}

const here = {
  os: process.platform,
  cpu: process.arch,
  libc: process.report?.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl',
};
const added = [];
for (const [path, meta] of Object.entries(packages)) {
  for (const [dep, spec] of Object.entries(meta.optionalDependencies ?? {})) {
    // npm resolves a dependency from the parent's own node_modules up to the root.
    const candidates = [];
    for (
      let p = path;
      ;
      p = p.slice(0, p.lastIndexOf('/node_modules/') === -1 ? 0 : p.lastIndexOf('/node_modules/'))
    ) {
      candidates.push(p ? `${p}/node_modules/${dep}` : `node_modules/${dep}`);
      if (!p) break;
    }
    if (candidates.some((c) => packages[c])) continue;
    if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec)) continue; // only exact versions can be recorded
    const platform = platformOf(dep);
    if (!platform) continue;
    if (platform.os === here.os && platform.cpu === here.cpu && (platform.libc ?? here.libc) === here.libc) {
      console.error(`complete-lockfile: ${dep}@${spec} is for this platform and missing: run npm install`);
      process.exitCode = 1;
      continue;
    }
    packages[`node_modules/${dep}`] = {
      version: spec,
      cpu: [platform.cpu],
      ...(platform.libc ? { libc: [platform.libc] } : {}),
      optional: true,
      os: [platform.os],
    };
    added.push(`${dep}@${spec}`);
  }
}
if (added.length) {
  const sorted = Object.fromEntries(
    Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
  );
  lock.packages = sorted;
  writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
}
console.log(
  `complete-lockfile: ${added.length} platform package(s) recorded${added.length ? `: ${added.join(', ')}` : ''}`,
);
