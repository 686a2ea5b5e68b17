/**
 * `hoststat` (sendmail -bh) and `purgestat` (sendmail -bH) over a
 * HostStatusDirectory, worded and laid out as sendmail 8.17 prints them
 * (mci_print_persistent, mci_purge_persistent).
 */
import { lstatSync, rmdirSync, unlinkSync } from 'node:fs';
import { strerror, sysexitText, type HostStatusRecord } from './record.js';
import { readStatusFileSync, traverseStatus } from './store.js';

export const HOSTSTAT_HEADER = ' -------------- Hostname --------------- How long ago ---------Results---------';

/** sendmail's pintvl(…, brief): `[days+]hh:mm:ss`. */
export function briefInterval(seconds: number): string {
  let s = Math.max(0, Math.floor(seconds));
  const se = s % 60;
  s = Math.floor(s / 60);
  const mi = s % 60;
  s = Math.floor(s / 60);
  const hr = s % 24;
  const dy = Math.floor(s / 24);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${dy > 0 ? `${dy}+` : ''}${two(hr)}:${two(mi)}:${two(se)}`;
}

/** The Results column: the reply, else the error, else the exit status, cut to `width` as sendmail cuts it. */
export function resultText(r: HostStatusRecord, width: number): string {
  if (r.reply !== undefined) return r.reply.slice(0, width);
  if (r.exitStatus === 75 && r.errno !== 0) return `Deferred: ${strerror(r.errno).slice(0, width - 10)}`;
  if (r.exitStatus !== 0) return (sysexitText(r.exitStatus) ?? `Unknown mailer error ${r.exitStatus}`).slice(0, width);
  if (r.errno === 0) return 'OK';
  return `OK: ${strerror(r.errno).slice(0, width - 4)}`;
}

/** One line of the listing; `*` marks a host another process holds locked. */
export function hostStatusLine(host: string, r: HostStatusRecord, now: number, options: { verbose?: boolean; locked?: boolean } = {}): string {
  const width = options.verbose ? 78 : 25;
  return `${options.locked ? '*' : ' '}${host.padEnd(39)} ${briefInterval(now - r.lastUse).padStart(12)} ${resultText(r, width)}`;
}

export interface ListingOutput {
  /** The listing's lines, header first (none at all when there are no hosts), problems in their place. */
  readonly lines: string[];
  /** Files sendmail calls corrupt (`<path>: could not read status file`), also in `lines`. */
  readonly problems: string[];
}

/** The whole listing of `root`, in directory order as sendmail walks it. */
export function listHostStatus(root: string, now: number, options: { verbose?: boolean; isLocked?: (path: string) => boolean } = {}): ListingOutput {
  const lines: string[] = [];
  const problems: string[] = [];
  traverseStatus(root, ({ path, host }) => {
    if (lines.length === 0) lines.push(HOSTSTAT_HEADER);
    const parsed = readStatusFileSync(path);
    if (parsed === undefined) return true;
    if (!parsed.ok) {
      const problem = `${path}: could not read status file`;
      problems.push(problem);
      lines.push(problem);
      return true;
    }
    lines.push(hostStatusLine(host, parsed.record, now, { verbose: options.verbose ?? false, locked: options.isLocked?.(path) ?? false }));
    return true;
  });
  return { lines, problems };
}

/**
 * Removes what has not changed for `timeout` seconds: status files, then
 * the dot-named directories they leave empty.  Newer entries stay, as they
 * do with sendmail (a directory emptied just now is itself new, so it goes
 * on a later run).  Returns what could not be removed, with the error.
 */
export function purgeHostStatus(root: string, timeout: number, now: number): { path: string; error: unknown }[] {
  const failures: { path: string; error: unknown }[] = [];
  const stale = (path: string): boolean | undefined => {
    try {
      // whole seconds, as sendmail compares time_t values
      return Math.floor(now) - Math.floor(lstatSync(path).mtimeMs / 1000) > timeout;
    } catch {
      return undefined;
    }
  };
  const remove = (path: string, action: (p: string) => void): boolean => {
    if (stale(path) !== true) return true;
    try {
      action(path);
      return false;
    } catch (e) {
      failures.push({ path, error: e });
      return true;
    }
  };
  traverseStatus(
    root,
    ({ path }) => remove(path, unlinkSync),
    (path) => (path.endsWith('.') ? remove(path, rmdirSync) : true),
  );
  return failures;
}
