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
import { open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientQueueFile, clientQueueRefusal, READY_PREFIX } from './client-queue-file.js';
import { PROTOCOL_VERSION, submitMessage, type SubmissionReply, type SubmissionRequest } from './submit-protocol.js';

export { CLIENT_QUEUE_FILE_MODE, READY_PREFIX, TEMP_PREFIX } from './client-queue-file.js';

/**
 * Leaves a message in the client queue as the calling user; resolves with
 * the file's name once it is complete and on disk.  When reading `message`
 * or writing fails, nothing is left behind.
 */
export async function writeClientQueueFile(
  dir: string,
  request: SubmissionRequest,
  message: AsyncIterable<Buffer> | Iterable<Buffer>,
): Promise<string> {
  const file = ClientQueueFile.create(dir, request);
  try {
    for await (const chunk of message) file.write(chunk);
    return file.commit();
  } finally {
    file.abandon();
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
    // the file's request line is as the MSP wrote it, perhaps by an older version; the channel is this one's
    const request: SubmissionRequest = { ...head.request, version: PROTOCOL_VERSION, onBehalfOf: st.uid };
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

/** What `sendmail -bs` does when no daemon answers: the client queue, or a refusal saying why not. */
export async function queueForLater(
  dir: string,
  request: SubmissionRequest,
  message: AsyncIterable<Buffer> | Iterable<Buffer>,
): Promise<SubmissionReply> {
  try {
    const file = await writeClientQueueFile(dir, request, message);
    return { ok: true, id: file.slice(file.lastIndexOf('/') + 1 + READY_PREFIX.length), lines: [] };
  } catch (e) {
    return clientQueueRefusal(dir, e);
  }
}
