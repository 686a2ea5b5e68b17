/**
 * Reading a message from a program's standard input, as sendmail's collect()
 * does outside SMTP: the header block is gathered in memory (at most
 * MaxHeadersLength bytes), the body is passed on as a stream.
 *
 * Line endings: CRLF and LF are both accepted; the stored form is LF only
 * (sendmail's df file holds LF lines too).  A bare CR is kept as it is.
 *
 * Dots (without -i / IgnoreDots): a line that is just "." ends the message,
 * and a leading ".." loses one dot (sendmail's collect does both in -bm
 * mode); every other line starting with a dot is kept as is.  With -i
 * nothing is special.
 */

/** A piece of an input line: `bol` when it starts a line, `eol` when it ends with the line's LF. */
interface Segment {
  readonly bytes: Buffer;
  readonly bol: boolean;
  readonly eol: boolean;
}

/** Longest piece of a line handed on at once; longer lines are split (never inside a CRLF). */
const SEGMENT_MAX = 64 * 1024;

/** Splits a byte stream into line segments, CRLF and LF both ending a line, LF kept. */
async function* segments(input: AsyncIterable<Buffer | string>): AsyncGenerator<Segment> {
  let pending: Buffer = Buffer.alloc(0);
  let bol = true;
  for await (const chunk of input) {
    let data = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, Buffer.from(chunk)]);
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl < 0) break;
      const end = nl > start && data[nl - 1] === 13 ? nl - 1 : nl;
      yield { bytes: Buffer.concat([data.subarray(start, end), LF]), bol, eol: true };
      bol = true;
      start = nl + 1;
    }
    data = data.subarray(start);
    while (data.length > SEGMENT_MAX) {
      let cut = SEGMENT_MAX;
      if (data[cut - 1] === 13) cut--;
      yield { bytes: Buffer.from(data.subarray(0, cut)), bol, eol: false };
      bol = false;
      data = data.subarray(cut);
    }
    pending = Buffer.from(data);
  }
  if (pending.length > 0) yield { bytes: pending, bol, eol: false };
}

const LF = Buffer.from('\n');

export interface ReadOptions {
  /** -i / -oi / IgnoreDots: a lone "." does not end the message */
  readonly ignoreDots: boolean;
  /** MaxHeadersLength; 0 or less = no limit */
  readonly maxHeadersLength: number;
}

export interface RawMessage {
  /** the header lines as read (LF endings), continuation lines included, without the blank separator line */
  readonly headerLines: string[];
  /** true when the header block went over maxHeadersLength (the rest of the input was then discarded) */
  readonly headersTooLarge: boolean;
  /** the body, LF line endings, dots handled; read it once */
  readonly body: AsyncIterable<Buffer>;
}

const FIELD = /^[!-9;-~]+[ \t]*:/;

/**
 * Reads the header block of `input` and returns it with the body as a
 * stream.  The input is read on only as the body is consumed.
 */
export async function readMessage(input: AsyncIterable<Buffer | string>, opts: ReadOptions): Promise<RawMessage> {
  const it = segments(input)[Symbol.asyncIterator]();
  let ended = false;
  /** next segment after dot handling; undefined at the end of the message */
  const next = async (): Promise<Segment | undefined> => {
    if (ended) return undefined;
    const r = await it.next();
    if (r.done === true) {
      ended = true;
      return undefined;
    }
    const s = r.value;
    if (!opts.ignoreDots && s.bol && s.bytes[0] === 0x2e) {
      if (s.eol && s.bytes.length === 2) {
        ended = true;
        // the rest of the input is not part of the message; stop reading it
        await it.return?.(undefined);
        return undefined;
      }
      if (s.bytes[1] === 0x2e) return { ...s, bytes: s.bytes.subarray(1) };
    }
    return s;
  };

  const headerLines: string[] = [];
  let size = 0;
  let tooLarge = false;
  let carry: Segment[] = [];
  let partial = '';
  let partialSegs: Segment[] = [];
  for (;;) {
    const s = await next();
    if (s === undefined) {
      if (partial !== '') {
        if (FIELD.test(partial) || (headerLines.length > 0 && /^[ \t]/.test(partial))) headerLines.push(partial + '\n');
        else carry = partialSegs;
      }
      break;
    }
    partial += s.bytes.toString('latin1');
    partialSegs.push(s);
    size += s.bytes.length;
    if (opts.maxHeadersLength > 0 && size > opts.maxHeadersLength) {
      tooLarge = true;
      while ((await next()) !== undefined);
      break;
    }
    if (!s.eol) continue;
    const line = partial;
    const segs = partialSegs;
    partial = '';
    partialSegs = [];
    if (line === '\n') break;
    if (FIELD.test(line) || (headerLines.length > 0 && /^[ \t]/.test(line))) {
      headerLines.push(line);
      continue;
    }
    carry = segs; // not a header: the body starts here
    break;
  }

  async function* body(): AsyncGenerator<Buffer> {
    const parts: Buffer[] = carry.map((s) => s.bytes);
    let size = parts.reduce((n, b) => n + b.length, 0);
    for (;;) {
      const s = await next();
      if (s === undefined) break;
      parts.push(s.bytes);
      size += s.bytes.length;
      if (size >= SEGMENT_MAX) {
        yield Buffer.concat(parts);
        parts.length = 0;
        size = 0;
      }
    }
    if (parts.length > 0) yield Buffer.concat(parts);
  }
  return { headerLines: tooLarge ? [] : headerLines, headersTooLarge: tooLarge, body: body() };
}
