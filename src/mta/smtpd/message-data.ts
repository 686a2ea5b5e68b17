/**
 * The text of a message after DATA, read as sendmail 8.17 with Debian's
 * CVE-2023-51765 backport reads it (collect() in SMTP mode, srv_features
 * defaults): only CRLF "." CRLF ends the message; a bare LF or a bare CR
 * anywhere ends the session with 421 4.5.0 (a message whose end the two
 * sides could see differently is how SMTP smuggling works); a leading dot
 * is removed from every line that has one.
 *
 * The text is handed on as it arrives (line ends still CRLF) and never held
 * whole.  Over MaxMessageSize the rest is read and dropped, and the reader
 * fails once the end is reached, so the client still gets its reply.
 */
import { ERR, PosternError } from '../../common/errors.js';
import type { SmtpInput } from './input.js';

export const BARE_LF_TEXT = 'Bare linefeed (LF) not allowed';
export const BARE_CR_TEXT = 'Bare carriage return (CR) not allowed';

/** Input states, named after collect()'s. */
const enum State {
  BeginningOfLine,
  Normal,
  AfterCR,
  Dot,
  DotCR,
}

/** Why the message could not be read: a bare line end, the client gone, or it went quiet. */
export class MessageReadError extends PosternError {
  constructor(
    readonly problem: 'bare-lf' | 'bare-cr' | 'unexpected close' | 'read timeout',
    /** for bare line ends: in the header or the body (collect's where=) */
    readonly where: 'header' | 'body',
  ) {
    const bare = problem === 'bare-lf' || problem === 'bare-cr';
    super(bare ? ERR.SMTP_BARE_LINE_END : ERR.SMTP_CONNECTION_LOST, problem === 'bare-lf' ? BARE_LF_TEXT : problem === 'bare-cr' ? BARE_CR_TEXT : problem);
    this.name = 'MessageReadError';
  }
}

export interface MessageDataOptions {
  /** MaxMessageSize; 0 = no limit */
  readonly maxSize: number;
  /** Timeout.datablock, in ms */
  readonly timeoutMs: number;
}

export class MessageData {
  private state = State.BeginningOfLine;
  private lineLength = 0;
  private inBody = false;
  private done = false;
  /** bytes of text as stored (LF line ends) */
  private storedSize = 0;
  private tooBig = false;

  constructor(
    private readonly input: SmtpInput,
    private readonly options: MessageDataOptions,
  ) {}

  /** The size of the text so far, LF line ends (sendmail's e_msgsize). */
  get size(): number {
    return this.storedSize;
  }

  get finished(): boolean {
    return this.done;
  }

  /** The message text, CRLF line ends, dots removed; fails with MessageReadError or SMTP_MESSAGE_TOO_BIG. */
  async *text(): AsyncGenerator<Buffer> {
    for (;;) {
      const piece = await this.next();
      if (piece === null) break;
      if (!this.tooBig && piece.length > 0) yield piece;
    }
    if (this.tooBig) {
      throw new PosternError(ERR.SMTP_MESSAGE_TOO_BIG, `Message exceeds maximum fixed size (${this.options.maxSize})`);
    }
  }

  /** Reads and drops whatever is left of the message (after a failure to store it). */
  async drain(): Promise<void> {
    while ((await this.next()) !== null);
  }

  /** The next piece of text, or null at the end of the message. */
  private async next(): Promise<Buffer | null> {
    if (this.done) return null;
    const chunk = await this.input.readChunk(this.options.timeoutMs);
    if (chunk === 'eof' || chunk === 'timeout') {
      this.done = true;
      throw new MessageReadError(chunk === 'eof' ? 'unexpected close' : 'read timeout', this.inBody ? 'body' : 'header');
    }
    return this.scan(chunk);
  }

  private fail(problem: 'bare-lf' | 'bare-cr'): never {
    this.done = true;
    this.input.discard();
    throw new MessageReadError(problem, this.inBody ? 'body' : 'header');
  }

  /** Runs one chunk through the state machine; returns the text it holds (subarrays of `chunk` joined). */
  private scan(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let start = 0;
    let lineEnds = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (this.state === State.Normal) {
        // inside a line nothing happens until its CR (or a bare LF): skip there natively
        const end = lineEnd(chunk, i);
        this.lineLength += end - i;
        i = end;
        if (i === chunk.length) break;
      }
      const c = chunk[i]!;
      switch (this.state) {
        case State.BeginningOfLine:
          if (c === 0x2e) {
            out.push(chunk.subarray(start, i));
            start = i + 1;
            this.state = State.Dot;
            continue;
          }
          break;
        case State.Dot:
          if (c === 0x0d) {
            this.state = State.DotCR;
            continue;
          }
          break;
        case State.DotCR:
          if (c !== 0x0a) this.fail('bare-cr');
          // CRLF "." CRLF: the CRLF before the dot belongs to the text, the rest of the input does not
          this.done = true;
          this.input.unread(chunk.subarray(i + 1));
          this.count(out, lineEnds);
          return Buffer.concat(out);
        case State.AfterCR:
          if (c !== 0x0a) this.fail('bare-cr');
          lineEnds++;
          if (this.lineLength === 0) this.inBody = true;
          this.lineLength = 0;
          this.state = State.BeginningOfLine;
          continue;
        case State.Normal:
          break;
      }
      if (c === 0x0d) this.state = State.AfterCR;
      else if (c === 0x0a) this.fail('bare-lf');
      else {
        this.lineLength++;
        this.state = State.Normal;
      }
    }
    // a CR after a leading dot may begin the end of the message: held back until the next byte says
    out.push(chunk.subarray(start, this.state === State.DotCR ? chunk.length - 1 : chunk.length));
    this.count(out, lineEnds);
    return Buffer.concat(out);
  }

  private count(out: Buffer[], lineEnds: number): void {
    for (const b of out) this.storedSize += b.length;
    this.storedSize -= lineEnds; // each CRLF is stored as LF
    if (this.options.maxSize > 0 && this.storedSize > this.options.maxSize) this.tooBig = true;
  }
}

/** The index of the first CR or LF in `chunk` at or after `from`; the chunk's length when there is none. */
function lineEnd(chunk: Buffer, from: number): number {
  const cr = chunk.indexOf(0x0d, from);
  const lf = chunk.indexOf(0x0a, from);
  if (cr < 0) return lf < 0 ? chunk.length : lf;
  return lf < 0 || cr < lf ? cr : lf;
}
