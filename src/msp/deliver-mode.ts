/** `sendmail -t`, `sendmail addr...` (-bm): the submission, shared by both bundles of the command. */
import { fstatSync } from 'node:fs';
import { EX } from '../common/sysexits.js';
import type { Config } from '../config/index.js';
import type { Invocation } from './cmdline/invocation.js';
import { exitAtOnce } from './exit-at-once.js';
import type { ModeContext } from './mode-table.js';
import { processOutput, type Output } from './output.js';
import type { Caller } from './permissions.js';
import { standardInput } from './stdin.js';

/** -bm and -bv need recipients, from the command line or (-t) from the headers. */
export function recipientsMissing(inv: Invocation): boolean {
  return (inv.mode === 'deliver' || inv.mode === 'verify') && inv.operands.length === 0 && !inv.recipientsFromHeaders;
}

export async function deliverMode(inv: Invocation, config: Config, caller: Caller, out: Output, ctx: ModeContext): Promise<number> {
  if (recipientsMissing(inv)) {
    // sendmail reads the message before giving up on it, so that the program
    // writing it (cron, PHP) is not killed by SIGPIPE half-way
    await drainStandardInput();
    out.stdout('Recipient names must be specified');
    return EX.USAGE;
  }
  const { submitFromStandardInput } = await import('./submit.js');
  const status = await submitFromStandardInput(inv, config, caller, out, ctx.log);
  if (out === processOutput) exitAtOnce(status);
  return status;
}

/** Reads standard input to its end (a terminal, a character device, is not waited on). */
async function drainStandardInput(): Promise<void> {
  if (fstatSync(0).isCharacterDevice()) return;
  for await (const chunk of standardInput()) void chunk;
}
