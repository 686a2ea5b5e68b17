/**
 * The HostStatusDirectory on disk.  Reads are tolerant (a missing, unsafe or
 * corrupt file is "nothing known"); writes replace the file whole, through a
 * dot-named temporary file that sendmail's listing skips, so no reader ever
 * sees half a status.  Directories are made 0755 as sendmail makes them, and
 * a group- or world-writable one is refused as sendmail refuses it.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, opendirSync, readFileSync, type Dirent } from 'node:fs';
import { lstat, mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { hostFromPath, hostStatusLabels, hostStatusPath } from './layout.js';
import { formatRecord, parseRecord, type HostStatusRecord, type ParsedRecord } from './record.js';

export interface HostStatusSettings {
  /** HostStatusDirectory, made absolute (sendmail resolves it in the queue directory). */
  readonly directory: string;
  /** Timeout.hoststatus in seconds: how long a failure keeps a host from being tried. */
  readonly timeout: number;
  /** Mode of new status files (sendmail's FileMode, i.e. TempFileMode). */
  readonly fileMode?: number;
}

/** sendmail's path_is_dir(): a real directory that neither group nor others may write. */
function usableDirectory(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isDirectory() && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** Reads one status file without following a symbolic link; undefined when there is none to read. */
export async function readStatusFile(path: string): Promise<ParsedRecord | undefined> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return undefined;
    return parseRecord((await handle.readFile()).toString('latin1'));
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/** readStatusFile for the listing commands, which have nothing else to do meanwhile. */
export function readStatusFileSync(path: string): ParsedRecord | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    return fstatSync(fd).isFile() ? parseRecord(readFileSync(fd).toString('latin1')) : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

export class HostStatusStore {
  constructor(readonly settings: HostStatusSettings) {}

  /** What is known of `host`, or undefined. */
  async read(host: string): Promise<HostStatusRecord | undefined> {
    const path = hostStatusPath(this.settings.directory, host);
    if (path === undefined || !usableDirectory(this.settings.directory)) return undefined;
    const parsed = await readStatusFile(path);
    return parsed?.ok ? parsed.record : undefined;
  }

  /**
   * A failure recent enough that `host` is not to be tried (younger than
   * Timeout.hoststatus); a success, or an old failure, keeps nobody away.
   */
  async blocking(host: string, now = Date.now() / 1000): Promise<HostStatusRecord | undefined> {
    const r = await this.read(host);
    if (r === undefined || r.exitStatus === 0) return undefined;
    return r.lastUse + this.settings.timeout > now ? r : undefined;
  }

  /** Replaces the status of `host`; throws when it cannot (the caller logs and delivers on). */
  async write(host: string, record: HostStatusRecord): Promise<void> {
    const root = this.settings.directory;
    const labels = hostStatusLabels(host);
    const path = hostStatusPath(root, host);
    // sendmail keeps nothing for such names, and nothing at all without a usable directory
    if (labels === undefined || path === undefined || !usableDirectory(root)) return;
    let dir = root;
    for (const label of labels.slice(0, -1)) {
      dir = join(dir, label);
      await ensureDirectory(dir);
    }
    const temporary = join(dirname(path), `.${labels[labels.length - 1]}.${process.pid}.tmp`);
    const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, this.settings.fileMode ?? 0o600);
    try {
      await handle.writeFile(formatRecord(record), 'latin1');
    } finally {
      await handle.close();
    }
    try {
      await rename(temporary, path);
    } catch (e) {
      await unlink(temporary).catch(() => undefined);
      throw e;
    }
  }
}

async function ensureDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, 0o755);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = await lstat(dir);
  if (!st.isDirectory()) throw Object.assign(new Error(`${dir}: Not a directory`), { code: 'ENOTDIR' });
  if ((st.mode & 0o022) !== 0) throw Object.assign(new Error(`${dir}: Permission denied`), { code: 'EACCES' });
}

export interface StatusEntry {
  readonly path: string;
  /** The host, as sendmail reads it back from the path (no brackets, no trailing dot). */
  readonly host: string;
}

/**
 * Walks the tree as sendmail's mci_traverse_persistent does: entries in
 * directory order, dot-names skipped, each directory's contents before the
 * directory itself.  `onFile` and `onDirectory` return true when they left
 * the entry in place; a directory with anything left in it is not offered.
 */
export function traverseStatus(
  root: string,
  onFile: (entry: StatusEntry) => boolean,
  onDirectory: (path: string) => boolean = () => true,
): boolean {
  const walk = (path: string): boolean => {
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return true;
    }
    if (st.isFile()) return onFile({ path, host: hostFromPath(root, path) });
    if (!st.isDirectory()) return true;
    let leftOne = false;
    for (const name of directoryOrder(path)) {
      if (name.startsWith('.')) continue;
      if (walk(join(path, name))) leftOne = true;
    }
    return leftOne || path === root ? true : onDirectory(path);
  };
  return walk(root);
}

/** Names in the order the file system gives them (readdir's order, as sendmail sees it, unsorted). */
function directoryOrder(path: string): string[] {
  const names: string[] = [];
  let dir;
  try {
    dir = opendirSync(path);
  } catch {
    return names;
  }
  try {
    let d: Dirent | null;
    while ((d = dir.readSync()) !== null) names.push(d.name);
  } finally {
    dir.closeSync();
  }
  return names;
}
