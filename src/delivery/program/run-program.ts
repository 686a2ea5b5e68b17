/**
 * A |program delivery as sendmail's prog mailer makes it (Debian's cf:
 * `Mprog, P=smrsh, F=lsDFMoqeu9, D=$z:/, A=smrsh -c $u`):
 *
 *   - the command goes through smrsh's rules (../smrsh/rules.ts) and runs
 *     as `/bin/sh -c NEWCOMMAND` with smrsh's environment (PATH only);
 *   - as the recipient's identity, with its supplementary groups, in its
 *     home directory when that is its own (D=$z:/), else in /;
 *   - the message on standard input exactly as queued: the prog mailer has
 *     no U (From_ line), P (Return-Path) or E (escaping) flag.  The broker
 *     hands over its descriptor of the queue file, so the program reads a
 *     plain file and nothing is buffered for it;
 *   - its exit status read as sendmail reads a mailer's (sysexits):
 *     0 sent, 75 deferred, 67 "User unknown", 71 and 74 deferred, other
 *     sysexits bounced with their words, anything else "unknown mailer
 *     error N"; killed by a signal: deferred, as sendmail does;
 *   - a time limit: the program and whatever it started (its own process
 *     group) get SIGTERM, then SIGKILL, and the delivery is deferred.
 */
import { statSync } from 'node:fs';
import { ERR } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { failed, type DeliveryStatus } from '../mailbox/status.js';
import { spawnAs, type RunIdentity } from '../as-user/spawn.js';
import { checkSmrshCommand } from '../smrsh/rules.js';
import { feedStdin, stdinFor, type MessageSource } from '../message-source.js';

export interface ProgramDelivery {
  readonly command: string;
  readonly who: RunIdentity;
  /** the queued message */
  readonly content: MessageSource;
  readonly smrshDir: string;
  readonly smrshPath: string;
  readonly timeoutMs: number;
  readonly log: Logger;
  readonly queueId: string;
}

/** sendmail's words for each sysexits status (libsm/strexit.c), with the enhanced code. */
const SYSEXITS: Record<number, { dsn: string; text: string }> = {
  64: { dsn: '5.0.0', text: 'Command line usage error' },
  65: { dsn: '5.6.0', text: 'Data format error' },
  66: { dsn: '5.3.0', text: 'Cannot open input' },
  67: { dsn: '5.1.1', text: 'User unknown' },
  68: { dsn: '5.1.2', text: 'Host unknown' },
  69: { dsn: '5.0.0', text: 'Service unavailable' },
  70: { dsn: '5.3.0', text: 'Internal error' },
  71: { dsn: '4.0.0', text: 'Operating system error' },
  72: { dsn: '5.3.5', text: 'System file missing' },
  73: { dsn: '5.0.0', text: "Can't create output" },
  74: { dsn: '4.0.0', text: 'I/O error' },
  75: { dsn: '4.0.0', text: 'Deferred' },
  76: { dsn: '5.5.0', text: 'Remote protocol error' },
  77: { dsn: '5.0.0', text: 'Insufficient permission' },
  78: { dsn: '5.3.5', text: 'Local configuration error' },
};

/** The status of a program that ended with `code`; `output` is the first line it wrote, if any. */
export function statusOfExit(code: number, output = ''): DeliveryStatus {
  if (code === 0) return { status: 'sent', dsn: '2.0.0', text: 'Sent' };
  const known = SYSEXITS[code];
  const said = output === '' ? '' : ` (${output})`;
  if (known === undefined) return { ...failed(ERR.PROGRAM_FAILED, `unknown mailer error ${code}${said}`), dsn: '5.3.0' };
  if (known.dsn.startsWith('4')) return { ...failed(ERR.PROGRAM_DEFERRED, `${known.text}${said}`), dsn: known.dsn };
  return { ...failed(ERR.PROGRAM_FAILED, `${known.text}${said}`), dsn: known.dsn };
}

function workingDirectory(who: RunIdentity): string {
  try {
    const st = statSync(who.home);
    return st.isDirectory() && st.uid === who.uid ? who.home : '/';
  } catch {
    return '/';
  }
}

const MAX_OUTPUT = 8 * 1024;
const KILL_GRACE_MS = 5000;

export async function runProgram(d: ProgramDelivery): Promise<DeliveryStatus> {
  const verdict = checkSmrshCommand(d.command, d.who.uid, d.smrshDir);
  if (!verdict.ok) {
    d.log.log(0, verdict.usage ? 'err' : 'crit', d.queueId, `smrsh: ${verdict.log}`);
    const words = verdict.usage ? 'Command line usage error' : 'Service unavailable';
    const said = verdict.usage ? verdict.message : `smrsh: ${verdict.message}`;
    return { ...failed(ERR.SMRSH_REFUSED, `${words} (${said})`), dsn: '5.0.0' };
  }
  let child;
  try {
    child = spawnAs(d.who, '/bin/sh', ['-c', verdict.command], {
      env: { PATH: d.smrshPath },
      cwd: workingDirectory(d.who),
      stdio: [stdinFor(d.content), 'pipe', 'pipe'],
      detached: true,
    });
  } catch (error) {
    return failed(ERR.PROGRAM_CANNOT_RUN, `cannot run program: ${error instanceof Error ? error.message : String(error)}`);
  }
  feedStdin(child, d.content);
  const output: Buffer[] = [];
  let kept = 0;
  const keep = (b: Buffer) => {
    if (kept < MAX_OUTPUT) output.push(b);
    kept += b.length;
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stopGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      /* already gone */
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    stopGroup('SIGTERM');
    killTimer = setTimeout(() => stopGroup('SIGKILL'), KILL_GRACE_MS);
  }, d.timeoutMs);
  const { code, signal, error } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.on('error', (e) => resolve({ code: null, signal: null, error: e }));
    child.on('close', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(timer);
  clearTimeout(killTimer);
  const said = Buffer.concat(output).toString('utf8').trim().split('\n')[0]?.slice(0, 200) ?? '';
  if (error) return failed(ERR.PROGRAM_CANNOT_RUN, `cannot run program: ${error.message}`);
  if (timedOut) return failed(ERR.PROGRAM_TIMEOUT, `program timed out after ${Math.round(d.timeoutMs / 1000)} s`);
  if (code === null) return failed(ERR.PROGRAM_DEFERRED, `mailer prog died with signal ${signal ?? '?'}`);
  return statusOfExit(code, code === 0 ? '' : said);
}
