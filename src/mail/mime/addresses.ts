/**
 * RFC 5322 address lists in the shape of IMAP ENVELOPE addresses (RFC 3501 7.4.2):
 * `(name adl mailbox host)`, a group as a start marker (mailbox = group name, host null) and an
 * end marker (everything null). Display names are raw: quotes removed and quoted-pairs undone,
 * encoded-words left as written. Routes are dropped (adl is always null).
 *
 * Lenient, never throws: obsolete forms, `addr (Name)` comments as the name when there is no
 * phrase, missing domains (host '' so that a null host keeps meaning "group"), unterminated
 * quotes and comments, stray specials.
 */

export interface EnvelopeAddress {
  name: string | null;
  adl: null;
  mailbox: string | null;
  host: string | null;
}

type Token =
  | { t: 'atom'; v: string; space: boolean }
  | { t: 'quoted'; v: string; space: boolean }
  | { t: 'comment'; v: string; space: boolean }
  | { t: 'special'; v: string; space: boolean };

const SPECIALS = '<>@,;:.';

function tokenize(s: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let space = false;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      space = true;
      i++;
      continue;
    }
    if (c === '"') {
      let v = '';
      for (i++; i < s.length && s[i] !== '"'; i++) {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        v += s[i];
      }
      i++;
      tokens.push({ t: 'quoted', v, space });
    } else if (c === '(') {
      let v = '';
      let depth = 0;
      for (; i < s.length; i++) {
        const d = s[i]!;
        if (d === '\\' && i + 1 < s.length) {
          v += s[++i];
          continue;
        }
        if (d === '(') {
          if (depth++ > 0) v += d;
        } else if (d === ')') {
          if (--depth === 0) break;
          v += d;
        } else v += d;
      }
      i++;
      tokens.push({ t: 'comment', v: v.trim(), space });
    } else if (c === '[') {
      const close = s.indexOf(']', i);
      const end = close < 0 ? s.length : close + 1;
      tokens.push({ t: 'atom', v: s.slice(i, end), space });
      i = end;
    } else if (SPECIALS.includes(c)) {
      tokens.push({ t: 'special', v: c, space });
      i++;
    } else {
      let j = i;
      while (j < s.length && !' \t\r\n"(<>@,;:.['.includes(s[j]!)) j++;
      if (j === i) j++; // a lone ')' or ']'
      tokens.push({ t: 'atom', v: s.slice(i, j), space });
      i = j;
    }
    space = false;
  }
  return tokens;
}

class Cursor {
  i = 0;
  lastComment: string | null = null;
  constructor(readonly tokens: Token[]) {}
  /** Next token that is not a comment (comments are remembered, not returned). */
  peek(): Token | undefined {
    while (this.i < this.tokens.length && this.tokens[this.i]!.t === 'comment') {
      this.lastComment = this.tokens[this.i]!.v;
      this.i++;
    }
    return this.tokens[this.i];
  }
  next(): Token | undefined {
    const t = this.peek();
    if (t) this.i++;
    return t;
  }
  isSpecial(v: string): boolean {
    const t = this.peek();
    return t?.t === 'special' && t.v === v;
  }
  done(): boolean {
    return this.peek() === undefined;
  }
}

const quoteIfNeeded = (v: string) =>
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$/.test(v) ? v : `"${v.replace(/(["\\])/g, '\\$1')}"`;

/** Words until one of the stop specials, joined as a phrase (one space where there was white space). */
function readPhrase(cur: Cursor, stops: string): string {
  let out = '';
  for (let t = cur.peek(); t; t = cur.peek()) {
    if (t.t === 'special' && stops.includes(t.v)) break;
    cur.next();
    if (out !== '' && t.space) out += ' ';
    out += t.v;
  }
  return out;
}

/** A local part or a domain: words and dots, joined without white space. */
function readDotted(cur: Cursor, stops: string, quote: boolean): string {
  let out = '';
  for (let t = cur.peek(); t; t = cur.peek()) {
    if (t.t === 'special' && stops.includes(t.v)) break;
    cur.next();
    out += quote && t.t === 'quoted' ? quoteIfNeeded(t.v) : t.v;
  }
  return out;
}

/** One mailbox (not a group). Returns null when there is nothing at all before the next separator. */
function readMailbox(cur: Cursor, stops: string): EnvelopeAddress | null {
  cur.lastComment = null;
  const startIndex = cur.i;
  const phrase = readPhrase(cur, `<@${stops}`);
  if (cur.isSpecial('<')) {
    cur.next();
    // Obsolete route: "@a,@b:" before the address is dropped.
    if (cur.isSpecial('@')) {
      while (!cur.done() && !cur.isSpecial(':') && !cur.isSpecial('>')) cur.next();
      if (cur.isSpecial(':')) cur.next();
    }
    const local = readDotted(cur, '@>', true);
    let host = '';
    if (cur.isSpecial('@')) {
      cur.next();
      host = readDotted(cur, '>', false);
    }
    if (cur.isSpecial('>')) cur.next();
    // Anything up to the separator (stray words, comments) is skipped.
    while (!cur.done() && !stops.split('').some((s) => cur.isSpecial(s))) cur.next();
    if (!local && !host) return phrase ? { name: phrase, adl: null, mailbox: '', host: '' } : null;
    return { name: phrase || null, adl: null, mailbox: local, host };
  }
  if (cur.isSpecial('@')) {
    // addr-spec: the words read so far were the local part; re-read them dotted.
    cur.i = startIndex;
    cur.lastComment = null;
    const local = readDotted(cur, `@${stops}`, true);
    cur.next(); // '@'
    const comment = cur.lastComment;
    cur.lastComment = null;
    const host = readDotted(cur, stops, false);
    const name = cur.lastComment ?? comment;
    return { name: name || null, adl: null, mailbox: local || null, host };
  }
  if (phrase === '') return null;
  // No '@' and no angle brackets: a display name alone, or a bare local part.
  if (/\s/.test(phrase)) return { name: phrase, adl: null, mailbox: '', host: '' };
  return { name: cur.lastComment || null, adl: null, mailbox: phrase, host: '' };
}

/** Parses an address-list header value (From, To, Cc…). Empty list: []. */
export function parseAddressList(value: string): EnvelopeAddress[] {
  const cur = new Cursor(tokenize(value));
  const out: EnvelopeAddress[] = [];
  while (!cur.done()) {
    if (cur.isSpecial(',') || cur.isSpecial(';') || cur.isSpecial('>')) {
      cur.next();
      continue;
    }
    // A group is "phrase : [mailbox-list] ;". Look ahead for ':' before any '<', '@' or ','.
    let j = cur.i;
    let isGroup = false;
    for (; j < cur.tokens.length; j++) {
      const t = cur.tokens[j]!;
      if (t.t !== 'special') continue;
      if (t.v === ':') isGroup = true;
      if (t.v !== '.') break;
    }
    if (isGroup) {
      const name = readPhrase(cur, ':');
      cur.next(); // ':'
      out.push({ name: null, adl: null, mailbox: name, host: null });
      while (!cur.done() && !cur.isSpecial(';')) {
        if (cur.isSpecial(',')) {
          cur.next();
          continue;
        }
        const before = cur.i;
        const m = readMailbox(cur, ',;');
        if (m) out.push(m);
        if (cur.i === before) cur.next();
      }
      if (cur.isSpecial(';')) cur.next();
      out.push({ name: null, adl: null, mailbox: null, host: null });
      continue;
    }
    const before = cur.i;
    const m = readMailbox(cur, ',');
    if (m) out.push(m);
    if (cur.i === before) cur.next();
  }
  return out;
}
