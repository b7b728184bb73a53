import { isUtf8 } from 'node:buffer';

/**
 * Parser of the ANS liste blanche XML. PURE: bytes or text in, values out.
 *
 * The format is flat and small (root, DateDeGeneration, ListeDomaines/Domaine*, six text
 * fields), so this is a dedicated strict scanner rather than a general XML library:
 * - it accepts what the real file does (a document cut after `</ListeDomaines>` with no closing
 *   root tag) and nothing vaguer: a `<Domaine>` cut by the end of input, a wrong root or
 *   namespace, a missing `Nom`/`DNCertificatOperateur`, stray text, an undefined entity or an
 *   empty list are errors that name the line;
 * - XML it must read: the five predefined entities and numeric references, CDATA sections,
 *   comments, processing instructions, namespace prefixes (`<lb:Domaine>`), a UTF-8 BOM and the
 *   encodings UTF-8, UTF-16 (by BOM) and ISO-8859-1;
 * - no DTD: a DOCTYPE is refused (no entity expansion, nothing fetched);
 * - unknown elements (a future field) are skipped and reported in `warnings`.
 * It is a single pass over the text with `indexOf` and sticky regular expressions: the real
 * 3.7 MB file parses in a few tens of milliseconds.
 */

export const LISTE_BLANCHE_NS = 'https://listeblanche.mssante.fr/schema';
export const LISTE_BLANCHE_ROOT = 'ListeBlancheMSSante';

/** One `<Domaine>` of the list. A domain name can have several entries. */
export interface WhitelistEntry {
  /** `Nom`, trimmed, as written (case kept). */
  domain: string;
  description: string;
  /** `DNCertificatOperateur` as written (trimmed). */
  dn: string;
  responsibleContact: string;
  supportContact: string;
  /** `DateMAJ`; null when absent or not a date. */
  updatedAt: Date | null;
  /** Line of the `<Domaine>` start tag (1-based). */
  line: number;
}

export interface ParsedWhitelist {
  /** `DateDeGeneration`. */
  generatedAt: Date;
  entries: WhitelistEntry[];
  /** Things accepted but worth a log line (missing root end tag, unknown elements, bad DateMAJ). */
  warnings: string[];
}

export class WhitelistParseError extends Error {
  override readonly name = 'WhitelistParseError';
  constructor(
    /** 1-based line of the problem, when there is one. */
    readonly line: number | null,
    reason: string,
  ) {
    super(line === null ? `liste blanche: ${reason}` : `liste blanche, line ${line}: ${reason}`);
  }
}

/** The fields of a `<Domaine>` (→ WhitelistEntry: domain, description, dn, responsibleContact, supportContact, updatedAt). */
type FieldName =
  | 'Nom'
  | 'Description'
  | 'DNCertificatOperateur'
  | 'ResponsableContact'
  | 'SupportContact'
  | 'DateMAJ';
const isField = (name: string): name is FieldName => {
  switch (name) {
    case 'Nom':
    case 'Description':
    case 'DNCertificatOperateur':
    case 'ResponsableContact':
    case 'SupportContact':
    case 'DateMAJ':
      return true;
    default:
      return false;
  }
};

/** Decodes the bytes of the document into text (BOM, then the XML declaration's encoding). */
export function decodeXml(bytes: Uint8Array): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return utf8Decode(bytes.subarray(3));
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  const head = Buffer.from(bytes.subarray(0, 200)).toString('latin1');
  const decl = /^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head);
  const enc = decl?.[1]?.toLowerCase() ?? 'utf-8';
  if (enc === 'utf-8' || enc === 'utf8') return utf8Decode(bytes);
  if (enc === 'iso-8859-1' || enc === 'latin1' || enc === 'iso8859-1' || enc === 'latin-1')
    return Buffer.from(bytes).toString('latin1');
  throw new WhitelistParseError(1, `unsupported encoding "${decl?.[1]}" (UTF-8 expected)`);
}

