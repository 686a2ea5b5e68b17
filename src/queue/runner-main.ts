/**
 * Entry point of the queue runner process, started by the master (for the
 * daemon's -q interval and its immediate deliveries) or by `sendmail -q`
 * (one pass), as RunAsUser.  It proves it holds no privilege, then runs the
 * queue: once, or every interval and whenever the master says a message
 * has arrived.
 */
import { ERR, PosternError, isPosternError } from '../common/errors.js';
import { systemIdentity } from '../common/identity.js';
import { NOQID, openLogger, type Logger } from '../common/log.js';
import { loadConfig, type CommandLineOption } from '../config/index.js';
import { requestLocalDelivery, requestLocalMailer } from '../delivery/broker/protocol.js';
import { ownCredentials, privilegeProblem } from '../mta/unprivileged.js';
import { native } from '../privsep/native.js';
import { openQueue } from './index.js';
import { openAliases } from '../delivery/aliases/index.js';
import { reportRelayed, returnToSender, warnOfDelay } from './bounce.js';
import { QUEUE_RUN_LANES, QueueRunner, type QueueSelection } from './runner.js';

export interface RunnerStart {
  readonly type: 'start';
  readonly cfPath: string;
  readonly commandLineOptions: readonly CommandLineOption[];
  readonly commandLineMacros: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly label: string | undefined;
  readonly brokerSocket: string;
  readonly requireUnprivileged: boolean;
  /** seconds between passes over the queue; 0: the arrivals the master reports only; undefined: one pass, then exit */
  readonly interval: number | undefined;
  readonly selection?: QueueSelection;
}

function report(message: object): Promise<void> {
  return new Promise((resolve) => (process.send === undefined ? resolve() : process.send(message, undefined, {}, () => resolve())));
}

const start = await new Promise<RunnerStart>((resolve) => process.once('message', (m: RunnerStart) => resolve(m)));
let log: Logger | undefined;
try {
  if (start.requireUnprivileged) {
    const problem = privilegeProblem(ownCredentials());
    if (problem !== undefined) throw new PosternError(ERR.PRIV_STILL_PRIVILEGED, `queue runner refuses to run: ${problem}`);
  }
  native().setNoNewPrivs();
  const config = loadConfig(start.cfPath, { commandLineOptions: start.commandLineOptions, commandLineMacros: start.commandLineMacros, mode: 'daemon' }).config;
  const logger = openLogger({ label: start.label, logLevel: config.options.LogLevel });
  log = logger;
  const dir = config.options.QueueDirectory;
  if (dir === null) throw new PosternError(ERR.DAEMON_QUEUE_DIRECTORY, 'QueueDirectory (Q) option must be set');
  const queue = await openQueue({ dir, fileMode: config.options.TempFileMode });
  const identity = systemIdentity();
  // sendmail -n would turn aliasing off; the daemon always aliases
  const aliases = openAliases(config);
  for (const w of aliases.warnings) logger.warning(0, NOQID, w);
  // loaded here, not at the top: nodemailer belongs to the runner only
  const remote = await import('../delivery/remote/index.js');
  const configured = remote.remoteOptionsFromConfig(config, identity, (problem) => logger.warning(0, NOQID, problem));
  // ConnectionCacheSize is per sendmail process, and each lane does one queue-run child's work
  const remoteOptions = { ...configured, connectionCacheSize: (configured.connectionCacheSize ?? 1) * QUEUE_RUN_LANES };
  // LMTP mailers: mailertable entries that name one, and the local mailer when it is one
  const lmtp = (await import('../delivery/lmtp/index.js')).lmtpFromConfig(config, remoteOptions, logger);
  const localLmtp = lmtp.localMailbox === undefined ? undefined : { mailbox: lmtp.localMailbox, deliver: lmtp.deliverLocal };
  const runner = new QueueRunner({
    aliases: (name) => aliases.lookup(name),
    deliverRemote: (request) => {
      const destination = lmtp.forDomain(request.domain);
      return destination !== undefined ? lmtp.deliver(request, destination) : remote.deliverRemote(request, { options: remoteOptions, log: logger });
    },
    ...(localLmtp !== undefined ? { localLmtp } : {}),
    remoteLogFields: remote.deliveryLogFields,
    queue,
    config,
    identity,
    log: logger,
    // a small message's bytes go with the request: the broker does not open the queue database
    deliverLocal: (r) => requestLocalDelivery(start.brokerSocket, { version: 1, ...r }, queue.storedBytes(r.queueId)),
    localMailer: (r) => requestLocalMailer(start.brokerSocket, r, r.kind === 'program' || r.kind === 'file' ? queue.storedBytes(r.queueId) : undefined),
    returnToSender: (envelope, failed, relayed, transcript) => returnToSender({ queue, config, identity, log: logger }, envelope, failed, relayed, transcript),
    reportRelayed: (envelope, relayed) => reportRelayed({ queue, config, identity, log: logger }, envelope, relayed),
    warnOfDelay: (envelope, transcript) => warnOfDelay({ queue, config, identity, log: logger }, envelope, transcript),
  });
  await report({ type: 'ready' });

  if (start.interval === undefined) {
    await runner.runOnce(start.selection);
    remote.closeCachedConnections();
    await queue.close();
    process.exit(0);
  }
  let running = false;
  let again = false;
  let stopping = false;
  // what the next run is: a pass over the whole queue (start, every interval), or the arrivals only
  let fullPassDue = true;
  const arrivals = new Set<string>();
  const pass = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const failed = (e: unknown) => logger.err(0, NOQID, `queue run failed: ${e instanceof Error ? e.message : String(e)}`);
        if (fullPassDue) {
          fullPassDue = false;
          arrivals.clear(); // a pass over what is due includes them
          await runner.runOnce().catch(failed);
        } else if (arrivals.size > 0) {
          const ids = [...arrivals];
          arrivals.clear();
          await runner.runArrivals(ids).catch(failed);
        }
      } while (again && !stopping);
    } finally {
      running = false;
    }
    if (stopping) await finish();
  };
  const finish = async () => {
    await queue.close();
    process.exit(0);
  };
  process.on('message', (m: { type: string; ids?: readonly string[] }) => {
    if (m.type === 'kick') {
      if (m.ids !== undefined) for (const id of m.ids) arrivals.add(id);
      else fullPassDue = true;
      void pass();
    }
    else if (m.type === 'drain') {
      stopping = true;
      if (!running) void finish();
    }
  });
  process.on('disconnect', () => {
    stopping = true;
    if (!running) void finish();
  });
  for (const signal of ['SIGHUP', 'SIGINT', 'SIGTERM'] as const) process.on(signal, () => undefined);
  if (start.interval > 0) {
    setInterval(() => {
      fullPassDue = true;
      void pass();
    }, start.interval * 1000);
  }
  void pass();
} catch (e) {
  const err = isPosternError(e) ? e : new PosternError(ERR.INTERNAL, e instanceof Error ? e.message : String(e));
  log?.log(0, 'crit', NOQID, `SYSERR(${process.getuid?.()}): queue runner: ${err.message}`);
  await report({ type: 'failed', code: err.code, exit: err.exit, message: err.message });
  process.exitCode = err.exit;
}
