/**
 * The IMAP ENVELOPE of a message (RFC 3501 7.4.2, RFC 9051 7.5.2), from its header fields.
 *
 * Values are raw: unfolded, but RFC 2047 encoded-words are left as written (the client decodes
 * them). The first occurrence of each field counts. Sender and Reply-To default to From when
 * they are absent or empty. An absent or empty field is null (NIL).
 */
import { type EnvelopeAddress, parseAddressList } from './addresses.ts';
import { type HeaderField, headerValue, parseHeaderBlock } from './headers.ts';

export type { EnvelopeAddress } from './addresses.ts';

export interface Envelope {
  date: string | null;
  subject: string | null;
  from: EnvelopeAddress[] | null;
  sender: EnvelopeAddress[] | null;
  replyTo: EnvelopeAddress[] | null;
  to: EnvelopeAddress[] | null;
  cc: EnvelopeAddress[] | null;
  bcc: EnvelopeAddress[] | null;
  inReplyTo: string | null;
  messageId: string | null;
}

function text(fields: readonly HeaderField[], name: string): string | null {
  const v = headerValue(fields, name);
  return v === null || v === '' ? null : v;
}

function addresses(fields: readonly HeaderField[], name: string): EnvelopeAddress[] | null {
  const v = headerValue(fields, name);
  if (v === null) return null;
  const list = parseAddressList(v);
  return list.length === 0 ? null : list;
}

/** The envelope of the entity whose header fields are `fields`. */
export function buildEnvelope(fields: readonly HeaderField[]): Envelope {
  const from = addresses(fields, 'from');
  return {
    date: text(fields, 'date'),
    subject: text(fields, 'subject'),
    from,
    sender: addresses(fields, 'sender') ?? from,
    replyTo: addresses(fields, 'reply-to') ?? from,
    to: addresses(fields, 'to'),
    cc: addresses(fields, 'cc'),
    bcc: addresses(fields, 'bcc'),
    inReplyTo: text(fields, 'in-reply-to'),
    messageId: text(fields, 'message-id'),
  };
}

/** The envelope of a whole raw message. */
export function parseEnvelope(raw: Buffer): Envelope {
  return buildEnvelope(parseHeaderBlock(raw).fields);
}
