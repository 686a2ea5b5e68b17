/**
 * sendmail's secure-file rules (libsmutil/safefile.c: safefile and
 * safedirpath), as checks over stat results, so that each rule can be
 * tested on its own and the same code judges a file whoever runs it.
 *
 * The answers carry sendmail's own words ("Group writable file", "World
 * writable directory", "Permission denied" ...), because those are what an
 * administrator finds in the log and searches for.
 *
 * One rule is Postern's own: a directory on the path must be owned by root,
 * by the user the file is checked for, or by TrustedUser.  sendmail only
 * looks at write bits, so a home directory owned by someone else counts as
 * safe there, and that someone can plant links in it.
 */
import { lstatSync, readlinkSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { lookupGroup } from '../../privsep/passwd.js';

export interface StatLike {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly dev: number;
  readonly ino: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

/** The file-system calls the rules need; tests pass a table instead. */
export interface FsProbe {
  lstat(path: string): StatLike;
  stat(path: string): StatLike;
  readlink(path: string): string;
  /** members of a group, for "is the user in the file's group" */
  groupMembers(gid: number): readonly string[];
}

export const NODE_FS: FsProbe = {
  lstat: (p) => lstatSync(p),
  stat: (p) => statSync(p),
  readlink: (p) => readlinkSync(p),
  groupMembers: (gid) => lookupGroup(gid)?.members ?? [],
};

/** Whom a file is checked for. */
export interface Checker {
  readonly uid: number;
  readonly gid: number;
  /** login name, for supplementary group membership */
  readonly user?: string;
  /** TrustedUser's uid, when set */
  readonly trustedUid?: number;
}

/**
 * sendmail's pseudo-errors (E_SM_*) and the errno names that safefile
 * passes through.  `UNSAFE_DIR_OWNER` is Postern's owner rule.
 */
export type SafeCode =
  | 'NOSLINK'
  | 'NOHLINK'
  | 'REGONLY'
  | 'ISEXEC'
  | 'WWDIR'
  | 'GWDIR'
  | 'UNSAFE_DIR_OWNER'
  | 'FILECHANGE'
  | 'WWFILE'
  | 'GWFILE'
  | 'EACCES'
  | 'ENOENT'
  | 'ELOOP'
  | 'ENAMETOOLONG'
  | 'ENOTDIR'
  | 'EIO'
  | 'OTHER';

const WORDS: Record<SafeCode, string> = {
  NOSLINK: 'Symbolic links not allowed',
  NOHLINK: 'Hard links not allowed',
  REGONLY: 'Regular files only',
  ISEXEC: 'Executable files not allowed',
  WWDIR: 'World writable directory',
  GWDIR: 'Group writable directory',
  UNSAFE_DIR_OWNER: 'Unsafe directory path',
  FILECHANGE: 'File changed after open',
  WWFILE: 'World writable file',
  GWFILE: 'Group writable file',
  EACCES: 'Permission denied',
  ENOENT: 'No such file or directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  ENOTDIR: 'Not a directory',
  EIO: 'Input/output error',
  OTHER: 'Unknown error',
};

export interface SafeProblem {
  readonly code: SafeCode;
  /** sendmail's words for it */
  readonly text: string;
  /** worth trying again later (sendmail's transienterror) */
  readonly transient: boolean;
}

/** The directory pseudo-errors: the ones DontBlameSendmail's *UnsafeDirPath flags speak of. */
export const isDirectoryProblem = (code: SafeCode): boolean => code === 'WWDIR' || code === 'GWDIR' || code === 'UNSAFE_DIR_OWNER';

export function problem(code: SafeCode, text = WORDS[code]): SafeProblem {
  return { code, text, transient: code === 'EIO' };
}

const TRANSIENT_ERRNO = new Set(['EIO', 'EAGAIN', 'ETIMEDOUT', 'ENFILE', 'EMFILE', 'ENOMEM', 'ESTALE', 'EINTR', 'ENOBUFS']);

/** A thrown file-system error as a problem, with the words strerror gives it. */
export function fromError(error: unknown): SafeProblem {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in WORDS) return problem(code as SafeCode);
  const words = error instanceof Error ? (/^E[A-Z0-9]+: ([^,]+)/.exec(error.message)?.[1] ?? error.message) : String(error);
  const text = words.charAt(0).toUpperCase() + words.slice(1);
  return { code: 'OTHER', text, transient: typeof code === 'string' && TRANSIENT_ERRNO.has(code) };
}

export interface DirPathRules {
  /** SFF_SAFEDIRPATH: a writable directory is an error, not a warning */
  readonly fatal: boolean;
  /** DontBlameSendmail GroupWritableDirPathSafe */
  readonly groupWritableSafe: boolean;
  /** DontBlameSendmail TrustStickyBit */
  readonly trustSticky: boolean;
}

const MAX_SYMLINKS = 20;

/**
 * safedirpath(): every directory from "/" down to `dir`, symbolic links
 * followed and their targets checked in turn.  Returns the first problem.
 */
export function safeDirPath(dir: string, who: Checker, rules: DirPathRules, fs: FsProbe = NODE_FS, level = 0): SafeProblem | undefined {
  if (level > MAX_SYMLINKS) return problem('ELOOP');
  const writeBits = 0o002 | (rules.groupWritableSafe ? 0 : 0o020);
  const parts = dir.split('/').filter((p) => p !== '' && p !== '.');
  let path = '/';
  for (let i = -1; i < parts.length; i++) {
    if (i >= 0) {
      if (parts[i] === '..') {
        path = dirname(path);
        continue;
      }
      path = join(path, parts[i]!);
    }
    let st: StatLike;
    try {
      st = fs.lstat(path);
    } catch (error) {
      return fromError(error);
    }
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = fs.readlink(path);
      } catch (error) {
        return fromError(error);
      }
      const resolved = isAbsolute(target) ? target : join(dirname(path), target);
      const inner = safeDirPath(resolved, who, rules, fs, level + 1);
      if (inner !== undefined) return inner;
      path = resolved;
      continue;
    }
    if (!st.isDirectory()) return problem('ENOTDIR');
    const trustedSticky = rules.trustSticky && (st.mode & 0o1000) !== 0;
    if (rules.fatal && !trustedSticky && (st.mode & writeBits) !== 0) return problem(st.mode & 0o002 ? 'WWDIR' : 'GWDIR');
    if (rules.fatal && st.uid !== 0 && st.uid !== who.uid && st.uid !== who.trustedUid) return problem('UNSAFE_DIR_OWNER');
  }
  return undefined;
}

