/**
 * One long-lived helper process of the master (the delivery broker, the
 * queue runner): spawned with an IPC channel and the descriptors it needs,
 * started with a message, restarted with a growing pause when it dies, and
 * told to stop on SIGTERM.  It reports {type:'ready'} or {type:'failed'}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { NOQID, type Logger } from '../common/log.js';
import type { RunAs } from './run-as.js';
import { WorkerFailed, workerEnvironment } from './supervisor.js';
import type { WorkerMessage } from './worker-protocol.js';

export interface KeptChildOptions {
  /** for logs and ps: `postern-broker`, `postern-runner` */
  readonly name: string;
  readonly entry: string;
  /** undefined: the master's own identity (the broker is root) */
  readonly runAs: RunAs | undefined;
  /** descriptors placed from fd 4 on */
  readonly fds: readonly number[];
  readonly start: () => object;
  readonly log: Logger;
  readonly stdio: 'inherit' | 'ignore';
  /** messages other than ready/failed */
  readonly onMessage?: (message: { type: string }) => void;
  /** started again when it dies; default true (false for a one-pass queue runner) */
  readonly restart?: boolean;
}

export class KeptChild {
  private child: ChildProcess | undefined;
  private stopping = false;
  private delayMs = 500;
  private exitListeners: Array<(code: number | null) => void> = [];

  /** Resolves with the exit status when the child (as last started) exits. */
  exited(): Promise<number | null> {
    const child = this.child;
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) return Promise.resolve(child.exitCode);
    return new Promise((resolve) => this.exitListeners.push(resolve));
  }

  constructor(private readonly options: KeptChildOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  send(message: object): void {
    if (this.child?.connected) this.child.send(message);
  }

  /** Resolves once the child says it is ready; rejects when it fails first. */
  start(): Promise<void> {
    const { name, entry, runAs, fds, log, stdio } = this.options;
    const child = spawn(process.execPath, [entry], {
      argv0: name,
      stdio: ['ignore', stdio, stdio, 'ipc', ...fds],
      cwd: '/',
      env: workerEnvironment(),
      ...(runAs?.switchIdentity ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
    this.child = child;
    const startedAt = Date.now();
    child.send(this.options.start());
    return new Promise((resolve, reject) => {
      let ready = false;
      child.on('message', (m: WorkerMessage | { type: string }) => {
        if (m.type === 'ready') {
          ready = true;
          resolve();
        } else if (m.type === 'failed' && !ready) {
          const f = m as Extract<WorkerMessage, { type: 'failed' }>;
          reject(new WorkerFailed(f.code, f.exit, f.message));
        } else this.options.onMessage?.(m);
      });
      child.on('error', (e) => !ready && reject(e));
      child.on('exit', (code, signal) => {
        for (const listener of this.exitListeners.splice(0)) listener(code);
        if (!ready) return reject(new WorkerFailed('INTERNAL', code ?? 70, `${name} exited before it was ready (${signal ?? `status ${code}`})`));
        if (this.stopping || this.child !== child || this.options.restart === false) return;
        if (Date.now() - startedAt > 60_000) this.delayMs = 500;
        const delay = this.delayMs;
        this.delayMs = Math.min(delay * 2, 30_000);
        log.err(0, NOQID, `${name} ${child.pid} died (${signal ?? `status ${code}`}); restarting in ${delay} ms`);
        setTimeout(() => {
          if (!this.stopping) this.start().catch((e: unknown) => log.err(0, NOQID, `${name} restart failed: ${e instanceof Error ? e.message : String(e)}`));
        }, delay).unref();
      });
    });
  }

  /** Asks the child to finish and waits for it. */
  stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      if (child.connected) child.send({ type: 'drain' });
      else child.kill('SIGTERM');
    });
  }
}
