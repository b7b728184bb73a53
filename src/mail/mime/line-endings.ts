/**
 * IMAP presents messages with CRLF line ends (RFC 3501 2.2) and counts sizes that way. Messages
 * are stored in that form so that stored bytes, sizes and offsets are what IMAP serves.
 */

const LF = 0x0a;
const CR = 0x0d;

/** True when every LF is preceded by CR and every CR followed by LF. */
export function hasOnlyCrlf(buf: Buffer): boolean {
  let pos = 0;
  for (;;) {
    const lf = buf.indexOf(LF, pos);
    if (lf < 0) break;
    if (lf === 0 || buf[lf - 1] !== CR) return false;
    pos = lf + 1;
  }
  pos = 0;
  for (;;) {
    const cr = buf.indexOf(CR, pos);
    if (cr < 0) return true;
    if (buf[cr + 1] !== LF) return false;
    pos = cr + 1;
  }
}

/** `buf` with bare LF and bare CR turned into CRLF; the same Buffer when there is nothing to change. */
export function toCrlf(buf: Buffer): Buffer {
  if (hasOnlyCrlf(buf)) return buf;
  const out = Buffer.allocUnsafe(buf.length * 2);
  let n = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c === CR) {
      out[n++] = CR;
      out[n++] = LF;
      if (buf[i + 1] === LF) i++;
    } else if (c === LF) {
      out[n++] = CR;
      out[n++] = LF;
    } else out[n++] = c;
  }
  return Buffer.from(out.subarray(0, n));
}
