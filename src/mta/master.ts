/**
 * `sendmail -bd` / `-bD`: the master.  It runs as root (or, under `npm start`,
 * as the user who started it), binds every DaemonPortOptions socket and the
 * local submission socket, makes the queue directory ready, and leaves all
 * the talking to workers that run as RunAsUser.  It supervises them, re-reads
 * the configuration on SIGHUP (keeping the old one when the new one is bad),
 * and drains them on SIGTERM.
 */
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { startDelivery, type ConfigSource, type Delivery } from './delivery-processes.js';
import { ERR, PosternError, isPosternError } from '../common/errors.js';
import { NOQID, type Logger } from '../common/log.js';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { formatInterval } from '../common/log-format.js';
import { bindDaemonSockets, bindSubmissionSocket, closeListeners, unlinkSocketFiles, type Listener } from './listeners.js';
import { removePidFile, writePidFile } from './pidfile.js';
import { clientQueueOwner, prepareQueueDirectory, resolveRunAs, type RunAs } from './run-as.js';
import { Supervisor, WorkerFailed, type WorkerSettings } from './supervisor.js';
import { POSTERN_VERSION } from '../msp/modes.js';
import { submitSocketPath } from '../msp/submit.js';

export interface DaemonRequest extends ConfigSource {
  /** -q interval in seconds, 0 when none */
  readonly queueInterval: number;
  /** the command line, for the pid file */
  readonly commandLine: readonly string[];
  readonly foreground: boolean;
  /** called once the daemon listens (the -bd parent is told then) */
  readonly onStarted?: () => void;
}

/** submit.cf beside sendmail.cf: its rules govern local submissions, and it names the submission socket. */
function readSubmitConfig(cfPath: string, log: Logger): { path: string | null; config: Config | null } {
  const path = join(dirname(cfPath), 'submit.cf');
  if (!existsSync(path)) {
    log.warning(0, NOQID, `${path} is missing: local submissions follow ${cfPath}`);
    return { path: null, config: null };
  }
  return { path, config: loadConfig(path, { mode: 'other' }).config };
}

/** Workers a daemon runs: one per core, two at most (each serves many sessions at once). */
export const WORKERS = Math.max(1, Math.min(2, availableParallelism()));

function settingsFor(req: DaemonRequest, submitCfPath: string | null, submitConfig: Config | null, runAs: RunAs): WorkerSettings {
  return {
    workers: WORKERS,
    cfPath: req.cfPath,
    commandLineOptions: req.commandLineOptions,
    commandLineMacros: req.commandLineMacros,
    submitCfPath,
    label: req.label,
    requireUnprivileged: runAs.switchIdentity,
    queueRunnerUid: clientQueueOwner(submitConfig?.options.QueueDirectory ?? null),
  };
}

/** Runs the daemon until SIGTERM; returns the exit status.  Start-up failures throw PosternError. */
export async function runDaemon(req: DaemonRequest): Promise<number> {
  const { config, log } = req;
  process.umask(0o022);
  const runAs = resolveRunAs(config.options.RunAsUser);
  const queueDir = config.options.QueueDirectory;
  if (queueDir === null) throw new PosternError(ERR.DAEMON_QUEUE_DIRECTORY, 'QueueDirectory (Q) option must be set');
  prepareQueueDirectory(queueDir, runAs);
  const submit = readSubmitConfig(req.cfPath, log);
  const submitSocket = submitSocketPath(submit.config ?? config);

  const listeners: Listener[] = await bindDaemonSockets(config.options.DaemonPortOptions);
  try {
    listeners.push(await bindSubmissionSocket(submitSocket));
  } catch (e) {
    closeListeners(listeners);
    throw e;
  }
  const stdio = req.foreground ? 'inherit' : 'ignore';
  const delivery = await startDelivery({
    ...req,
    runAs,
    queueDir,
    brokerSocket: join(dirname(submitSocket), 'broker.sock'),
    stdio,
    interval: req.queueInterval,
  }).catch((e: unknown) => {
    closeListeners(listeners);
    unlinkSocketFiles(listeners);
    throw e;
  });
  const deliverAtOnce = config.options.DeliveryMode === 'background' || config.options.DeliveryMode === 'interactive';
  const supervisor = new Supervisor(
    {
      runAs,
      listeners,
      count: WORKERS,
      log,
      stdio,
      onMessage: (m) => {
        if (m.type === 'queued' && deliverAtOnce) delivery.runner.send({ type: 'kick', ids: m.ids });
      },
    },
    settingsFor(req, submit.path, submit.config, runAs),
  );
  try {
    await supervisor.start();
  } catch (e) {
    await supervisor.stop();
    await delivery.stop();
    closeListeners(listeners);
    unlinkSocketFiles(listeners);
    throw e instanceof WorkerFailed ? new PosternError(ERR[e.code as keyof typeof ERR] ?? ERR.INTERNAL, e.message) : e;
  }

  const pidFile = config.options.PidFile;
  writePidFile(pidFile, process.pid, req.commandLine);
  const what = req.queueInterval > 0 ? `SMTP+queueing@${formatInterval(req.queueInterval)}` : 'SMTP';
  log.info(0, NOQID, `starting daemon (Postern ${POSTERN_VERSION}): ${what}`);
  req.onStarted?.();

  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info(0, NOQID, `stopping daemon, reason=signal (${signal})`);
      void supervisor.stop().then(async () => {
        await delivery.stop();
        unlinkSocketFiles(listeners);
        closeListeners(listeners);
        removePidFile(pidFile, process.pid);
        resolve(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => void reload(req, runAs, supervisor, delivery, log));
  });
}

/** SIGHUP: the configuration is read again; the old one stays in force when the new one is bad. */
async function reload(req: DaemonRequest, runAs: RunAs, supervisor: Supervisor, delivery: Delivery, log: Logger): Promise<void> {
  log.info(0, NOQID, 'restarting daemon on SIGHUP: reading the configuration again');
  try {
    loadConfig(req.cfPath, { commandLineOptions: req.commandLineOptions, commandLineMacros: req.commandLineMacros, mode: 'daemon' });
    const submit = readSubmitConfig(req.cfPath, log);
    await supervisor.replace(settingsFor(req, submit.path, submit.config, runAs));
    // the runner picks up the new configuration when it is started again
    await delivery.runner.stop();
    await delivery.runner.start();
    log.info(0, NOQID, 'configuration reloaded');
  } catch (e) {
    const problems = e instanceof ConfigError ? e.problems.map((p) => p.message) : [isPosternError(e) || e instanceof Error ? e.message : String(e)];
    for (const p of problems) log.err(0, NOQID, `SIGHUP: ${p}`);
    log.err(0, NOQID, 'SIGHUP: the new configuration was refused; the daemon keeps the old one');
  }
}
