/**
 * sendmail's safefile rules for .forward files and :include: lists, one rule
 * at a time, on a file system described by a table: each rule refuses with
 * sendmail's words, and each DontBlameSendmail flag relaxes exactly its rule.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { checkListFile, openedListProblem, type ListVerdict } from '../../src/delivery/safefile/list-file.js';
import { safeDirPath, type FsProbe, type StatLike } from '../../src/delivery/safefile/rules.js';

const DIR = 0o040000;
const REG = 0o100000;
const LNK = 0o120000;

interface Entry {
  mode: number;
  uid: number;
  gid?: number;
  nlink?: number;
  link?: string;
}

const BOB = { uid: 1001, gid: 1001, user: 'bob' };

function fakeFs(table: Record<string, Entry>): FsProbe {
  let ino = 0;
  const inodes = new Map(Object.keys(table).map((p) => [p, ++ino]));
  const statOf = (path: string): StatLike => {
    const e = table[path];
    if (e === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, stat '${path}'`), { code: 'ENOENT' });
    const type = e.mode & 0o170000;
    return {
      mode: e.mode,
      uid: e.uid,
      gid: e.gid ?? e.uid,
      nlink: e.nlink ?? 1,
      dev: 1,
      ino: inodes.get(path)!,
      isFile: () => type === REG,
      isDirectory: () => type === DIR,
      isSymbolicLink: () => type === LNK,
    };
  };
  return {
    lstat: statOf,
    stat: (path) => {
      let p = path;
      for (let i = 0; i < 10 && table[p]?.link !== undefined; i++) p = table[p]!.link!;
      return statOf(p);
    },
    readlink: (path) => table[path]?.link ?? '',
    groupMembers: (gid) => (gid === 50 ? ['bob'] : []),
  };
}

/** A home for bob, with .forward as given, on a root-owned path. */
function home(forward: Entry | undefined, homeMode = DIR | 0o755, extra: Record<string, Entry> = {}): FsProbe {
  return fakeFs({
    '/': { mode: DIR | 0o755, uid: 0 },
    '/home': { mode: DIR | 0o755, uid: 0 },
    '/home/bob': { mode: homeMode, uid: 1001 },
    ...(forward ? { '/home/bob/.forward': forward } : {}),
    ...extra,
  });
}

const FWD = '/home/bob/.forward';
const check = (fs: FsProbe, dbs: string[] = [], kind: 'forward' | 'include' = 'forward', path = FWD) => checkListFile(path, kind, BOB, new Set(dbs), fs);
const reason = (v: ReturnType<typeof check>) => ('code' in v ? v.text : 'ok');
const unsafe = (v: ReturnType<typeof check>) => ('code' in v ? `refused: ${v.text}` : (v.unsafeAddress ?? 'safe'));

test('a .forward of the user, 0644, in a safe home is used, and its programs may run', () => {
  const v = check(home({ mode: REG | 0o644, uid: 1001 }));
  assert.equal(reason(v), 'ok');
  assert.equal(unsafe(v), 'safe');
});

test('group and world writable .forward files are refused as sendmail words it (both "Group writable file")', () => {
  assert.equal(reason(check(home({ mode: REG | 0o664, uid: 1001 }))), 'Group writable file');
  assert.equal(reason(check(home({ mode: REG | 0o666, uid: 1001 }))), 'Group writable file');
  assert.equal(reason(check(home({ mode: REG | 0o646, uid: 1001 }))), 'World writable file');
});

test('GroupWritableForwardFile lets a group-writable .forward be read, its programs refused unless GroupWritableForwardFileSafe', () => {
  const fs = home({ mode: REG | 0o664, uid: 1001 });
  assert.equal(unsafe(check(fs, ['GroupWritableForwardFile'])), 'group writable forward file');
  assert.equal(unsafe(check(fs, ['GroupWritableForwardFile', 'GroupWritableForwardFileSafe'])), 'safe');
  assert.equal(reason(check(home({ mode: REG | 0o666, uid: 1001 }), ['GroupWritableForwardFile'])), 'World writable file');
  assert.equal(unsafe(check(home({ mode: REG | 0o666, uid: 1001 }), ['GroupWritableForwardFile', 'WorldWritableForwardFile'])), 'world writable forward file');
});

test('the owner must be the user or root; mode 0000 and a directory are refused', () => {
  assert.equal(reason(check(home({ mode: REG | 0o644, uid: 1002 }))), 'Permission denied');
  assert.equal(reason(check(home({ mode: REG | 0o644, uid: 0 }))), 'ok');
  assert.equal(reason(check(home({ mode: REG | 0o000, uid: 1001 }))), 'Permission denied');
  assert.equal(reason(check(home({ mode: DIR | 0o755, uid: 1001 }))), 'Regular files only');
  assert.equal(reason(check(home(undefined))), 'No such file or directory');
});

test('a world-writable home, even sticky, makes every candidate unsafe: "World writable directory"; group writable: "Group writable directory"', () => {
  assert.equal(reason(check(home({ mode: REG | 0o644, uid: 1001 }, DIR | 0o1777))), 'World writable directory');
  assert.equal(reason(check(home(undefined, DIR | 0o1777))), 'World writable directory', 'reported where no file is too');
  assert.equal(reason(check(home({ mode: REG | 0o644, uid: 1001 }, DIR | 0o775))), 'Group writable directory');
});

test('TrustStickyBit trusts a sticky directory; GroupWritableDirPathSafe a group-writable one', () => {
  assert.equal(reason(check(home({ mode: REG | 0o644, uid: 1001 }, DIR | 0o1777), ['TrustStickyBit'])), 'ok');
  assert.equal(reason(check(home({ mode: REG | 0o644, uid: 1001 }, DIR | 0o775), ['GroupWritableDirPathSafe'])), 'ok');
});

