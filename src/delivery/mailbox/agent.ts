/**
 * The mailbox agent: a program the root broker starts as the recipient (uid,
 * gid, no supplementary groups) to append one message to the recipient's
 * mailbox.  Request and message on stdin, one status line on stdout (see
 * agent-protocol.ts).  It exits 0 whenever it has written a status; the
 * status, not the exit code, is the answer.
 *
 * Writing as the recipient means the kernel, not this code, confines the
 * write to files the recipient may write, and disk quotas count against the
 * recipient (root would pass them).  The recipient can ptrace this process
 * (same uid): it can then only change delivery of its own mail.
 */
import { ERR } from '../../common/errors.js';
import { native } from '../../privsep/native.js';
import { readAgentInput } from './agent-protocol.js';
import { appendToMailbox, ContentError } from './append.js';
import { failed, type DeliveryStatus } from './status.js';

async function main(): Promise<DeliveryStatus> {
  process.umask(0o077);
  // exceeding RLIMIT_FSIZE must fail the write (EFBIG, then cut back), not kill us mid-append
  process.on('SIGXFSZ', () => {});
  // the broker's timeout: stop, cut the file back, answer deferred
  const stop = new AbortController();
  process.on('SIGTERM', () => {
    stop.abort('timed out');
    process.stdin.destroy(); // also ends a wait for more of the message
  });
  try {
    native().setNoNewPrivs();
  } catch {
    /* hardening only: the agent has nothing to gain privileges from */
  }

  const { request, content } = await readAgentInput(process.stdin);
  // refuse to write as anyone but the recipient: that would bypass invariant 4's reason for the agent
  if (process.getuid?.() !== request.user.uid || process.geteuid?.() !== request.user.uid) {
    return failed(ERR.MAILBOX_AGENT_FAILED, `agent runs as uid ${process.geteuid?.()}, not as ${request.user.name} (${request.user.uid})`);
  }
  return appendToMailbox({
    spoolDir: request.spoolDir,
    user: request.user,
    sender: request.sender,
    now: request.now,
    lockTimeoutMs: request.lockTimeoutMs,
    content,
    signal: stop.signal,
  });
}

let status: DeliveryStatus;
try {
  status = await main();
} catch (error) {
  status = failed(ERR.MAILBOX_AGENT_FAILED, error instanceof ContentError ? error.message : `agent: ${String(error)}`);
}
process.stdout.write(JSON.stringify(status) + '\n', () => process.exit(0));
