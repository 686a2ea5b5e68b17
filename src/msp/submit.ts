/**
 * `sendmail addr...` and `sendmail -t` as the caller: the request built
 * from the command line, the message streamed from standard input to the
 * daemon's submission socket, or into the client queue when no daemon
 * answers or the daemon cannot take it now.  Exit 0 only once the daemon has
 * the message on disk or the client-queue file is complete and fsync'd.
 *
 * As sendmail 8.17's MSP does (measured against the real one: a 451 or 452
 * from the MTA, its connection lost in the middle of the data): a temporary
 * failure leaves the message in the client queue for `sendmail -L
 * sm-msp-queue -Ac -q`, prints nothing and exits 0, so a caller that ignores
 * the exit status (cron) loses nothing; a 5xx is the caller's, with its
 * status.
 */
import type { Config } from '../config/index.js';
import { errnoText } from '../config/values.js';
import { NOQID, type Logger } from '../common/log.js';
import { EX } from '../common/sysexits.js';
import type { Invocation } from './cmdline/invocation.js';
import { saveDeadLetter } from './dead-letter.js';
import { KeptMessage } from './kept-message.js';
import { standardInputSync } from './stdin.js';
import type { Output } from './output.js';
import type { Caller } from './permissions.js';
import { submitBlocking } from './submit-blocking.js';
import { isTemporary, MessageSourceError, PROTOCOL_VERSION, type SubmissionReply, type SubmissionRequest } from './submit-wire.js';

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
    ...(config.options.DeliveryMode === 'queue' || config.options.DeliveryMode === 'defer' ? { deferred: true } : {}),
  };
}

export async function submitFromStandardInput(inv: Invocation, config: Config, caller: Caller, out: Output, log?: Logger): Promise<number> {
  const request = submissionRequest(inv, config, caller);
  const dir = config.options.QueueDirectory;
  const path = submitSocketPath(config);
  const message = new KeptMessage(standardInputSync({ reuseBuffer: true }), dir === null ? null : { dir, request });
  try {
    let reply: SubmissionReply;
    try {
      reply = submitBlocking(path, request, message.sending());
    } catch (e) {
      const { syscall } = e as NodeJS.ErrnoException;
      if (e instanceof MessageSourceError || syscall === undefined) throw e;
      // no daemon (nothing was read yet), or it failed in a way of its own: the client queue keeps the message
      return keepForLater(message, syscall === 'connect' ? connectFailure(path, e) : `lost the daemon: ${(e as Error).message}`, null, out, log);
    }
    if (!reply.ok && isTemporary(reply)) return keepForLater(message, reply.lines.join(' ') || reply.code, reply, out, log);
    message.discard();
    for (const line of reply.lines) out.stdout(line);
    if (!reply.ok && reply.deadLetter !== undefined) out.stdout(saveDeadLetter(Buffer.from(reply.deadLetter, 'base64'), caller));
    return reply.ok ? EX.OK : reply.exit;
  } catch (e) {
    message.discard();
    if (!(e instanceof MessageSourceError)) throw e;
    // sendmail's collect() logs this and then delivers what it read; a message cut short is never sent here
    const text = `collect: premature EOM: ${errnoText(e.source)}`;
    log?.warning(1, NOQID, text);
    out.stdout(`${text}; message not sent`);
    return EX.SOFTWARE;
  }
}

/** sendmail's words for a relay it could not reach: `Connection refused by [127.0.0.1]`. */
function connectFailure(path: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ECONNREFUSED' ? `Connection refused by ${path}` : `${path}: ${errnoText(e)}`;
}

/**
 * The daemon could not take the message now: into the client queue with the
 * rest of standard input, nothing printed, exit 0, as sendmail's MSP leaves
 * a deferred message.  When the client queue cannot take it either, the
 * daemon's reply (or the queue's refusal, with no daemon) is the caller's.
 */
function keepForLater(message: KeptMessage, why: string, reply: SubmissionReply | null, out: Output, log: Logger | undefined): number {
  const kept = message.toClientQueue();
  if (kept.ok) {
    // as sendmail logs a deferred delivery (LogLevel > 8); the id is the one mailq -Ac shows
    log?.info(8, kept.id, `stat=Deferred: ${why}`);
    return EX.OK;
  }
  for (const line of reply?.lines ?? []) out.stdout(line);
  for (const line of kept.lines) out.stdout(line);
  return reply !== null && !reply.ok ? reply.exit : kept.exit;
}
