/* Character classes of the IMAP grammar (RFC 9051 section 9), shared by the reader and the parser. */

/** ATOM-CHAR: any CHAR except atom-specials. */
export function isAtomChar(c: number): boolean {
  return (
    c > 0x20 &&
    c < 0x7f &&
    c !== 0x28 && // (
    c !== 0x29 && // )
    c !== 0x7b && // {
    c !== 0x25 && // %
    c !== 0x2a && // *
    c !== 0x22 && // "
    c !== 0x5c && // \
    c !== 0x5d // ]
  );
}
export function isAstringChar(c: number): boolean {
  return isAtomChar(c) || c === 0x5d;
}
export function isListChar(c: number): boolean {
  return isAtomChar(c) || c === 0x25 || c === 0x2a || c === 0x5d;
}
export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** tag: 1*<any ASTRING-CHAR except "+">. */
export function isTagChar(c: number): boolean {
  return isAstringChar(c) && c !== 0x2b;
}
