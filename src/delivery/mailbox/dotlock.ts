/**
 * The "USER.lock" file next to a mailbox, as mail.local, liblockfile
 * (dotlockfile, procmail), mutt's dotlock, s-nail and dovecot make it:
 * created O_EXCL, so whoever creates it holds the mailbox; removed when done.
 * A lock older than five minutes is taken to be left by a crashed holder and
 * is removed (mail.local's LOCKTO_RM and liblockfile's rule); age is read
 * from ctime, which a holder refreshes by touching the file and which nobody
 * can set back.
 *
 * The lock is made in the spool directory, which on Debian is root:mail 2775,
 * so only root or group mail can make it: the root broker does, before it
 * starts the agent that writes as the user (see deliver.ts).
 */
import { closeSync, constants, lstatSync, openSync, unlinkSync, writeSync, type BigIntStats } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DotlockOptions {
  /** Give up after this long; default 400 s (mail.local's LOCKTO_GLOB). */
  readonly timeoutMs?: number;
  /** A lock whose ctime is older than this is stale; default 300 s. */
  readonly staleAfterMs?: number;
  /** Pause between attempts; default 1 s (mutt and liblockfile wait a second or more). */
  readonly retryMs?: number;
  readonly signal?: AbortSignal;
}

export interface Dotlock {
  readonly path: string;
  /** Removes the lock file, unless it is no longer the one this holder made. */
  release(): void;
}

export class DotlockTimeout extends Error {
  constructor(readonly path: string) {
    super(`timed out waiting for lock file ${path}`);
    this.name = 'DotlockTimeout';
  }
}

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Takes `<mailbox>.lock`.  Rejects with DotlockTimeout when it stays held,
 * or with the system error when the file cannot be made (EACCES, ENOENT ...).
 */
export async function acquireDotlock(mailboxPath: string, options: DotlockOptions = {}): Promise<Dotlock> {
  const path = `${mailboxPath}.lock`;
  const timeoutMs = options.timeoutMs ?? 400_000;
  const staleAfterMs = options.staleAfterMs ?? 300_000;
  const retryMs = options.retryMs ?? 1000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    const made = tryCreate(path);
    if (made) return made;
    removeIfStale(path, staleAfterMs);
    if (Date.now() >= deadline) throw new DotlockTimeout(path);
    // a little jitter, so that two waiting deliveries do not retry in step
    await sleep(Math.min(retryMs * (0.75 + Math.random() / 2), Math.max(0, deadline - Date.now())), undefined, { signal: options.signal });
  }
}

function tryCreate(path: string): Dotlock | undefined {
  let fd: number;
  try {
    fd = openSync(path, CREATE, 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw error;
  }
  let made: BigIntStats;
  try {
    // liblockfile's readers take a pid in the file as a sign of life; a full disk may refuse it, which is harmless
    try {
      writeSync(fd, `${process.pid}\n`);
    } catch {
      /* an empty lock file is still a lock */
    }
    made = lstatSync(path, { bigint: true });
  } finally {
    closeSync(fd);
  }
  return {
    path,
    release() {
      try {
        const now = lstatSync(path, { bigint: true });
        // a waiter that judged this lock stale may have replaced it with its own
        if (now.dev === made.dev && now.ino === made.ino) unlinkSync(path);
      } catch {
        /* already gone */
      }
    },
  };
}

function removeIfStale(path: string, staleAfterMs: number): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // gone meanwhile: the next attempt will create it
  }
  if (Date.now() - st.ctimeMs < staleAfterMs) return;
  try {
    unlinkSync(path);
  } catch {
    /* someone else removed it first, or cannot be removed: wait on */
  }
}
