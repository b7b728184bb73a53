/**
 * Everything the store keeps about a message besides its bytes, computed once at delivery so that
 * IMAP never parses a message again for FETCH ENVELOPE/BODYSTRUCTURE, SEARCH or SORT.
 */
import { parseMailDate } from './date.ts';
import { decodeEncodedWords } from './encoded-words.ts';
import { buildEnvelope, type Envelope } from './envelope.ts';
import { headerValue, parseHeaderBlock } from './headers.ts';
import { type MimePart, parseStructure, type StructureOptions } from './structure.ts';

export interface MessageSummary {
  envelope: Envelope;
  structure: MimePart;
  /** Decoded (RFC 2047) Subject, for SEARCH SUBJECT and SORT SUBJECT. */
  subject: string | null;
  /** Decoded From, To and Cc header text (names and addresses), for SEARCH FROM/TO/CC. */
  from: string | null;
  to: string | null;
  cc: string | null;
  /** Raw Message-ID, In-Reply-To and References, for threading. */
  messageId: string | null;
  inReplyTo: string | null;
  references: string | null;
  /** Date header as an ISO-8601 UTC instant (SORT DATE, SEARCH SENTBEFORE…); null when unreadable. */
  sentDate: string | null;
}

export function summarizeMessage(raw: Buffer, options: StructureOptions = {}): MessageSummary {
  const { fields } = parseHeaderBlock(raw);
  const value = (name: string) => {
    const v = headerValue(fields, name);
    return v === null || v === '' ? null : v;
  };
  const decoded = (name: string) => {
    const v = value(name);
    return v === null ? null : decodeEncodedWords(v);
  };
  return {
    envelope: buildEnvelope(fields),
    structure: parseStructure(raw, options),
    subject: decoded('subject'),
    from: decoded('from'),
    to: decoded('to'),
    cc: decoded('cc'),
    messageId: value('message-id'),
    inReplyTo: value('in-reply-to'),
    references: value('references'),
    sentDate: parseMailDate(value('date'))?.toISOString() ?? null,
  };
}
