/**
 * The broker's mailbox agents, kept for a while and reused (runs as root).
 *
 * The agent is a small C program (agent.c), yet a fork and exec from the
 * broker (a Node process of some size) still costs a few milliseconds on a
 * loaded two-core machine, more than a delivery's real work (lock, append,
 * fsync).  So an agent, once started for a uid and gid, serves further
 * deliveries for exactly that uid and gid until it has been idle for
 * `idleMs`; at most `maxAgents` live at once, and when all are taken a
 * delivery waits for one, or for an idle agent of another user to be let go.
 *
 * An agent is used for one delivery at a time.  It is retired (never reused)
 * when it timed out, answered out of turn or not at all, or said anything
 * that is not a status: the next delivery for its user gets a fresh one.
 * When an agent ends after its progress line and before its status, a fresh
 * agent cuts the mailbox back to where the entry began (the caller still
 * holds the dotlock), and the delivery is deferred: whether the dead agent
 * had finished or not, the message ends up in the mailbox exactly once.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { ERR } from '../../common/errors.js';
import { ABANDON_MESSAGE, END_OF_MESSAGE, framed } from '../../common/frames.js';
import {
  parseProgress,
  requestLine,
  statusOfAnswer,
  type AgentRequest,
  type AppendRequestLine,
  type AppendStart,
} from './agent-protocol.js';
import { describeError, failed, type DeliveryStatus } from './status.js';

/** A message as the broker has it: streamed from the queue file, or already read. */
export type MessageContent = AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array | string>;

export interface AgentPoolOptions {
  /** agents alive at once, busy or idle; default 32 */
  readonly maxAgents?: number;
  /** an agent with nothing to do for this long is let go; default 10 s */
  readonly idleMs?: number;
}

const MAX_LINE = 64 * 1024;
const KILL_GRACE_MS = 5000;

interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: Error;
}

/** One agent process and what it has said. */
class Agent {
  busy = false;
  retired = false;
  idleTimer: NodeJS.Timeout | undefined;
  readonly exited: Promise<Exit>;
  private lineBuffer = '';
  private readonly lines: string[] = [];
  private wake: (() => void) | undefined;
  private stderr = '';
  /** its output has ended (or it never started): no more lines will come */
  private closed = false;

  constructor(
    readonly key: string,
    readonly child: ChildProcessWithoutNullStreams,
  ) {
    child.stdin.on('error', () => {}); // EPIPE when it died: seen through `exited`
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      this.lineBuffer += text;
      for (let nl = this.lineBuffer.indexOf('\n'); nl !== -1; nl = this.lineBuffer.indexOf('\n')) {
        this.lines.push(this.lineBuffer.slice(0, nl));
        this.lineBuffer = this.lineBuffer.slice(nl + 1);
      }
      // no status is that long, and a delivery has two lines at most
      if (this.lineBuffer.length > MAX_LINE || this.lines.length > 2) this.kill();
      this.wake?.();
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      if (this.stderr.length < 4096) this.stderr += text;
    });
    this.exited = new Promise((resolve) => {
      child.on('error', (error) => resolve({ code: null, signal: null, error }));
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    void this.exited.then(() => {
      this.retired = true;
      this.closed = true;
      this.wake?.();
    });
  }

  /** The next line it writes, or undefined once it has ended. */
  async nextLine(): Promise<string | undefined> {
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.closed) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }

  hasUnreadOutput(): boolean {
    return this.lines.length > 0 || this.lineBuffer.length > 0;
  }

  firstStderrLine(): string {
    return this.stderr.trim().split('\n')[0] ?? '';
  }

  /** Idle agents must not keep the broker's event loop (or a test's script) alive. */
  hold(held: boolean): void {
    // the pipes are net.Sockets underneath, though typed as plain streams
    const pipes = [this.child.stdin, this.child.stdout, this.child.stderr] as unknown as Array<{ ref(): void; unref(): void }>;
    for (const handle of [this.child, ...pipes]) {
      if (held) handle.ref();
      else handle.unref();
    }
  }

  /** Ends its input: it finishes and exits. */
  letGo(): void {
    this.retired = true;
    clearTimeout(this.idleTimer);
    this.child.stdin.end();
  }

  kill(): void {
    this.retired = true;
    this.child.kill('SIGTERM');
    setTimeout(() => this.child.kill('SIGKILL'), KILL_GRACE_MS).unref();
  }
}

