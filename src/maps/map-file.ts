/**
 * Postern's keyed map file: what sendmail keeps in Berkeley DB `.db` files
 * (the alias database, access, mailertable, virtusertable, ...).
 *
 * The format is one SQLite file (better-sqlite3):
 *   meta(name, value)               format, version, map type, source, built
 *   entries(seq, key BLOB, value BLOB)  in the order they were put
 * Keys and values are bytes, as in a Berkeley DB map: `makemap -N` stores the
 * terminating NUL, and `makemap -u` prints whatever bytes were stored.
 *
 * Why SQLite rather than a format of our own: a reader needs a keyed look-up
 * without reading the whole file (access maps have 10^5 entries), the library
 * is already a dependency (the queue), and its file is self-checking.  Why
 * not updated in place: a file is always built whole under a temporary name
 * in the same directory, fsync'd, and renamed over the old one, so a reader
 * sees the old map or the new one, never a half-built one, and a crash
 * during a rebuild leaves the old map in place.  The build keeps its journal
 * in memory (an interrupted build is just an unused temporary file, removed
 * by the next build), so the finished file is a single file with no
 * -wal/-journal companions.
 */
import Database from 'better-sqlite3';
import { closeSync, fchmodSync, fchownSync, fstatSync, fsyncSync, openSync, readSync, readdirSync, renameSync, rmSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ERR, PosternError } from '../common/errors.js';

export type MapType = 'hash' | 'btree';

const FORMAT = 'postern-map';
const VERSION = '1';
const SQLITE_MAGIC = 'SQLite format 3\0';

/** The file a map name stands for: `/etc/mail/access` → `/etc/mail/access.db` (a name ending in .db is kept). */
export function mapFilePath(name: string): string {
  return name.endsWith('.db') ? name : `${name}.db`;
}

export interface BuildOptions {
  readonly type: MapType;
  /** Text file the map was made from (recorded; the alias database uses it). */
  readonly source?: string;
  /** Mode of a new file; default: that of the file replaced, or 0644 (smtpd workers read maps as RunAsUser). */
  readonly mode?: number;
  /** Owner of the new file; default: that of the file replaced, else the builder. */
  readonly owner?: { readonly uid: number; readonly gid: number };
  /** Start from the entries of the existing map (makemap -o). */
  readonly append?: boolean;
}

/** What put() does when the key is already there. */
export type OnDuplicate = 'keep' | 'replace' | 'add';

export interface MapWriter {
  /** Stores key → value; returns false when the key was already there (whatever onDuplicate did). */
  put(key: Buffer | string, value: Buffer | string, onDuplicate: OnDuplicate): boolean;
  has(key: Buffer | string): boolean;
}

const bytes = (b: Buffer | string): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : b);

/**
 * Builds the map file for `name` (see mapFilePath) from what `fill` puts,
 * and puts it in place atomically.  Nothing is replaced when fill throws.
 */
export function buildMap<T>(name: string, options: BuildOptions, fill: (writer: MapWriter) => T): T {
  const target = mapFilePath(name);
  removeAbandoned(target);
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let previous: Stats | undefined;
  try {
    previous = statSync(target);
  } catch {
    previous = undefined;
  }
  let db: Database.Database | undefined;
  try {
    db = new Database(temp, { fileMustExist: false });
    db.pragma('journal_mode = MEMORY');
    db.pragma('synchronous = OFF');
    db.exec(`CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE entries (seq INTEGER PRIMARY KEY, key BLOB NOT NULL, value BLOB NOT NULL);
      CREATE INDEX entries_key ON entries (key);`);
    const setMeta = db.prepare('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)');
    const find = db.prepare('SELECT seq FROM entries WHERE key = ? ORDER BY seq LIMIT 1').pluck();
    const insert = db.prepare('INSERT INTO entries (key, value) VALUES (?, ?)');
    const update = db.prepare('UPDATE entries SET value = ? WHERE seq = ?');
    const writer: MapWriter = {
      put(key, value, onDuplicate) {
        const k = bytes(key);
        const seq = find.get(k) as number | undefined;
        if (seq === undefined || onDuplicate === 'add') insert.run(k, bytes(value));
        else if (onDuplicate === 'replace') update.run(bytes(value), seq);
        return seq === undefined;
      },
      has: (key) => find.get(bytes(key)) !== undefined,
    };
    const result = db.transaction(() => {
      setMeta.run('format', FORMAT);
      setMeta.run('version', VERSION);
      setMeta.run('type', options.type);
      setMeta.run('built', new Date().toISOString());
      if (options.source !== undefined) setMeta.run('source', options.source);
      if (options.append === true && previous !== undefined) {
        const old = openMap(target, { foldCase: false, watch: false });
        try {
          for (const e of old.entries()) insert.run(e.key, e.value);
        } finally {
          old.close();
        }
      }
      return fill(writer);
    })();
    db.close();
    db = undefined;
    finishFile(temp, options, previous);
    renameSync(temp, target);
    syncDirectory(dirname(target));
    return result;
  } catch (e) {
    db?.close();
    rmSync(temp, { force: true });
    throw e;
  }
}

