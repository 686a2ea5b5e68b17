/**
 * The broker's side of a mailbox delivery (runs as root).
 *
 * Who does what, and why:
 * - Debian's /var/mail is root:mail 2775: a plain user can neither create
 *   a mailbox nor a USER.lock there.  Two ways out exist: root does those
 *   two steps, or the writer runs with group mail (Debian's dotlockfile and
 *   mutt_dotlock are set-gid mail).  An agent with gid mail would be a Node
 *   process owned by the recipient, which the recipient can ptrace; with group
 *   mail it could then delete or replace every other user's mailbox (the
 *   directory has no sticky bit).  So root does them, here, and the agent gets
 *   the recipient's uid and gid and nothing else:
 *   1. check the spool directory (root's, no unexpected writers);
 *   2. take USER.lock (O_EXCL in a root-owned directory);
 *   3. create the mailbox if missing: O_CREAT|O_EXCL|O_NOFOLLOW, fchown to
 *      the user, 0600; O_EXCL never follows a link, fchown acts on that inode;
 *   4. start the agent as the user; it opens the mailbox O_NOFOLLOW, checks
 *      it, takes the fcntl and flock locks, appends, fsyncs (append.ts);
 *   5. remove USER.lock once the agent has answered or been stopped.
 *   Root never writes a byte of the message and never opens an existing
 *   mailbox.
 * - child_process.spawn's uid/gid make libuv call setgroups(0) before
 *   setgid/setuid, so the agent has no supplementary groups (the test reads
 *   them from /proc).  The agent needs none: the mailbox is its own.
 */
import { spawn } from 'node:child_process';
import { realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ERR } from '../../common/errors.js';
import type { PasswdEntry } from '../../privsep/passwd.js';
import { agentInput, PROTOCOL_VERSION, type AgentRequest } from './agent-protocol.js';
import { mailboxNameProblem } from './append.js';
import { acquireDotlock, DotlockTimeout, type Dotlock } from './dotlock.js';
import { createMailboxIfMissing } from './mailbox-file.js';
import { describeError, failed, parseStatus, type DeliveryStatus } from './status.js';

/** The agent as tsc compiles it, next to this module (dist/src/delivery/mailbox/agent.js). */
export const DEFAULT_AGENT_PATH = fileURLToPath(new URL('./agent.js', import.meta.url));

export interface MailboxDelivery {
  readonly user: Pick<PasswdEntry, 'name' | 'uid' | 'gid'>;
  /** Envelope sender; '' for <> */
  readonly sender: string;
  /** MailSpool, /var/mail on Debian */
  readonly spoolDir: string;
  readonly content: AsyncIterable<Buffer | Uint8Array | string> | Readable;
  /** Date of the From_ line; default now */
  readonly now?: Date | number;
  /** The agent module run with process.execPath (the bundle passes its own entry). */
  readonly agentPath?: string;
  /** Wait for USER.lock, and then for the fcntl/flock locks, this long each; default 300 s */
  readonly lockTimeoutMs?: number;
  /** A USER.lock older than this is removed as stale; default 300 s */
  readonly dotlockStaleMs?: number;
  /** The agent is stopped (SIGTERM, then SIGKILL) after this long; default lock timeout × 2 + 10 min */
  readonly timeoutMs?: number;
}

/**
 * The spool directory must be a directory that only root (and, on Debian,
 * group mail) can change, on a path only root can change.  Otherwise whoever
 * else can write it can swap mailboxes under us; deferred as a configuration
 * error, for the administrator to fix.
 */
export function spoolDirectoryProblem(spoolDir: string): string | undefined {
  try {
    return pathProblem(realpathSync(spoolDir));
  } catch (error) {
    return `${spoolDir}: ${describeError(error)}`;
  }
}

function pathProblem(real: string): string | undefined {
  const spool = statSync(real);
  if (!spool.isDirectory()) return `${real}: not a directory`;
  if (spool.uid !== 0) return `${real}: owned by uid ${spool.uid}, not root`;
  if (spool.mode & 0o002 && !(spool.mode & 0o1000)) return `${real}: world writable without the sticky bit`;
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    const st = statSync(dir);
    if (st.uid !== 0) return `${dir}: owned by uid ${st.uid}, not root`;
    if (st.mode & 0o022 && !(st.mode & 0o1000)) return `${dir}: group or world writable`;
    if (dir === '/') return undefined;
  }
}

