/**
 * What the broker and a mailbox agent (agent.c, postern-mailbox-agent) say
 * to each other over the agent's standard input and output.  One agent
 * serves any number of deliveries for its own uid, one after the other:
 *
 *   stdin:  per delivery, one request line of space-separated words, text
 *           hex-encoded (a sender may hold spaces; a path anything):
 *             P3 append LOCK-TIMEOUT-MS NOW-MS UID GID HEX(SPOOL) HEX(USER) HEX(SENDER)|-
 *             P3 cut-back LOCK-TIMEOUT-MS UID GID HEX(SPOOL) HEX(USER) SIZE DEV INO
 *           for an append, the message follows in frames
 *           (common/frames.ts), ended by the end frame, or by the abort
 *           frame when the broker could not read the message whole.  End
 *           of file between requests: the agent exits.
 *   stdout: per delivery, at most one progress line and then exactly one
 *           status line:
 *             appending SIZE DEV INO
 *             status KIND ERRNO-NAME|- TEXT
 *
 * The frames exist so that the agent can tell a whole message from one cut
 * short: with plain end-of-file both look the same, and a truncated message
 * would be appended and reported sent.  The progress line says where the
 * entry starts in which file, so that when an agent dies without a status the
 * broker can have a fresh agent cut the file back there: the runner then
 * retries, and the message is in the mailbox once, never half or twice.
 *
 * The agent reports what happened (KIND, errno's name); statusOfAnswer()
 * turns that into a registry code here, so codes live in one place.
 */
import { ERR, type ErrorClass } from '../../common/errors.js';
import { failed, sent, writeErrorClass, type DeliveryStatus } from './status.js';

export interface MailboxUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

interface RequestBase {
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

const hex = (text: string) => Buffer.from(text, 'utf8').toString('hex');
const whole = (n: number) => String(Math.max(0, Math.trunc(n)));

/** One request as the bytes the broker sends (the message, for an append, follows in frames). */
export function requestLine(request: AgentRequest): Buffer {
  const { spoolDir, user, lockTimeoutMs } = request;
  const words =
    request.kind === 'append'
      ? ['P3', 'append', whole(lockTimeoutMs), whole(request.now), whole(user.uid), whole(user.gid), hex(spoolDir), hex(user.name), request.sender === '' ? '-' : hex(request.sender)]
      : ['P3', 'cut-back', whole(lockTimeoutMs), whole(user.uid), whole(user.gid), hex(spoolDir), hex(user.name), whole(request.at.size), request.at.dev, request.at.ino];
  return Buffer.from(words.join(' ') + '\n');
}

/** The AppendStart of a progress line, or undefined when the line is something else. */
export function parseProgress(line: string): AppendStart | undefined {
  const m = /^appending (\d{1,15}) (\d{1,20}) (\d{1,20})$/.exec(line);
  if (m === null) return undefined;
  const size = Number(m[1]);
  return Number.isSafeInteger(size) ? { size, dev: m[2]!, ino: m[3]! } : undefined;
}

/** What each KIND of failure the agent reports means to the runner. */
const FAILURE_CLASS: Readonly<Record<string, ErrorClass>> = {
  unsafe: ERR.MAILBOX_UNSAFE,
  changed: ERR.MAILBOX_CHANGED,
  'cannot-open': ERR.MAILBOX_CANNOT_OPEN,
  'lock-timeout': ERR.MAILBOX_LOCK_TIMEOUT,
  'cut-short': ERR.MAILBOX_AGENT_FAILED,
  identity: ERR.MAILBOX_AGENT_FAILED,
  protocol: ERR.MAILBOX_AGENT_FAILED,
};

/** The delivery status a status line stands for, or undefined when the line is not one. */
export function statusOfAnswer(line: string): DeliveryStatus | undefined {
  const m = /^status ([a-z-]+) (E[A-Z0-9]+|-) (.*)$/.exec(line);
  if (m === null) return undefined;
  const [, kind, errno, text] = m as unknown as [string, string, string, string];
  if (kind === 'sent') return sent();
  // a write error's class depends on errno: space and quota are worth saying apart
  const cls = kind === 'write-failed' ? writeErrorClass({ code: errno }) : FAILURE_CLASS[kind];
  return cls === undefined ? undefined : failed(cls, text.slice(0, 1000));
}
