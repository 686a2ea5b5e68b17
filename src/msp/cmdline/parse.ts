/**
 * The sendmail 8.17 command line: every flag, in the order and with the
 * messages and exit codes sendmail gives (sendmail/main.c).  Parsing never
 * prints; it returns what to print, to which stream, and the exit status so
 * far, so the caller decides when to stop.
 */
import { basename } from 'node:path';
import { ERR, PosternError } from '../../common/errors.js';
import { EX } from '../../common/sysexits.js';
import { OptionScanner, rewriteObsoleteForms } from './getopt.js';
import { parseQueueRun } from './queue-run.js';
import { Report } from './report.js';
import {
  OP_MODES,
  initialMode,
  modeLetter,
  type Diagnostic,
  type Invocation,
  type OptionSetting,
} from './invocation.js';

/**
 * Checks one option setting against the option table: the notices sendmail
 * prints for it (an abbreviated name) and the error it reports, if any
 * (sendmail's setoption reports through syserr, exit 70).
 */
export type OptionChecker = (setting: OptionSetting) => { readonly notices: readonly string[]; readonly error?: PosternError };

export interface ParseResult {
  readonly invocation: Invocation;
  readonly output: Diagnostic[];
  /** sendmail's ExitStat after the command line: 0 when nothing went wrong */
  readonly exitStatus: number;
  /** set when sendmail would exit right here (finis), before reading any configuration */
  readonly stop: boolean;
  /** error codes reported, in order (the tests' handle on what happened) */
  readonly errors: readonly string[];
}

/** An invocation with nothing given: what `argv0` alone asks for. */
export function newInvocation(argv0: string): Invocation {
  const programName = basename(argv0);
  return {
    argv0,
    programName,
    mode: initialMode(programName),
    configChoice: 'by-mode',
    configFile: undefined,
    gateway: false,
    options: [],
    macros: [],
    sender: undefined,
    senderFlag: undefined,
    fullName: undefined,
    hopCount: undefined,
    bodyType: undefined,
    dsnNotify: undefined,
    notify: undefined,
    dsnReturn: undefined,
    envid: undefined,
    recipientsFromHeaders: false,
    noAliasing: false,
    initialSubmission: false,
    protocol: undefined,
    protocolHost: undefined,
    queueRun: undefined,
    quarantineReason: undefined,
    debug: [],
    debugFile: undefined,
    trafficLog: undefined,
    syslogLabel: undefined,
    operands: [],
  };
}