export async function deliverToMailbox(delivery: MailboxDelivery): Promise<DeliveryStatus> {
  const { user, spoolDir } = delivery;
  const nameProblem = mailboxNameProblem(user.name);
  if (nameProblem) return failed(ERR.MAILBOX_BAD_NAME, `${JSON.stringify(user.name)}: ${nameProblem}`);
  const spoolProblem = spoolDirectoryProblem(spoolDir);
  if (spoolProblem) return failed(ERR.MAILBOX_SPOOL_UNSAFE, spoolProblem);

  const path = join(spoolDir, user.name);
  const lockTimeoutMs = delivery.lockTimeoutMs ?? 300_000;
  let dotlock: Dotlock;
  try {
    dotlock = await acquireDotlock(path, { timeoutMs: lockTimeoutMs, staleAfterMs: delivery.dotlockStaleMs });
  } catch (error) {
    if (error instanceof DotlockTimeout) return failed(ERR.MAILBOX_LOCK_TIMEOUT, `${error.path}: lock file held too long`);
    return failed(ERR.MAILBOX_CANNOT_OPEN, `${path}.lock: ${describeError(error)}`);
  }
  try {
    try {
      createMailboxIfMissing(path, user.uid, user.gid);
    } catch (error) {
      return failed(ERR.MAILBOX_CANNOT_OPEN, `${path}: create: ${describeError(error)}`);
    }
    const request: AgentRequest = {
      v: PROTOCOL_VERSION,
      spoolDir,
      user: { name: user.name, uid: user.uid, gid: user.gid },
      sender: delivery.sender,
      now: delivery.now === undefined ? Date.now() : new Date(delivery.now).getTime(),
      lockTimeoutMs,
    };
    try {
      return await runAgent(request, delivery.content, delivery.agentPath ?? DEFAULT_AGENT_PATH, delivery.timeoutMs ?? lockTimeoutMs * 2 + 600_000);
    } catch (error) {
      return failed(ERR.MAILBOX_AGENT_FAILED, `cannot run mailbox agent: ${describeError(error)}`);
    }
  } finally {
    dotlock.release();
  }
}

const MAX_OUTPUT = 64 * 1024;
const KILL_GRACE_MS = 5000;

async function runAgent(request: AgentRequest, content: AsyncIterable<Buffer | Uint8Array | string>, agentPath: string, timeoutMs: number): Promise<DeliveryStatus> {
  const env: Record<string, string> = { PATH: '/usr/bin:/bin' };
  // the From_ line's date is in local time, as the broker's TZ has it
  if (process.env.TZ !== undefined) env.TZ = process.env.TZ;
  const child = spawn(process.execPath, [agentPath], {
    uid: request.user.uid,
    gid: request.user.gid,
    cwd: '/',
    env, // nothing of root's environment (NODE_OPTIONS!) reaches a process the user controls
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let outBytes = 0;
  const keep = (into: Buffer[]) => (b: Buffer) => {
    if (outBytes < MAX_OUTPUT) into.push(b);
    outBytes += b.length;
  };
  child.stdout.on('data', keep(stdout));
  child.stderr.on('data', keep(stderr));

  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM'); // the agent cuts the mailbox back and answers
    killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  }, timeoutMs);

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.on('error', (error) => resolve({ code: null, signal: null, error }));
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  // an agent that answers early (a refused mailbox) closes its input: that is not an error here
  let feedError: unknown;
  const fed = pipeline(Readable.from(agentInput(request, content)), child.stdin).catch((error: unknown) => {
    feedError = error;
  });

  const { code, signal, error } = await exited;
  clearTimeout(timer);
  clearTimeout(killTimer);
  // a content source that never ends must not hold the broker once the agent is gone
  child.stdin.destroy();
  await Promise.race([fed, sleep(1000)]);

  const firstLine = Buffer.concat(stdout).toString('utf8').split('\n')[0] ?? '';
  let status: DeliveryStatus | undefined;
  try {
    status = parseStatus(JSON.parse(firstLine));
  } catch {
    status = undefined;
  }
  if (status) {
    if (status.status === 'sent') return status;
    // the agent saw its input end early, or was stopped; the broker knows why
    if (timedOut) return { ...status, text: `${status.text} (mailbox agent timed out after ${timeoutMs} ms)` };
    if (feedError !== undefined && !isBrokenPipe(feedError)) return { ...status, text: `${status.text}: ${describeError(feedError)}` };
    return status;
  }
  const why = error
    ? `cannot start mailbox agent: ${describeError(error)}`
    : `mailbox agent ${timedOut ? 'timed out and ' : ''}ended with ${signal ? `signal ${signal}` : `status ${code}`}` +
      (stderr.length ? `: ${Buffer.concat(stderr).toString('utf8').trim().split('\n')[0]}` : '');
  return failed(ERR.MAILBOX_AGENT_FAILED, why);
}

function isBrokenPipe(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET';
}
