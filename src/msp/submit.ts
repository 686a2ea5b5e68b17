/**
 * `sendmail addr...` and `sendmail -t` as the caller: the request built
 * from the command line, the message streamed from standard input to the
 * daemon's submission socket, or, when no daemon answers, into the client
 * queue.  Exit 0 only once the daemon has the message on disk or the
 * client-queue file is complete and fsync'd.
 */
import type { Config } from '../config/index.js';
import { EX } from '../common/sysexits.js';
import type { Invocation } from './cmdline/invocation.js';
import { standardInput, standardInputSync } from './stdin.js';
import type { Output } from './output.js';
import type { Caller } from './permissions.js';
import { submitBlocking } from './submit-blocking.js';
import { PROTOCOL_VERSION, type SubmissionReply, type SubmissionRequest } from './submit-wire.js';

/** Where the daemon listens for local submissions, unless submit.cf's ${SubmitSocket} says otherwise. */
export const DEFAULT_SUBMIT_SOCKET = '/run/postern/submit.sock';

export function submitSocketPath(config: Config): string {
  return config.macros.get('SubmitSocket') ?? DEFAULT_SUBMIT_SOCKET;
}

export function submissionRequest(inv: Invocation, config: Config, caller: Caller): SubmissionRequest {
  return {
    version: PROTOCOL_VERSION,
    recipients: inv.operands,
    recipientsFromHeaders: inv.recipientsFromHeaders,
    ignoreDots: config.options.IgnoreDots,
    ...(inv.sender !== undefined ? { sender: inv.sender, senderFlag: inv.senderFlag } : {}),
    ...(inv.fullName !== undefined ? { fullName: inv.fullName } : {}),
    ...(inv.hopCount !== undefined ? { hopCount: inv.hopCount } : {}),
    ...(inv.notify !== undefined ? { notify: inv.notify } : {}),
    ...(inv.dsnReturn !== undefined ? { ret: inv.dsnReturn } : {}),
    ...(inv.envid !== undefined ? { envid: inv.envid } : {}),
    ...(inv.bodyType !== undefined ? { bodyType: inv.bodyType } : {}),
    ...(inv.configFile !== undefined && caller.uid !== 0 ? { untrustedConfig: inv.configFile } : {}),
  };
}

const DAEMON_ABSENT = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK']);

export async function submitFromStandardInput(inv: Invocation, config: Config, caller: Caller, out: Output): Promise<number> {
  const request = submissionRequest(inv, config, caller);
  let reply: SubmissionReply;
  try {
    reply = submitBlocking(submitSocketPath(config), request, standardInputSync());
  } catch (e) {
    const { code, syscall } = e as NodeJS.ErrnoException;
    if (syscall !== 'connect' || code === undefined || !DAEMON_ABSENT.has(code)) throw e;
    const dir = config.options.QueueDirectory;
    if (dir === null) {
      out.stdout('QueueDirectory (Q) option must be set');
      return EX.CONFIG;
    }
    // loaded only when needed: the daemon answers almost always, and every module costs start-up time
    const { queueForLater } = await import('./client-queue.js');
    reply = await queueForLater(dir, request, standardInput());
  }
  for (const line of reply.lines) out.stdout(line);
  return reply.ok ? EX.OK : reply.exit;
}
