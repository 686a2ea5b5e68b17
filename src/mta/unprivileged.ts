/**
 * DESIGN invariant 1: a process that reads the network or parses a message
 * holds no privilege.  Each worker checks its own credentials as the kernel
 * reports them (real, effective and saved ids, supplementary groups) before
 * it touches a socket, and refuses to run otherwise.
 */
import { readFileSync } from 'node:fs';
import { native } from '../privsep/native.js';

export interface Credentials {
  readonly uids: readonly number[];
  readonly gids: readonly number[];
  readonly groups: readonly number[];
}

export function ownCredentials(): Credentials {
  const n = native();
  // /proc reports the kernel's own supplementary list; Node's getgroups() adds the egid to it
  const groupsLine = /^Groups:[ \t]*(.*)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '';
  const groups = groupsLine.trim() === '' ? [] : groupsLine.trim().split(/\s+/).map(Number);
  return { uids: n.getresuid(), gids: n.getresgid(), groups };
}

/** Why these credentials are privileged, or undefined when they are not. */
export function privilegeProblem(c: Credentials): string | undefined {
  if (c.uids.includes(0)) return `uid (real, effective, saved) ${c.uids.join('/')} includes root`;
  if (c.gids.includes(0)) return `gid (real, effective, saved) ${c.gids.join('/')} includes root`;
  if (c.groups.length > 0) return `supplementary groups ${c.groups.join(',')} are set`;
  return undefined;
}
