/**
 * User and group look-ups.  Node has no getpwnam/getgrnam, so the files are
 * read directly: /etc/passwd and /etc/group, which is what the NSS "files"
 * source answers from.  Accounts served only by another NSS source (LDAP,
 * NIS) are not seen here; sendmail would see them.
 */
import { readFileSync, statSync } from 'node:fs';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** the GECOS field: full name, then office details after commas */
  readonly gecos: string;
  readonly home: string;
  readonly shell: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
  readonly members: readonly string[];
}

/**
 * The file's records, parsed once and kept while the file stays the same
 * (inode, size, mtime and ctime, by one stat per look-up).  Why: the queue
 * runner, the broker and the SMTP workers look users up for every local
 * recipient, and reading and splitting the whole file each time was most of
 * the runner's work per local delivery after the delivery itself.
 */
const parsed = new Map<string, { key: string; records: string[][] }>();

function records(path: string): string[][] {
  let key: string;
  try {
    const st = statSync(path, { bigint: true });
    key = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    parsed.delete(path);
    return [];
  }
  const kept = parsed.get(path);
  if (kept !== undefined && kept.key === key) return kept.records;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const list = text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('+') && !line.startsWith('-'))
    .map((line) => line.split(':'));
  parsed.set(path, { key, records: list });
  return list;
}

const isId = (s: string) => /^\d+$/.test(s);

/** A user by name or by numeric id (given as a number or as digits). */
export function lookupUser(who: string | number, passwdFile = '/etc/passwd'): PasswdEntry | undefined {
  const byId = typeof who === 'number' || isId(who);
  for (const f of records(passwdFile)) {
    if (f.length < 7 || !isId(f[2] ?? '') || !isId(f[3] ?? '')) continue;
    const entry: PasswdEntry = { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), gecos: f[4]!, home: f[5]!, shell: f[6]! };
    if (byId ? entry.uid === Number(who) : entry.name === who) return entry;
  }
  return undefined;
}

/** A group by name or by numeric id. */
export function lookupGroup(which: string | number, groupFile = '/etc/group'): GroupEntry | undefined {
  const byId = typeof which === 'number' || isId(which);
  for (const f of records(groupFile)) {
    if (f.length < 4 || !isId(f[2] ?? '')) continue;
    const entry: GroupEntry = { name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').filter((m) => m !== '') };
    if (byId ? entry.gid === Number(which) : entry.name === which) return entry;
  }
  return undefined;
}
