/**
 * Who the daemon's unprivileged processes run as (RunAsUser), and the MTA
 * queue directory made ready for them.  Postern never runs a process that
 * reads the network or parses a message as root (DESIGN invariant 1), so a
 * root master refuses to start when RunAsUser is unset or names root.  A
 * master started by an ordinary user (`npm start`) cannot change identity:
 * its workers run as that user.
 */
import { chownSync, lstatSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { userInfo } from 'node:os';
import { ERR, PosternError } from '../common/errors.js';
import type { UserSpec } from '../config/types.js';
import { lookupGroup, lookupUser } from '../privsep/passwd.js';

export interface RunAs {
  readonly uid: number;
  readonly gid: number;
  readonly name: string;
  /** whether the master can and must switch to this identity for its children */
  readonly switchIdentity: boolean;
}

export function resolveRunAs(spec: UserSpec | null, masterUid: number = process.getuid?.() ?? 0): RunAs {
  if (masterUid !== 0) {
    return { uid: masterUid, gid: process.getgid?.() ?? masterUid, name: userInfo().username, switchIdentity: false };
  }
  if (spec === null || spec.user === null) {
    throw new PosternError(ERR.DAEMON_RUN_AS, 'RunAsUser is not set: Postern does not run its SMTP and queue processes as root (set O RunAsUser=smmta)');
  }
  const entry = lookupUser(spec.user);
  if (entry === undefined && typeof spec.user === 'string') {
    throw new PosternError(ERR.DAEMON_RUN_AS, `RunAsUser ${spec.user}: unknown user`);
  }
  const uid = entry?.uid ?? (spec.user as number);
  let gid = entry?.gid;
  if (spec.group !== null) {
    const group = lookupGroup(spec.group);
    if (group === undefined && typeof spec.group === 'string') throw new PosternError(ERR.DAEMON_RUN_AS, `RunAsUser group ${spec.group}: unknown group`);
    gid = group?.gid ?? (spec.group as number);
  }
  if (gid === undefined) throw new PosternError(ERR.DAEMON_RUN_AS, `RunAsUser ${uid}: no such user, and no group given`);
  if (uid === 0 || gid === 0) {
    throw new PosternError(ERR.DAEMON_RUN_AS, `RunAsUser ${entry?.name ?? uid}:${gid} is privileged: Postern does not run its SMTP and queue processes as root`);
  }
  return { uid, gid, name: entry?.name ?? String(uid), switchIdentity: true };
}

/**
 * The MTA queue directory, created 0700 and given to RunAsUser when absent.
 * An existing one must already belong to RunAsUser: silently taking over a
 * directory that someone else owns would hide a misconfiguration.
 */
export function prepareQueueDirectory(dir: string, runAs: RunAs): void {
  let created = false;
  try {
    lstatSync(dir);
  } catch {
    mkdirSync(dirname(dir), { recursive: true, mode: 0o755 });
    mkdirSync(dir, { mode: 0o700 });
    created = true;
  }
  if (created && runAs.switchIdentity) chownSync(dir, runAs.uid, runAs.gid);
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new PosternError(ERR.DAEMON_QUEUE_DIRECTORY, `QueueDirectory ${dir} is not a directory`);
  if (st.uid !== runAs.uid) {
    throw new PosternError(ERR.DAEMON_QUEUE_DIRECTORY, `QueueDirectory ${dir} is owned by uid ${st.uid}, not by RunAsUser ${runAs.name} (${runAs.uid})`);
  }
}

/** The uid of the client-queue runner: the owner of the client queue directory. */
export function clientQueueOwner(dir: string | null): number | undefined {
  if (dir === null) return undefined;
  try {
    return lstatSync(dir).uid;
  } catch {
    return undefined;
  }
}
