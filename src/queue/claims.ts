/**
 * Claims: which queue runner is working on a message.  Two runners (the
 * daemon's and a `sendmail -q`, or two lanes of one runner) must never
 * deliver one message at once.
 *
 * A claim is a one-byte open-file-description lock (F_OFD_SETLK) in the
 * queue's `claims` file, at an offset the message's id hashes to.  Why not
 * a lock on the content file, as before: most messages have none (their
 * content is in the database), and creating a lock file per delivery would
 * cost what storing content in the database saves.  Why OFD locks, not
 * fcntl's process locks: those conflict only between processes, and any
 * close() of the same file by the process drops them all; an OFD lock
 * belongs to its descriptor, like flock, and goes when the holder dies.
 *
 * Two ids that hash alike make one of them look taken for a moment: it is
 * tried on the next run.  The file itself stays empty.
 */
import { closeSync, constants, openSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../privsep/native.js';

export const CLAIMS_FILE = 'claims';

/** 2^52: offsets stay exact integers in JavaScript and within off_t. */
const SPACE = 2 ** 52;

/**
 * The byte the queue's writers lock around each transaction (db-worker.ts),
 * past every claim's: the kernel wakes the next writer the moment the lock
 * is free, where SQLite's own busy handler sleeps 1, 2, 5, 10... ms.
 */
export const WRITER_LOCK_AT = SPACE;

/** FNV-1a, 52 bits of it: the byte an id's claim locks. */
export function claimOffset(id: string): number {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < id.length; i++) {
    h ^= BigInt(id.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return Number(h % BigInt(SPACE));
}

export interface Claim {
  release(): void;
}

export class Claims {
  private constructor(private readonly path: string) {}

  /** The claims file of the queue in `dir`, created (mode `mode`) when missing. */
  static open(dir: string, mode: number): Claims {
    const path = join(dir, CLAIMS_FILE);
    closeSync(openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, mode));
    return new Claims(path);
  }

  /** The message's claim, or undefined when another runner (or lane) holds it. */
  take(id: string): Claim | undefined {
    // a descriptor per claim: claims of one process must conflict with each other too
    const fd = openSync(this.path, constants.O_RDWR | constants.O_NOFOLLOW);
    let held = false;
    try {
      held = native().descriptionLock(fd, 'write', claimOffset(id), 1);
    } finally {
      if (!held) closeSync(fd);
    }
    if (!held) return undefined;
    let open = true;
    return {
      release: () => {
        if (open) closeSync(fd);
        open = false;
      },
    };
  }
}
