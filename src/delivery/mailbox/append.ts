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
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ERR } from '../../common/errors.js';
import { acquireDotlock, DotlockTimeout, type Dotlock } from './dotlock.js';
import { createMailboxIfMissing, lockMailbox, openMailbox } from './mailbox-file.js';
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

    const opened = await openMailbox(path, request.user.uid);
    if ('refused' in opened) return opened.refused;
    const mailbox = opened.handle;
    try {
      if (!(await lockMailbox(mailbox, { timeoutMs: lockTimeoutMs, signal: request.signal }))) {
        return failed(ERR.MAILBOX_LOCK_TIMEOUT, `${path}: locked by another process for too long`);
      }
      return await writeEntry(mailbox, path, request);
    } finally {
      await mailbox.close(); // also drops the fcntl and flock locks
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

async function writeEntry(mailbox: FileHandle, path: string, request: AppendRequest): Promise<DeliveryStatus> {
  const now = request.now === undefined ? new Date() : new Date(request.now);
  // with both locks held no cooperating writer appends meanwhile, so this is where our entry starts
  const originalSize = (await mailbox.stat()).size;
  try {
    for await (const piece of encodeMbox(request.content, request.sender, now)) {
      request.signal?.throwIfAborted();
      await writeAll(mailbox, piece);
    }
    await mailbox.sync(); // delayed allocation may report ENOSPC or EIO only here
    return sent();
  } catch (error) {
    const cutBack = await truncate(mailbox, originalSize);
    const undo = cutBack ? '' : ' (and could not be cut back)';
    if (request.signal?.aborted) return failed(ERR.MAILBOX_WRITE_FAILED, `${path}: delivery stopped${undo}`);
    if (error instanceof ContentError) return failed(ERR.MAILBOX_AGENT_FAILED, `${path}: ${error.message}${undo}`);
    return failed(writeErrorClass(error), `${path}: ${describeError(error)}${undo}`);
  }
}

async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  for (let off = 0; off < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, off, bytes.length - off);
    off += bytesWritten;
  }
}

async function truncate(handle: FileHandle, size: number): Promise<boolean> {
  try {
    await handle.truncate(size);
    await handle.sync();
    return true;
  } catch {
    return false;
  }
}
