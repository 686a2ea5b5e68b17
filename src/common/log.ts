/**
 * Logging as sendmail logs: syslog facility mail, the program's label as the
 * ident (`sendmail`, or what -L gave: `sm-mta`, `sm-msp-queue`), the pid in
 * every line, and sendmail's LogLevel deciding what is written.
 *
 * Every call states the level it needs, as sendmail's `if (LogLevel > N)`
 * does: `log.at(N)` is true, and `log.log(N, ...)` writes, only when the
 * configured LogLevel is greater than N.
 *
 * Messages go through syslog(3) (Postern's native addon, which speaks
 * /dev/log as libc does) when /dev/log exists, otherwise to standard error as
 * `ident[pid]: message` lines, or to any LogSink given (tests).
 *
 * The text of each kind of line is built in log-format.ts; this module adds
 * the queue-id prefix and splits over-long messages as sm_syslog does.
 */
import { existsSync, writeSync } from 'node:fs';
import {
  LOG_ALERT,
  LOG_CRIT,
  LOG_DEBUG,
  LOG_EMERG,
  LOG_ERR,
  LOG_INFO,
  LOG_MAIL,
  LOG_NDELAY,
  LOG_NOTICE,
  LOG_PID,
  LOG_WARNING,
  native,
  type NativeBindings,
} from '../privsep/native.js';
import {
  SYSLOG_BUFSIZE,
  aliasRebuiltLine,
  aliasStatsLine,
  cloneLine,
  deliveryLines,
  noTransactionLine,
  returnLine,
  rulesetLine,
  senderLine,
  smtpAttackLine,
  str2prt,
  userErrorLine,
  type DeliveryLogInput,
  type ReturnLogInput,
  type RulesetLogInput,
  type SenderLogInput,
} from './log-format.js';

export * from './log-format.js';

// <syslog.h> values, from the native module that hands them to libc
export { LOG_EMERG, LOG_ALERT, LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG, LOG_MAIL, LOG_PID, LOG_NDELAY };

export type Priority = 'emerg' | 'alert' | 'crit' | 'err' | 'warning' | 'notice' | 'info' | 'debug';

export const PRIORITY: Readonly<Record<Priority, number>> = Object.freeze({
  emerg: LOG_EMERG,
  alert: LOG_ALERT,
  crit: LOG_CRIT,
  err: LOG_ERR,
  warning: LOG_WARNING,
  notice: LOG_NOTICE,
  info: LOG_INFO,
  debug: LOG_DEBUG,
});

/** sendmail's default LogLevel (readcf.c). */
export const DEFAULT_LOG_LEVEL = 9;
/** The ident when no -L label was given. */
export const DEFAULT_IDENT = 'sendmail';

/**
 * The queue id a line is logged under: a queue id prints `QID: text`; null
 * prints `NOQUEUE: text` (sendmail's NULL id, before a queue id exists); the
 * empty string prints the text alone (sendmail's NOQID, e.g. alias rebuilds
 * and check_relay).
 */
export type LogId = string | null;
export const NOQUEUE: LogId = null;
export const NOQID: LogId = '';

/** Where finished messages go. `level` is the syslog severity (LOG_ERR..LOG_DEBUG). */
export interface LogSink {
  write(level: number, message: string): void;
  close(): void;
}

/** The three calls of the native addon a syslog sink needs. */
export type SyslogBindings = Pick<NativeBindings, 'openlog' | 'syslog' | 'closelog'>;

/** syslog(3): openlog(ident, LOG_PID, facility) now, one syslog() per message. */
export function syslogSink(bindings: SyslogBindings, ident: string, facility: number = LOG_MAIL, option: number = LOG_PID): LogSink {
  bindings.openlog(ident, option, facility);
  let open = true;
  return {
    write(level, message) {
      if (!open) return;
      bindings.syslog(facility | (level & 0x07), message);
    },
    close() {
      if (!open) return;
      open = false;
      bindings.closelog();
    },
  };
}

