/** What both entry points of the command (src/main.ts, src/submit-main.ts) do around their work. */
import { basename } from 'node:path';

/** Names whose programs are not sendmail's modes: they have main functions of their own in the whole command. */
export const STANDALONE_NAMES: ReadonlySet<string> = new Set(['smrsh', 'makemap']);

/**
 * The name the command was started under.  The launcher passes the caller's
 * argv[0] as node's own argv[0]; when run as `node dist/bundle/postern.cjs`
 * directly, the script path stands in for it.
 */
export function invocationName(): string {
  return basename(process.argv0) === 'node' ? (process.argv[1] ?? 'sendmail') : process.argv0;
}

/**
 * Runs the command and sets its exit status.  An error nothing else caught is
 * a bug: said in one line and EX_SOFTWARE, not a stack trace in cron's mail
 * (POSTERN_DEBUG=1 shows the stack).
 */
export function runCommand(body: (argv0: string, args: readonly string[]) => Promise<number>): void {
  const argv0 = invocationName();
  body(argv0, process.argv.slice(2)).then(
    (status) => {
      process.exitCode = status;
    },
    (e: unknown) => {
      process.stderr.write(`${argv0}: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
      if (process.env['POSTERN_DEBUG'] === '1' && e instanceof Error) process.stderr.write(`${e.stack ?? ''}\n`);
      process.exitCode = 70;
    },
  );
}
