/**
 * The mailbox file itself: made when missing, opened without following
 * links and checked, and locked against readers.
 *
 * The checks are mail.local's (lstat; regular file, one link, owned by the
 * recipient; open; fstat says the same inode), done with O_NOFOLLOW so that a
 * link planted between lstat and open is not followed at all.
 */
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, fsyncSync, lstatSync, openSync, type BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ERR } from '../../common/errors.js';
import { native } from '../../privsep/native.js';
import { describeError, errnoCode, failed, type DeliveryStatus } from './status.js';

/** New mailboxes: owner read and write only (mail.local without MAILGID, Postfix, Debian's tools). */
export const MAILBOX_MODE = 0o600;

/**
 * Creates an empty mailbox owned by uid:gid, mode 0600, when none exists.
 * O_EXCL never follows a symbolic link, even a dangling one, so this cannot
 * create or change a file anywhere else; fchown and fchmod act on the inode
 * just made, not on a name.  Returns false when something is already there
 * (the writer's checks then judge it).  Run by root in the broker.
 */
export function createMailboxIfMissing(path: string, uid: number, gid: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NONBLOCK, MAILBOX_MODE);
  } catch (error) {
    if (errnoCode(error) === 'EEXIST') return false;
    throw error;
  }
  try {
    fchownSync(fd, uid, gid);
    fchmodSync(fd, MAILBOX_MODE); // the umask may have taken bits; make it exactly 0600
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  // the new name must survive a crash as well as the data the agent will fsync
  const dir = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  return true;
}

/** Refusals that sendmail's mail.local answers with 550 5.2.0, so the message bounces. */
function unsafeReason(st: BigIntStats, owner: number): string | undefined {
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (!st.isFile()) return 'irregular file';
  if (st.nlink !== 1n) return 'too many links';
  if (st.uid !== BigInt(owner)) return `wrong ownership (${st.uid})`;
  return undefined;
}

/*
 * Group or world write permission is not refused: the writer is the owner, and
 * Debian's tools make mailboxes 0660 group mail.
 * O_NONBLOCK: a FIFO swapped in after lstat must fail to open rather than hang
 * (fstat then refuses it); it does nothing to a regular file.
 */
const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * Opens the mailbox for appending after the checks, or says why not.  The
 * descriptor (the caller closes it) and its fstat, taken after the open.
 * Synchronous: the agent does one delivery at a time, and a trip through
 * libuv's thread pool per system call was most of a delivery's time.
 */
export function openMailbox(path: string, owner: number): { fd: number; stat: BigIntStats } | { refused: DeliveryStatus } {
  let before: BigIntStats;
  try {
    before = lstatSync(path, { bigint: true });
  } catch (error) {
    // the broker made it a moment ago: someone removed it, which is worth another try later
    return { refused: failed(ERR.MAILBOX_CHANGED, `${path}: ${describeError(error)}`) };
  }
  const unsafe = unsafeReason(before, owner);
  if (unsafe) return { refused: failed(ERR.MAILBOX_UNSAFE, `${path}: ${unsafe}`) };

  let fd: number;
  try {
    fd = openSync(path, APPEND);
  } catch (error) {
    const code = errnoCode(error);
    // ELOOP: now a symbolic link; ENXIO: now a FIFO or socket; ENOENT: removed
    if (code === 'ELOOP' || code === 'ENXIO' || code === 'ENOENT') return { refused: failed(ERR.MAILBOX_CHANGED, `${path}: changed before open (${describeError(error)})`) };
    return { refused: failed(ERR.MAILBOX_CANNOT_OPEN, `${path}: ${describeError(error)}`) };
  }
  let after: BigIntStats;
  try {
    after = fstatSync(fd, { bigint: true });
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  if (after.dev !== before.dev || after.ino !== before.ino || unsafeReason(after, owner) !== undefined) {
    closeSync(fd);
    // a race with whoever can write the spool directory; mail.local marks it temporary too
    return { refused: failed(ERR.MAILBOX_CHANGED, `${path}: file changed after open`) };
  }
  return { fd, stat: after };
}

export interface LockWait {
  readonly timeoutMs: number;
  /** first pause between attempts; doubles up to a quarter of a second */
  readonly retryMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Takes an fcntl write lock on the whole file (what mutt, s-nail, dovecot,
 * procmail and Postfix take on Linux) and a flock lock (what sendmail's own
 * mail.local takes; on Linux the two are independent, so a reader using
 * either sees whole messages only).  With the broker's dotlock taken before,
 * the order is dotlock, fcntl, flock: dovecot's default write order.  Both are tried without blocking and retried, so a delivery
 * can give up after `timeoutMs`; neither is held while waiting for the other,
 * so a reader taking them in the other order cannot deadlock with us.
 * Closing the file releases both.  Resolves false on timeout.
 */
export async function lockMailbox(handle: Pick<FileHandle, 'fd'>, wait: LockWait): Promise<boolean> {
  const addon = native();
  const fd = handle.fd;
  const deadline = Date.now() + wait.timeoutMs;
  let pause = wait.retryMs ?? 20;
  for (;;) {
    wait.signal?.throwIfAborted();
    if (addon.recordLock(fd, 'write', false)) {
      if (addon.flock(fd, 'exclusive', true)) return true;
      addon.recordLock(fd, 'unlock', false);
    }
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(pause, Math.max(1, deadline - Date.now())), undefined, { signal: wait.signal });
    pause = Math.min(pause * 2, 250);
  }
}
