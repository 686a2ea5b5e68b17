/**
 * Entry point of the delivery broker process, started by the master as root
 * with its listening socket at fd 4.  It does nothing but serve local
 * delivery requests (server.ts) until told to stop.
 */
import { ERR, PosternError, isPosternError } from '../../common/errors.js';
import { NOQID, openLogger } from '../../common/log.js';
import { entryPoint } from '../../common/package-root.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { systemIdentity } from '../../common/identity.js';
import { loadConfig, type CommandLineOption, type Config } from '../../config/index.js';
import { localMailerSettings } from './local-settings.js';
import { serveBroker } from './server.js';

interface BrokerStart {
  readonly type: 'start';
  readonly queueDir: string;
  readonly runnerUid: number;
  readonly spoolDir: string;
  readonly label: string | undefined;
  readonly logLevel: number;
  /** sendmail.cf, read by the broker itself for the local mailers' settings; default /etc/mail/sendmail.cf */
  readonly cfPath?: string;
  readonly commandLineOptions?: readonly CommandLineOption[];
  readonly commandLineMacros?: ReadonlyArray<{ readonly name: string; readonly value: string }>;
}

/**
 * The configuration as the broker reads it: DontBlameSendmail, ForwardPath
 * and the rest must not come from the runner it serves.  Without a readable
 * file the local mailers run on sendmail's defaults (the safe ones).
 */
function brokerConfig(s: BrokerStart): Config | undefined {
  const path = s.cfPath ?? '/etc/mail/sendmail.cf';
  if (!existsSync(path)) return undefined;
  return loadConfig(path, { commandLineOptions: s.commandLineOptions ?? [], commandLineMacros: s.commandLineMacros ?? [], mode: 'daemon' }).config;
}

const start = await new Promise<BrokerStart>((resolve) => process.once('message', (m: BrokerStart) => resolve(m)));
const log = openLogger({ label: start.label, logLevel: start.logLevel });
try {
  if (process.send === undefined) throw new PosternError(ERR.INTERNAL, 'the broker is started by the daemon');
  const server = serveBroker(
    { fd: 4 },
    {
      queueDir: start.queueDir,
      runnerUid: start.runnerUid,
      spoolDir: start.spoolDir,
      log,
      localMailers: localMailerSettings(brokerConfig(start), systemIdentity(), {
        asUserAgentPath: fileURLToPath(entryPoint(import.meta.url, 'as-user-agent', '../as-user/agent.js')),
      }),
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('message', (m: { type: string }) => m.type === 'drain' && stop());
  process.on('disconnect', stop);
  for (const signal of ['SIGHUP', 'SIGINT', 'SIGTERM'] as const) process.on(signal, () => undefined);
  process.send({ type: 'ready' });
} catch (e) {
  const err = isPosternError(e) ? e : new PosternError(ERR.INTERNAL, e instanceof Error ? e.message : String(e));
  log.log(0, 'crit', NOQID, `SYSERR(root): delivery broker: ${err.message}`);
  process.send?.({ type: 'failed', code: err.code, exit: err.exit, message: err.message });
  process.exitCode = err.exit;
}