function utf8Decode(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buf)) return buf.toString('utf8');
  // Find the line of the first bad byte for the message.
  const text = buf.toString('utf8');
  const bad = text.indexOf('\ufffd');
  const line = bad < 0 ? null : text.slice(0, bad).split('\n').length;
  throw new WhitelistParseError(line, 'the document is not valid UTF-8');
}

const XML_CHAR = (cp: number) =>
  cp === 0x9 ||
  cp === 0xa ||
  cp === 0xd ||
  (cp >= 0x20 && cp <= 0xd7ff) ||
  (cp >= 0xe000 && cp <= 0xfffd) ||
  (cp >= 0x10000 && cp <= 0x10ffff);

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

const NAME = '[A-Za-z_][A-Za-z0-9_.\\-]*';
/** Attributes after the element name, up to `>` or `/>`. */
const ATTRS_RE = new RegExp(`((?:\\s+${NAME}(?::${NAME})?\\s*=\\s*(?:"[^"<]*"|'[^'<]*'))*)\\s*(/?)>`, 'y');
const ATTR_RE = new RegExp(`(${NAME}(?::${NAME})?)\\s*=\\s*(?:"([^"<]*)"|'([^'<]*)')`, 'g');
const QNAME_RE = new RegExp(`^${NAME}(?::${NAME})?$`);

const isNameStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
const isNameChar = (c: number) =>
  isNameStart(c) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 58; /* - . : */
const isSpace = (c: number) => c === 32 || c === 10 || c === 9 || c === 13;
/** The scanner took [A-Za-z0-9_.:-]+; a valid (prefixed) name needs more only when odd. */
const validQname = (q: string) =>
  q.length > 0 && isNameStart(q.charCodeAt(0)) && (q.indexOf(':') < 0 || QNAME_RE.test(q));

const ISO_DATE_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?$/;

/** xs:dateTime → Date; a value without a zone is read as UTC. null when it is not one. */
export function parseXmlDate(text: string): Date | null {
  const t = text.trim();
  if (!ISO_DATE_RE.test(t)) return null;
  const d = new Date(/(?:Z|[+-]\d{2}:?\d{2})$/.test(t) ? t : `${t}Z`);
  return Number.isNaN(d.getTime()) ? null : d;
}

interface Frame {
  /** Qualified name as written, for the end tag. */
  qname: string;
  local: string;
  ns: string | null;
  /** prefix → namespace URI in scope ('' is the default namespace). */
  scope: Record<string, string>;
  /** Offset of the start tag. */
  at: number;
}

type EntryDraft = { [K in FieldName]?: string } & { at: number; line: number };

