/**
 * `sendmail -q` for the MTA queue: one pass (with -qI/-qR/-qS selections),
 * or with an interval a queue-runner daemon in the background, as sendmail
 * runs them.  The caller (root) starts the delivery broker and a queue runner
 * as RunAsUser for it; the messages a running daemon's runner is working on
 * are skipped (each runner claims a message before it touches it).
 */
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backgroundStarter, detach } from '../common/detach.js';
import { ERR, PosternError, isPosternError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { EX } from '../common/sysexits.js';
import { refuseQueueRun } from '../msp/queue-access.js';
import { commandLineOptions } from '../msp/command-options.js';
import type { Invocation } from '../msp/cmdline/invocation.js';
import type { Config } from '../config/index.js';
import type { Output } from '../msp/output.js';
import { startDelivery } from './delivery-processes.js';
import { removePidFile, writePidFile } from './pidfile.js';
import { resolveRunAs } from './run-as.js';

export interface QueueRunContext {
  readonly cfPath: string;
  readonly log: Logger;
  readonly commandLine: readonly string[];
  readonly syserr: (message: string) => void;
}

export async function queueRunMode(inv: Invocation, config: Config, ctx: QueueRunContext, out: Output): Promise<number> {
  const dir = config.options.QueueDirectory;
  const refused = refuseQueueRun(dir, config, out);
  if (refused !== undefined || dir === null) return refused ?? EX.CONFIG;
  // -Q: (un)quarantining queued messages, not a queue run
  if (inv.quarantineReason !== undefined) return (await import('./quarantine-mode.js')).quarantineMode(inv, config, out);
  // -qL runs sendmail's lost queue files (qf renamed Qf after an error); Postern's queue
  // database has no such state, so there is never anything to run
  if (inv.queueRun?.items === 'lost') return EX.OK;
  const run = inv.queueRun;
  const interval = run?.interval ?? 0;
  const starter = backgroundStarter();
  if (interval > 0 && !(run?.foreground ?? false) && starter === undefined) return detach((m) => out.stdout(m));

  const socketDir = mkdtempSync(join(tmpdir(), 'postern-qrun-'));
  try {
    const runAs = resolveRunAs(config.options.RunAsUser);
    // the runner (RunAsUser) must reach the broker's socket in here
    if (runAs.switchIdentity) chownSync(socketDir, runAs.uid, runAs.gid);
    const delivery = await startDelivery({
      cfPath: ctx.cfPath,
      config,
      commandLineOptions: commandLineOptions(inv.options),
      commandLineMacros: inv.macros,
      label: inv.syslogLabel,
      log: ctx.log,
      runAs,
      queueDir: dir,
      brokerSocket: join(socketDir, 'broker.sock'),
      stdio: interval > 0 && starter !== undefined ? 'ignore' : 'inherit',
      interval: interval > 0 ? interval : undefined,
      ...(run !== undefined && (run.byId.length > 0 || run.byRecipient.length > 0 || run.bySender.length > 0 || run.items === 'quarantined')
        ? {
            selection: {
              byId: run.byId,
              byRecipient: run.byRecipient,
              bySender: run.bySender,
              items: run.items === 'quarantined' ? ('quarantined' as const) : ('normal' as const),
              byQuarantine: run.byQuarantine,
            },
          }
        : {}),
    });
    if (interval === 0) {
      const status = await delivery.runner.exited();
      await delivery.stop();
      return status === 0 ? EX.OK : EX.SOFTWARE;
    }
    writePidFile(config.options.PidFile, process.pid, ctx.commandLine);
    starter?.started();
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    await delivery.stop();
    removePidFile(config.options.PidFile, process.pid);
    return EX.OK;
  } catch (e) {
    const err = isPosternError(e) ? e : new PosternError(ERR.INTERNAL, e instanceof Error ? e.message : String(e), { cause: e });
    ctx.syserr(err.message);
    if (starter !== undefined) await starter.failed(err.exit, err.message);
    else out.stdout(err.message);
    return err.exit;
  } finally {
    rmSync(socketDir, { recursive: true, force: true });
  }
}
