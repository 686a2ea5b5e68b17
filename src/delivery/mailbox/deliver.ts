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
 *   4. hand the message to an agent running as the user (one kept from an
 *      earlier delivery for the same uid and gid, or a new one: agent-pool.ts);
 *      it opens the mailbox O_NOFOLLOW, checks it, takes the fcntl and flock
 *      locks, appends, fsyncs (append.ts);
 *   5. remove USER.lock once the agent has answered or been stopped.
 *   Root never writes a byte of the message and never opens an existing
 *   mailbox.
 * - child_process.spawn's uid/gid make libuv call setgroups(0) before
 *   setgid/setuid, so the agent has no supplementary groups (the test reads
 *   them from /proc).  The agent needs none: the mailbox is its own.
 */
import { realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { ERR } from '../../common/errors.js';
import { packageRoot } from '../../common/package-root.js';
import type { PasswdEntry } from '../../privsep/passwd.js';
import { MailboxAgentPool } from './agent-pool.js';
import type { AgentRequest } from './agent-protocol.js';
import { acquireDotlock, DotlockTimeout, type Dotlock } from './dotlock.js';
import { createMailboxIfMissing } from './mailbox-file.js';
import { describeError, failed, type DeliveryStatus } from './status.js';

/** The agent program (agent.c) as node-gyp leaves it, relative to the package root. */
const AGENT_PROGRAM = 'src/privsep/native/build/Release/postern-mailbox-agent';

export function defaultAgentPath(): string {
  return join(packageRoot(), AGENT_PROGRAM);
}

/** A user name usable as a file name in the spool: no path, nothing hidden (agent.c checks the same). */
export function mailboxNameProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'empty or dot name';
  if (/[/\0\n]/.test(name)) return 'name contains "/", NUL or newline';
  if (name.startsWith('.')) return 'name starts with a dot';
  return undefined;
}

export interface MailboxDelivery {
  readonly user: Pick<PasswdEntry, 'name' | 'uid' | 'gid'>;
  /** Envelope sender; '' for <> */
  readonly sender: string;
  /** MailSpool, /var/mail on Debian */
  readonly spoolDir: string;
  /** the message: streamed, or (a small one) already read */
  readonly content: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string> | Readable;
  /** Date of the From_ line; default now */
  readonly now?: Date | number;
  /** The agent program; default defaultAgentPath() (tests put a wrapper in front of it). */
  readonly agentPath?: string;
  /** Wait for USER.lock, and then for the fcntl/flock locks, this long each; default 300 s */
  readonly lockTimeoutMs?: number;
  /** A USER.lock older than this is removed as stale; default 300 s */
  readonly dotlockStaleMs?: number;
  /** The agent is stopped (SIGTERM, then SIGKILL) after this long; default lock timeout × 2 + 10 min */
  readonly timeoutMs?: number;
  /** Where the agents come from; default one pool for the whole process */
  readonly agentPool?: MailboxAgentPool;
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
  return inTurn(path, () => deliverLocked(delivery, path));
}

async function deliverLocked(delivery: MailboxDelivery, path: string): Promise<DeliveryStatus> {
  const { user, spoolDir } = delivery;
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
      kind: 'append',
      spoolDir,
      user: { name: user.name, uid: user.uid, gid: user.gid },
      sender: delivery.sender,
      now: delivery.now === undefined ? Date.now() : new Date(delivery.now).getTime(),
      lockTimeoutMs,
    };
    try {
      const pool = delivery.agentPool ?? sharedPool;
      return await pool.run(request, delivery.content, delivery.agentPath ?? defaultAgentPath(), delivery.timeoutMs ?? lockTimeoutMs * 2 + 600_000);
    } catch (error) {
      return failed(ERR.MAILBOX_AGENT_FAILED, `cannot run mailbox agent: ${describeError(error)}`);
    }
  } finally {
    dotlock.release();
  }
}

/** The agents every delivery of this process shares (the broker is one process). */
const sharedPool = new MailboxAgentPool();

/**
 * Deliveries to one mailbox from this process wait here for each other, so
 * that only one at a time waits for USER.lock: the lock file's retry pause
 * (a second, as other tools use) would otherwise be spent by the broker
 * waiting on itself.
 */
const mailboxTurns = new Map<string, Promise<unknown>>();

async function inTurn<T>(path: string, work: () => Promise<T>): Promise<T> {
  const before = mailboxTurns.get(path) ?? Promise.resolve();
  const mine = before.then(work, work);
  const settled = mine.catch(() => undefined);
  mailboxTurns.set(path, settled);
  try {
    return await mine;
  } finally {
    if (mailboxTurns.get(path) === settled) mailboxTurns.delete(path);
  }
}
