/**
 * Values with parameters: Content-Type (`type/subtype; a=b`) and Content-Disposition
 * (`attachment; filename="x"`), RFC 2045 and RFC 2183, with RFC 2231 continuations.
 *
 * Parameters come out as IMAP BODYSTRUCTURE wants them: names in lower case, values in ASCII as
 * they travel. RFC 2231 sections (`name*0`, `name*1*`…) are joined into one parameter; when a
 * section is extended (charset'language'%XX), the joined parameter is named `name*` and its value
 * keeps the extended form, so it stays 7-bit. `decodeParam()` gives the text a human reads.
 * Lenient: comments, missing semicolons, unquoted values with spaces (`name=my file.pdf`),
 * unterminated quotes. Never throws.
 */
import { decodeCharset } from './charset.ts';
import { decodeEncodedWords } from './encoded-words.ts';

export interface MimeParam {
  name: string;
  value: string;
}

export interface ParameterizedValue {
  /** The main value in lower case (`text/plain`, `attachment`), '' when there is none. */
  value: string;
  params: MimeParam[];
}

/** Index just after a comment starting at `i` (nested, with quoted-pairs). */
function skipComment(s: string, i: number): number {
  let depth = 0;
  for (; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return i + 1;
  }
  return s.length;
}

function skipSpaceAndComments(s: string, i: number): number {
  while (i < s.length) {
    const c = s[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') i++;
    else if (c === '(') i = skipComment(s, i);
    else break;
  }
  return i;
}

/** A quoted string at `i` (on the opening quote): its content and the index after it. */
function readQuoted(s: string, i: number): [string, number] {
  let out = '';
  for (i++; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) out += s[++i];
    else if (c === '"') return [out, i + 1];
    else out += c;
  }
  return [out, s.length];
}

/** Reads `value *( ";" name "=" value )`. */
function readRaw(s: string): { value: string; params: MimeParam[] } {
  let i = skipSpaceAndComments(s, 0);
  let main = '';
  while (i < s.length && s[i] !== ';') {
    const c = s[i]!;
    if (c === '(') i = skipComment(s, i);
    else if (c === '"') {
      const [q, next] = readQuoted(s, i);
      main += q;
      i = next;
    } else {
      if (c !== ' ' && c !== '\t') main += c;
      i++;
    }
  }
  const params: MimeParam[] = [];
  while (i < s.length) {
    i = skipSpaceAndComments(s, i + (s[i] === ';' ? 1 : 0));
    let name = '';
    while (i < s.length && s[i] !== '=' && s[i] !== ';') {
      const c = s[i]!;
      if (c === '(') i = skipComment(s, i);
      else {
        if (c !== ' ' && c !== '\t') name += c;
        i++;
      }
    }
    if (i >= s.length || s[i] === ';') continue; // a parameter without '=': ignored
    i = skipSpaceAndComments(s, i + 1);
    let value = '';
    if (s[i] === '"') {
      [value, i] = readQuoted(s, i);
      i = skipSpaceAndComments(s, i);
      // Junk after the closing quote up to the next ';' is ignored.
      while (i < s.length && s[i] !== ';') i++;
    } else {
      const startValue = i;
      while (i < s.length && s[i] !== ';') i++;
      value = s
        .slice(startValue, i)
        .replace(/\([^()]*\)/g, '')
        .trim();
    }
    if (name) params.push({ name: name.toLowerCase(), value });
  }
  return { value: main.toLowerCase(), params };
}

/** `%XX`-escapes what an RFC 2231 extended value cannot carry as is. */
function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9!#$&+.^_`|~-]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

interface Section {
  value: string;
  extended: boolean;
}

/** Joins RFC 2231 sections; other parameters pass through (first occurrence of a name wins). */
function joinContinuations(raw: readonly MimeParam[]): MimeParam[] {
  type Entry = { kind: 'plain'; value: string } | { kind: 'sections'; sections: Map<number, Section> };
  const order: string[] = [];
  const entries = new Map<string, Entry>();
  for (const { name, value } of raw) {
    const m = /^(.+?)\*(\d+)(\*?)$/.exec(name);
    if (m) {
      const base = m[1]!;
      const key = `${base}\u0000sections`;
      let entry = entries.get(key);
      if (!entry) {
        entry = { kind: 'sections', sections: new Map() };
        entries.set(key, entry);
        order.push(key);
      }
      if (entry.kind === 'sections') {
        const n = Number(m[2]);
        if (!entry.sections.has(n)) entry.sections.set(n, { value, extended: m[3] === '*' });
      }
      continue;
    }
    if (!entries.has(name)) {
      entries.set(name, { kind: 'plain', value });
      order.push(name);
    }
  }
  const out: MimeParam[] = [];
  const seen = new Set<string>();
  for (const key of order) {
    const entry = entries.get(key)!;
    if (entry.kind === 'plain') {
      if (!seen.has(key)) out.push({ name: key, value: entry.value });
      seen.add(key);
      continue;
    }
    const base = key.slice(0, key.indexOf('\u0000'));
    const sections: Section[] = [];
    for (let n = 0; entry.sections.has(n); n++) sections.push(entry.sections.get(n)!);
    if (sections.length === 0) continue;
    const extended = sections.some((s) => s.extended);
    const name = extended ? `${base}*` : base;
    if (seen.has(name)) continue;
    seen.add(name);
    let value: string;
    if (!extended) value = sections.map((s) => s.value).join('');
    else {
      // The first section carries charset'language' when it is extended.
      value = sections
        .map((s, i) =>
          s.extended ? s.value : i === 0 ? `''${percentEncode(s.value)}` : percentEncode(s.value),
        )
        .join('');
    }
    out.push({ name, value });
  }
  return out;
}

/** Parses a Content-Type or Content-Disposition value. */
export function parseParameterized(header: string): ParameterizedValue {
  const { value, params } = readRaw(header);
  return { value, params: joinContinuations(params) };
}

function percentDecode(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) bytes.push(c);
    else for (const b of Buffer.from(text[i]!, 'utf8')) bytes.push(b);
  }
  return Buffer.from(bytes);
}

/** An RFC 2231 extended value (`charset'language'%XX…`) as text. */
export function decodeExtendedValue(value: string): string {
  const m = /^([^']*)'([^']*)'(.*)$/s.exec(value);
  if (!m) return decodeCharset(percentDecode(value), 'utf-8');
  return decodeCharset(percentDecode(m[3]!), m[1] || 'utf-8');
}

/**
 * The text of parameter `name`: its RFC 2231 form when present, else the plain one with any
 * RFC 2047 encoded-words decoded (as some clients write file names). null when absent.
 */
export function decodeParam(params: readonly MimeParam[], name: string): string | null {
  const key = name.toLowerCase();
  const extended = params.find((p) => p.name === `${key}*`);
  if (extended) return decodeExtendedValue(extended.value);
  const plain = params.find((p) => p.name === key);
  return plain ? decodeEncodedWords(plain.value) : null;
}

/** Raw value of parameter `name` (exact, lower-case name), or null. */
export function paramValue(params: readonly MimeParam[], name: string): string | null {
  const key = name.toLowerCase();
  return params.find((p) => p.name === key)?.value ?? null;
}
