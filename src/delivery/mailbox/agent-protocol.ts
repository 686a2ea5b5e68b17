/**
 * What the broker and a mailbox agent say to each other over the agent's
 * standard input and output.  One agent serves any number of deliveries for
 * its own uid, one after the other:
 *
 *   stdin:  per delivery, one JSON request line; for an append, the message
 *           follows in frames (a 4-byte big-endian length and that many
 *           bytes), ended by a frame of length 0, or by ABORT_FRAME when the
 *           broker could not read the message whole.  End of file between
 *           requests: the agent exits.
 *   stdout: per delivery, at most one progress line ({appending}) and then
 *           exactly one status line ({status, dsn, text, code?}).
 *
 * The frames exist so that the agent can tell a whole message from one cut
 * short: with plain end-of-file both look the same, and a truncated message
 * would be appended and reported sent.  The progress line says where the
 * entry starts in which file, so that when an agent dies without a status the
 * broker can have a fresh agent cut the file back there: the runner then
 * retries, and the message is in the mailbox once, never half or twice.
 */
import type { MailboxUser } from './append.js';
import { ContentError } from './append.js';

export const PROTOCOL_VERSION = 2;
/** The request line is small; anything longer is not from the broker. */
const MAX_REQUEST_LINE = 16 * 1024;
/** The broker's "the message could not be read whole" mark, in place of a frame length. */
const ABORT_FRAME = 0xffffffff;

interface RequestBase {
  readonly v: typeof PROTOCOL_VERSION;
  readonly spoolDir: string;
  readonly user: MailboxUser;
  readonly lockTimeoutMs: number;
}

export interface AppendRequestLine extends RequestBase {
  readonly kind: 'append';
  readonly sender: string;
  /** milliseconds since the epoch, for the From_ line */
  readonly now: number;
}

/** Where an append began: the file (device and inode, as decimal strings) and its size before. */
export interface AppendStart {
  readonly size: number;
  readonly dev: string;
  readonly ino: string;
}

/** Undo an append whose agent died without a status: truncate to `at.size` when the file is still `at`'s. */
export interface CutBackRequestLine extends RequestBase {
  readonly kind: 'cut-back';
  readonly at: AppendStart;
}

export type AgentRequest = AppendRequestLine | CutBackRequestLine;

/** One request, and for an append the message, as the bytes the broker sends. */
export function requestLine(request: AgentRequest): Buffer {
  return Buffer.from(JSON.stringify(request) + '\n');
}

export function frameHeader(length: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(length);
  return header;
}

export const END_FRAME = frameHeader(0);
export const ABORT_MARK = frameHeader(ABORT_FRAME);

/** The progress line an agent writes before its first byte goes into the mailbox. */
export function progressLine(at: AppendStart): string {
  return JSON.stringify({ appending: at }) + '\n';
}

/** The AppendStart of a progress line, or undefined when the line is something else. */
export function parseProgress(value: unknown): AppendStart | undefined {
  const at = (value as { appending?: Partial<AppendStart> } | null)?.appending;
  if (at === undefined || !isId(at.size) || !isDecimal(at.dev) || !isDecimal(at.ino)) return undefined;
  return { size: at.size, dev: at.dev, ino: at.ino };
}

/**
 * Reads the agent's input stream: request lines and message frames, without
 * holding more than one input chunk.  The agent must finish (or skip) one
 * message before it reads the next request.
 */
export class AgentInputReader {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly source: AsyncIterator<Buffer>;
  /** bytes left in the current frame; -1 when no message is being read */
  private frameLeft = -1;

  constructor(input: AsyncIterable<Buffer>) {
    this.source = input[Symbol.asyncIterator]();
  }

  private async more(): Promise<boolean> {
    const next = await this.source.next();
    if (next.done) return false;
    this.buffered = this.buffered.length === 0 ? next.value : Buffer.concat([this.buffered, next.value]);
    return true;
  }

  private take(n: number): Buffer {
    const head = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return head;
  }

  /** The next request, or undefined at end of input between requests. */
  async nextRequest(): Promise<AgentRequest | undefined> {
    if (this.frameLeft !== -1) throw new Error('the previous message was not read to its end');
    let nl: number;
    while ((nl = this.buffered.indexOf(0x0a)) === -1) {
      if (this.buffered.length > MAX_REQUEST_LINE) throw new ContentError('request line too long');
      if (!(await this.more())) {
        if (this.buffered.length === 0) return undefined;
        throw new ContentError('request line cut short');
      }
    }
    const request = parseRequest(this.take(nl + 1).subarray(0, nl).toString('utf8'));
    if (request.kind === 'append') this.frameLeft = 0;
    return request;
  }

  /** The current message's bytes.  Throws ContentError when the broker marked it or the input ended early. */
  async *message(): AsyncGenerator<Buffer> {
    while (this.frameLeft !== -1) {
      const piece = await this.nextPiece();
      if (piece !== undefined) yield piece;
    }
  }

  /** Reads what is left of the current message, so that the next request can be read; false when it was cut short. */
  async skipMessage(): Promise<boolean> {
    try {
      while (this.frameLeft !== -1) await this.nextPiece();
      return true;
    } catch (error) {
      if (error instanceof ContentError) return false;
      throw error;
    }
  }

  private async nextPiece(): Promise<Buffer | undefined> {
    if (this.frameLeft === 0) {
      while (this.buffered.length < 4) await this.need();
      const length = this.take(4).readUInt32BE(0);
      if (length === 0 || length === ABORT_FRAME) {
        this.frameLeft = -1;
        if (length === ABORT_FRAME) throw new ContentError('message cut short by the broker');
        return undefined;
      }
      this.frameLeft = length;
    }
    if (this.buffered.length === 0) await this.need();
    const piece = this.take(Math.min(this.frameLeft, this.buffered.length));
    this.frameLeft -= piece.length;
    return piece;
  }

  private async need(): Promise<void> {
    if (!(await this.more())) {
      this.frameLeft = -1;
      throw new ContentError('message cut short by the broker');
    }
  }
}

const isId = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
const isDecimal = (s: unknown): s is string => typeof s === 'string' && /^\d{1,20}$/.test(s);

function parseRequest(line: string): AgentRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new ContentError('request line is not JSON');
  }
  const r = parsed as Record<string, unknown> | null;
  const user = r?.user as Partial<MailboxUser> | undefined;
  const common =
    r?.v === PROTOCOL_VERSION &&
    typeof r.spoolDir === 'string' &&
    isId(r.lockTimeoutMs) &&
    typeof user?.name === 'string' &&
    isId(user.uid) &&
    isId(user.gid);
  if (common && r.kind === 'append' && typeof r.sender === 'string' && isId(r.now)) return r as unknown as AppendRequestLine;
  if (common && r.kind === 'cut-back' && parseProgress({ appending: r.at }) !== undefined) return r as unknown as CutBackRequestLine;
  throw new ContentError('malformed request');
}
