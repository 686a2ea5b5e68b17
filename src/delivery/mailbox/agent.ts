/**
 * The mailbox agent: a program the root broker starts as a recipient (uid,
 * gid, no supplementary groups) to append messages to that recipient's
 * mailbox.  It serves requests one after the other until its input ends (the
 * broker lets an idle agent go) or it is stopped; see agent-protocol.ts.
 * For each request it writes one status line; the status, not the exit
 * code, is the answer.
 *
 * Writing as the recipient means the kernel, not this code, confines the
 * write to files the recipient may write, and disk quotas count against the
 * recipient (root would pass them).  The recipient can ptrace this process
 * (same uid): it can then only change delivery of its own mail, since the
 * broker gives an agent nothing but mail for the uid it runs as.
 */
import { ERR } from '../../common/errors.js';
import { native } from '../../privsep/native.js';
import { AgentInputReader, progressLine, type AgentRequest } from './agent-protocol.js';
import { appendToMailbox, ContentError, cutBackMailbox } from './append.js';
import { failed, type DeliveryStatus } from './status.js';

process.umask(0o077);
// exceeding RLIMIT_FSIZE must fail the write (EFBIG, then cut back), not kill us mid-append
process.on('SIGXFSZ', () => {});
// the broker's timeout: stop the delivery under way, cut the file back, answer deferred, exit
const stop = new AbortController();
let busy = false;
process.on('SIGTERM', () => {
  if (!busy) process.exit(0);
  stop.abort('timed out');
  process.stdin.destroy(); // also ends a wait for more of the message
});
try {
  native().setNoNewPrivs();
} catch {
  /* hardening only: the agent has nothing to gain privileges from */
}

function answer(status: DeliveryStatus): Promise<void> {
  return new Promise((resolve) => process.stdout.write(JSON.stringify(status) + '\n', () => resolve()));
}

async function serve(request: AgentRequest, input: AgentInputReader): Promise<DeliveryStatus> {
  // refuse to write as anyone but the recipient: that would bypass invariant 4's reason for the agent
  if (process.getuid?.() !== request.user.uid || process.geteuid?.() !== request.user.uid || process.getgid?.() !== request.user.gid) {
    return failed(ERR.MAILBOX_AGENT_FAILED, `agent runs as uid ${process.geteuid?.()}, not as ${request.user.name} (${request.user.uid})`);
  }
  if (request.kind === 'cut-back') return cutBackMailbox(request.spoolDir, request.user, request.at, request.lockTimeoutMs);
  return appendToMailbox({
    spoolDir: request.spoolDir,
    user: request.user,
    sender: request.sender,
    now: request.now,
    lockTimeoutMs: request.lockTimeoutMs,
    content: input.message(),
    signal: stop.signal,
    // a pipe write is synchronous on Linux: the broker has this line before the mailbox has a byte
    onAppendStart: (at) => process.stdout.write(progressLine(at)),
  });
}

const input = new AgentInputReader(process.stdin);
for (;;) {
  let request: AgentRequest | undefined;
  try {
    request = await input.nextRequest();
  } catch (error) {
    // out of step with the broker: nothing later on this input can be trusted
    await answer(failed(ERR.MAILBOX_AGENT_FAILED, error instanceof ContentError ? error.message : `agent: ${String(error)}`));
    break;
  }
  if (request === undefined) break;
  busy = true;
  let status: DeliveryStatus;
  let inStep = true;
  try {
    status = await serve(request, input);
    // a refused mailbox or a failed write leaves part of the message unread
    if (request.kind === 'append' && !stop.signal.aborted) inStep = await input.skipMessage();
  } catch (error) {
    status = failed(ERR.MAILBOX_AGENT_FAILED, error instanceof ContentError ? error.message : `agent: ${String(error)}`);
    inStep = false;
  }
  await answer(status);
  busy = false;
  if (stop.signal.aborted || !inStep) break;
}
process.exit(0);