export function parseCommandLine(argv0: string, rawArgs: readonly string[], checkOption: OptionChecker): ParseResult {
  const inv = newInvocation(argv0);
  const report = new Report();
  const done = (stop: boolean): ParseResult => ({
    invocation: inv,
    output: report.output,
    exitStatus: report.exitStatus,
    stop,
    errors: report.errors,
  });

  const args = rewriteObsoleteForms(rawArgs);
  if (args === null) {
    report.usage(ERR.USAGE_BAD_VALUE, 'Can not use -Q.');
    return done(true);
  }

  // First pass: the operation mode, -L, and whether a queue run is asked for.
  const first = new OptionScanner(argv0, args, false);
  for (let r = first.next(); r.kind !== 'end'; r = first.next()) {
    if (r.kind !== 'option') continue;
    if (r.letter === 'b') {
      const letter = r.arg === undefined ? ' ' : (r.arg[0] ?? '\0');
      if (letter === 'z') {
        report.usage(ERR.USAGE_INVALID_MODE, 'Frozen configurations unsupported');
        return done(true);
      }
      if (!(letter in OP_MODES) || letter === 'q') {
        report.usage(ERR.USAGE_INVALID_MODE, `Invalid operation mode ${letter}`);
        return done(true);
      }
      inv.mode = OP_MODES[letter as keyof typeof OP_MODES];
      if (inv.mode === 'showconfig') return done(true);
    } else if (r.letter === 'L') {
      if (r.arg === undefined) {
        report.usage(ERR.USAGE_MISSING_ARGUMENT, "option requires an argument -- 'L'");
        return done(true);
      }
      inv.syslogLabel = sanitizeLabel(r.arg.slice(0, 32));
    }
  }

  // Second pass: everything else, reporting errors as sendmail does.
  const second = new OptionScanner(argv0, args, true);
  for (let r = second.next(); ; r = second.next()) {
    if (r.kind === 'end') {
      inv.operands.push(...args.slice(r.operandIndex));
      break;
    }
    if (r.kind !== 'option') {
      report.output.push({ stream: 'stderr', text: r.message });
      report.errors.push(r.kind === 'illegal' ? ERR.USAGE_ILLEGAL_OPTION.code : ERR.USAGE_MISSING_ARGUMENT.code);
      report.exitStatus = EX.USAGE;
      return done(true);
    }
    const arg = r.arg ?? '';
    switch (r.letter) {
      case 'b':
      case 'L':
        break; // taken in the first pass
      case 'A':
        inv.configChoice = arg[0] === 'c' ? 'submit' : 'sendmail';
        break;
      case 'B':
        inv.bodyType = arg;
        break;
      case 'C':
        inv.configFile = arg;
        break;
      case 'd':
        inv.debug.push(arg);
        break;
      case 'D':
        if (inv.debug.length > 0) {
          report.system(new PosternError(ERR.USAGE_BAD_VALUE, '-D file must be before -d'));
          report.exitStatus = EX.USAGE;
        } else {
          inv.debugFile = arg;
        }
        break;
      case 'f':
      case 'r':
        if (inv.sender !== undefined) {
          report.usage(ERR.USAGE_SENDER_TWICE, 'More than one "from" person');
          break;
        }
        inv.sender = arg === '' ? '<>' : arg.replace(/\n/g, ' ');
        inv.senderFlag = r.letter;
        break;
      case 'F':
        inv.fullName = arg;
        break;
      case 'G':
        inv.gateway = true;
        break;
      case 'h':
        parseHopCount(inv, arg, report);
        break;
      case 'n':
        inv.noAliasing = true;
        break;
      case 'N':
        parseNotify(inv, arg, report);
        break;
      case 'o':
        setOption(inv, { letter: arg[0] ?? '\0', text: arg.slice(1) }, checkOption, report);
        break;
      case 'O':
        setOption(inv, { letter: ' ', text: arg }, checkOption, report);
        break;
      case 'p':
        parseProtocol(inv, arg);
        break;
      case 'Q':
        if (inv.mode !== 'deliver' && inv.mode !== 'queuerun') {
          report.usage(ERR.USAGE_NOT_PERMITTED, `Can not use -Q with -b${modeLetter(inv.mode)}`);
          break;
        }
        inv.mode = 'queuerun';
        inv.fullName = undefined;
        inv.quarantineReason = arg;
        break;
      case 'q':
        parseQueueRun(inv, arg, report);
        break;
      case 'R':
        if (inv.dsnReturn !== undefined) {
          report.usage(ERR.USAGE_BAD_VALUE, 'Duplicate -R flag');
          break;
        }
        if (arg.toLowerCase() === 'hdrs') inv.dsnReturn = 'hdrs';
        else if (arg.toLowerCase() === 'full') inv.dsnReturn = 'full';
        else {
          inv.dsnReturn = 'full';
          report.usage(ERR.USAGE_BAD_VALUE, 'Invalid -R value');
        }
        break;
      case 't':
        inv.recipientsFromHeaders = true;
        break;
      case 'U':
        inv.initialSubmission = true;
        break;
      case 'V':
        if (!isXtext(arg)) report.usage(ERR.USAGE_BAD_VALUE, 'Invalid syntax in -V flag');
        else inv.envid = arg;
        break;
      case 'X':
        inv.trafficLog = arg;
        break;
      case 'c':
      case 'i':
      case 'm':
      case 'T':
      case 'v':
        setOption(inv, { letter: r.letter, text: 'T' }, checkOption, report);
        break;
      case 'e':
        setOption(inv, { letter: 'e', text: arg }, checkOption, report);
        break;
      case 'M':
        defineMacro(inv, arg, report);
        break;
      case 's':
        setOption(inv, { letter: 'f', text: 'T' }, checkOption, report);
        break;
      case 'I':
        // sendmail 8.17 keeps -I (initialise the alias DBM file) only in DBM builds;
        // Debian's exits 64 without a word.  Say why instead.
        report.usage(ERR.USAGE_ILLEGAL_OPTION, `${argv0}: -I is not supported; use -bi or newaliases`);
        return done(true);
      default:
        report.usage(ERR.USAGE_ILLEGAL_OPTION, `${argv0}: illegal option -- ${r.letter}`);
        return done(true);
    }
  }

  const fatal = report.exitStatus !== 0 && inv.mode !== 'test' && inv.mode !== 'checkconfig';
  return done(fatal);
}

