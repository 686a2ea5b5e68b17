/**
 * sendmail's pid file: the daemon's pid on the first line and its command
 * line on the second (what `kill -HUP $(head -1 FILE)` and init scripts read).
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writePidFile(path: string, pid: number, commandLine: readonly string[]): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const temporary = `${path}.${pid}.tmp`;
  writeFileSync(temporary, `${pid}\n${commandLine.join(' ')}\n`, { mode: 0o644 });
  renameSync(temporary, path);
}

/** Removes the pid file if it is still ours (a newer daemon may have replaced it). */
export function removePidFile(path: string, pid: number): void {
  try {
    if (readFileSync(path, 'utf8').split('\n')[0] === String(pid)) rmSync(path);
  } catch {
    // already gone
  }
}
