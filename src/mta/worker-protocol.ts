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
}

/** master → worker: stop accepting, finish the sessions in progress, exit */
export interface WorkerDrain {
  readonly type: 'drain';
}

export type MasterMessage = WorkerStart | WorkerDrain;

/** worker → master */
export type WorkerMessage =
  | { readonly type: 'ready' }
  /** a message was accepted into the queue: the runner may deliver it now */
  | { readonly type: 'queued'; readonly id: string }
  | { readonly type: 'failed'; readonly code: string; readonly exit: number; readonly message: string };

/** The stdio slot of the first listening descriptor in a worker (0-2 stdio, 3 the IPC channel). */
export const FIRST_LISTENER_FD = 4;
