/**
 * The delivery side of Postern: the broker (root, local deliveries as each
 * recipient) on a socket only RunAsUser may use, and the queue runner
 * (RunAsUser).  The daemon keeps both running (the runner passes every -q
 * interval and whenever a worker reports a message); `sendmail -q` starts
 * them for one pass.
 */
import { closeSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERR, PosternError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { entryPoint } from '../common/package-root.js';
import type { CommandLineOption, Config } from '../config/index.js';
import type { QueueSelection } from '../queue/runner.js';
import { KeptChild } from './kept-child.js';
import { bindPrivateSocket } from './listeners.js';
import type { RunAs } from './run-as.js';
import { WorkerFailed } from './supervisor.js';

/** Where local mailboxes live (sendmail's compiled-in _PATH_MAILDIR). */
export const MAIL_SPOOL = '/var/mail';

/** The configuration a daemon runs on, as each of its processes reads it again: sendmail.cf and the command line's -O/-M. */
export interface ConfigSource {
  readonly cfPath: string;
  readonly config: Config;
  readonly commandLineOptions: readonly CommandLineOption[];
  readonly commandLineMacros: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  /** the -L label */
  readonly label: string | undefined;
  readonly log: Logger;
}

export interface DeliveryOptions extends ConfigSource {
  readonly runAs: RunAs;
  readonly queueDir: string;
  readonly brokerSocket: string;
  readonly stdio: 'inherit' | 'ignore';
  /** the runner's interval in seconds (0: only when kicked); undefined: one pass, then it exits */
  readonly interval: number | undefined;
  readonly selection?: QueueSelection;
}

export interface Delivery {
  readonly broker: KeptChild;
  readonly runner: KeptChild;
  stop(): Promise<void>;
}

export async function startDelivery(o: DeliveryOptions): Promise<Delivery> {
  const brokerFd = await bindPrivateSocket(o.brokerSocket, o.runAs);
  const broker = new KeptChild({
    name: 'postern-broker',
    entry: fileURLToPath(entryPoint(import.meta.url, 'broker', '../delivery/broker/main.js')),
    runAs: undefined,
    fds: [brokerFd],
    start: () => ({
      type: 'start',
      queueDir: o.queueDir,
      runnerUid: o.runAs.uid,
      spoolDir: MAIL_SPOOL,
      label: o.label,
      logLevel: o.config.options.LogLevel,
      // the broker reads sendmail.cf itself: the local mailers' settings must not come from the runner
      cfPath: o.cfPath,
      commandLineOptions: o.commandLineOptions,
      commandLineMacros: o.commandLineMacros,
    }),
    log: o.log,
    stdio: o.stdio,
  });
  const runner = new KeptChild({
    name: 'postern-runner',
    entry: fileURLToPath(entryPoint(import.meta.url, 'runner', '../queue/runner-main.js')),
    runAs: o.runAs,
    fds: [],
    start: () => ({
      type: 'start',
      cfPath: o.cfPath,
      commandLineOptions: o.commandLineOptions,
      commandLineMacros: o.commandLineMacros,
      label: o.label,
      brokerSocket: o.brokerSocket,
      requireUnprivileged: o.runAs.switchIdentity,
      interval: o.interval,
      ...(o.selection !== undefined ? { selection: o.selection } : {}),
    }),
    log: o.log,
    stdio: o.stdio,
    restart: o.interval !== undefined,
  });
  const stop = async () => {
    await runner.stop();
    await broker.stop();
    closeSync(brokerFd);
    rmSync(o.brokerSocket, { force: true });
  };
  try {
    await broker.start();
    await runner.start();
  } catch (e) {
    await stop();
    throw e instanceof WorkerFailed ? new PosternError(ERR[e.code as keyof typeof ERR] ?? ERR.INTERNAL, e.message) : e;
  }
  return { broker, runner, stop };
}