/** Anything with a write(string) method; the default writes synchronously to fd 2. */
export interface TextOutput {
  write(text: string): unknown;
}

const fd2: TextOutput = {
  write(text: string) {
    try {
      writeSync(2, text);
    } catch {
      // standard error closed or full: a log line is not worth dying for
    }
  },
};

/** `ident[pid]: message` lines, as sendmail without syslog would print them. */
export function stderrSink(ident: string, options: { pid?: number; output?: TextOutput } = {}): LogSink {
  const output = options.output ?? fd2;
  return {
    write(_level, message) {
      output.write(`${ident}[${options.pid ?? process.pid}]: ${message}\n`);
    },
    close() {},
  };
}

export interface LogRecord {
  readonly level: number;
  readonly message: string;
}

/** Keeps what is logged, for tests. */
export class MemorySink implements LogSink {
  readonly records: LogRecord[] = [];
  closed = false;
  write(level: number, message: string): void {
    this.records.push({ level, message });
  }
  close(): void {
    this.closed = true;
  }
  /** The messages, in order. */
  messages(): string[] {
    return this.records.map((r) => r.message);
  }
}

/**
 * SyslogPrefixLen (main.c): sendmail's estimate of what syslog puts before a
 * message (pid, queue file name, fudge, label), used to decide when to split.
 */
export function syslogPrefixLength(label: string | undefined): number {
  const PIDLEN = 6;
  const MAXQFNAME = 21;
  const SL_FUDGE = 10;
  const SLDLL = 8;
  const labelLen = label === undefined ? SLDLL : Math.min(Buffer.byteLength(label, 'utf8'), 32) + 1;
  return PIDLEN + (MAXQFNAME - 3) + SL_FUDGE + labelLen;
}

/**
 * What sm_syslog hands to syslog() for one message: the text made printable
 * (str2prt), prefixed with `id: `, and when that is too long for a syslog
 * buffer, cut at a comma or space into numbered parts `id[1]: ... ...`,
 * `id[2]: ...` (at most 998 parts; the rest is dropped with a note).
 */
export function syslogMessages(id: LogId, text: string, prefixLength: number = syslogPrefixLength(undefined), bufsize: number = SYSLOG_BUFSIZE): string[] {
  const qid = id ?? 'NOQUEUE';
  let idlen = Buffer.byteLength(qid, 'utf8') + prefixLength;
  const s = str2prt(text); // printable ASCII from here on: characters are bytes
  if (s.length + idlen + 1 < bufsize) return [qid === '' ? s : `${qid}: ${s}`];

  const SL_SPLIT = 7;
  const out: string[] = [];
  let seq = 1;
  let begin = 0;
  idlen += 5; // "[999]"
  while (begin < s.length && s.length - begin + idlen > bufsize) {
    if (seq >= 999) break;
    const limit = begin + bufsize - idlen - SL_SPLIT;
    let end = limit;
    while (end > begin) {
      const c = s[end];
      if (c === ',' || c === ' ') {
        end++; // the separator stays with this part
        break;
      }
      end--;
    }
    if (end === begin) end = limit;
    out.push(`${qid}[${seq++}]: ${s.slice(begin, end)} ...`);
    begin = end;
  }
  if (seq >= 999) out.push(`${qid}[${seq}]: log terminated, too many parts`);
  else if (begin < s.length) out.push(`${qid}[${seq}]: ${s.slice(begin)}`);
  return out;
}

export interface LoggerOptions {
  /**
   * The -L label (at most 32 characters are used).  Without one the ident is
   * `sendmail`.
   */
  readonly label?: string;
  /** sendmail's LogLevel option; default 9. */
  readonly logLevel?: number;
  /** Where messages go; by default syslog when /dev/log exists, standard error otherwise. */
  readonly sink?: LogSink;
  /** syslog facility; default LOG_MAIL. */
  readonly facility?: number;
}

export interface OpenLoggerOptions extends LoggerOptions {
  /** The syslog socket whose existence selects syslog over standard error; default /dev/log. */
  readonly devLog?: string;
  /** Bindings to use instead of loading Postern's native addon. */
  readonly bindings?: SyslogBindings;
}

