/**
 * Appends one message to a user's mailbox: checks, locks, streams the mbox
 * entry in, fsyncs, and on any failure cuts the file back to the size it had.
 *
 * Whoever calls this writes with its own identity.  In Postern that is the
 * mailbox agent, running as the recipient (invariant 4), with the dotlock
 * taken and the mailbox made by the root broker beforehand (deliver.ts);
 * `dotlock` and `create` let a caller who may write the spool directory
 * itself do those parts here.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ERR } from '../../common/errors.js';
import { acquireDotlock, DotlockTimeout, type Dotlock } from './dotlock.js';
import { createMailboxIfMissing, lockMailbox, openMailbox } from './mailbox-file.js';
import type { AppendStart } from './agent-protocol.js';
import { encodeMbox } from './mbox-format.js';
import { describeError, failed, sent, writeErrorClass, type DeliveryStatus } from './status.js';

export interface MailboxUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

export interface AppendRequest {
  /** MailSpool directory, /var/mail on Debian */
  readonly spoolDir: string;
  readonly user: MailboxUser;
  /** Envelope sender; '' for the null sender <> */
  readonly sender: string;
  readonly content: AsyncIterable<Buffer | Uint8Array | string>;
  /** Date of the From_ line; default now */
  readonly now?: Date | number;
  /** How long to wait for readers' locks (dotlock and fcntl/flock each); default 300 s */
  readonly lockTimeoutMs?: number;
  /** Take USER.lock here; default false (the broker holds it) */
  readonly dotlock?: boolean;
  /** Make the mailbox when missing; default false (the broker makes it).  Needs root unless the spool is the user's. */
  readonly create?: boolean;
  /** Stops the delivery (as deferred, the file cut back) when aborted. */
  readonly signal?: AbortSignal;
  /** Told where the entry will start, before its first byte is written (the agent tells the broker). */
  readonly onAppendStart?: (at: AppendStart) => void;
}

/** A user name usable as a file name in the spool: no path, nothing hidden. */
export function mailboxNameProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'empty or dot name';
  if (/[/\0\n]/.test(name)) return 'name contains "/", NUL or newline';
  if (name.startsWith('.')) return 'name starts with a dot';
  return undefined;
}

export async function appendToMailbox(request: AppendRequest): Promise<DeliveryStatus> {
  const problem = mailboxNameProblem(request.user.name);
  if (problem) return failed(ERR.MAILBOX_BAD_NAME, `${JSON.stringify(request.user.name)}: ${problem}`);
  const path = join(request.spoolDir, request.user.name);
  const lockTimeoutMs = request.lockTimeoutMs ?? 300_000;

  let dotlock: Dotlock | undefined;
  try {
    if (request.dotlock) {
      try {
        dotlock = await acquireDotlock(path, { timeoutMs: lockTimeoutMs, signal: request.signal });
      } catch (error) {
        if (error instanceof DotlockTimeout) return failed(ERR.MAILBOX_LOCK_TIMEOUT, `${error.path}: lock file held too long`);
        throw error;
      }
    }
    if (request.create) createMailboxIfMissing(path, request.user.uid, request.user.gid);

    const opened = openMailbox(path, request.user.uid);
    if ('refused' in opened) return opened.refused;
    const { fd } = opened;
    try {
      if (!(await lockMailbox({ fd }, { timeoutMs: lockTimeoutMs, signal: request.signal }))) {
        return failed(ERR.MAILBOX_LOCK_TIMEOUT, `${path}: locked by another process for too long`);
      }
      return await writeEntry(fd, path, request);
    } finally {
      closeSync(fd); // also drops the fcntl and flock locks
    }
  } catch (error) {
    if (request.signal?.aborted) return failed(ERR.MAILBOX_LOCK_TIMEOUT, `${path}: delivery stopped (${String(request.signal.reason ?? 'aborted')})`);
    // the lock file or the mailbox could not be made, or a lock call failed (ENOLCK ...)
    return failed(ERR.MAILBOX_CANNOT_OPEN, `${path}: ${describeError(error)}`);
  } finally {
    dotlock?.release();
  }
}

/** Raised by the content source: the message could not be read whole. */
export class ContentError extends Error {
  override readonly name = 'ContentError';
}

/*
 * The writes are synchronous: the agent has nothing else to do meanwhile, and
 * each trip through libuv's thread pool costs two wake-ups, which on a busy
 * machine were most of a delivery's time.
 */
async function writeEntry(mailbox: number, path: string, request: AppendRequest): Promise<DeliveryStatus> {
  const now = request.now === undefined ? new Date() : new Date(request.now);
  // with both locks held no cooperating writer appends meanwhile, so this is where our entry starts
  const st = fstatSync(mailbox, { bigint: true });
  const originalSize = Number(st.size);
  request.onAppendStart?.({ size: originalSize, dev: String(st.dev), ino: String(st.ino) });
  try {
    for await (const piece of encodeMbox(request.content, request.sender, now)) {
      request.signal?.throwIfAborted();
      writeAll(mailbox, piece);
    }
    fsyncSync(mailbox); // delayed allocation may report ENOSPC or EIO only here
    return sent();
  } catch (error) {
    const cutBack = truncate(mailbox, originalSize);
    const undo = cutBack ? '' : ' (and could not be cut back)';
    if (request.signal?.aborted) return failed(ERR.MAILBOX_WRITE_FAILED, `${path}: delivery stopped${undo}`);
    if (error instanceof ContentError) return failed(ERR.MAILBOX_AGENT_FAILED, `${path}: ${error.message}${undo}`);
    return failed(writeErrorClass(error), `${path}: ${describeError(error)}${undo}`);
  }
}

/**
 * Undoes an append whose writer died before it could say how it ended:
 * truncates the mailbox to where that entry began, if it is still the same
 * file and no shorter.  Called with the broker's dotlock still held, so no
 * cooperating writer has appended since.
 */
export async function cutBackMailbox(spoolDir: string, user: MailboxUser, at: AppendStart, lockTimeoutMs: number): Promise<DeliveryStatus> {
  const path = join(spoolDir, user.name);
  const opened = openMailbox(path, user.uid);
  if ('refused' in opened) return opened.refused;
  const { fd } = opened;
  try {
    if (!(await lockMailbox({ fd }, { timeoutMs: lockTimeoutMs }))) return failed(ERR.MAILBOX_LOCK_TIMEOUT, `${path}: locked by another process for too long`);
    const st = fstatSync(fd, { bigint: true });
    if (String(st.dev) !== at.dev || String(st.ino) !== at.ino) return failed(ERR.MAILBOX_CHANGED, `${path}: not the file the interrupted delivery wrote to`);
    if (st.size < BigInt(at.size)) return failed(ERR.MAILBOX_CHANGED, `${path}: shorter than before the interrupted delivery`);
    ftruncateSync(fd, at.size);
    fsyncSync(fd);
    return sent();
  } catch (error) {
    return failed(ERR.MAILBOX_WRITE_FAILED, `${path}: ${describeError(error)}`);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Buffer): void {
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
}

function truncate(fd: number, size: number): boolean {
  try {
    ftruncateSync(fd, size);
    fsyncSync(fd);
    return true;
  } catch {
    return false;
  }
}
