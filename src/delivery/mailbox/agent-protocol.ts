/**
 * What the broker and the mailbox agent say to each other over the agent's
 * standard input and output.
 *
 *   stdin:  one JSON request line, then the message in frames: a 4-byte
 *           big-endian length and that many bytes, ended by a frame of
 *           length 0.
 *   stdout: one JSON status line ({status, dsn, text, code?}).
 *
 * The frames exist so that the agent can tell a whole message from one cut
 * short by a broker that died or a queue file that could not be read: with
 * plain end-of-file both look the same, and a truncated message would be
 * appended and reported sent.
 */
import type { MailboxUser } from './append.js';
import { ContentError } from './append.js';

export const PROTOCOL_VERSION = 1;
/** The request line is small; anything longer is not from the broker. */
const MAX_REQUEST_LINE = 16 * 1024;

export interface AgentRequest {
  readonly v: typeof PROTOCOL_VERSION;
  readonly spoolDir: string;
  readonly user: MailboxUser;
  readonly sender: string;
  /** milliseconds since the epoch, for the From_ line */
  readonly now: number;
  readonly lockTimeoutMs: number;
}

/** The bytes the broker sends: request line, then the framed message. */
export async function* agentInput(request: AgentRequest, content: AsyncIterable<Buffer | Uint8Array | string>): AsyncGenerator<Buffer> {
  yield Buffer.from(JSON.stringify(request) + '\n');
  for await (const chunk of content) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (bytes.length === 0) continue;
    const header = Buffer.alloc(4);
    header.writeUInt32BE(bytes.length);
    yield header;
    yield Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  yield Buffer.alloc(4); // length 0: the end
}

/** Reads a stream in the agent's framing, without holding more than one input chunk. */
class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly source: AsyncIterator<Buffer>;

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

  async line(): Promise<string> {
    for (;;) {
      const nl = this.buffered.indexOf(0x0a);
      if (nl !== -1) return this.take(nl + 1).subarray(0, nl).toString('utf8');
      if (this.buffered.length > MAX_REQUEST_LINE) throw new ContentError('request line too long');
      if (!(await this.more())) throw new ContentError('no request line');
    }
  }

  async *frames(): AsyncGenerator<Buffer> {
    for (;;) {
      while (this.buffered.length < 4) {
        if (!(await this.more())) throw new ContentError('message cut short by the broker');
      }
      let remaining = this.take(4).readUInt32BE(0);
      if (remaining === 0) return;
      while (remaining > 0) {
        if (this.buffered.length === 0 && !(await this.more())) throw new ContentError('message cut short by the broker');
        const piece = this.take(Math.min(remaining, this.buffered.length));
        remaining -= piece.length;
        yield piece;
      }
    }
  }
}

const isId = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** The request and the message from the agent's standard input. */
export async function readAgentInput(input: AsyncIterable<Buffer>): Promise<{ request: AgentRequest; content: AsyncIterable<Buffer> }> {
  const reader = new FrameReader(input);
  const line = await reader.line();
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new ContentError('request line is not JSON');
  }
  const r = parsed as Partial<AgentRequest> | null;
  const user = r?.user as Partial<MailboxUser> | undefined;
  if (
    r?.v !== PROTOCOL_VERSION ||
    typeof r.spoolDir !== 'string' ||
    typeof r.sender !== 'string' ||
    !isId(r.now) ||
    !isId(r.lockTimeoutMs) ||
    typeof user?.name !== 'string' ||
    !isId(user.uid) ||
    !isId(user.gid)
  ) {
    throw new ContentError('malformed request');
  }
  return { request: r as AgentRequest, content: reader.frames() };
}
