/**
 * Timeout.<name>=<time>, the old `Timeout=a,b=c` list form, and QueueTimeout.
 * Names are case-insensitive.  A command-line setting makes a timeout
 * "sticky": the file cannot change it afterwards.
 */
import type { TimeoutName, Timeouts } from './types.js';
import { ValueError, parseTime } from './values.js';

type Unit = 'd' | 'h' | 'm' | 's';

interface TimeoutSpec {
  /** The name sticky-ness is checked under. */
  readonly key: string;
  /** The slots the name sets. */
  readonly slots: readonly TimeoutName[];
  /** Unit of a bare number. */
  readonly unit: Unit;
  /** A count rather than a time. */
  readonly count?: boolean;
  /** Slots made sticky with it (sendmail marks the name and the next two codes). */
  readonly sticky: readonly string[];
}

const QW = ['queuewarn.normal', 'queuewarn.urgent', 'queuewarn.non-urgent', 'queuewarn.dsn'] as const;
const QR = ['queuereturn.normal', 'queuereturn.urgent', 'queuereturn.non-urgent', 'queuereturn.dsn'] as const;
const RT = ['resolver.retrans', 'resolver.retrans.first', 'resolver.retrans.normal'] as const;
const RY = ['resolver.retry', 'resolver.retry.first', 'resolver.retry.normal'] as const;

let specs: Map<string, TimeoutSpec> | null = null;

function timeoutSpecs(): Map<string, TimeoutSpec> {
  if (specs !== null) return specs;
  const m = new Map<string, TimeoutSpec>();
  const one = (name: TimeoutName, unit: Unit = 'm', count = false): void => {
    m.set(name, { key: name, slots: [name], unit, sticky: [name], ...(count ? { count } : {}) });
  };
  for (const n of [
    'initial', 'mail', 'rcpt', 'datainit', 'datablock', 'datafinal', 'command', 'rset', 'helo', 'quit',
    'misc', 'ident', 'fileopen', 'connect', 'iconnect', 'aconnect', 'hoststatus', 'control', 'lhlo',
    'auth', 'starttls',
  ] as const) {
    one(n);
  }
  const all = { key: 'queuewarn', slots: QW, unit: 'h' as const, sticky: ['queuewarn', QW[0], QW[1]] };
  m.set('queuewarn', all);
  m.set('queuewarn.*', all);
  for (const n of QW) one(n, 'h');
  const ret = { key: 'queuereturn', slots: QR, unit: 'd' as const, sticky: ['queuereturn', QR[0], QR[1]] };
  m.set('queuereturn', ret);
  m.set('queuereturn.*', ret);
  for (const n of QR) one(n, 'd');
  m.set('resolver.retrans', { key: RT[0], slots: RT, unit: 's', sticky: RT });
  one('resolver.retrans.normal', 's');
  one('resolver.retrans.first', 's');
  m.set('resolver.retry', { key: RY[0], slots: RY, unit: 's', count: true, sticky: RY });
  one('resolver.retry.normal', 's', true);
  one('resolver.retry.first', 's', true);
  specs = m;
  return m;
}

/**
 * Sets one timeout.  `sticky` holds the names the command line has set:
 * with `fromCommandLine` it is added to, otherwise such names are left alone.
 * Throws ValueError for an unknown name or a bad time.
 */
export function setTimeoutOption(
  t: Timeouts,
  name: string,
  value: string,
  sticky: Set<string>,
  fromCommandLine: boolean,
): void {
  const spec = timeoutSpecs().get(name.toLowerCase());
  if (spec === undefined) throw new ValueError(`settimeout: invalid timeout ${name}`);
  if (!fromCommandLine && sticky.has(spec.key)) return;
  // sendmail converts with minutes first, whatever the timeout (so `retry=abc` complains about units)
  const asMinutes = parseTime(value, 'm');
  let v: number;
  if (spec.count) v = parseInt(value, 10) || 0;
  else v = spec.unit === 'm' ? asMinutes : parseTime(value, spec.unit);
  for (const slot of spec.slots) (t as Record<TimeoutName, number | null>)[slot] = v;
  if (fromCommandLine) for (const s of spec.sticky) sticky.add(s);
}

/** The value of a bare `Timeout=` option: `time` (sets the SMTP command timeouts) or `name=time` items. */
export function setTimeoutList(
  t: Timeouts,
  value: string,
  sticky: Set<string>,
  fromCommandLine: boolean,
  onError: (e: ValueError) => void,
): void {
  for (const raw of value.split(',')) {
    const item = raw.replace(/^\s+/, '');
    if (item === '') continue;
    try {
      if (item[0]! >= '0' && item[0]! <= '9') {
        const v = parseTime(item, 'm');
        for (const n of ['mail', 'rcpt', 'datainit', 'datablock', 'datafinal', 'command'] as const) {
          if (fromCommandLine) sticky.add(n);
          else if (sticky.has(n)) continue;
          t[n] = v;
        }
        continue;
      }
      let sep = item.indexOf(':');
      if (sep < 0) sep = item.indexOf('=');
      if (sep < 0) continue; // sendmail ignores it
      setTimeoutOption(t, item.slice(0, sep), item.slice(sep + 1), sticky, fromCommandLine);
    } catch (e) {
      if (e instanceof ValueError) onError(e);
      else throw e;
    }
  }
}

/** QueueTimeout=return[/warn]. */
export function setQueueTimeout(t: Timeouts, value: string, sticky: Set<string>, fromCommandLine: boolean): void {
  const slash = value.indexOf('/');
  if (slash >= 0) setTimeoutOption(t, 'queuewarn', value.slice(slash + 1), sticky, fromCommandLine);
  setTimeoutOption(t, 'queuereturn', slash >= 0 ? value.slice(0, slash) : value, sticky, fromCommandLine);
}
