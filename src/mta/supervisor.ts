/**
 * The master's workers: spawned as RunAsUser with the listening descriptors
 * in their stdio slots, restarted when they die (with a growing pause, so a
 * worker that cannot start does not spin), replaced by a new generation on
 * SIGHUP, and drained on SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NOQID, type Logger } from '../common/log.js';
import { entryPoint } from '../common/package-root.js';
import type { Listener } from './listeners.js';
import type { RunAs } from './run-as.js';
import { FIRST_LISTENER_FD, type WorkerListener, type WorkerMessage, type WorkerStart } from './worker-protocol.js';

/** The worker's entry: the bundle's when the master runs from the bundle, tsc's otherwise (tests). */
export function workerEntry(): string {
  return fileURLToPath(entryPoint(import.meta.url, 'smtpd', './worker-main.js'));
}

export type WorkerSettings = Omit<WorkerStart, 'type' | 'listeners'>;

export interface SupervisorOptions {
  readonly runAs: RunAs;
  readonly listeners: readonly Listener[];
  readonly count: number;
  readonly log: Logger;
  /** the workers' standard output and error: the terminal for -bD, nothing for -bd */
  readonly stdio: 'inherit' | 'ignore';
  /** what workers report besides ready/failed (a message queued) */
  readonly onMessage?: (message: WorkerMessage) => void;
}

export class WorkerFailed extends Error {
  constructor(
    readonly code: string,
    readonly exit: number,
    message: string,
  ) {
    super(message);
  }
}

interface Slot {
  child: ChildProcess | undefined;
  restartDelayMs: number;
  startedAt: number;
}

const MIN_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;
/** a worker that lived this long is healthy: its successor starts at once */
const HEALTHY_AFTER_MS = 60_000;

export class Supervisor {
  private settings: WorkerSettings;
  private slots: Slot[] = [];
  private stopping = false;
  private readonly retired = new Set<ChildProcess>();

  constructor(
    private readonly options: SupervisorOptions,
    settings: WorkerSettings,
  ) {
    this.settings = settings;
  }

  /** Starts every worker; rejects with the first worker's failure when one cannot start. */
  async start(): Promise<void> {
    this.slots = Array.from({ length: this.options.count }, () => ({ child: undefined, restartDelayMs: MIN_RESTART_DELAY_MS, startedAt: 0 }));
    await Promise.all(this.slots.map((slot) => this.launch(slot)));
  }

  /** workers' pids, for tests and status */
  get pids(): number[] {
    return this.slots.flatMap((s) => (s.child?.pid === undefined ? [] : [s.child.pid]));
  }

  /**
   * SIGHUP: a new generation with `settings` (the configuration re-read); the
   * old workers are told to drain once the new ones are ready, so no session
   * in progress is cut and no connection finds nobody accepting.
   */
  async replace(settings: WorkerSettings): Promise<void> {
    const previous = this.slots.map((s) => s.child).filter((c): c is ChildProcess => c !== undefined);
    const next: Slot[] = Array.from({ length: this.options.count }, () => ({ child: undefined, restartDelayMs: MIN_RESTART_DELAY_MS, startedAt: 0 }));
    const saved = this.settings;
    this.settings = settings;
    try {
      await Promise.all(next.map((slot) => this.launch(slot)));
    } catch (e) {
      this.settings = saved;
      for (const slot of next) slot.child?.kill('SIGKILL');
      throw e;
    }
    this.slots = next;
    for (const child of previous) this.retire(child);
  }

