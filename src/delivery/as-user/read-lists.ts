/**
 * Reading .forward files and :include: lists, in the as-user agent: each
 * candidate judged by the safe-file rules, opened (without following a
 * link where links are refused), checked again on the open descriptor, and
 * read.  Running as the list's user, the kernel refuses whatever that user
 * could not read anyway; the rules refuse what someone else could have
 * written.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { checkListFile, openedListProblem } from '../safefile/list-file.js';
import { fromError } from '../safefile/rules.js';
import type { ListResult, ReadListsAnswer, ReadListsRequest } from './protocol.js';

function readOne(path: string, kind: 'forward' | 'include', request: ReadListsRequest, dbs: ReadonlySet<string>): ListResult {
  const verdict = checkListFile(path, kind, request.who, dbs);
  if ('code' in verdict) return { path, ok: false, code: verdict.code, text: verdict.text, transient: verdict.transient };
  // O_NONBLOCK: a FIFO swapped in after the check must not hang the open; fstat then refuses it
  const flags = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (verdict.rules.noSymlink ? constants.O_NOFOLLOW : 0);
  let fd: number;
  try {
    fd = openSync(path, flags);
  } catch (error) {
    const p = fromError(error);
    // ELOOP under O_NOFOLLOW: a link appeared after the check
    return { path, ok: false, code: p.code === 'ELOOP' ? 'FILECHANGE' : p.code, text: p.code === 'ELOOP' ? 'File changed after open' : p.text, transient: p.transient };
  }
  try {
    const opened = fstatSync(fd);
    const changed = openedListProblem(verdict.stat, opened, request.who, verdict);
    if (changed !== undefined) return { path, ok: false, code: changed.code, text: changed.text, transient: changed.transient };
    const buffer = Buffer.alloc(Math.min(request.maxBytes, Math.max(opened.size, 0) + 1) || 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) break;
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    const truncated = length >= request.maxBytes;
    return {
      path,
      ok: true,
      text: buffer.subarray(0, length).toString('latin1'),
      truncated,
      uid: opened.uid,
      gid: opened.gid,
      dev: opened.dev,
      ino: opened.ino,
      ...(verdict.unsafeAddress !== undefined ? { unsafeAddress: verdict.unsafeAddress } : {}),
    };
  } catch (error) {
    const p = fromError(error);
    return { path, ok: false, code: p.code, text: p.text, transient: p.transient };
  } finally {
    closeSync(fd);
  }
}

export function readLists(request: ReadListsRequest): ReadListsAnswer {
  const dbs = new Set(request.dbs);
  const results: ListResult[] = [];
  for (const list of request.lists) {
    const result = readOne(list.path, list.kind, request, dbs);
    results.push(result);
    if (request.firstOnly && result.ok) break;
  }
  return { results };
}
