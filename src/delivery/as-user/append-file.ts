/**
 * A /file target, written by the as-user agent with the identity sendmail
 * would write it with (mailfile() in deliver.c):
 *
 *   - SafeFileEnvironment: the path is taken inside it (a path already
 *     under it is used as is).  sendmail chroot()s there; Postern cannot,
 *     so it resolves the directory and refuses one that leads out of it;
 *   - a missing file is made O_EXCL with FileMode (0600), owned by the
 *     writer; an existing one must be a regular file with one link and no
 *     execute bit (FileDeliveryToHardLink / FileDeliveryToSymLink relax the
 *     link rules, as in sendmail); it is opened without following a link
 *     and checked again on the descriptor;
 *   - locked (fcntl and flock, as mailboxes are), appended in sendmail's
 *     file-mailer form (From_ line, Return-Path:, ">From " escaping, an
 *     empty line after), fsync'd, and cut back to its old size on failure.
 */
import { constants, lstatSync, realpathSync, statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ERR } from '../../common/errors.js';
import { lockMailbox } from '../mailbox/mailbox-file.js';
import { encodeMbox } from '../mailbox/mbox-format.js';
import { describeError, errnoCode, failed, writeErrorClass, type DeliveryStatus } from '../mailbox/status.js';
import type { AppendFileRequest } from './protocol.js';

const TRANSIENT = new Set(['EAGAIN', 'ETIMEDOUT', 'EIO', 'ENFILE', 'EMFILE', 'ENOMEM', 'ESTALE', 'EINTR', 'ENOSPC', 'EDQUOT']);

const cantCreate = (why: string) => failed(ERR.FILE_CANT_CREATE, `Can't create output (${why})`);

/** Where the file really is, with SafeFileEnvironment applied; or why it may not be written. */
export function targetPath(path: string, safeFileEnvironment: string | null): { path: string } | { refused: DeliveryStatus } {
  if (safeFileEnvironment === null || safeFileEnvironment === '') return { path };
  const root = safeFileEnvironment.replace(/\/+$/, '') || '/';
  const inside = path.startsWith(root) ? path.slice(root.length) : path;
  const target = join(root, inside.replace(/^\/+/, ''));
  try {
    const realRoot = realpathSync(root);
    const realDir = realpathSync(dirname(target));
    if (realDir !== realRoot && !realDir.startsWith(realRoot === '/' ? '/' : `${realRoot}/`)) {
      return { refused: cantCreate(`${path}: directory leads out of SafeFileEnvironment ${root}`) };
    }
  } catch (error) {
    return { refused: cantCreate(`cannot open ${target}: ${describeError(error)}`) };
  }
  return { path: target };
}

function openProblem(path: string, error: unknown): DeliveryStatus {
  const code = errnoCode(error);
  const text = `cannot open ${path}: ${describeError(error)}`;
  return TRANSIENT.has(code ?? '') ? failed(ERR.FILE_CANNOT_OPEN_TEMP, text) : failed(ERR.FILE_CANNOT_OPEN, text);
}

async function openTarget(path: string, request: AppendFileRequest): Promise<{ handle: FileHandle } | { refused: DeliveryStatus }> {
  let before;
  try {
    before = request.toSymlink ? statSync(path, { bigint: true }) : lstatSync(path, { bigint: true });
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') return { refused: openProblem(path, error) };
    before = undefined;
  }
  const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_NONBLOCK | constants.O_NOCTTY | (request.toSymlink ? 0 : constants.O_NOFOLLOW);
  if (before !== undefined) {
    if (before.isSymbolicLink()) return { refused: cantCreate(`${path}: Symbolic links not allowed`) };
    if (!before.isFile()) return { refused: cantCreate(`${path}: Regular files only`) };
    if (before.mode & 0o111n) return { refused: cantCreate(`${path}: Executable files not allowed`) };
    if (!request.toHardLink && before.nlink !== 1n) return { refused: cantCreate(`${path}: Hard links not allowed`) };
  }
  let handle: FileHandle;
  try {
    handle = before === undefined ? await open(path, flags | constants.O_CREAT | constants.O_EXCL, request.createMode) : await open(path, flags);
  } catch (error) {
    return { refused: openProblem(path, error) };
  }
  const after = await handle.stat({ bigint: true });
  const changed =
    (before !== undefined && (after.dev !== before.dev || after.ino !== before.ino)) || !after.isFile() || (!request.toHardLink && after.nlink !== 1n);
  if (changed) {
    await handle.close();
    return { refused: failed(ERR.FILE_CANNOT_OPEN, `${path}: file changed after open`) };
  }
  // a new file gets exactly FileMode, whatever the umask took
  if (before === undefined) await handle.chmod(request.createMode);
  return { handle };
}

export async function appendToFile(request: AppendFileRequest, content: AsyncIterable<Buffer>, signal?: AbortSignal): Promise<DeliveryStatus> {
  const where = targetPath(request.path, request.safeFileEnvironment);
  if ('refused' in where) return where.refused;
  const opened = await openTarget(where.path, request);
  if ('refused' in opened) return opened.refused;
  const file = opened.handle;
  try {
    if (!(await lockMailbox(file, { timeoutMs: request.lockTimeoutMs, ...(signal ? { signal } : {}) }))) {
      return failed(ERR.FILE_CANNOT_OPEN_TEMP, `${where.path}: locked by another process for too long`);
    }
    const originalSize = (await file.stat()).size;
    try {
      for await (const piece of encodeMbox(content, request.sender, new Date(request.now))) {
        signal?.throwIfAborted();
        for (let off = 0; off < piece.length; ) off += (await file.write(piece, off, piece.length - off)).bytesWritten;
      }
      await file.sync();
      return { status: 'sent', dsn: '2.0.0', text: 'Sent' };
    } catch (error) {
      let undo = '';
      try {
        await file.truncate(originalSize);
        await file.sync();
      } catch {
        undo = ' (and could not be cut back)';
      }
      const cls = writeErrorClass(error) === ERR.MAILBOX_WRITE_FAILED ? ERR.FILE_WRITE_FAILED : writeErrorClass(error);
      return failed(cls, `${where.path}: ${signal?.aborted ? 'delivery stopped' : describeError(error)}${undo}`);
    }
  } finally {
    await file.close();
  }
}