/** How a logger's messages leave the process. */
export type LogTransport = 'syslog' | 'stderr' | 'custom';

export class Logger {
  /** The syslog ident: the -L label, or `sendmail`. */
  readonly ident: string;
  readonly facility: number;
  readonly transport: LogTransport;
  /** Why syslog was not used, when transport is 'stderr'. */
  readonly fallbackReason: string | undefined;
  private level: number;
  private readonly sink: LogSink;
  private readonly prefixLength: number;

  constructor(options: LoggerOptions & { transport?: LogTransport; fallbackReason?: string } = {}) {
    const label = options.label === undefined ? undefined : options.label.slice(0, 32);
    this.ident = label ?? DEFAULT_IDENT;
    this.facility = options.facility ?? LOG_MAIL;
    this.level = options.logLevel ?? DEFAULT_LOG_LEVEL;
    this.prefixLength = syslogPrefixLength(label);
    if (options.sink) {
      this.sink = options.sink;
      this.transport = options.transport ?? 'custom';
    } else {
      this.sink = stderrSink(this.ident);
      this.transport = 'stderr';
    }
    this.fallbackReason = options.fallbackReason;
  }

  /** The LogLevel in force. */
  get logLevel(): number {
    return this.level;
  }

  /** Changes the LogLevel (the configuration is read after the logger is opened). */
  setLogLevel(level: number): void {
    this.level = level;
  }

  /** sendmail's `LogLevel > threshold`: whether a line gated at `threshold` is written. */
  at(threshold: number): boolean {
    return this.level > threshold;
  }

  /** sm_syslog(): writes unconditionally (the caller has checked the LogLevel, or the line is never gated). */
  syslog(priority: Priority, id: LogId, text: string): void {
    const level = PRIORITY[priority];
    for (const message of syslogMessages(id, text, this.prefixLength)) this.sink.write(level, message);
  }

  /** `if (LogLevel > threshold) sm_syslog(priority, id, text)`. */
  log(threshold: number, priority: Priority, id: LogId, text: string): void {
    if (this.at(threshold)) this.syslog(priority, id, text);
  }

  err(threshold: number, id: LogId, text: string): void {
    this.log(threshold, 'err', id, text);
  }
  warning(threshold: number, id: LogId, text: string): void {
    this.log(threshold, 'warning', id, text);
  }
  notice(threshold: number, id: LogId, text: string): void {
    this.log(threshold, 'notice', id, text);
  }
  info(threshold: number, id: LogId, text: string): void {
    this.log(threshold, 'info', id, text);
  }
  debug(threshold: number, id: LogId, text: string): void {
    this.log(threshold, 'debug', id, text);
  }

  /** The `from=` line of a message (LOG_INFO when LogLevel > 4). */
  logSender(id: LogId, e: SenderLogInput): void {
    this.info(4, id, senderLine(e));
  }

  /**
   * The `to=` line(s) of a delivery attempt (LOG_INFO): written when LogLevel
   * > 7 for a success, > 8 for a deferral (EX_TEMPFAIL), > 6 for a failure.
   */
  logDelivery(id: LogId, d: DeliveryLogInput): void {
    const rcode = d.rcode ?? 0;
    const threshold = rcode === 75 ? 8 : rcode === 0 ? 7 : 6;
    if (!this.at(threshold)) return;
    for (const line of deliveryLines(d)) this.syslog('info', id, line);
  }

  /** A policy ruleset's verdict (LOG_NOTICE when LogLevel > threshold; the check_* rulesets use 3). */
  logRuleset(id: LogId, r: RulesetLogInput, threshold = 3): void {
    this.notice(threshold, id, rulesetLine(r));
  }

  /** `ORIGQID: NEWQID: DSN: reason` (LOG_INFO when LogLevel > 5). */
  logReturn(id: LogId, r: ReturnLogInput): void {
    this.info(5, id, returnLine(r));
  }

