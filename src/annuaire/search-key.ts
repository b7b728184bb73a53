/**
 * Search key of a name: accents removed, lower case, every run of other characters than
 * letters and digits folded to one space. "Élodie  D'ARC-Lévêque" -> "elodie d arc leveque".
 * Keys are compared byte-wise, so a prefix search is `key >= p and key < p + '\uffff'`.
 */
export function searchKey(text: string | null | undefined): string {
  if (!text) return '';
  return text
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .replace(/œ/g, 'oe')
    .replace(/Œ/g, 'OE')
    .replace(/æ/g, 'ae')
    .replace(/Æ/g, 'AE')
    .replace(/ß/g, 'ss')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** Upper bound (exclusive) of the keys that start with `prefix`. */
export function prefixUpperBound(prefix: string): string {
  return `${prefix}\uffff`;
}
