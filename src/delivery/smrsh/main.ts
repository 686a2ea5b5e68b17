/**
 * `smrsh -c "command"` as a program of its own (bin/smrsh, a link to the
 * launcher), for whoever calls it as sendmail's smrsh is called.  Postern's
 * broker does not go through it: it applies the same rules (rules.ts) and
 * starts /bin/sh itself, sparing a Node start per delivery.
 *
 * Node cannot exec(), so the shell runs as a child with this process's
 * standard streams, and its exit status (or 128 + signal) becomes ours.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { NOQID, openLogger } from '../../common/log.js';
import { checkSmrshCommand, SMRSH_DIR, SMRSH_PATH } from './rules.js';

export async function smrshMain(argv0: string, args: readonly string[], dir = SMRSH_DIR): Promise<number> {
  // smrsh writes to syslog only: without /dev/log its callers see nothing more on stderr
  const logger = existsSync('/dev/log') ? openLogger({ label: 'smrsh' }) : undefined;
  const log = { log: (level: number, priority: 'err' | 'crit', id: typeof NOQID, text: string) => logger?.log(level, priority, id, text) };
  if (args.length !== 2 || args[0] !== '-c') {
    process.stderr.write(`Usage: ${argv0} -c command\n`);
    log.log(0, 'err', NOQID, 'usage');
    return 64;
  }
  const verdict = checkSmrshCommand(args[1]!, process.getuid?.() ?? -1, dir);
  if (!verdict.ok) {
    process.stderr.write(verdict.usage ? `Usage: ${argv0} -c command\n` : `${argv0}: ${verdict.message}\n`);
    log.log(0, verdict.usage ? 'err' : 'crit', NOQID, verdict.log);
    return verdict.exit;
  }
  return new Promise<number>((resolve) => {
    const child = spawn('/bin/sh', ['-c', verdict.command], { env: { PATH: SMRSH_PATH }, stdio: 'inherit' });
    child.on('error', (e) => {
      log.log(0, 'crit', NOQID, `Cannot exec /bin/sh: ${e.message}`);
      process.stderr.write(`/bin/sh: ${e.message}\n`);
      resolve(72);
    });
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : signalNumber(signal))));
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  const table: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };
  return table[signal] ?? 0;
}
