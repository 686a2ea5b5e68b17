/**
 * What the client sends, as the session reads it: command lines one at a
 * time, the message text chunk by chunk, and whether anything is already
 * waiting (the anti-smuggling checks need that, as sendmail asks its input
 * channel whether it is readable before it answers EHLO and DATA).
 *
 * The socket is kept reading (not paused) while little is buffered, so that
 * bytes a client sent ahead of a reply are in this process when the session
 * looks; above HIGH_WATER it is paused, so a client cannot make the session
 * hold more than that in memory.
 */
import type { Socket } from 'node:net';

/** Bytes buffered before the socket is paused. */
const HIGH_WATER = 256 * 1024;

/** sendmail's MAXLINE: a command line (its CRLF included) longer than this is an attack. */
export const MAX_COMMAND_LINE = 2048;
/** sendmail reads a command into a MAXINPLINE buffer: what it reports for a line with no end in sight. */
const MAX_INPUT_LINE = 12287;

export type LineResult =
  | { readonly kind: 'line'; readonly text: string }
  | { readonly kind: 'too-long'; readonly length: number }
  | { readonly kind: 'eof' }
  | { readonly kind: 'timeout' };

export type ChunkResult = Buffer | 'eof' | 'timeout';

export class SmtpInput {
  private chunks: Buffer[] = [];
  private size = 0;
  private ended = false;
  private wake: (() => void) | undefined;

  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size >= HIGH_WATER) this.socket.pause();
    this.notify();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.notify();
  };

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onEnd);
  }

  /**
   * Stops reading this socket (STARTTLS hands it to TLS) and drops what is
   * buffered: bytes sent in clear after STARTTLS must never count as said
   * under TLS (the command injection of CVE-2011-0411).
   */
  detach(): number {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onEnd);
    const dropped = this.size;
    this.chunks = [];
    this.size = 0;
    return dropped;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Waits for more input; false when the wait timed out. */
  private waitForInput(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = timeoutMs > 0 ? setTimeout(() => ((this.wake = undefined), resolve(false)), timeoutMs) : undefined;
      this.wake = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve(true);
      };
    });
  }

  private consumed(n: number): void {
    this.size -= n;
    if (this.size < HIGH_WATER && this.socket.isPaused() && !this.ended) this.socket.resume();
  }

  /**
   * True when the client has sent bytes the session has not read yet.  Two
   * turns of the event loop first, so that what is already in the kernel's
   * socket buffer is read in (a zero-timeout select, as sendmail does).
   */
  async hasPending(): Promise<boolean> {
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    return this.size > 0;
  }

  /** Waits up to `ms` for the client to send something; true when it did (greet pause). */
  async sendsWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.size === 0 && !this.ended) {
      const left = deadline - Date.now();
      if (left <= 0 || !(await this.waitForInput(left))) break;
    }
    return this.size > 0;
  }

  /** Whether bytes are buffered right now (no waiting). */
  get buffered(): number {
    return this.size;
  }

  /**
   * The next command line, without its line end (CRLF or a bare LF, both
   * taken as sendmail does on command lines), as latin1 text.
   */
  async readLine(timeoutMs: number): Promise<LineResult> {
    for (;;) {
      let offset = 0;
      for (let c = 0; c < this.chunks.length; c++) {
        const chunk = this.chunks[c]!;
        const nl = chunk.indexOf(10);
        if (nl < 0) {
          offset += chunk.length;
          continue;
        }
        const length = offset + nl + 1;
        const line = Buffer.concat([...this.chunks.slice(0, c), chunk.subarray(0, nl + 1)], length);
        const rest = chunk.subarray(nl + 1);
        this.chunks = rest.length > 0 ? [rest, ...this.chunks.slice(c + 1)] : this.chunks.slice(c + 1);
        this.consumed(length);
        if (length > MAX_COMMAND_LINE) return { kind: 'too-long', length: Math.min(length, MAX_INPUT_LINE) };
        const end = length >= 2 && line[length - 2] === 13 ? length - 2 : length - 1;
        return { kind: 'line', text: line.toString('latin1', 0, end) };
      }
      if (offset > MAX_INPUT_LINE) return { kind: 'too-long', length: MAX_INPUT_LINE };
      if (this.ended) {
        if (offset === 0) return { kind: 'eof' };
        // a last line without its end: taken as a line, as sendmail's fgets does
        const line = Buffer.concat(this.chunks, offset);
        this.chunks = [];
        this.consumed(offset);
        return { kind: 'line', text: line.toString('latin1') };
      }
      if (!(await this.waitForInput(timeoutMs))) return { kind: 'timeout' };
    }
  }

  /** The next piece of raw input, whatever it holds (message text is read this way). */
  async readChunk(timeoutMs: number): Promise<ChunkResult> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk !== undefined) {
        this.consumed(chunk.length);
        return chunk;
      }
      if (this.ended) return 'eof';
      if (!(await this.waitForInput(timeoutMs))) return 'timeout';
    }
  }

  /** Gives back input read too far (what follows the end of a message). */
  unread(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.unshift(chunk);
    this.size += chunk.length;
  }

  /** Drops everything buffered (the session is closing). */
  discard(): void {
    this.consumed(this.size);
    this.chunks = [];
  }
}