  /** `QID: NEWQID: clone: owner=...` (LOG_INFO when LogLevel > 4). */
  logClone(id: LogId, newId: string, owner: string): void {
    this.info(4, id, cloneLine(newId, owner));
  }

  /** `alias database FILE rebuilt by USER` (LOG_NOTICE when LogLevel > 7, no queue id). */
  logAliasRebuilt(a: Parameters<typeof aliasRebuiltLine>[0]): void {
    this.notice(7, NOQID, aliasRebuiltLine(a));
  }

  /** `FILE: N aliases, longest N bytes, N bytes total` (LOG_INFO when LogLevel > 7, no queue id). */
  logAliasStats(a: Parameters<typeof aliasStatsLine>[0]): void {
    this.info(7, NOQID, aliasStatsLine(a));
  }

  /**
   * A user error as usrerr() logs it: `QID: <nobody@host>... User unknown`
   * (LOG_NOTICE when LogLevel > 3; sendmail logs these only while LogUsrErrs
   * is set, i.e. for SMTP MAIL/RCPT errors).
   */
  logUserError(id: LogId, to: string | null, text: string): void {
    this.notice(3, id, userErrorLine(to, text));
  }

  /** `CLIENT did not issue MAIL/EXPN/VRFY/ETRN during connection to DAEMON` (LOG_INFO when LogLevel > 5). */
  logNoTransaction(id: LogId, client: string, daemonName: string | null): void {
    this.info(5, id, noTransactionLine(client, daemonName));
  }

  /** `CLIENT: possible SMTP attack: command=C, count=N` (LOG_INFO when LogLevel > 5). */
  logSmtpAttack(id: LogId, client: string, command: string, count: number): void {
    this.info(5, id, smtpAttackLine(client, command, count));
  }

  close(): void {
    this.sink.close();
  }
}

/**
 * A logger writing to `options.sink`, or else through `options.bindings`
 * (syslog) when /dev/log exists, or else to standard error.  Synchronous: it
 * does not load the native addon itself (see openLogger).
 */
export function createLogger(options: OpenLoggerOptions = {}): Logger {
  if (options.sink) return new Logger(options);
  const ident = options.label === undefined ? DEFAULT_IDENT : options.label.slice(0, 32);
  const devLog = options.devLog ?? '/dev/log';
  if (!existsSync(devLog)) return new Logger({ ...options, fallbackReason: `${devLog} does not exist` });
  if (!options.bindings) return new Logger({ ...options, fallbackReason: 'no syslog bindings given' });
  try {
    const sink = syslogSink(options.bindings, ident, options.facility ?? LOG_MAIL);
    return new Logger({ ...options, sink, transport: 'syslog' });
  } catch (e) {
    return new Logger({ ...options, fallbackReason: `openlog failed: ${e instanceof Error ? e.message : String(e)}` });
  }
}

/** Postern's native addon's syslog calls, or why they cannot be had. */
export function loadSyslogBindings(): SyslogBindings | { unavailable: string } {
  try {
    const bindings = native();
    if (typeof bindings.openlog !== 'function' || typeof bindings.syslog !== 'function' || typeof bindings.closelog !== 'function') {
      return { unavailable: 'the native addon has no openlog/syslog/closelog (rebuild it: npm install)' };
    }
    return bindings;
  } catch (e) {
    return { unavailable: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * The logger a program opens at start-up, as sendmail calls openlog(): syslog
 * through the native addon when /dev/log exists, standard error otherwise
 * (`transport` and `fallbackReason` say which and why).
 */
export function openLogger(options: OpenLoggerOptions = {}): Logger {
  if (options.sink || options.bindings) return createLogger(options);
  const devLog = options.devLog ?? '/dev/log';
  if (!existsSync(devLog)) return createLogger(options);
  const bindings = loadSyslogBindings();
  if ('unavailable' in bindings) return new Logger({ ...options, fallbackReason: bindings.unavailable });
  return createLogger({ ...options, bindings });
}
