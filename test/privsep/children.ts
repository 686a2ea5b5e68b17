/**
 * Child Node processes for tests that need a second process (another user, a
 * lock held elsewhere) or that change process-wide state (ids, rlimits,
 * no_new_privs) the test runner must not lose.  A child is an ES module
 * snippet run with `node --input-type=module -e`; it reaches the addon through
 * the compiled wrapper, `await import(NATIVE)`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The compiled wrapper: this file runs as dist/test/privsep/children.js. */
export const NATIVE = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '../../src/privsep/native.js')).href;

/** The `skip` option for a test that needs root, or false when running as root. */
export function needsRoot(what: string): string | false {
  return process.getuid?.() === 0 ? false : `needs root: ${what}`;
}

/** A fresh directory removed (with everything in it) when the test ends. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-native-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ChildOptions {
  readonly uid?: number;
  readonly gid?: number;
  /** The child is killed (and the test fails) if it runs longer; default 15 s. */
  readonly timeoutMs?: number;
}

/**
 * A running child.  The test talks to it by lines: `line()` waits for its next
 * line of stdout, `send()` writes to its stdin.  Register it with the test
 * context so it is killed and reaped however the test ends.
 */
export class NodeChild {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Settles when the child has exited and its output is complete. */
  readonly done: Promise<ChildResult>;
  private stdout = '';
  private stderr = '';
  private readonly lines: string[] = [];
  private waiting: { resolve: (line: string) => void; reject: (error: Error) => void } | undefined;
  private exited = false;
  private readonly timer: NodeJS.Timeout;

  constructor(t: TestContext, source: string, options: ChildOptions = {}) {
    this.process = spawn(process.execPath, ['--input-type=module', '-e', source], {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    if (this.process.pid === undefined) throw new Error('could not spawn a child node process');
    this.pid = this.process.pid;
    let partial = '';
    this.process.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      partial += chunk;
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) {
        this.lines.push(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
      this.deliver();
    });
    this.process.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.process.stdin!.on('error', () => {}); // the child may exit before reading
    const timeoutMs = options.timeoutMs ?? 15_000;
    this.timer = setTimeout(() => {
      this.stderr += `\n[killed by the test after ${timeoutMs} ms]`;
      this.process.kill('SIGKILL');
    }, timeoutMs);
    this.done = new Promise((resolve, reject) => {
      this.process.on('error', reject);
      this.process.on('close', (code, signal) => {
        this.exited = true;
        clearTimeout(this.timer);
        this.deliver();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
    t.after(() => this.kill());
  }

  /** The child's next line of output; rejects if it exits without one. */
  line(): Promise<string> {
    if (this.waiting) throw new Error('line() is already waiting');
    const line = new Promise<string>((resolve, reject) => (this.waiting = { resolve, reject }));
    this.deliver();
    return line;
  }

  send(text: string): void {
    this.process.stdin!.write(text);
  }

  /** Closes the child's stdin and waits for it to exit. */
  finish(): Promise<ChildResult> {
    this.process.stdin!.end();
    return this.done;
  }

  /** Kills the child if it is still running and waits until it is reaped. */
  async kill(): Promise<void> {
    if (!this.exited) this.process.kill('SIGKILL');
    await this.done.catch(() => {});
  }

  private deliver(): void {
    const waiting = this.waiting;
    if (!waiting) return;
    const line = this.lines.shift();
    if (line !== undefined) {
      this.waiting = undefined;
      waiting.resolve(line);
    } else if (this.exited) {
      this.waiting = undefined;
      const status = this.process.exitCode ?? this.process.signalCode;
      waiting.reject(new Error(`child exited (${status}) before writing a line; stderr: ${this.stderr}`));
    }
  }
}

/**
 * Runs `source` to completion and returns what it printed as JSON on its
 * last line of stdout, failing with the child's stderr if it did not exit 0.
 */
export async function runJson(t: TestContext, source: string, options?: ChildOptions): Promise<any> {
  const result = await new NodeChild(t, source, options).finish();
  if (result.code !== 0) {
    throw new Error(`child exited with ${result.code ?? result.signal}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  const last = result.stdout.trimEnd().split('\n').pop() ?? '';
  return JSON.parse(last);
}

/**
 * Child-side helper source: `attempt(fn)` runs fn and describes the outcome
 * as JSON-friendly data, so a child can report errors for the parent to assert.
 */
export const ATTEMPT = `
const attempt = (fn) => {
  try { return { ok: fn() ?? null }; }
  catch (e) { return { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, message: e.message }; }
};
`;
