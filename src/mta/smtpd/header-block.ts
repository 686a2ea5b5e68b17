/**
 * The header block of a message read over SMTP, split from its body.  The
 * text comes from MessageData, where every line ends in CRLF (a bare CR or
 * LF has already ended the session), so the stored form (LF line ends, as
 * sendmail's df files and Postern's queue keep) is the text without its CR
 * bytes, and the body can pass through chunk by chunk: the MSP's line-based
 * reader (msp/submission/reader.ts) makes several objects a line, which a
 * 50 MB message turns into a lot of garbage.
 *
 * The header ends at the first empty line (dropped; the caller writes its
 * own separator) or at the first line that is not a header field (it
 * begins the body), as in sendmail's collect().
 */

/** A header field's first line, as the MSP's reader recognises it. */
const FIELD = /^[!-9;-~]+[ \t]*:/;

export interface SplitMessage {
  /** the header lines, LF line ends, continuation lines included */
  readonly headerLines: string[];
  /** more than maxHeadersLength bytes of header (the rest of the text has then been read and dropped) */
  readonly headersTooLarge: boolean;
  /** the body, LF line ends; read it once */
  readonly body: AsyncIterable<Buffer>;
}

/** The chunk without its CR bytes (each one the first half of a CRLF). */
export function withoutCR(chunk: Buffer): Buffer {
  let cr = chunk.indexOf(13);
  if (cr < 0) return chunk;
  const parts: Buffer[] = [];
  let start = 0;
  while (cr >= 0) {
    parts.push(chunk.subarray(start, cr));
    start = cr + 1;
    cr = chunk.indexOf(13, start);
  }
  parts.push(chunk.subarray(start));
  return Buffer.concat(parts);
}

export async function splitHeaderBlock(text: AsyncIterable<Buffer>, maxHeadersLength: number): Promise<SplitMessage> {
  const it = text[Symbol.asyncIterator]();
  const headerLines: string[] = [];
  let headerBytes = 0;
  let pending: Buffer = Buffer.alloc(0);
  let bodyStart: Buffer | undefined;
  let ended = false;
  const tooLarge = (n: number) => maxHeadersLength > 0 && n > maxHeadersLength;
  scan: for (;;) {
    let start = 0;
    for (let nl = pending.indexOf(10); nl >= 0; nl = pending.indexOf(10, start)) {
      const line = pending.toString('latin1', start, nl + 1);
      if (line === '\n') {
        bodyStart = pending.subarray(nl + 1);
        break scan;
      }
      if (!FIELD.test(line) && !(headerLines.length > 0 && /^[ \t]/.test(line))) {
        bodyStart = pending.subarray(start);
        break scan;
      }
      headerLines.push(line);
      headerBytes += line.length;
      start = nl + 1;
      if (tooLarge(headerBytes)) return dropRest(it);
    }
    pending = pending.subarray(start);
    if (tooLarge(headerBytes + pending.length)) return dropRest(it);
    const r = await it.next();
    if (r.done === true) {
      ended = true;
      bodyStart = pending; // never more than a part of a line: the text always ends with a line end
      break;
    }
    pending = pending.length === 0 ? withoutCR(r.value) : Buffer.concat([pending, withoutCR(r.value)]);
  }
  const first = bodyStart;
  async function* body(): AsyncGenerator<Buffer> {
    if (first !== undefined && first.length > 0) yield first;
    if (ended) return;
    for (let r = await it.next(); r.done !== true; r = await it.next()) yield withoutCR(r.value);
  }
  return { headerLines, headersTooLarge: false, body: body() };
}

/** A header block too large: the rest of the text is read (so that the reply follows it) and dropped. */
async function dropRest(it: AsyncIterator<Buffer>): Promise<SplitMessage> {
  for (let r = await it.next(); r.done !== true; r = await it.next());
  return { headerLines: [], headersTooLarge: true, body: (async function* () {})() };
}
