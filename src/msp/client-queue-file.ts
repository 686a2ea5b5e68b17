/**
 * One file of the client queue, written by the MSP as the calling user: the
 * request line, then the message as the caller gave it.  The directory
 * (/var/spool/clientmqueue) is smmsp's, mode 3733 (client-queue.ts says
 * why); the file is created O_EXCL under a temporary name `tf<queue id>`,
 * mode 0640 whatever the caller's umask, and only once it is complete and
 * fsync'd is it renamed to `cq<queue id>`, where the client-queue runner
 * looks, so the runner never sees a part of a message.
 *
 * Synchronous, with node:fs only: the MSP also keeps its copy of a big
 * message here while it is being sent (kept-message.ts), inside the blocking
 * submission, and node:fs/promises alone costs about a millisecond to load.
 */
import { closeSync, constants, fchmodSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ERR } from '../common/errors.js';
import { errnoText } from '../config/values.js';
import { QueueIdGenerator } from '../queue/qid.js';
import { refusal, type SubmissionReply, type SubmissionRequest } from './submit-wire.js';

export const CLIENT_QUEUE_FILE_MODE = 0o640;
/** A finished client-queue file is `cq<queue id>`; one being written `tf<queue id>`. */
export const READY_PREFIX = 'cq';
export const TEMP_PREFIX = 'tf';
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

export class ClientQueueFile {
  private constructor(
    /** the queue id: the file's name without its prefix, as `mailq -Ac` shows it */
    readonly id: string,
    private readonly dir: string,
    private fd: number | undefined,
  ) {}

  /** Creates `tf<id>` in `dir` and writes the request line (without onBehalfOf: the runner takes the owner from the file). */
  static create(dir: string, request: SubmissionRequest): ClientQueueFile {
    // names are queue ids in sendmail's form, so mailq -Ac lists them as sendmail does;
    // a name someone else already took is skipped (the directory is shared and sticky)
    const ids = new QueueIdGenerator();
    for (let tries = 0; ; tries++) {
      const next = ids.next();
      if (!('id' in next)) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, next.waitMs);
        continue;
      }
      let fd: number;
      try {
        fd = openSync(join(dir, `${TEMP_PREFIX}${next.id}`), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, CLIENT_QUEUE_FILE_MODE);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= 100) throw e;
        continue;
      }
      const file = new ClientQueueFile(next.id, dir, fd);
      try {
        // the caller's umask must not take group smmsp's read permission away
        fchmodSync(fd, CLIENT_QUEUE_FILE_MODE);
        const { onBehalfOf: _ignored, ...stored } = request;
        file.write(Buffer.from(`${JSON.stringify(stored)}\n`));
      } catch (e) {
        file.abandon();
        throw e;
      }
      return file;
    }
  }

  private get temp(): string {
    return join(this.dir, `${TEMP_PREFIX}${this.id}`);
  }

  write(data: Buffer): void {
    const fd = this.open();
    for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset);
  }

  /** Makes the file the runner's: fsync, rename to `cq<id>`, fsync again; returns its path. */
  commit(): string {
    const fd = this.open();
    const ready = join(this.dir, `${READY_PREFIX}${this.id}`);
    fsyncSync(fd);
    renameSync(this.temp, ready);
    // The submitter may not open the directory (it is not listable), so the
    // rename is made durable through the file: renaming changes the file's own
    // inode (its ctime) in the same journal transaction, and fsync of the file
    // commits that transaction on Linux's journaling filesystems (ext4, xfs,
    // btrfs).  Where the directory can be opened, it is fsync'd as well.
    fsyncSync(fd);
    this.fd = undefined;
    closeSync(fd);
    syncDirectory(this.dir);
    return ready;
  }

  /** Closes and removes the temporary file (only this one's: a taken name was never opened). */
  abandon(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // closed is what was wanted
    }
    this.fd = undefined;
    try {
      unlinkSync(this.temp);
    } catch {
      // nothing left to remove
    }
  }

  private open(): number {
    if (this.fd === undefined) throw new Error(`client-queue file ${this.id} is already closed`);
    return this.fd;
  }
}

function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // the file's own fsync made the rename durable
  } finally {
    closeSync(fd);
  }
}

/**
 * Why the client queue could not take a message, as the MSP says it: a full
 * or unwritable queue, none at all (not installed, or a wrong QueueDirectory:
 * sendmail's words for it), or another failure of the system.  Errors that
 * are not the system's (a bug) are thrown on.
 */
export function clientQueueRefusal(dir: string, e: unknown): SubmissionReply {
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code !== 'string') throw e;
  if (NO_SPACE.has(code)) return refusal(ERR.OS_NO_SPACE, `cannot queue the message in ${dir}: ${(e as Error).message}`);
  if (code === 'ENOENT' || code === 'ENOTDIR') return refusal(ERR.CLIENT_QUEUE_MISSING, `can not chdir(${dir}/): ${errnoText(e)}`);
  return refusal(ERR.OS_CALL_FAILED, `cannot queue the message in ${dir}: ${(e as Error).message}`);
}
