/** -q in all its forms: intervals, selections, groups, quarantine, lost items, persistence. */
import { ERR } from '../../common/errors.js';
import { parseInterval } from './convtime.js';
import { modeLetter, type Invocation, type OpMode, type QueueMatch } from './invocation.js';
import type { Report } from './report.js';

const QUEUE_RUN_MODES: ReadonlySet<OpMode> = new Set<OpMode>(['deliver', 'daemon', 'fgdaemon', 'print', 'printnqe', 'queuerun']);

export function parseQueueRun(inv: Invocation, rawArg: string, report: Report): void {
  if (!QUEUE_RUN_MODES.has(inv.mode)) {
    report.usage(ERR.USAGE_NOT_PERMITTED, `Can not use -q with -b${modeLetter(inv.mode)}`);
    return;
  }
  if (inv.mode === 'deliver') inv.mode = 'queuerun';
  inv.fullName = undefined;
  const run = (inv.queueRun ??= {
    interval: 0,
    foreground: false,
    persistent: false,
    group: undefined,
    byId: [],
    byRecipient: [],
    bySender: [],
    byQuarantine: [],
    items: 'normal',
  });
  const negate = rawArg.startsWith('!');
  const arg = negate ? rawArg.slice(1) : rawArg;
  const match = (): QueueMatch => ({ pattern: arg.slice(1), negate });
  switch (arg[0]) {
    case 'G':
      if (negate) report.usage(ERR.USAGE_BAD_VALUE, 'Can not use -q!G');
      else if (run.group !== undefined) report.usage(ERR.USAGE_BAD_VALUE, 'Can not use multiple -qG options');
      else run.group = arg.slice(1);
      return;
    case 'I':
      run.byId.unshift(match());
      return;
    case 'R':
      run.byRecipient.unshift(match());
      return;
    case 'S':
      run.bySender.unshift(match());
      return;
    case 'f':
      run.foreground = true;
      return;
    case 'Q':
      if (arg.length > 1) run.byQuarantine.unshift(match());
      run.items = 'quarantined';
      return;
    case 'L':
      run.items = 'lost';
      return;
    case 'p':
      run.persistent = true;
      if (run.interval === 0) run.interval = 1;
      if (arg.length === 1) return;
      queueInterval(run, arg.slice(1), report);
      return;
    default:
      queueInterval(run, arg, report);
  }
}

function queueInterval(run: { interval: number }, text: string, report: Report): void {
  const { seconds, badUnits } = parseInterval(text, 'm');
  for (const unit of badUnits) report.usage(ERR.USAGE_BAD_TIME_UNIT, `Invalid time unit \`${unit}'`);
  run.interval = seconds;
  if (seconds < 0) report.usage(ERR.USAGE_BAD_VALUE, 'Invalid -q value');
}