/** sendmail replaces what syslog could misread in a -L tag. */
function sanitizeLabel(label: string): string {
  return label.replace(/[^\x20-\x7e]|%/g, '*');
}

function setOption(inv: Invocation, setting: OptionSetting, check: OptionChecker, report: Report): void {
  const { notices, error } = check(setting);
  for (const text of notices) report.output.push({ stream: 'stdout', text });
  if (error !== undefined) {
    report.system(error);
    return;
  }
  inv.options.push(setting);
}

/** -M xvalue or -M{name}value, as sendmail's M option. */
function defineMacro(inv: Invocation, arg: string, report: Report): void {
  let name: string;
  let value: string;
  if (arg.startsWith('{')) {
    const close = arg.indexOf('}');
    if (close < 0) {
      // sendmail's macid() complains, then the option cannot find the macro
      report.system(new PosternError(ERR.CONFIG_BAD_VALUE, `Unbalanced { on ${arg.slice(1)}`));
      report.system(new PosternError(ERR.CONFIG_BAD_VALUE, 'Unable to assign macro/class ID (mid = 0xffffffff)'));
      return;
    }
    name = arg.slice(1, close);
    value = arg.slice(close + 1);
  } else {
    name = arg[0] ?? '';
    value = arg.slice(1);
  }
  if (name === '') {
    report.system(new PosternError(ERR.CONFIG_BAD_VALUE, 'Macro name required'));
    return;
  }
  inv.macros.push({ name, value });
}

/** -h N: C strtol semantics, then truncated to a short as sendmail stores it. */
function parseHopCount(inv: Invocation, arg: string, report: Report): void {
  const m = /^[\t\n\v\f\r ]*[+-]?\d+/.exec(arg);
  const consumed = m === null ? 0 : m[0].length;
  const value = m === null ? 0 : Number.parseInt(m[0], 10);
  inv.hopCount = ((((value + 32768) % 65536) + 65536) % 65536) - 32768;
  if (consumed < arg.length) report.usage(ERR.USAGE_BAD_VALUE, `Bad hop count (${arg})`);
}

function parseNotify(inv: Invocation, arg: string, report: Report): void {
  inv.dsnNotify = arg;
  const notify = inv.notify ?? { success: false, failure: false, delay: false, never: false };
  inv.notify = notify;
  if (arg.toLowerCase() === 'never') {
    notify.never = true;
    return;
  }
  for (const word of arg.split(',')) {
    const w = word.toLowerCase();
    if (w === 'success') notify.success = true;
    else if (w === 'failure') notify.failure = true;
    else if (w === 'delay') notify.delay = true;
    else report.usage(ERR.USAGE_BAD_VALUE, 'Invalid -N argument');
  }
}

/** -p protocol[:host] sets $r and $s; control characters are dropped as sendmail's cleanstrcpy does. */
function parseProtocol(inv: Invocation, arg: string): void {
  const colon = arg.indexOf(':');
  const proto = colon < 0 ? arg : arg.slice(0, colon);
  const host = colon < 0 ? '' : arg.slice(colon + 1);
  const clean = (s: string) => s.replace(/[^\x20-\x7e]/g, '');
  if (host !== '') inv.protocolHost = clean(host);
  if (proto !== '') inv.protocol = clean(proto);
}

/** RFC 3461 xtext, as sendmail's xtextok checks a -V envelope id. */
export function isXtext(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b) {
      if (!/^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) return false;
      i += 2;
    } else if (c < 0x21 || c > 0x7e || c === 0x3d) {
      return false;
    }
  }
  return true;
}
