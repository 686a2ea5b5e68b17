/**
 * A daemon worker: runs as RunAsUser, accepts on the listening descriptors the
 * master handed over, and serves SMTP sessions and local submissions into the
 * MTA queue.  It proves to itself that it holds no privilege before touching
 * any socket, and drains (finishes the sessions in progress, then exits) when
 * the master says so or goes away.
 */
import { once } from 'node:events';
import { ERR, PosternError, isPosternError } from '../common/errors.js';
import { systemIdentity } from '../common/identity.js';
import { NOQID, openLogger, type Logger } from '../common/log.js';
import { loadConfig, type Config } from '../config/index.js';
import { serveSubmissions } from '../msp/submit-protocol.js';
import { native } from '../privsep/native.js';
import { openQueue, type MessageQueue } from '../queue/index.js';
import { localSubmissionHandler, type QueueSink } from './local-submission.js';
import { milterReachProblems } from './milter-reach.js';
import { createSmtpd } from './smtpd/index.js';
import { admission, share } from './admission.js';
import { ownCredentials, privilegeProblem } from './unprivileged.js';
import { SESSIONS_PER_WORKER, type MasterMessage, type WorkerMessage, type WorkerStart } from './worker-protocol.js';

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined || !process.connected) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}

/**
 * Tells the master which messages were queued, once per turn of the event
 * loop rather than once per message: under load a turn completes several
 * sessions' commits (one group commit), and each IPC message costs a
 * serialisation and a pipe write in the worker, the master and the runner.
 * Only when the runner delivers at once (DeliveryMode background or
 * interactive); otherwise the next queue run finds them.
 */
function queuedNotifier(deliverAtOnce: boolean): (id: string) => void {
  let ids: string[] = [];
  return (id) => {
    if (!deliverAtOnce) return;
    ids.push(id);
    if (ids.length > 1) return;
    setImmediate(() => {
      const batch = ids;
      ids = [];
      void send({ type: 'queued', ids: batch });
    });
  };
}

let sessionsServed = 0;

/** After its share of sessions the worker asks to be replaced (once): memory does not creep. */
function countSession(): void {
  sessionsServed++;
  if (sessionsServed === SESSIONS_PER_WORKER) void send({ type: 'recycle' });
}

function firstMessage(): Promise<WorkerStart> {
  return new Promise((resolve, reject) => {
    process.once('message', (m: MasterMessage) => (m.type === 'start' ? resolve(m) : reject(new Error(`expected a start message, got ${m.type}`))));
    process.once('disconnect', () => reject(new Error('the master went away before starting this worker')));
  });
}

export async function workerMain(): Promise<void> {
  if (process.send === undefined) {
    process.stderr.write('the Postern worker is started by the daemon (sendmail -bd), not by hand\n');
    process.exit(64);
  }
  const start = await firstMessage();
  let log: Logger | undefined;
  try {
    if (start.requireUnprivileged) {
      const problem = privilegeProblem(ownCredentials());
      if (problem !== undefined) throw new PosternError(ERR.PRIV_STILL_PRIVILEGED, `worker refuses to run: ${problem}`);
    }
    // nothing this process execs can gain privilege
    native().setNoNewPrivs();
    const inputs = { commandLineOptions: start.commandLineOptions, commandLineMacros: start.commandLineMacros };
    const config = loadConfig(start.cfPath, { ...inputs, mode: 'daemon' }).config;
    log = openLogger({ label: start.label, logLevel: config.options.LogLevel });
    const submitConfig = start.submitCfPath === null ? config : loadConfig(start.submitCfPath, { mode: 'other' }).config;
    const worker = await Worker.start(start, config, submitConfig, log);
    process.on('message', (m: MasterMessage) => {
      if (m.type === 'drain') void worker.drain();
    });
    process.on('disconnect', () => void worker.drain());
    // the master handles these for the whole process group
    for (const signal of ['SIGHUP', 'SIGINT', 'SIGTERM'] as const) process.on(signal, () => undefined);
    await send({ type: 'ready' });
  } catch (e) {
    const err = isPosternError(e) ? e : new PosternError(ERR.INTERNAL, e instanceof Error ? e.message : String(e), { cause: e });
    log?.log(0, 'crit', NOQID, `SYSERR(${process.getuid?.()}): ${err.message}`);
    await send({ type: 'failed', code: err.code, exit: err.exit, message: err.message });
    process.exit(err.exit);
  }
}

/** A listener the worker serves: it can stop accepting and say when its sessions are over. */
interface Service {
  close(): Promise<void>;
}

class Worker {
  private draining = false;

  private constructor(
    private readonly services: Service[],
    private readonly queue: MessageQueue,
    private readonly log: Logger,
  ) {}

  static async start(start: WorkerStart, config: Config, submitConfig: Config, log: Logger): Promise<Worker> {
    const dir = config.options.QueueDirectory;
    if (dir === null) throw new PosternError(ERR.DAEMON_QUEUE_DIRECTORY, 'QueueDirectory (Q) option must be set');
    const queue = await openQueue({ dir, fileMode: config.options.TempFileMode });
    const queued = queuedNotifier(config.options.DeliveryMode === 'background' || config.options.DeliveryMode === 'interactive');
    const sink: QueueSink = {
      assignId: () => queue.assignId(),
      accept: async ({ id, size: _size, attempts: _a, nextAttempt: _n, ...envelope }, content) => {
        await queue.accept(envelope, content, { id });
        queued(id);
      },
    };
    const identity = systemIdentity();
    const daemons = start.listeners.flatMap((l) => (l.kind === 'submit' ? [] : [l.daemon]));
    for (const problem of milterReachProblems(config, daemons)) log.warning(0, NOQID, problem);
    const services: Service[] = [];
    const listening: Array<Promise<unknown>> = [];
    for (const l of start.listeners) {
      if (l.kind === 'submit') {
        const handler = localSubmissionHandler({ submitConfig, identity, log, queue: sink, mtaConfig: config });
        const server = serveSubmissions({ fd: l.fd }, handler, start.queueRunnerUid === undefined ? {} : { queueRunnerUid: start.queueRunnerUid });
        listening.push(server.listening ? Promise.resolve() : once(server, 'listening'));
        services.push({ close: () => new Promise((resolve) => server.close(() => resolve())) });
      } else {
        const daemonMax = l.daemon.children ?? config.options.MaxDaemonChildren;
        const admit = admission({
          maxSessions: share(daemonMax, start.workers),
          perSecond: share(config.options.ConnectionRateThrottle, start.workers),
          daemonName: l.daemon.Name ?? 'Daemon0',
          daemonMax,
          log,
          onSessionEnd: countSession,
        });
        const smtp = createSmtpd({ config, identity, daemon: l.daemon, queue: sink, log, admit });
        smtp.on('error', (e: Error) => log.err(0, NOQID, `daemon ${l.daemon.Name}: ${e.message}`));
        listening.push(new Promise<void>((resolve) => smtp.listen({ fd: l.fd }, () => resolve())));
        services.push({ close: () => new Promise((resolve) => smtp.close(() => resolve())) });
      }
    }
    await Promise.all(listening);
    return new Worker(services, queue, log);
  }

  /** Stops accepting, lets every session in progress finish, closes the queue, exits. */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    await Promise.all(this.services.map((s) => s.close()));
    await this.queue.close();
    this.log.close();
    process.exit(0);
  }
}
