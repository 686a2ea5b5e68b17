/**
 * The client queue: where the MSP leaves a message when the daemon is not
 * running, and where the client-queue runner (`sendmail -L sm-msp-queue
 * -Ac -q30m`, as smmsp) picks it up.
 *
 * The directory (/var/spool/clientmqueue) belongs to smmsp, mode 3733:
 * set-group-ID so files get group smmsp, sticky so no one removes or
 * renames another's file, writable and searchable by all but listable by
 * smmsp only.  A file is owned by the user who submitted it, group smmsp,
 * mode 0640, so other users can neither read nor change it; it is written
 * under a temporary name, fsync'd, and renamed, so the runner never sees a
 * part of a message.  Its content is what the MSP would have sent over the
 * submission socket: the request line, then the message.
 *
 * The runner believes nothing in a file about who wrote it: the submitter
 * is the file's owner (fstat of the file opened with O_NOFOLLOW, which must
 * be a regular file with one link).
 */
import { constants } from 'node:fs';
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ERR, PosternError } from '../common/errors.js';
import { errnoText } from '../config/values.js';
import { QueueIdGenerator } from '../queue/qid.js';
import { refusal, submitMessage, type SubmissionReply, type SubmissionRequest } from './submit-protocol.js';

export const CLIENT_QUEUE_FILE_MODE = 0o640;
/** A finished client-queue file is `cq<queue id>`; one being written `tf<queue id>`. */
export const READY_PREFIX = 'cq';
const TEMP_PREFIX = 'tf';
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

/**
 * Leaves a message in the client queue as the calling user; resolves with
 * the file's name once it is complete and on disk.
 */
export async function writeClientQueueFile(
  dir: string,
  request: SubmissionRequest,
  message: AsyncIterable<Buffer> | Iterable<Buffer>,
): Promise<string> {
  let temp = '';
  let ready = '';
  let handle: FileHandle | undefined;
  let created = false;
  try {
    // names are queue ids in sendmail's form, so mailq -Ac lists them as sendmail does;
    // a name someone else already took is skipped (the directory is shared and sticky)
    const ids = new QueueIdGenerator();
    for (let tries = 0; handle === undefined; tries++) {
      const id = await ids.assign();
      temp = join(dir, `${TEMP_PREFIX}${id}`);
      ready = join(dir, `${READY_PREFIX}${id}`);
      try {
        handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, CLIENT_QUEUE_FILE_MODE);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= 100) throw e;
      }
    }
    created = true;
    // the caller's umask must not take group smmsp's read permission away
    await handle.chmod(CLIENT_QUEUE_FILE_MODE);
    const { onBehalfOf: _ignored, ...stored } = request;
    await handle.write(`${JSON.stringify(stored)}\n`);
    for await (const chunk of message) await handle.write(chunk);
    await handle.sync();
    await rename(temp, ready);
    // The submitter may not open the directory (it is not listable), so the
    // rename is made durable through the file: renaming changes the file's own
    // inode (its ctime) in the same journal transaction, and fsync of the file
    // commits that transaction on Linux's journaling filesystems (ext4, xfs,
    // btrfs).  Where the directory can be opened, it is fsync'd as well.
    await handle.sync();
    await handle.close();
    handle = undefined;
    await syncDirectory(dir).catch(() => undefined);
    return ready;
  } catch (e) {
    await handle?.close().catch(() => undefined);
    // only a file this call created is removed: a name that was taken is someone else's
    if (created) await unlink(temp).catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && NO_SPACE.has(code)) {
      throw new PosternError(ERR.OS_NO_SPACE, `cannot queue the message in ${dir}: ${(e as Error).message}`, { cause: e });
    }
    throw e;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const d = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

export type RunnerOutcome =
  | { readonly file: string; readonly outcome: 'delivered'; readonly id: string; readonly owner: number }
  | { readonly file: string; readonly outcome: 'kept'; readonly reason: string }
  | { readonly file: string; readonly outcome: 'rejected'; readonly reason: string };

/**
 * One pass of the client-queue runner: every complete file is handed to the
 * daemon on behalf of its owner; delivered files are removed, others kept
 * for the next pass.  A file that is not what the MSP writes (a link, a
 * directory, more than one link, unreadable request line) is left alone and
 * reported.
 */
export async function runClientQueue(dir: string, socketPath: string): Promise<RunnerOutcome[]> {
  const outcomes: RunnerOutcome[] = [];
  for (const name of (await readdir(dir)).filter((n) => n.startsWith(READY_PREFIX)).sort()) {
    const file = join(dir, name);
    outcomes.push(await handOver(file, socketPath));
  }
  return outcomes;
}

async function handOver(file: string, socketPath: string): Promise<RunnerOutcome> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    return { file, outcome: 'rejected', reason: `cannot open: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return { file, outcome: 'rejected', reason: 'not a regular file' };
    if (st.nlink !== 1) return { file, outcome: 'rejected', reason: `${st.nlink} links` };
    const head = await readRequestLine(handle);
    if (head === undefined) return { file, outcome: 'rejected', reason: 'no request line' };
    const request: SubmissionRequest = { ...head.request, onBehalfOf: st.uid };
    const body = handle.createReadStream({ start: head.bodyOffset, autoClose: false });
    let reply: SubmissionReply;
    try {
      reply = await submitMessage(socketPath, request, body);
    } catch (e) {
      return { file, outcome: 'kept', reason: `daemon not reachable: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
    }
    if (reply.ok) {
      await unlink(file);
      return { file, outcome: 'delivered', id: reply.id, owner: st.uid };
    }
    return { file, outcome: 'kept', reason: `${reply.code}: ${reply.lines.join(' ')}` };
  } finally {
    await handle.close();
  }
}

async function readRequestLine(handle: FileHandle): Promise<{ request: SubmissionRequest; bodyOffset: number } | undefined> {
  const buffer = Buffer.alloc(64 * 1024);
  const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
  const newline = buffer.subarray(0, bytesRead).indexOf(0x0a);
  if (newline < 0) return undefined;
  try {
    return { request: JSON.parse(buffer.subarray(0, newline).toString('utf8')) as SubmissionRequest, bodyOffset: newline + 1 };
  } catch {
    return undefined;
  }
}

/** What the MSP does when no daemon answers: the client queue, or a refusal saying why not. */
export async function queueForLater(
  dir: string,
  request: SubmissionRequest,
  message: AsyncIterable<Buffer> | Iterable<Buffer>,
): Promise<SubmissionReply> {
  try {
    const file = await writeClientQueueFile(dir, request, message);
    return { ok: true, id: file.slice(file.lastIndexOf('/') + 1 + READY_PREFIX.length), lines: [] };
  } catch (e) {
    if (e instanceof PosternError) return refusal(ERR.OS_NO_SPACE, e.message);
    const code = (e as NodeJS.ErrnoException).code;
    // no client queue at all (not installed, or a wrong QueueDirectory): sendmail's words for it
    if (code === 'ENOENT' || code === 'ENOTDIR') return refusal(ERR.CLIENT_QUEUE_MISSING, `can not chdir(${dir}/): ${errnoText(e)}`);
    throw e;
  }
}
