/**
 * The operation modes a bundle of the command carries out.  `sendmail -t`
 * is started thousands of times a day by cron and PHP, so it runs from a
 * bundle of its own that holds only the submission path (see
 * scripts/build.mjs); every other mode is handed to the whole command
 * before anything is printed, read or checked.
 */
import type { Config } from '../config/index.js';
import type { Logger } from '../common/log.js';
import type { Invocation, OpMode } from './cmdline/invocation.js';
import type { Output } from './output.js';
import type { Caller } from './permissions.js';

export interface ModeContext {
  readonly cfPath: string;
  readonly commandLine: readonly string[];
  readonly log: Logger;
  readonly syserr: (message: string) => void;
}

export interface ModeTable {
  /** True when this table runs the mode; main() hands any other to `handOver` at once. */
  covers(mode: OpMode): boolean;
  run(inv: Invocation, config: Config, caller: Caller, out: Output, ctx: ModeContext): Promise<number>;
  /** Runs the command again in full; what it returns never settles, the command sets the exit status itself. */
  handOver(): Promise<number>;
}
