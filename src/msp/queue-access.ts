/**
 * What sendmail checks before it runs a queue (main.c): the queue directory
 * can be entered, and, with PrivacyOptions restrictqrun, an ordinary user may
 * run only a queue that is their own.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { EX } from '../common/sysexits.js';
import type { Config } from '../config/index.js';
import { errnoText } from '../config/values.js';

/** What sendmail adds when the directory was refused for want of privilege. */
export const NEEDS_PRIVILEGE = 'Program mode requires special privileges, e.g., root or TrustedUser.';

/**
 * sendmail's refusal of a queue directory the caller cannot enter (or read):
 * `can not chdir(DIR/): reason`, the privilege line on EACCES; EX_CONFIG.
 */
export function cannotEnterQueue(dir: string, e: unknown, out: { stdout(l: string): void; stderr(l: string): void }): number {
  out.stdout(`can not chdir(${dir}/): ${errnoText(e)}`);
  if ((e as NodeJS.ErrnoException).code === 'EACCES') out.stderr(NEEDS_PRIVILEGE);
  return EX.CONFIG;
}

/** What sendmail checks before a queue run: the directory can be entered, and (restrictqrun) is the caller's. */
export function queueRunRefusal(dir: string, config: Config, uid: number): { lines: string[]; stderr?: string; exit: number } | undefined {
  try {
    accessSync(dir, constants.X_OK);
  } catch (e) {
    const denied = (e as NodeJS.ErrnoException).code === 'EACCES';
    return {
      lines: [`can not chdir(${dir}/): ${errnoText(e)}`],
      ...(denied ? { stderr: NEEDS_PRIVILEGE } : {}),
      exit: EX.CONFIG,
    };
  }
  if (uid !== 0 && config.options.PrivacyOptions.has('restrictqrun') && statSync(dir).uid !== uid) {
    return { lines: ['You do not have permission to process the queue'], exit: EX.NOPERM };
  }
  return undefined;
}


/**
 * The checks before a queue run, printed as sendmail prints them: the exit
 * status to stop with, or undefined to go on with the run of `dir`.
 */
export function refuseQueueRun(dir: string | null, config: Config, out: { stdout(l: string): void; stderr(l: string): void }): number | undefined {
  if (dir === null) {
    out.stdout('QueueDirectory (Q) option must be set');
    return EX.CONFIG;
  }
  const refusal = queueRunRefusal(dir, config, process.getuid?.() ?? 0);
  if (refusal === undefined) return undefined;
  for (const line of refusal.lines) out.stdout(line);
  if (refusal.stderr !== undefined) out.stderr(refusal.stderr);
  return refusal.exit;
}
