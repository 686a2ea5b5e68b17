/**
 * One message in mbox form, streamed.
 *
 *   From <envelope sender> <ctime date>       (MAILER-DAEMON for the null sender)
 *   Return-Path: <envelope sender>
 *   the message, every line starting "From " written ">From "
 *   an empty line
 *
 * Return-Path: sendmail's local mailer has the P flag (cf/m4: `H?P?Return-Path:
 * <$g>`), and a Return-Path field that came with the message is never written
 * out by sendmail (conf.c marks it H_ACHECK, and a received header carries no
 * mailer flags), so the mailbox gets exactly one, first, from the envelope.
 * Postern does the same here: incoming Return-Path fields (and their
 * continuation lines) in the header section are dropped.
 *
 * Content-Length: dropped likewise (sendmail marks it H_ACHECK too, and
 * mail.local discards incoming ones).  mutt trusts a Content-Length that
 * lands on a From_ line, so a forged one could hide the messages after it.
 *
 * Escaping: every line starting "From " gets a ">" (sendmail's E flag, mboxo),
 * in the header section too, since readers such as mutt split on any such
 * line, not only after a blank one.  Debian's mail.local writes a
 * Content-Length: header instead; the escaped form needs no header to be
 * trusted.  A message that does not end in a newline gets one, as sendmail
 * and mail.local add it.
 */

import { ctime } from '../../common/ctime.js';

/** The From_ line's date: ctime(3)'s form, in local time. */
export { ctime as ctimeDate };

/** How many bytes of a line are enough to tell what it is ("Return-Path   :" included). */
const DECIDE_LENGTH = 64;
const NL = 0x0a;
/** header fields the sender may not supply: only the delivery knows their value */
const DROPPED_FIELD = /^(?:return-path|content-length)[ \t]*:/i;
const FROM_ = Buffer.from('From ');
const ESCAPE = Buffer.from('>');

/** Control characters in an envelope address could end the line and forge a second message. */
function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, '?');
}

/**
 * The From_ line and Return-Path field that open each message.  The From_
 * line's address is one word for every reader's parser, so a space (possible
 * in a quoted local part) becomes "_" there; Return-Path keeps it.
 */
export function mboxPreamble(sender: string, now: Date): Buffer {
  const envelope = printable(sender);
  return Buffer.from(`From ${envelope === '' ? 'MAILER-DAEMON' : envelope.replace(/ /g, '_')} ${ctime(now)}\nReturn-Path: <${envelope}>\n`);
}

/**
 * Line-start filter: holds the first bytes of each line until it can tell
 * whether the line is a "From " line or part of a dropped field, then
 * lets the rest of the line through without holding it.  No line is ever
 * held whole, so memory stays bounded whatever the message.
 */
export class MboxBodyEncoder {
  private inHeaders = true;
  private inDroppedField = false;
  /** the start of the current line, while its fate is undecided; null once decided */
  private held: Buffer[] | null = [];
  private heldLength = 0;
  private dropLine = false;
  private last = NL;

  /** The encoded form of the next piece of the message. */
  push(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let i = 0;
    while (i < chunk.length) {
      const nl = chunk.indexOf(NL, i);
      const end = nl === -1 ? chunk.length : nl + 1;
      if (this.held !== null) {
        const take = Math.min(end, i + DECIDE_LENGTH - this.heldLength);
        this.held.push(chunk.subarray(i, take));
        this.heldLength += take - i;
        i = take;
        const lineEnded = nl !== -1 && take === nl + 1;
        if (!lineEnded && this.heldLength < DECIDE_LENGTH) break; // need more bytes
        this.decide(out);
        if (lineEnded) this.held = [];
        continue;
      }
      if (!this.dropLine) this.emit(out, chunk.subarray(i, end));
      i = end;
      if (nl !== -1) {
        this.held = [];
        this.heldLength = 0;
      }
    }
    return Buffer.concat(out);
  }

  /** The rest: a held line start, a missing final newline, and the empty line that ends the message. */
  end(): Buffer {
    const out: Buffer[] = [];
    if (this.held !== null && this.heldLength > 0) this.decide(out);
    if (this.last !== NL) this.emit(out, Buffer.from('\n'));
    out.push(Buffer.from('\n'));
    return Buffer.concat(out);
  }

  private emit(out: Buffer[], bytes: Buffer): void {
    if (bytes.length === 0) return;
    out.push(bytes);
    this.last = bytes[bytes.length - 1]!;
  }

  /** Decides the fate of the held line start and writes it (or not). */
  private decide(out: Buffer[]): void {
    const start = Buffer.concat(this.held!);
    this.held = null;
    this.heldLength = 0;
    this.dropLine = false;
    if (this.inHeaders) {
      const text = start.toString('latin1');
      if (text === '\n' || text === '\r\n') {
        this.inHeaders = false;
      } else if (text[0] === ' ' || text[0] === '\t') {
        this.dropLine = this.inDroppedField; // a continuation belongs to the field above
      } else {
        this.inDroppedField = DROPPED_FIELD.test(text);
        this.dropLine = this.inDroppedField;
      }
    }
    if (this.dropLine) return;
    if (start.subarray(0, FROM_.length).equals(FROM_)) this.emit(out, ESCAPE);
    this.emit(out, start);
  }
}

/** The whole entry for one message: preamble, encoded message, closing empty line. */
export async function* encodeMbox(
  content: AsyncIterable<Buffer | Uint8Array | string>,
  sender: string,
  now: Date,
): AsyncGenerator<Buffer> {
  yield mboxPreamble(sender, now);
  const encoder = new MboxBodyEncoder();
  for await (const chunk of content) {
    const piece = encoder.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    if (piece.length > 0) yield piece;
  }
  yield encoder.end();
}
