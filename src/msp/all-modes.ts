/** Every operation mode: the table of the whole command (dist/bundle/postern.cjs). */
import { join } from 'node:path';
import { BUILD_ID } from '../common/build-id.js';
import { ERR, PosternError } from '../common/errors.js';
import { EX } from '../common/sysexits.js';
import { loadConfig, type Config } from '../config/index.js';
import { commandLineOptions } from './command-options.js';
import type { Invocation } from './cmdline/invocation.js';
import { CONFIG_DIR } from './main.js';
import { deliverMode, recipientsMissing } from './deliver-mode.js';
import type { ModeContext, ModeTable } from './mode-table.js';
import { AVAILABLE_MODES, describeMode, unavailable } from './modes.js';
import type { Output } from './output.js';
import type { Caller } from './permissions.js';
import { printQueue } from './print-queue.js';

export const ALL_MODES: ModeTable = {
  covers: () => true,
  run: runMode,
  handOver: () => Promise.reject(new PosternError(ERR.INTERNAL, 'the whole command has no other to hand over to')),
};

async function runMode(inv: Invocation, config: Config, caller: Caller, out: Output, ctx: ModeContext): Promise<number> {
  switch (inv.mode) {
    case 'deliver':
      return deliverMode(inv, config, caller, out, ctx);
    case 'daemon':
    case 'fgdaemon': {
      freezeSystemSubmitCf(ctx.cfPath);
      const { daemonMode } = await import('../mta/daemon-mode.js');
      const request = {
        cfPath: ctx.cfPath,
        config,
        commandLineOptions: commandLineOptions(inv.options),
        commandLineMacros: inv.macros,
        label: inv.syslogLabel,
        queueInterval: inv.queueRun?.interval ?? 0,
        commandLine: ctx.commandLine,
        log: ctx.log,
        foreground: inv.mode === 'fgdaemon',
      };
      return daemonMode(request, out, ctx.syserr);
    }
    case 'queuerun': {
      if (config.options.UseMSP) {
        const { clientQueueRun } = await import('./client-queue-run.js');
        return clientQueueRun(inv, config, ctx.log, out, ctx.commandLine);
      }
      const { queueRunMode } = await import('../mta/queue-run-mode.js');
      return queueRunMode(inv, config, ctx, out);
    }
    case 'verify':
      if (recipientsMissing(inv)) {
        out.stdout('Recipient names must be specified');
        return EX.USAGE;
      }
      return (await import('./verify.js')).verifyAddresses(inv.operands, config, out);
    case 'printnqe':
      return (await import('./queue-count.js')).printQueueCount(config, out);
    case 'hoststat':
      return (await import('../delivery/remote/host-status/modes.js')).printHostStatus(config, out, ctx.log);
    case 'purgestat':
      return (await import('../delivery/remote/host-status/modes.js')).purgeHostStatusMode(config, out, ctx.log);
    case 'print':
      if (!config.options.UseMSP) return printQueue(config, out);
      return (await import('./client-queue-listing.js')).printClientQueue(config, out);
    case 'initalias': {
      const { initAliases } = await import('./initalias.js');
      return initAliases(inv, config, ctx.log, out);
    }
    case 'smtp':
      return (await import('./smtp-mode.js')).smtpMode(inv, config, caller, ctx.log);
    default:
      break;
  }
  if (!AVAILABLE_MODES.has(inv.mode)) {
    const what = describeMode(inv.mode);
    const err = unavailable(inv.mode, what);
    out.stderr(`${inv.argv0}: ${err.message}`);
    return err.exit;
  }
  throw new PosternError(ERR.INTERNAL, `mode ${inv.mode} is marked available but has no handler`);
}

/**
 * The daemon, started as root on the system's configuration, leaves the
 * system's submit.cf frozen for the submissions to come (src/config/frozen.ts):
 * otherwise only a submission by root would, and until one did every
 * submission would parse the file.  A submit.cf with a problem is left to
 * the submissions to report.
 */
function freezeSystemSubmitCf(cfPath: string): void {
  if (BUILD_ID === undefined || process.getuid?.() !== 0 || cfPath !== join(CONFIG_DIR, 'sendmail.cf')) return;
  try {
    loadConfig(join(CONFIG_DIR, 'submit.cf'), { mode: 'other', frozen: BUILD_ID });
  } catch {
    // reported by the submissions that read it
  }
}
