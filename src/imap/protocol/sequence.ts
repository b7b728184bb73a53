/**
 * IMAP sequence sets (RFC 9051 section 9: sequence-set, seq-range, seq-number; RFC 5182 "$").
 *
 * A parsed set keeps what the client wrote: ranges in any order, "*" as '*', "$" (the saved
 * search result, SEARCHRES) as the string '$'. The helpers work on ranges once "$" has been
 * replaced by the saved result (`resolveSaved`) and "*" by the largest number in use (`max`).
 * A range is inclusive and unordered: `4:2` is `2:4`, `5:*` with max 3 is `3:5`.
 */

export type SeqNumber = number | '*';
export interface SeqRange {
  start: SeqNumber;
  end: SeqNumber;
}
export type SequenceSet = '$' | SeqRange[];

/** Largest nz-number (RFC 9051: 0 < n < 4,294,967,296). */
export const MAX_NZ_NUMBER = 4294967295;

function nzNumber(s: string): number | null {
  if (!/^[1-9][0-9]{0,9}$/.test(s)) return null;
  const n = Number(s);
  return n <= MAX_NZ_NUMBER ? n : null;
}

function seqNumber(s: string): SeqNumber | null {
  return s === '*' ? '*' : nzNumber(s);
}

/** Parses a sequence-set (or "$"); null when the text is not one. */
export function parseSequenceSet(text: string): SequenceSet | null {
  if (text === '$') return '$';
  if (text === '') return null;
  const ranges: SeqRange[] = [];
  for (const item of text.split(',')) {
    const colon = item.indexOf(':');
    if (colon < 0) {
      const n = seqNumber(item);
      if (n === null) return null;
      ranges.push({ start: n, end: n });
    } else {
      const a = seqNumber(item.slice(0, colon));
      const b = seqNumber(item.slice(colon + 1));
      if (a === null || b === null) return null;
      ranges.push({ start: a, end: b });
    }
  }
  return ranges;
}

/** The text of a set, as the client could have written it. */
export function formatSequenceSet(set: SequenceSet): string {
  if (set === '$') return '$';
  return set.map((r) => (r.start === r.end ? String(r.start) : `${r.start}:${r.end}`)).join(',');
}

/** Replaces "$" with the saved result (an empty result gives an empty list of ranges). */
export function resolveSaved(set: SequenceSet, saved: readonly number[]): SeqRange[] {
  if (set !== '$') return set;
  return compactRanges(saved);
}

/** True when the set uses "*". */
export function usesStar(set: SequenceSet): boolean {
  return set !== '$' && set.some((r) => r.start === '*' || r.end === '*');
}

/**
 * The ranges as sorted, merged, inclusive [low, high] pairs, "*" standing for `max` and every
 * range clipped to 1..max. With max 0 the result is empty.
 */
export function normalizeRanges(ranges: readonly SeqRange[], max: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const r of ranges) {
    const a = r.start === '*' ? max : r.start;
    const b = r.end === '*' ? max : r.end;
    const low = Math.max(1, Math.min(a, b));
    const high = Math.min(max, Math.max(a, b));
    if (low <= high) out.push([low, high]);
  }
  out.sort((x, y) => x[0] - y[0]);
  const merged: Array<[number, number]> = [];
  for (const r of out) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

/**
 * Every number of the set within 1..max, ascending, without duplicates. For message sequence
 * numbers (max = number of messages). For UIDs use `filterBySequenceSet`.
 */
export function expandSequenceSet(ranges: readonly SeqRange[], max: number): number[] {
  const out: number[] = [];
  for (const [low, high] of normalizeRanges(ranges, max)) for (let n = low; n <= high; n++) out.push(n);
  return out;
}

/**
 * True when every explicit number of the set is at most `max` (message sequence numbers must
 * exist; "*" always does when the mailbox is not empty, which the caller decides on).
 */
export function sequenceSetInRange(ranges: readonly SeqRange[], max: number): boolean {
  return ranges.every((r) => (r.start === '*' || r.start <= max) && (r.end === '*' || r.end <= max));
}

/** True when `n` is in the set ("*" = max). */
export function sequenceSetIncludes(ranges: readonly SeqRange[], n: number, max: number): boolean {
  for (const r of ranges) {
    const a = r.start === '*' ? max : r.start;
    const b = r.end === '*' ? max : r.end;
    if (n >= Math.min(a, b) && n <= Math.max(a, b)) return true;
  }
  return false;
}

/**
 * The values of `sorted` (ascending, e.g. the UIDs of a mailbox) that the set includes, "*"
 * standing for the last value (RFC 9051 6.4.8: `n:*` includes the largest UID even when n is
 * larger).
 */
export function filterBySequenceSet(ranges: readonly SeqRange[], sorted: readonly number[]): number[] {
  const max = sorted.length > 0 ? sorted[sorted.length - 1]! : 0;
  const norm = normalizeRanges(ranges, max);
  const out: number[] = [];
  let i = 0;
  for (const v of sorted) {
    while (i < norm.length && norm[i]![1] < v) i++;
    if (i >= norm.length) break;
    if (v >= norm[i]![0]) out.push(v);
  }
  return out;
}

/** Numbers (any order, duplicates allowed) as merged ascending ranges. */
export function compactRanges(numbers: Iterable<number>): SeqRange[] {
  const sorted = [...new Set(numbers)].sort((a, b) => a - b);
  const out: SeqRange[] = [];
  for (const n of sorted) {
    const last = out[out.length - 1];
    if (last && typeof last.end === 'number' && n === last.end + 1) last.end = n;
    else out.push({ start: n, end: n });
  }
  return out;
}

/** Numbers as the shortest ascending sequence-set text (`1:3,7`); '' for none. */
export function formatNumberSet(numbers: Iterable<number>): string {
  return formatSequenceSet(compactRanges(numbers));
}

/**
 * Numbers in the given order as a sequence set, ranges only where consecutive values follow
 * each other (COPYUID needs source and destination UIDs to stay paired).
 */
export function formatOrderedSet(numbers: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < numbers.length) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j]! + 1) j++;
    parts.push(i === j ? String(numbers[i]) : `${numbers[i]}:${numbers[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
