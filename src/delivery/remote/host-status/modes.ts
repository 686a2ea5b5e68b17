/**
 * The operation modes over the host status: `hoststat` / `sendmail -bh`
 * lists it, `purgestat` / `sendmail -bH` removes what is older than
 * Timeout.hoststatus.  Who may purge was decided before (permissions.ts:
 * root and TrustedUser only, as sendmail decides it).
 */
import { accessSync, closeSync, constants, lstatSync, openSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Logger } from '../../../common/log.js';
import { NOQID } from '../../../common/log.js';
import { EX } from '../../../common/sysexits.js';
import type { Config } from '../../../config/index.js';
import { errnoText } from '../../../config/values.js';
import type { Output } from '../../../msp/output.js';
import { cannotEnterQueue } from '../../../msp/queue-access.js';
import { native } from '../../../privsep/native.js';
import { hostStatusDirectory } from '../options.js';
import { listHostStatus, purgeHostStatus } from './listing.js';

/**
 * What sendmail checks before either mode: it can enter the queue directory
 * (where a relative HostStatusDirectory lives), and the status directory is
 * a directory nobody else may write.  Returns the directory, or the exit
 * status to stop with.
 */
function usableDirectory(config: Config, out: Output): string | null | number {
  const queue = config.options.QueueDirectory;
  if (queue === null || queue === '') {
    out.stdout('QueueDirectory (Q) option must be set');
    return EX.CONFIG;
  }
  const base = queue.endsWith('*') ? queue.slice(0, queue.lastIndexOf('/') + 1) : queue;
  try {
    accessSync(base, constants.X_OK);
  } catch (e) {
    return cannotEnterQueue(base.replace(/\/$/, ''), e, out);
  }
  const dir = hostStatusDirectory(config);
  if (dir === null) return null;
  try {
    const st = lstatSync(dir);
    if (!st.isDirectory()) throw Object.assign(new Error('Not a directory'), { code: 'ENOTDIR' });
    if ((st.mode & 0o022) !== 0) throw Object.assign(new Error('Permission denied'), { code: 'EACCES' });
  } catch (e) {
    out.stdout(`Warning: Cannot use HostStatusDirectory = ${config.options.HostStatusDirectory}: ${errnoText(e)}`);
    return null;
  }
  return dir;
}

/** Another process holds the file locked (sendmail's SingleThreadDelivery lock): `*` in the listing. */
function isLocked(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const bindings = native();
    if (!bindings.flock(fd, 'shared', true)) return true;
    bindings.flock(fd, 'unlock', false);
    return false;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function printHostStatus(config: Config, out: Output, log?: Logger): number {
  const dir = usableDirectory(config, out);
  if (typeof dir === 'number') return dir;
  if (dir === null) return EX.OK;
  const listing = listHostStatus(dir, Date.now() / 1000, { verbose: config.options.Verbose, isLocked });
  for (const line of listing.lines) out.stdout(line);
  for (const problem of listing.problems) log?.log(0, 'crit', NOQID, `SYSERR(${whoami()}): ${problem}`);
  return EX.OK;
}

export function purgeHostStatusMode(config: Config, out: Output, log?: Logger): number {
  const dir = usableDirectory(config, out);
  if (typeof dir === 'number') return dir;
  if (dir === null) return EX.OK;
  for (const { path, error } of purgeHostStatus(dir, config.options.Timeout.hoststatus, Date.now() / 1000)) {
    log?.log(8, 'err', NOQID, `mci_purge_persistent: failed to unlink ${path}: ${errnoText(error)}`);
  }
  return EX.OK;
}

function whoami(): string {
  try {
    return userInfo().username;
  } catch {
    return `UID${process.getuid?.() ?? ''}`;
  }
}
