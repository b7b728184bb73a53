/**
 * Limits of the IMAP protocol layer (reader and parser). Every value is configurable; the
 * defaults suit a server whose APPENDLIMIT is 50 MiB. The session can tighten them before
 * authentication (`ImapReader.setLimits`) and loosen them afterwards.
 */
export interface ImapLimits {
  /** Octets of one line of a command (or of a continuation line), CRLF excluded. */
  maxLineLength: number;
  /** Octets of one literal outside APPEND (SEARCH strings, LOGIN passwords…). */
  maxLiteralSize: number;
  /** Octets of one APPEND message literal (the advertised APPENDLIMIT). */
  maxMessageSize: number;
  /** Octets of one whole command: lines, literals and message literals together (MULTIAPPEND). */
  maxCommandSize: number;
  /** Literals in one command. */
  maxLiterals: number;
  /** Nesting of parenthesised lists and search keys (NOT / OR / "(" … ")"). */
  maxNestingDepth: number;
  /** Arguments (atoms, strings, numbers, list items) in one command. */
  maxCommandArgs: number;
  /**
   * Non-synchronising literals: 'plus' (LITERAL+, any size), 'minus' (LITERAL-, up to
   * `literalMinusMax` octets) or 'none' (rejected with BAD).
   */
  nonSyncLiterals: 'plus' | 'minus' | 'none';
  /** LITERAL- bound (RFC 7888 section 5): 4096. */
  literalMinusMax: number;
}

export const DEFAULT_IMAP_LIMITS: Readonly<ImapLimits> = Object.freeze({
  maxLineLength: 64 * 1024,
  maxLiteralSize: 64 * 1024,
  maxMessageSize: 50 * 1024 * 1024,
  maxCommandSize: 64 * 1024 * 1024,
  maxLiterals: 1000,
  maxNestingDepth: 32,
  maxCommandArgs: 10_000,
  nonSyncLiterals: 'plus',
  literalMinusMax: 4096,
});

/** The defaults with `overrides` applied (undefined values ignored). */
export function resolveLimits(overrides: Partial<ImapLimits> = {}): ImapLimits {
  const out: ImapLimits = { ...DEFAULT_IMAP_LIMITS };
  for (const [k, v] of Object.entries(overrides)) {
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}