export class MailboxAgentPool {
  private readonly agents = new Set<Agent>();
  private readonly waiting: Array<() => void> = [];
  private readonly maxAgents: number;
  private readonly idleMs: number;

  constructor(options: AgentPoolOptions = {}) {
    this.maxAgents = Math.max(1, options.maxAgents ?? 32);
    this.idleMs = options.idleMs ?? 10_000;
  }

  /** One request through an agent running as request.user; the message follows an append. */
  async run(request: AgentRequest, content: MessageContent | undefined, agentPath: string, timeoutMs: number): Promise<DeliveryStatus> {
    const agent = await this.acquire(request, agentPath);
    try {
      return await this.exchange(agent, request, content, agentPath, timeoutMs);
    } finally {
      this.release(agent);
    }
  }

  private async acquire(request: AgentRequest, agentPath: string): Promise<Agent> {
    const key = `${request.user.uid}:${request.user.gid}:${agentPath}`;
    for (;;) {
      let idleOther: Agent | undefined;
      for (const agent of this.agents) {
        if (agent.busy || agent.retired) continue;
        if (agent.key === key) {
          // anything said while idle would be taken for the next delivery's answer
          if (!agent.hasUnreadOutput()) return this.take(agent);
          agent.kill();
          continue;
        }
        idleOther ??= agent;
      }
      if (this.agents.size >= this.maxAgents && idleOther !== undefined) this.forget(idleOther);
      if (this.agents.size < this.maxAgents) {
        const agent = new Agent(key, startAgent(request, agentPath));
        this.agents.add(agent);
        void agent.exited.then(() => this.forget(agent));
        return this.take(agent);
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private take(agent: Agent): Agent {
    agent.busy = true;
    clearTimeout(agent.idleTimer);
    agent.hold(true);
    return agent;
  }

  private release(agent: Agent): void {
    agent.busy = false;
    if (agent.retired) {
      this.forget(agent);
    } else {
      agent.hold(false);
      agent.idleTimer = setTimeout(() => this.forget(agent), this.idleMs);
      agent.idleTimer.unref();
    }
    this.waiting.shift()?.();
  }

  private forget(agent: Agent): void {
    if (!this.agents.delete(agent)) return;
    if (!agent.busy) agent.letGo();
    this.waiting.shift()?.();
  }

  private async exchange(
    agent: Agent,
    request: AgentRequest,
    content: MessageContent | undefined,
    agentPath: string,
    timeoutMs: number,
  ): Promise<DeliveryStatus> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      agent.kill(); // SIGTERM: the agent cuts the mailbox back and answers
    }, timeoutMs);
    let feedError: unknown;
    const fed = feed(agent, request, content).catch((error: unknown) => {
      feedError = error;
    });
    try {
      let started: AppendStart | undefined;
      let status: DeliveryStatus | undefined;
      let garbled = false;
      for (let line = await agent.nextLine(); line !== undefined; line = await agent.nextLine()) {
        const progress = started === undefined ? parseProgress(line) : undefined;
        if (progress !== undefined) {
          started = progress;
          continue;
        }
        status = statusOfAnswer(line);
        garbled = status === undefined;
        break;
      }
      if (status !== undefined) {
        // the rest of the message must have gone through before the agent can take another request
        await Promise.race([fed, agent.exited]);
        if (agent.hasUnreadOutput()) agent.kill(); // said more than one status: out of step
      } else {
        agent.kill();
      }
      if (timedOut || garbled) agent.retired = true;
      if (status?.status === 'sent') return status;
      if (status !== undefined) {
        // the agent saw its input end early, or was stopped; the broker knows why
        if (timedOut) return { ...status, text: `${status.text} (mailbox agent timed out after ${timeoutMs} ms)` };
        if (feedError !== undefined && !isBrokenPipe(feedError)) return { ...status, text: `${status.text}: ${describeError(feedError)}` };
        return status;
      }
      const exit = await agent.exited;
      const why = exit.error
        ? `cannot start mailbox agent: ${describeError(exit.error)}`
        : garbled
          ? 'mailbox agent answered something that is not a status'
          : `mailbox agent ${timedOut ? 'timed out and ' : ''}ended with ${exit.signal ? `signal ${exit.signal}` : `status ${exit.code}`}` +
            (agent.firstStderrLine() ? `: ${agent.firstStderrLine()}` : '');
      if (started === undefined || request.kind !== 'append') return failed(ERR.MAILBOX_AGENT_FAILED, why);
      return failed(ERR.MAILBOX_AGENT_FAILED, `${why}; ${await this.cutBack(request, started, agentPath)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A fresh agent undoes what a dead one may have appended; says how that went. */
  private async cutBack(request: AppendRequestLine, at: AppendStart, agentPath: string): Promise<string> {
    const undo: AgentRequest = { kind: 'cut-back', spoolDir: request.spoolDir, user: request.user, lockTimeoutMs: request.lockTimeoutMs, at };
    const status = await this.run(undo, undefined, agentPath, request.lockTimeoutMs + 60_000);
    return status.status === 'sent' ? `the mailbox was cut back to ${at.size} bytes` : `the mailbox could not be cut back: ${status.text}`;
  }
}

function startAgent(request: AgentRequest, agentPath: string): ChildProcessWithoutNullStreams {
  const env: Record<string, string> = { PATH: '/usr/bin:/bin' };
  // the From_ line's date is in local time, as the broker's TZ has it
  if (process.env.TZ !== undefined) env.TZ = process.env.TZ;
  // child_process's uid/gid make libuv call setgroups(0) first: the agent has no supplementary groups
  return spawn(agentPath, [], {
    uid: request.user.uid,
    gid: request.user.gid,
    cwd: '/',
    env, // nothing of root's environment (NODE_OPTIONS!) reaches a process the user controls
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/**
 * Writes the request and, for an append, the framed message, heeding the
 * pipe's back-pressure.  Corked, so that a small message goes over in one
 * system call (one wake-up of the agent) rather than four.
 */
async function feed(agent: Agent, request: AgentRequest, content: MessageContent | undefined): Promise<void> {
  const stdin = agent.child.stdin;
  const FLUSH_AT = 64 * 1024;
  const flush = async () => {
    stdin.uncork();
    if (stdin.writableNeedDrain) {
      await new Promise<void>((resolve) => {
        const done = () => {
          stdin.off('drain', done);
          stdin.off('close', done);
          resolve();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
      });
    }
    stdin.cork();
  };
  const write = async (bytes: Buffer) => {
    if (stdin.destroyed || !stdin.writable) throw Object.assign(new Error('mailbox agent has ended'), { code: 'EPIPE' });
    stdin.write(bytes);
    if (stdin.writableLength >= FLUSH_AT) await flush();
  };
  stdin.cork();
  try {
    await write(requestLine(request));
    if (content === undefined) return;
    try {
      for await (const chunk of content) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        if (bytes.length === 0) continue;
        for (const part of framed(bytes)) await write(part);
      }
    } catch (error) {
      await write(ABANDON_MESSAGE).catch(() => {});
      throw error;
    }
    await write(END_OF_MESSAGE);
  } finally {
    stdin.uncork();
  }
}

function isBrokenPipe(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'ERR_STREAM_DESTROYED';
}
