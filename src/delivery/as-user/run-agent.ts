/**
 * The broker's side of the as-user agent: start it with an identity and a
 * request, wait (bounded) for its one-line answer.
 */
import { fileURLToPath } from 'node:url';
import type { AgentRequest } from './protocol.js';
import { AGENT_REQUEST_ENV } from './protocol.js';
import { spawnAs, type RunIdentity } from './spawn.js';
import { feedStdin, stdinFor, type MessageSource } from '../message-source.js';

/** The agent as tsc compiles it, next to this module. */
export const DEFAULT_AS_USER_AGENT = fileURLToPath(new URL('./agent.js', import.meta.url));

const MAX_ANSWER = 4 * 1024 * 1024;
const KILL_GRACE_MS = 5000;

export interface AgentRun {
  readonly agentPath?: string;
  /** the agent's standard input (the queued message) */
  readonly stdin?: MessageSource;
  readonly timeoutMs: number;
}

/** The agent's answer (parsed JSON, still to be validated by the caller), or why there is none. */
export async function runAsUserAgent(who: RunIdentity, request: AgentRequest, run: AgentRun): Promise<{ answer: unknown } | { error: string }> {
  const env: Record<string, string> = { PATH: '/usr/bin:/bin', [AGENT_REQUEST_ENV]: JSON.stringify(request) };
  if (process.env.TZ !== undefined) env.TZ = process.env.TZ; // the From_ line's local time
  let child;
  try {
    child = spawnAs(who, process.execPath, [run.agentPath ?? DEFAULT_AS_USER_AGENT], {
      env,
      cwd: '/',
      stdio: [stdinFor(run.stdin), 'pipe', 'pipe'],
      noNewPrivs: true,
    });
  } catch (error) {
    return { error: `cannot start the as-user agent: ${error instanceof Error ? error.message : String(error)}` };
  }
  feedStdin(child, run.stdin);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let size = 0;
  child.stdout!.on('data', (b: Buffer) => {
    size += b.length;
    if (size <= MAX_ANSWER) out.push(b);
  });
  child.stderr!.on('data', (b: Buffer) => {
    if (err.length < 16) err.push(b);
  });
  let timedOut = false;
  let killTimer: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  }, run.timeoutMs);
  const { code, signal, error } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.on('error', (e) => resolve({ code: null, signal: null, error: e }));
    child.on('close', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(timer);
  clearTimeout(killTimer);
  const line = Buffer.concat(out).toString('utf8').split('\n')[0] ?? '';
  if (size <= MAX_ANSWER && line !== '') {
    try {
      return { answer: JSON.parse(line) as unknown };
    } catch {
      /* reported below */
    }
  }
  const why = error
    ? `cannot start the as-user agent: ${error.message}`
    : `as-user agent ${timedOut ? 'timed out and ' : ''}ended with ${signal ? `signal ${signal}` : `status ${code}`}` +
      (err.length ? `: ${Buffer.concat(err).toString('utf8').trim().split('\n')[0]}` : '');
  return { error: why };
}