export interface FileRules {
  /** SFF_MUSTOWN: owned by the checker, root or TrustedUser */
  readonly mustOwn?: boolean;
  /** SFF_ROOTOK: a root checker is judged by the owner bits, not the world bits */
  readonly rootOk?: boolean;
  readonly noSymlink?: boolean;
  readonly noHardlink?: boolean;
  readonly regularOnly?: boolean;
  readonly noGroupWritable?: boolean;
  readonly noWorldWritable?: boolean;
  /** SFF_NOPATHCHECK: the directories were judged already */
  readonly noPathCheck?: boolean;
  readonly dirPath: DirPathRules;
  /** what the checker wants to do with it */
  readonly access: 'read' | 'write';
  /** SFF_EXECOK: a file to be written may have execute bits */
  readonly execOk?: boolean;
}

export interface FileVerdict {
  /** what was judged: lstat's answer when links are refused, stat's otherwise */
  readonly stat: StatLike;
}

/** safefile(): the directories (unless already judged), then the file itself. */
export function safeFile(path: string, who: Checker, rules: FileRules, fs: FsProbe = NODE_FS): FileVerdict | SafeProblem {
  let st: StatLike | undefined;
  let fileProblem: SafeProblem | undefined;
  try {
    st = rules.noSymlink ? fs.lstat(path) : fs.stat(path);
  } catch (error) {
    fileProblem = fromError(error);
  }
  // the path comes first: a world-writable home is reported even where no file is
  if (!rules.noPathCheck) {
    const dirProblem = safeDirPath(dirname(path), who, rules.dirPath, fs);
    if (dirProblem !== undefined) return dirProblem;
  }
  if (fileProblem !== undefined || st === undefined) return fileProblem ?? problem('ENOENT');
  const rejected = fileProblemOf(st, who, rules, fs);
  return rejected ?? { stat: st };
}

/** The checks on the file's own stat; also applied again to fstat after opening. */
export function fileProblemOf(st: StatLike, who: Checker, rules: FileRules, fs: FsProbe = NODE_FS): SafeProblem | undefined {
  if (rules.noSymlink && st.isSymbolicLink()) return problem('NOSLINK');
  if (rules.regularOnly && !st.isFile()) return problem('REGONLY');
  if (rules.noGroupWritable && st.mode & 0o020) return problem('GWFILE');
  if (rules.noWorldWritable && st.mode & 0o002) return problem('WWFILE');
  if (rules.access === 'write' && !rules.execOk && st.mode & 0o111) return problem('ISEXEC');
  if (rules.noHardlink && st.nlink !== 1) return problem('NOHLINK');

  let wanted = rules.access === 'read' ? 0o400 : 0o200;
  if (who.uid === 0 && !rules.rootOk) wanted >>= 6;
  else if (st.uid === who.uid) {
    /* the owner bits */
  } else if (who.uid === 0 && st.uid === who.trustedUid) {
    /* TrustedUser's files count as root's own */
  } else {
    wanted >>= 3;
    const inGroup = st.gid === who.gid || (who.user !== undefined && fs.groupMembers(st.gid).includes(who.user));
    if (!inGroup) wanted >>= 3;
  }
  const ownerOk = !rules.mustOwn || st.uid === who.uid || st.uid === 0 || (who.trustedUid !== undefined && st.uid === who.trustedUid);
  if (ownerOk && (st.mode & wanted) === wanted) return undefined;
  return problem('EACCES');
}