test('ForwardFileInUnsafeDirPath reads a .forward in an unsafe directory but refuses its programs, unless ForwardFileInUnsafeDirPathSafe', () => {
  const fs = home({ mode: REG | 0o644, uid: 1001 }, DIR | 0o777);
  assert.equal(unsafe(check(fs, ['ForwardFileInUnsafeDirPath'])), 'unsafe directory path');
  assert.equal(unsafe(check(fs, ['ForwardFileInUnsafeDirPath', 'ForwardFileInUnsafeDirPathSafe'])), 'safe');
});

test('ForwardFileInGroupWritableDirPath relaxes group write only', () => {
  assert.equal(unsafe(check(home({ mode: REG | 0o644, uid: 1001 }, DIR | 0o775), ['ForwardFileInGroupWritableDirPath'])), 'unsafe directory path');
  assert.equal(reason(check(home({ mode: REG | 0o644, uid: 1001 }, DIR | 0o777), ['ForwardFileInGroupWritableDirPath'])), 'World writable directory');
});

test('a symbolic link is followed in a safe directory (its target judged) and refused in an unsafe one', () => {
  const own = { '/etc': { mode: DIR | 0o755, uid: 0 }, '/home/bob/real': { mode: REG | 0o644, uid: 1001 } };
  assert.equal(reason(check(home({ mode: LNK | 0o777, uid: 1001, link: '/home/bob/real' }, DIR | 0o755, own))), 'ok');
  const foreign = { '/home/carol-file': { mode: REG | 0o644, uid: 1002 } };
  assert.equal(reason(check(home({ mode: LNK | 0o777, uid: 1001, link: '/home/carol-file' }, DIR | 0o755, foreign))), 'Permission denied');
  const unsafeHome = home({ mode: LNK | 0o777, uid: 1001, link: '/home/bob/real' }, DIR | 0o777, own);
  assert.equal(reason(check(unsafeHome, ['ForwardFileInUnsafeDirPath'])), 'Symbolic links not allowed');
  assert.equal(reason(check(unsafeHome, ['ForwardFileInUnsafeDirPath', 'LinkedForwardFileInWritableDir'])), 'ok');
});

test('hard links are refused wherever the list is (Postern: nlink must be 1)', () => {
  assert.equal(reason(check(home({ mode: REG | 0o644, uid: 1001, nlink: 2 }))), 'Hard links not allowed');
});

test('a directory owned by someone else makes the path unsafe (Postern\'s own rule)', () => {
  const fs = fakeFs({
    '/': { mode: DIR | 0o755, uid: 0 },
    '/home': { mode: DIR | 0o755, uid: 1002 },
    '/home/bob': { mode: DIR | 0o755, uid: 1001 },
    '/home/bob/.forward': { mode: REG | 0o644, uid: 1001 },
  });
  assert.equal(reason(check(fs)), 'Unsafe directory path');
});

test(':include: lists: any owner the reader may read; the include flags relax them, not the forward flags', () => {
  const fs = fakeFs({
    '/': { mode: DIR | 0o755, uid: 0 },
    '/etc': { mode: DIR | 0o755, uid: 0 },
    '/etc/list': { mode: REG | 0o664, uid: 0, gid: 0 },
    '/etc/open': { mode: REG | 0o644, uid: 1002 },
    '/etc/shut': { mode: REG | 0o600, uid: 1002 },
    '/etc/grouped': { mode: REG | 0o640, uid: 1002, gid: 50 },
  });
  assert.equal(reason(check(fs, [], 'include', '/etc/open')), 'ok');
  assert.equal(reason(check(fs, [], 'include', '/etc/shut')), 'Permission denied');
  assert.equal(reason(check(fs, [], 'include', '/etc/grouped')), 'ok', 'bob is a member of group 50');
  assert.equal(reason(check(fs, [], 'include', '/etc/list')), 'Group writable file');
  assert.equal(reason(check(fs, ['GroupWritableForwardFile'], 'include', '/etc/list')), 'Group writable file');
  assert.equal(unsafe(check(fs, ['GroupWritableIncludeFile'], 'include', '/etc/list')), 'group writable :include: file');
});

test('safedirpath follows a symbolic link in the path and judges its target', () => {
  const fs = fakeFs({
    '/': { mode: DIR | 0o755, uid: 0 },
    '/srv': { mode: LNK | 0o777, uid: 0, link: '/tmp' },
    '/tmp': { mode: DIR | 0o1777, uid: 0 },
  });
  assert.equal(safeDirPath('/srv', BOB, { fatal: true, groupWritableSafe: false, trustSticky: false }, fs)?.text, 'World writable directory');
  assert.equal(safeDirPath('/srv', BOB, { fatal: false, groupWritableSafe: false, trustSticky: false }, fs), undefined, 'not fatal: only a warning');
});

test('after opening, another inode or a file turned group-writable is refused', () => {
  const fs = home({ mode: REG | 0o644, uid: 1001 });
  const v = check(fs) as ListVerdict;
  const st = fs.stat(FWD);
  assert.equal(openedListProblem(v.stat, st, BOB, v, fs), undefined);
  assert.equal(openedListProblem(v.stat, { ...st, ino: 999 }, BOB, v, fs)?.text, 'File changed after open');
  assert.equal(openedListProblem(v.stat, { ...st, mode: REG | 0o664 }, BOB, v, fs)?.text, 'Group writable file');
});
