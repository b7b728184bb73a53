/**
 * npm run bench:whitelist — parse and index time of the real ANS liste blanche (3.7 MB),
 * and the cost of one peer decision. Prints figures; asserts nothing.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { Whitelist } from '../../src/trust/whitelist/list.ts';
import { parseWhitelist } from '../../src/trust/whitelist/parse.ts';

const file = resolve(import.meta.dirname, '../../config/listeblanche/listeblanchemssante-2025-03-13.xml');
const bytes = readFileSync(file);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

const parseTimes: number[] = [];
const indexTimes: number[] = [];
let list: Whitelist | undefined;
for (let i = 0; i < 20; i++) {
  const t0 = performance.now();
  const parsed = parseWhitelist(bytes);
  const t1 = performance.now();
  list = Whitelist.from(parsed);
  indexTimes.push(performance.now() - t1);
  parseTimes.push(t1 - t0);
}
const domains = [...list!.domains()];
const n = 200_000;
const t0 = performance.now();
for (let i = 0; i < n; i++) {
  const d = domains[i % domains.length]!;
  list!.allows(d, list!.allowedDns(d)[0] ?? 'CN=x');
}
const perDecisionUs = ((performance.now() - t0) * 1000) / n;

console.log(`machine: ${cpus().length} cores, node ${process.version}`);
console.log(`file: ${file} (${(bytes.length / 1e6).toFixed(1)} MB, ${list!.stats().entries} entries)`);
console.log(
  `parse: p50 ${pct(parseTimes, 0.5).toFixed(1)} ms, p99 ${pct(parseTimes, 0.99).toFixed(1)} ms (20 runs)`,
);
console.log(`index: p50 ${pct(indexTimes, 0.5).toFixed(1)} ms`);
console.log(`allows(domain, dn): ${perDecisionUs.toFixed(2)} µs per decision (${n} decisions)`);