  /** SIGTERM: every worker drains; resolves when all have exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    const children = [...this.slots.map((s) => s.child), ...this.retired].filter((c): c is ChildProcess => c !== undefined);
    await Promise.all(children.map((c) => this.drainChild(c)));
  }

  private retire(child: ChildProcess): void {
    this.retired.add(child);
    void this.drainChild(child).then(() => this.retired.delete(child));
  }

  private drainChild(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      if (child.connected) child.send({ type: 'drain' });
      else child.kill('SIGTERM');
    });
  }

  private listenerSlots(): { stdio: Array<'ignore' | 'inherit' | 'ipc' | number>; listeners: WorkerListener[] } {
    const out = this.options.stdio;
    const stdio: Array<'ignore' | 'inherit' | 'ipc' | number> = ['ignore', out, out, 'ipc'];
    const listeners: WorkerListener[] = this.options.listeners.map((l, i) => {
      stdio.push(l.fd);
      const fd = FIRST_LISTENER_FD + i;
      return l.kind === 'submit' ? { kind: 'submit', fd } : { kind: 'smtp', fd, daemon: l.daemon };
    });
    return { stdio, listeners };
  }

  /** Spawns the worker of `slot`; resolves when it is ready, rejects when it fails first. */
  private launch(slot: Slot): Promise<void> {
    const { runAs, log } = this.options;
    const { stdio, listeners } = this.listenerSlots();
    const child = spawn(process.execPath, [workerEntry()], {
      // what ps shows: sendmail's children say what they are too
      argv0: 'postern-smtpd',
      stdio,
      cwd: '/',
      env: workerEnvironment(),
      ...(runAs.switchIdentity ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
    slot.child = child;
    slot.startedAt = Date.now();
    const start: WorkerStart = { type: 'start', ...this.settings, listeners };
    child.send(start);
    return new Promise((resolve, reject) => {
      let ready = false;
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'ready') {
          ready = true;
          log.info(12, NOQID, `worker ${child.pid} ready`);
          resolve();
        } else if (m.type === 'failed') {
          if (!ready) reject(new WorkerFailed(m.code, m.exit, m.message));
        } else if (m.type === 'recycle') this.recycle(slot, child);
        else this.options.onMessage?.(m);
      });
      child.on('error', (e) => {
        if (!ready) reject(e);
      });
      child.on('exit', (code, signal) => {
        if (!ready) {
          reject(new WorkerFailed('INTERNAL', code ?? 70, `worker ${child.pid} exited before it was ready (${signal ?? `status ${code}`})`));
          return;
        }
        if (this.stopping || this.retired.has(child) || slot.child !== child) return;
        this.restartLater(slot, code, signal);
      });
    });
  }

  /** A worker that served its share: a fresh one takes the slot first, then the old one drains. */
  private recycle(slot: Slot, child: ChildProcess): void {
    if (this.stopping || slot.child !== child) return;
    this.options.log.info(9, NOQID, `worker ${child.pid} served its sessions; starting a fresh one`);
    this.launch(slot).then(
      () => this.retire(child),
      (e: unknown) => {
        // the old worker goes on serving; the next recycle request tries again
        slot.child = child;
        this.options.log.err(0, NOQID, `worker recycle failed: ${e instanceof Error ? e.message : String(e)}`);
      },
    );
  }

  private restartLater(slot: Slot, code: number | null, signal: NodeJS.Signals | null): void {
    const lived = Date.now() - slot.startedAt;
    if (lived >= HEALTHY_AFTER_MS) slot.restartDelayMs = MIN_RESTART_DELAY_MS;
    const delay = slot.restartDelayMs;
    slot.restartDelayMs = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
    this.options.log.err(0, NOQID, `worker ${slot.child?.pid} died (${signal ?? `status ${code}`}); restarting in ${delay} ms`);
    slot.child = undefined;
    setTimeout(() => {
      if (this.stopping) return;
      this.launch(slot).catch((e: unknown) => {
        this.options.log.err(0, NOQID, `worker restart failed: ${e instanceof Error ? e.message : String(e)}`);
        if (!this.stopping && slot.child === undefined) this.restartLater(slot, null, null);
      });
    }, delay).unref();
  }
}

/**
 * What a worker inherits of the environment: a fixed PATH, and the time zone
 * and locale the administrator chose; nothing that alters Node (NODE_OPTIONS)
 * or the dynamic linker.
 */
export function workerEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const kept: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin' };
  for (const name of ['TZ', 'LANG', 'LC_ALL']) {
    const value = env[name];
    if (value !== undefined) kept[name] = value;
  }
  return kept;
}
