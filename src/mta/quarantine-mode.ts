/**
 * `sendmail -Q[reason]` with a queue selection, as sendmail 8.17's
 * quarantine_queue(): the messages the selection picks (-qQ: quarantined
 * ones, with -qQsubstr those whose reason contains it; otherwise the normal
 * ones, narrowed by -qI/-qR/-qS) get the reason, or lose it when none is
 * given (`-Q` alone, which the command line turns into `-Q.`).  Released
 * messages are delivered by the next queue run; `sendmail -qQ` without -Q
 * would instead deliver the quarantined messages where they are.
 *
 * The queue belongs to RunAsUser: a root caller becomes RunAsUser for good
 * before opening it, so that nothing in the queue directory ends up root's.
 */
import { EX } from '../common/sysexits.js';
import type { Config } from '../config/index.js';
import type { Invocation, QueueMatch } from '../msp/cmdline/invocation.js';
import type { Output } from '../msp/output.js';
import type { Envelope } from '../queue/envelope.js';
import { selected } from '../queue/runner.js';
import { resolveRunAs } from './run-as.js';

function matches(list: readonly QueueMatch[], value: string): boolean {
  if (list.length === 0) return true;
  return list.some((m) => value.toLowerCase().includes(m.pattern.toLowerCase()) !== m.negate);
}

/** Whether -Q acts on this message: the items the run is about (quarantined or normal) and its selections. */
export function quarantineTarget(e: Envelope, run: Invocation['queueRun']): boolean {
  const quarantinedOnly = run?.items === 'quarantined';
  if (quarantinedOnly !== (e.quarantine !== undefined)) return false;
  if (quarantinedOnly && !matches(run?.byQuarantine ?? [], e.quarantine ?? '')) return false;
  return selected(e, run === undefined ? undefined : { byId: run.byId, byRecipient: run.byRecipient, bySender: run.bySender });
}

/** sendmail's denlstring(): a reason is one line. */
function oneLine(reason: string): string {
  return reason.replace(/\r?\n/g, ' ');
}

export async function quarantineMode(inv: Invocation, config: Config, out: Output): Promise<number> {
  const dir = config.options.QueueDirectory!;
  const run = inv.queueRun;
  if (run !== undefined && run.items === 'lost') {
    out.stdout('Can not use -Q with -qL');
    return EX.USAGE;
  }
  const given = inv.quarantineReason ?? '.';
  const reason = given === '.' ? null : oneLine(given);
  if ((process.getuid?.() ?? 0) === 0) {
    const runAs = resolveRunAs(config.options.RunAsUser);
    if (runAs.switchIdentity) {
      process.setgroups?.([]);
      process.setgid?.(runAs.gid);
      process.setuid?.(runAs.uid);
    }
  }
  const { openQueue } = await import('../queue/index.js');
  const queue = await openQueue({ dir, fileMode: config.options.TempFileMode });
  let changed = 0;
  try {
    const targets = queue.list().filter((e) => quarantineTarget(e, run));
    if (config.options.Verbose) out.stdout(targets.length === 0 ? `${dir}: no matches` : `Processing ${dir}:`);
    for (const e of targets) {
      if ((reason ?? undefined) === e.quarantine) continue;
      if (await queue.update(e.id, { quarantine: reason })) changed++;
    }
  } finally {
    await queue.close();
  }
  if (config.options.Verbose) out.stdout(changed === 0 ? 'No changes' : `${changed} change${changed === 1 ? '' : 's'}`);
  return EX.OK;
}
