/**
 * Whether a .forward file or an :include: list may be used, and whether the
 * programs and files it names may be run and written: sendmail's include()
 * rules (recipient.c), with each DontBlameSendmail relaxation.
 *
 *   - the directory path is judged first; a writable (or, in Postern,
 *     foreign-owned) directory makes the file unusable unless
 *     ForwardFileInUnsafeDirPath / IncludeFileInUnsafeDirPath (or the
 *     *InGroupWritableDirPath flags, for group write only) say otherwise, and
 *     even then its programs and files are refused unless the matching
 *     *UnsafeDirPathSafe flag is set;
 *   - outside a safe directory, links are refused (Linked*InWritableDir
 *     relaxes that);
 *   - the file: regular; a .forward owned by its user or root; not group or
 *     world writable (GroupWritable*File, WorldWritable*File relax that,
 *     and GroupWritable*FileSafe lets its programs and files run);
 *   - readable by whoever reads it.
 *
 * Postern adds one rule: a list with more than one hard link is refused
 * wherever it is (sendmail refuses only outside a safe directory).  The
 * reader runs as the list's user, so this costs little and takes away the
 * last way to make someone else's file count as a user's list.
 */
import { dirname } from 'node:path';
import { fileProblemOf, isDirectoryProblem, NODE_FS, safeDirPath, safeFile, type Checker, type FileRules, type FsProbe, type SafeProblem, type StatLike } from './rules.js';

export type ListKind = 'forward' | 'include';

export interface ListVerdict {
  readonly stat: StatLike;
  readonly rules: FileRules;
  /** the file's directory passed the checks: a symbolic link to the list is followed */
  readonly safeDir: boolean;
  /** why its programs and files may not be used, when so (sendmail's QUNSAFEADDR) */
  readonly unsafeAddress?: string;
}

/** The DontBlameSendmail flags that concern lists, by kind. */
function flagNames(kind: ListKind) {
  const k = kind === 'forward' ? 'Forward' : 'Include';
  return {
    groupWritableFile: `GroupWritable${k}File`,
    worldWritableFile: `WorldWritable${k}File`,
    groupWritableFileSafe: `GroupWritable${k}FileSafe`,
    inUnsafeDirPath: `${k}FileInUnsafeDirPath`,
    inGroupWritableDirPath: `${k}FileInGroupWritableDirPath`,
    inUnsafeDirPathSafe: `${k}FileInUnsafeDirPathSafe`,
    linkedInWritableDir: `Linked${k}FileInWritableDir`,
  };
}

export function checkListFile(path: string, kind: ListKind, who: Checker, dbs: ReadonlySet<string>, fs: FsProbe = NODE_FS): ListVerdict | SafeProblem {
  const f = flagNames(kind);
  const dirPath = { fatal: true, groupWritableSafe: dbs.has('GroupWritableDirPathSafe'), trustSticky: dbs.has('TrustStickyBit') };
  let rules: FileRules = {
    regularOnly: true,
    access: 'read',
    dirPath,
    noHardlink: true,
    ...(kind === 'forward' ? { mustOwn: true, rootOk: true } : {}),
    noGroupWritable: !dbs.has(f.groupWritableFile),
    noWorldWritable: !dbs.has(f.worldWritableFile),
  };
  let unsafeAddress: string | undefined;
  const dirProblem = safeDirPath(dirname(path), who, dirPath, fs);
  const safeDir = dirProblem === undefined;
  if (safeDir) {
    rules = { ...rules, noPathCheck: true };
  } else {
    if (dbs.has(f.inUnsafeDirPath)) {
      rules = { ...rules, noPathCheck: true };
    } else if (dbs.has(f.inGroupWritableDirPath) && dirProblem.code === 'GWDIR') {
      const again = safeDirPath(dirname(path), who, { ...dirPath, groupWritableSafe: true }, fs);
      if (again === undefined) rules = { ...rules, noPathCheck: true };
    }
    if (isDirectoryProblem(dirProblem.code) && !dbs.has(f.inUnsafeDirPathSafe)) unsafeAddress = 'unsafe directory path';
    if (!dbs.has(f.linkedInWritableDir)) rules = { ...rules, noSymlink: true };
  }
  const verdict = safeFile(path, who, rules, fs);
  if ('code' in verdict) return verdict;
  const writeBits = 0o002 | (dbs.has(f.groupWritableFileSafe) ? 0 : 0o020);
  if (verdict.stat.mode & writeBits) unsafeAddress ??= `${verdict.stat.mode & 0o002 ? 'world' : 'group'} writable ${kind === 'forward' ? 'forward' : ':include:'} file`;
  return { stat: verdict.stat, rules, safeDir, ...(unsafeAddress !== undefined ? { unsafeAddress } : {}) };
}

/** After opening: the open file is the one judged, and still passes. */
export function openedListProblem(judged: StatLike, opened: StatLike, who: Checker, verdict: ListVerdict, fs: FsProbe = NODE_FS): SafeProblem | undefined {
  if (opened.dev !== judged.dev || opened.ino !== judged.ino) return { code: 'FILECHANGE', text: 'File changed after open', transient: false };
  // fstat never reports a link: judge the open file as a plain one
  return fileProblemOf(opened, who, { ...verdict.rules, noSymlink: false }, fs);
}