/** Temporary files of builds whose process is gone (killed half-way): nothing will finish them. */
function removeAbandoned(target: string): void {
  const prefix = `.${basename(target)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(target));
  } catch {
    return;
  }
  for (const n of names) {
    const m = n.startsWith(prefix) ? /^(\d+)\.[0-9a-z]+\.tmp(-journal)?$/.exec(n.slice(prefix.length)) : null;
    if (m === null) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(dirname(target), n), { force: true });
    }
  }
}

function finishFile(temp: string, options: BuildOptions, previous: Stats | undefined): void {
  const fd = openSync(temp, 'r+');
  try {
    fchmodSync(fd, options.mode ?? (previous ? previous.mode & 0o7777 : 0o644));
    const owner = options.owner ?? (previous ? { uid: previous.uid, gid: previous.gid } : undefined);
    const st = fstatSync(fd);
    if (owner !== undefined && (owner.uid !== st.uid || owner.gid !== st.gid)) fchownSync(fd, owner.uid, owner.gid);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export interface MapEntry {
  readonly key: Buffer;
  readonly value: Buffer;
}

export interface OpenMapOptions {
  /**
   * Lower-case the key before the look-up (ASCII only, as sendmail's
   * makelower); default true.  K lines with -f, and makemap -f maps, want false.
   */
  readonly foldCase?: boolean;
  /** Re-open the file when it has been replaced since the last look-up; default true. */
  readonly watch?: boolean;
}

export interface MapReader {
  /** The map file. */
  readonly file: string;
  readonly type: MapType;
  /** meta values: source, built, ... */
  meta(name: string): string | undefined;
  /**
   * The value for key, or undefined.  As sendmail's maps without -N/-O, the
   * key is tried without and then with a terminating NUL; a value's trailing
   * NUL is dropped.
   */
  get(key: string): string | undefined;
  /** Every value stored under key (maps built with makemap -d). */
  getAll(key: string): string[];
  /** Every entry: a btree map in key order, a hash map in the order built. */
  entries(): IterableIterator<MapEntry>;
  close(): void;
}

/** A map file is a SQLite file whose meta table says it is ours. */
export function isMapFile(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    const head = Buffer.alloc(16);
    return readSync(fd, head, 0, 16, 0) === 16 && head.toString('latin1') === SQLITE_MAGIC;
  } finally {
    closeSync(fd);
  }
}

interface Opened {
  readonly db: Database.Database;
  readonly type: MapType;
  readonly stat: Stats;
  readonly lookup: Database.Statement;
  readonly meta: Map<string, string>;
}

function openFile(file: string): Opened {
  let stat: Stats;
  try {
    stat = statSync(file);
  } catch (e) {
    throw new PosternError(ERR.MAP_CANNOT_OPEN, `${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : String(e)}`, { cause: e });
  }
  if (!isMapFile(file)) throw new PosternError(ERR.MAP_FORMAT, `${file}: not a Postern map file (rebuild it with makemap or newaliases)`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const meta = new Map<string, string>();
    for (const row of db.prepare('SELECT name, value FROM meta').all() as { name: string; value: string }[]) meta.set(row.name, row.value);
    const type = meta.get('type');
    if (meta.get('format') !== FORMAT || (type !== 'hash' && type !== 'btree')) {
      throw new PosternError(ERR.MAP_FORMAT, `${file}: not a Postern map file (rebuild it with makemap or newaliases)`);
    }
    const lookup = db.prepare('SELECT value FROM entries WHERE key = ? ORDER BY seq').pluck();
    return { db, type, stat, lookup, meta };
  } catch (e) {
    db.close();
    if (e instanceof PosternError) throw e;
    throw new PosternError(ERR.MAP_FORMAT, `${file}: not a Postern map file (${(e as Error).message})`, { cause: e });
  }
}

const sameFile = (a: Stats, b: Stats) => a.ino === b.ino && a.dev === b.dev && a.mtimeMs === b.mtimeMs && a.size === b.size;

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function text(value: Buffer): string {
  const end = value.length > 0 && value[value.length - 1] === 0 ? value.length - 1 : value.length;
  return value.toString('utf8', 0, end);
}

/**
 * Opens the map `name` (see mapFilePath) for look-ups.  Throws PosternError
 * MAP_CANNOT_OPEN when the file is missing or unreadable, MAP_FORMAT when it
 * is not a Postern map (a Berkeley DB file left by sendmail, say).
 */
export function openMap(name: string, options: OpenMapOptions = {}): MapReader {
  const file = mapFilePath(name);
  const foldCase = options.foldCase ?? true;
  const watch = options.watch ?? true;
  let current = openFile(file);
  const fresh = (): Opened => {
    if (!watch) return current;
    let now: Stats;
    try {
      now = statSync(file);
    } catch {
      return current; // removed: keep answering from what is open
    }
    if (!sameFile(now, current.stat)) {
      const next = openFile(file);
      current.db.close();
      current = next;
    }
    return current;
  };
  const values = (key: string): Buffer[] => {
    const k = Buffer.from(foldCase ? lowerAscii(key) : key, 'utf8');
    const o = fresh();
    const found = o.lookup.all(k) as Buffer[];
    return found.length > 0 ? found : (o.lookup.all(Buffer.concat([k, Buffer.from([0])])) as Buffer[]);
  };
  return {
    file,
    get type() {
      return current.type;
    },
    meta: (n) => current.meta.get(n),
    get(key) {
      const v = values(key)[0];
      return v === undefined ? undefined : text(v);
    },
    getAll: (key) => values(key).map(text),
    *entries() {
      const o = fresh();
      const order = o.type === 'btree' ? 'ORDER BY key, seq' : 'ORDER BY seq';
      for (const row of o.db.prepare(`SELECT key, value FROM entries ${order}`).iterate() as Iterable<{ key: Buffer; value: Buffer }>) {
        yield { key: row.key, value: row.value };
      }
    },
    close() {
      current.db.close();
    },
  };
}
