/**
 * Messages between the master and its workers over the IPC channel Node's
 * spawn opens.  The listening sockets themselves travel as inherited file
 * descriptors (stdio slots from 4 on), not over this channel.
 */
import type { CommandLineOption } from '../config/index.js';
import type { PortOptions } from '../config/types.js';

export type WorkerListener =
  | { readonly kind: 'smtp'; readonly fd: number; readonly daemon: PortOptions }
  | { readonly kind: 'submit'; readonly fd: number };

/** master → worker, once, right after spawn */
export interface WorkerStart {
  readonly type: 'start';
  /** sendmail.cf and the command line's -O/-M, read again by the worker as RunAsUser */
  readonly cfPath: string;
  readonly commandLineOptions: readonly CommandLineOption[];
  readonly commandLineMacros: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  /** submit.cf, whose rules govern local submissions; null: sendmail.cf's own */
  readonly submitCfPath: string | null;
  /** the -L label */
  readonly label: string | undefined;
  readonly listeners: readonly WorkerListener[];
  /** the master is root: the worker must find itself without any privilege, or refuse to run */
  readonly requireUnprivileged: boolean;
  /** the client-queue runner's uid, which may submit on behalf of the owner of a client-queue file */
  readonly queueRunnerUid: number | undefined;
  /** how many workers share the listeners: each takes its share of the daemon-wide limits */
  readonly workers: number;
}

/** master → worker: stop accepting, finish the sessions in progress, exit */
export interface WorkerDrain {
  readonly type: 'drain';
}

export type MasterMessage = WorkerStart | WorkerDrain;

/** worker → master */
export type WorkerMessage =
  | { readonly type: 'ready' }
  /** messages were accepted into the queue (those of one turn of the event loop): the runner may deliver them now */
  | { readonly type: 'queued'; readonly ids: readonly string[] }
  /** this worker has served its share of sessions: start a fresh one, then let this one drain */
  | { readonly type: 'recycle' }
  | { readonly type: 'failed'; readonly code: string; readonly exit: number; readonly message: string };

/** Sessions a worker serves before it is replaced by a fresh process (memory does not creep). */
export const SESSIONS_PER_WORKER = 10_000;

/** The stdio slot of the first listening descriptor in a worker (0-2 stdio, 3 the IPC channel). */
export const FIRST_LISTENER_FD = 4;
