/**
 * Starting a process as another user from the root broker: the user's uid,
 * gid and supplementary groups (what initgroups() would give it, as
 * sendmail gives its mailers), and nothing of root's environment.
 *
 * Node's spawn({uid, gid}) clears the supplementary groups and cannot set
 * them, and a set*id() inside the broker would act on its thread pool too
 * (DESIGN: no seteuid in-process).  util-linux's setpriv, which Debian
 * always has, sets all three and then execs the program; without it, the
 * program runs with uid and gid only, and a warning says so once.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { PasswdEntry } from '../../privsep/passwd.js';

export interface RunIdentity {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** supplementary groups, the primary one included */
  readonly groups: readonly number[];
  readonly home: string;
}

export const SETPRIV = '/usr/bin/setpriv';

/** The groups initgroups(name, gid) would set, from /etc/group. */
export function supplementaryGroups(name: string, gid: number, groupFile = '/etc/group'): number[] {
  const groups = new Set<number>([gid]);
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    return [...groups];
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !/^\d+$/.test(f[2] ?? '')) continue;
    if ((f[3] ?? '').split(',').includes(name)) groups.add(Number(f[2]));
  }
  return [...groups];
}

export function identityOf(user: Pick<PasswdEntry, 'name' | 'uid' | 'gid' | 'home'>, gid = user.gid): RunIdentity {
  return { name: user.name, uid: user.uid, gid, groups: supplementaryGroups(user.name, gid), home: user.home };
}

export interface SpawnAsOptions {
  readonly env: Record<string, string>;
  readonly cwd: string;
  readonly stdio: StdioOptions;
  /** its own process group, so that a time limit can stop the program and everything it started */
  readonly detached?: boolean;
  /** set no_new_privs too (the agent); programs keep set-id programs working, as under sendmail */
  readonly noNewPrivs?: boolean;
}

let hasSetpriv: boolean | undefined;

export function spawnAs(who: RunIdentity, file: string, args: readonly string[], options: SpawnAsOptions): ChildProcess {
  if (who.uid === 0) throw new Error('refusing to run a local delivery as root');
  hasSetpriv ??= existsSync(SETPRIV);
  const common = { cwd: options.cwd, env: options.env, stdio: options.stdio, detached: options.detached ?? false };
  if (!hasSetpriv) return spawn(file, [...args], { ...common, uid: who.uid, gid: who.gid });
  const groups = who.groups.length > 0 ? [`--groups=${who.groups.join(',')}`] : ['--clear-groups'];
  return spawn(
    SETPRIV,
    [`--reuid=${who.uid}`, `--regid=${who.gid}`, ...groups, ...(options.noNewPrivs ? ['--no-new-privs'] : []), '--', file, ...args],
    common,
  );
}