/** Parses the liste blanche. Throws WhitelistParseError naming the line of the problem. */
export function parseWhitelist(input: string | Uint8Array): ParsedWhitelist {
  const s = typeof input === 'string' ? input.replace(/^\ufeff/, '') : decodeXml(input);
  const n = s.length;

  // Line numbers, computed on demand; offsets mostly grow, so counting resumes where it stopped.
  let lineOff = 0;
  let lineNo = 1;
  const lineOf = (off: number): number => {
    if (off < lineOff) {
      lineOff = 0;
      lineNo = 1;
    }
    let nl = s.indexOf('\n', lineOff);
    while (nl >= 0 && nl < off) {
      lineNo++;
      nl = s.indexOf('\n', nl + 1);
    }
    lineOff = off;
    return lineNo;
  };
  const fail = (off: number, reason: string): never => {
    throw new WhitelistParseError(lineOf(off), reason);
  };

  const decodeText = (raw: string, at: number): string => {
    if (!raw.includes('&')) return raw;
    return raw.replace(/&([^;&<\s]{0,32});?/g, (whole, ref: string, offset: number) => {
      if (!whole.endsWith(';')) return fail(at + offset, `unescaped '&' (write &amp;)`);
      if (ref.startsWith('#')) {
        const cp = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
        if (!/^#(?:x[0-9a-fA-F]+|[0-9]+)$/.test(ref) || !XML_CHAR(cp))
          return fail(at + offset, `bad character reference &${ref};`);
        return String.fromCodePoint(cp);
      }
      const v = PREDEFINED[ref];
      if (v === undefined) return fail(at + offset, `undefined entity &${ref}; (no DTD is read)`);
      return v;
    });
  };

  const stack: Frame[] = [];
  let rootSeen = false;
  let rootClosed = false;
  let listSeen = false;
  let listClosed = false;
  let generatedAt: Date | null = null;
  let generatedAtLine = 0;
  const entries: WhitelistEntry[] = [];
  const warnings: string[] = [];
  const unknown = new Map<string, { count: number; line: number }>();
  /** DateMAJ values repeat a lot: parse each text once. */
  const dates = new Map<string, Date | null>();
  /** Depth at which an unknown element started; everything below is skipped. */
  let skipFrom = -1;
  let draft: EntryDraft | null = null;
  let domaineFrame: Frame | null = null;
  /** Text of the leaf element being read (Nom, DateDeGeneration…). */
  let leaf: { name: string; text: string } | null = null;

  const where = (f: Frame) => `<${f.qname}> (line ${lineOf(f.at)})`;

  /** Character data between `start` and `end` (CDATA when `cdata`). Only fields keep it. */
  const onText = (start: number, end: number, cdata: boolean) => {
    if (skipFrom >= 0) return;
    if (leaf) {
      const raw = s.slice(start, end);
      leaf.text += cdata ? raw : decodeText(raw, start);
      return;
    }
    let k = start;
    while (k < end && isSpace(s.charCodeAt(k))) k++;
    if (k < end) {
      const parent = stack[stack.length - 1];
      fail(
        k,
        parent
          ? `unexpected text inside ${where(parent)}`
          : rootClosed
            ? 'text after the root element'
            : 'text before the root element',
      );
    }
  };

  const onStart = (qname: string, attrs: string, selfClosing: boolean, at: number) => {
    const parent = stack[stack.length - 1];
    let scope = parent?.scope ?? {};
    if (attrs) {
      let declared: Record<string, string> | null = null;
      for (const m of attrs.matchAll(ATTR_RE)) {
        const name = m[1]!;
        if (name === 'xmlns' || name.startsWith('xmlns:')) {
          declared ??= { ...scope };
          declared[name === 'xmlns' ? '' : name.slice(6)] = decodeText(m[2] ?? m[3] ?? '', at);
        }
      }
      if (declared) scope = declared;
    }
    const colon = qname.indexOf(':');
    const prefix = colon < 0 ? '' : qname.slice(0, colon);
    const local = colon < 0 ? qname : qname.slice(colon + 1);
    const ns = scope[prefix] ?? null;
    if (prefix && ns === null) fail(at, `undeclared namespace prefix "${prefix}" on <${qname}>`);
    const frame: Frame = { qname, local, ns, scope, at };
    const depth = stack.length;

    if (skipFrom >= 0) {
      // inside an unknown element
    } else if (leaf) {
      fail(at, `<${leaf.name}> must hold text only, found <${qname}>`);
    } else if (depth === 0) {
      if (rootClosed) fail(at, `a second root element <${qname}>`);
      if (local !== LISTE_BLANCHE_ROOT || ns !== LISTE_BLANCHE_NS)
        fail(
          at,
          `the root element must be <${LISTE_BLANCHE_ROOT}> in namespace ${LISTE_BLANCHE_NS}, found <${qname}>` +
            (ns ? ` in namespace ${ns}` : ' with no namespace'),
        );
      rootSeen = true;
    } else if (ns !== LISTE_BLANCHE_NS) {
      skip(local, ns, at, depth);
    } else if (depth === 1 && local === 'DateDeGeneration') {
      if (generatedAt || generatedAtLine) fail(at, 'a second <DateDeGeneration>');
      generatedAtLine = lineOf(at);
      leaf = { name: local, text: '' };
    } else if (depth === 1 && local === 'ListeDomaines') {
      if (listSeen) fail(at, 'a second <ListeDomaines>');
      listSeen = true;
    } else if (depth === 2 && stack[1]!.local === 'ListeDomaines' && local === 'Domaine') {
      draft = { at, line: lineOf(at) };
      domaineFrame = frame;
    } else if (depth === 3 && draft && isField(local)) {
      if (draft[local] !== undefined) fail(at, `a second <${local}> in the <Domaine> of line ${draft.line}`);
      leaf = { name: local, text: '' };
    } else {
      skip(local, ns, at, depth);
    }

    stack.push(frame);
    if (selfClosing) onEnd(qname, at);
  };

  const skip = (local: string, ns: string | null, at: number, depth: number) => {
    skipFrom = depth;
    const key = ns === LISTE_BLANCHE_NS ? local : `{${ns ?? ''}}${local}`;
    const u = unknown.get(key);
    if (u) u.count++;
    else unknown.set(key, { count: 1, line: lineOf(at) });
  };

  const onEnd = (qname: string, at: number) => {
    const frame = stack.pop();
    if (!frame) return fail(at, `end tag </${qname}> without a start tag`);
    if (frame.qname !== qname) fail(at, `end tag </${qname}> does not match ${where(frame)}`);
    const depth = stack.length;
    if (skipFrom >= 0) {
      if (depth === skipFrom) skipFrom = -1;
      return;
    }
    if (leaf) {
      const text = leaf.text;
      if (depth === 1) {
        generatedAt = parseXmlDate(text);
        if (!generatedAt) fail(frame.at, `<DateDeGeneration> is not a date: "${text.trim()}"`);
      } else if (draft) {
        draft[leaf.name as FieldName] = text;
      }
      leaf = null;
      return;
    }
    if (depth === 0) {
      rootClosed = true;
    } else if (depth === 1 && frame.local === 'ListeDomaines') {
      listClosed = true;
    } else if (depth === 2 && draft && frame === domaineFrame) {
      entries.push(finishEntry(draft));
      draft = null;
      domaineFrame = null;
    }
  };

  const finishEntry = (d: EntryDraft): WhitelistEntry => {
    const line = d.line;
    const domain = (d.Nom ?? '').trim();
    const dn = (d.DNCertificatOperateur ?? '').trim();
    if (!domain)
      fail(d.at, d.Nom === undefined ? '<Domaine> without <Nom>' : '<Domaine> with an empty <Nom>');
    if (!dn)
      fail(
        d.at,
        d.DNCertificatOperateur === undefined
          ? `<Domaine> ${domain} without <DNCertificatOperateur>`
          : `<Domaine> ${domain} with an empty <DNCertificatOperateur>`,
      );
    let updatedAt: Date | null = null;
    if (d.DateMAJ !== undefined) {
      let cached = dates.get(d.DateMAJ);
      if (cached === undefined) {
        cached = parseXmlDate(d.DateMAJ);
        dates.set(d.DateMAJ, cached);
      }
      updatedAt = cached && new Date(cached.getTime());
      if (!updatedAt)
        warnings.push(`line ${line}: <DateMAJ> of ${domain} is not a date: "${d.DateMAJ.trim()}"`);
    }
    return {
      domain,
      description: (d.Description ?? '').trim(),
      dn,
      responsibleContact: (d.ResponsableContact ?? '').trim(),
      supportContact: (d.SupportContact ?? '').trim(),
      updatedAt,
      line,
    };
  };

  /** The end of input came too early: name what was left open. */
  const truncated = (off: number, what: string): never => {
    const open = domaineFrame ?? stack.at(-1);
    const inside = open ? `; ${where(open)} is not closed` : '';
    return fail(off, `truncated document: ${what}${inside}`);
  };

  let i = 0;
  while (i < n) {
    const lt = s.indexOf('<', i);
    const textEnd = lt < 0 ? n : lt;
    if (textEnd > i) onText(i, textEnd, false);
    if (lt < 0) break;
    const c = s.charCodeAt(lt + 1);
    if (c === 0x3f /* ? */) {
      const end = s.indexOf('?>', lt + 2);
      if (end < 0) truncated(lt, 'end of input inside a processing instruction');
      i = end + 2;
    } else if (c === 0x21 /* ! */) {
      if (s.startsWith('<!--', lt)) {
        const end = s.indexOf('-->', lt + 4);
        if (end < 0) truncated(lt, 'end of input inside a comment');
        i = end + 3;
      } else if (s.startsWith('<![CDATA[', lt)) {
        const end = s.indexOf(']]>', lt + 9);
        if (end < 0) truncated(lt, 'end of input inside a CDATA section');
        if (stack.length === 0) fail(lt, 'CDATA outside the root element');
        onText(lt + 9, end, true);
        i = end + 3;
      } else if (s.startsWith('<!DOCTYPE', lt)) {
        fail(lt, 'a DOCTYPE is not allowed in the liste blanche');
      } else {
        fail(lt, 'malformed markup');
      }
    } else if (c === 0x2f /* / */) {
      // </name >
      let j = lt + 2;
      while (j < n && isNameChar(s.charCodeAt(j))) j++;
      const qname = s.slice(lt + 2, j);
      while (j < n && isSpace(s.charCodeAt(j))) j++;
      if (j >= n) truncated(lt, 'end of input inside an end tag');
      if (s.charCodeAt(j) !== 0x3e /* > */ || !validQname(qname)) fail(lt, 'malformed end tag');
      onEnd(qname, lt);
      i = j + 1;
    } else {
      // <name>, <name/> or <name attr="…" …>
      let j = lt + 1;
      while (j < n && isNameChar(s.charCodeAt(j))) j++;
      const qname = s.slice(lt + 1, j);
      const next = s.charCodeAt(j);
      if (j >= n || (next === 0x2f && j + 1 >= n)) truncated(lt, 'end of input inside a tag');
      if (!validQname(qname))
        fail(lt, `malformed tag ${JSON.stringify(s.slice(lt, Math.min(n, lt + 40)).split('\n')[0])}`);
      if (next === 0x3e /* > */) {
        onStart(qname, '', false, lt);
        i = j + 1;
      } else if (next === 0x2f /* / */ && s.charCodeAt(j + 1) === 0x3e) {
        onStart(qname, '', true, lt);
        i = j + 2;
      } else {
        ATTRS_RE.lastIndex = j;
        const m = ATTRS_RE.exec(s);
        if (!m) {
          if (s.indexOf('>', j) < 0) truncated(lt, 'end of input inside a tag');
          fail(lt, `malformed tag ${JSON.stringify(s.slice(lt, Math.min(n, lt + 40)).split('\n')[0])}`);
        }
        onStart(qname, m![1]!, m![2] === '/', lt);
        i = j + m![0].length;
      }
    }
  }

  if (!rootSeen) fail(n, `no <${LISTE_BLANCHE_ROOT}> element: empty or not the liste blanche`);
  if (stack.length > 0) {
    // The published file ends after </ListeDomaines> without closing its root: accept exactly that.
    if (stack.length === 1 && listClosed) warnings.push(`the document ends without </${stack[0]!.qname}>`);
    else truncated(n, 'end of input');
  }
  if (!generatedAt) fail(n, 'no <DateDeGeneration>');
  if (!listSeen) fail(n, 'no <ListeDomaines>');
  if (entries.length === 0) fail(n, 'the list holds no <Domaine>');
  for (const [name, u] of unknown)
    warnings.push(`unknown element <${name}> skipped (${u.count}×, first at line ${u.line})`);
  return { generatedAt: generatedAt!, entries, warnings };
}
