/** Temporary .cf files for the config tests. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

let dir: string | null = null;
let counter = 0;

// registered when the test file loads, so it runs after all of the file's tests
after(() => {
  if (dir !== null) rmSync(dir, { recursive: true, force: true });
});

/** A directory for this test file's temporary files, removed when its tests end. */
export function tempDir(): string {
  if (dir === null) {
    dir = mkdtempSync(join(tmpdir(), 'postern-config-'));
    chmodSync(dir, 0o755);
  }
  return dir;
}

/**
 * Writes a .cf made of `lines` (joined with newlines, one at the end) and
 * returns its path.  `mode` defaults to 0644.
 */
export function writeCf(lines: readonly string[] | string, mode = 0o644, name?: string): string {
  const path = join(tempDir(), name ?? `test${++counter}.cf`);
  writeFileSync(path, typeof lines === 'string' ? lines : lines.join('\n') + '\n');
  chmodSync(path, mode);
  return path;
}

/** A minimal sound configuration: level 10, a queue directory and a local mailer. */
export const MINIMAL = [
  'V10/Berkeley',
  'O QueueDirectory=/var/spool/mqueue',
  'Mlocal, P=/usr/libexec/sendmail/mail.local, F=lsDFMAw5:/|@qPSXmnz9, A=mail.local -l',
];

/** A minimal configuration with `extra` lines after it. */
export function cfWith(...extra: string[]): string {
  return writeCf([...MINIMAL, ...extra]);
}
