/**
 * What each operation mode is, and whether this build can run it.  A mode
 * whose machinery is not built yet exits 69 (EX_UNAVAILABLE) with a message
 * saying so: never a silent success.
 */
import { ERR, PosternError } from '../common/errors.js';
import { modeLetter, type OpMode } from './cmdline/invocation.js';

export const POSTERN_VERSION = '0.1.0';

const DESCRIPTIONS: Readonly<Record<OpMode, string>> = {
  deliver: 'deliver mail (-bm)',
  smtp: 'SMTP on standard input (-bs)',
  arpaftp: 'ARPANET mode (-ba)',
  daemon: 'daemon mode (-bd)',
  fgdaemon: 'foreground daemon mode (-bD)',
  verify: 'address verification (-bv)',
  test: 'address test mode (-bt)',
  initalias: 'alias database rebuild (-bi, newaliases)',
  print: 'queue listing (-bp, mailq)',
  printnqe: 'queue entry count (-bP)',
  hoststat: 'host status listing (-bh, hoststat)',
  purgestat: 'host status purge (-bH, purgestat)',
  checkconfig: 'configuration check (-bC)',
  showconfig: 'option listing (-bO)',
  queuerun: 'queue run (-q)',
};

/**
 * Modes this build carries out in full; every other mode answers
 * EX_UNAVAILABLE.
 */
export const AVAILABLE_MODES: ReadonlySet<OpMode> = new Set<OpMode>(['checkconfig', 'showconfig', 'deliver', 'daemon', 'fgdaemon', 'queuerun', 'print', 'printnqe', 'initalias', 'verify', 'hoststat', 'purgestat', 'smtp']);

export function describeMode(mode: OpMode): string {
  return DESCRIPTIONS[mode];
}

export function unavailable(mode: OpMode, what: string = DESCRIPTIONS[mode]): PosternError {
  return new PosternError(
    ERR.MODE_UNAVAILABLE,
    `${what} is not available yet in Postern ${POSTERN_VERSION} (operation mode ${modeLetter(mode)})`,
  );
}
