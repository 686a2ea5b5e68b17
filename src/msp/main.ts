/**
 * `sendmail` and its other names: the command line, the configuration it
 * selects, sendmail's checks of who may do what, then the operation mode.
 * The order of these steps is sendmail's (main.c), because the order decides
 * which error a caller sees first.
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import { BUILD_ID } from '../common/build-id.js';
import { errnoText } from '../config/values.js';
import { ERR, PosternError } from '../common/errors.js';
import { EX } from '../common/sysexits.js';
import { ConfigError, checkConfig, formatOptionNames, loadConfig, problemsExitCode, type Config, type Problem } from '../config/index.js';
import { configPath, type Invocation } from './cmdline/invocation.js';
import { parseCommandLine } from './cmdline/parse.js';
import { checkOptionSetting, commandLineOptions } from './command-options.js';
import type { ModeTable } from './mode-table.js';
import { emit, processOutput, writeRaw, type Output } from './output.js';
import { checkPermissions, callerIdentity, isTrusted } from './permissions.js';
import { DEFAULT_LOG_LEVEL, NOQID, openLogger, type Logger } from '../common/log.js';
import { versionReport, wantsVersionReport } from './version.js';

/** Where sendmail's configuration lives (sendmail's _DIR_SENDMAILCF). */
export const CONFIG_DIR = '/etc/mail';

export async function main(argv0: string, args: readonly string[], modes: ModeTable, out: Output = processOutput): Promise<number> {
  const parsed = parseCommandLine(argv0, args, checkOptionSetting);
  if (!modes.covers(parsed.invocation.mode)) return modes.handOver();
  emit(out, parsed.output);
  const inv = parsed.invocation;
  const caller = callerIdentity();
  // until a configuration is read, sendmail logs at its default LogLevel
  let logLevel = DEFAULT_LOG_LEVEL;
  const log = lazyLogger(inv, () => logLevel);
  const syserr = (message: string) => log().log(0, 'crit', null, `SYSERR(${caller.name.startsWith('Unknown UID ') ? `UID${caller.uid}` : caller.name}): ${message}`);
  for (const d of parsed.output) if (d.systemError) syserr(d.text);
  if (inv.mode === 'showconfig') {
    writeRaw(out, formatOptionNames());
    return EX.OK;
  }
  if (parsed.stop) return parsed.exitStatus;

  for (const file of [inv.debugFile, inv.trafficLog]) {
    const problem = file === undefined ? undefined : cannotAppend(file);
    if (problem !== undefined) {
      out.stdout(problem);
      if (file === inv.trafficLog) syserr(problem);
      return EX.CANTCREAT;
    }
  }

  const cfPath = configPath(inv, CONFIG_DIR, existsSync);
  const daemonStyle = inv.mode === 'daemon' || inv.mode === 'fgdaemon';
  const say = (p: { message: string; kind: 'system' | 'user' }) => {
    out.stdout(daemonStyle ? `${p.kind === 'system' ? '451 4.0.0' : '550'} ${p.message}\r` : p.message);
    if (p.kind === 'system') syserr(p.message);
  };

  const printed = parsed.output.map((d) => d.text);
  if (inv.mode === 'checkconfig') {
    const problems = checkConfig(cfPath, configInputs(inv));
    if (wantsVersionReport(inv.debug)) await reportVersion(cfPath, inv, out);
    printProblems(problems, printed, out, say);
    return problems.length === 0 ? parsed.exitStatus : problemsExitCode(problems);
  }

  let config: Config;
  try {
    const loaded = loadConfig(cfPath, {
      ...configInputs(inv),
      mode: inv.mode === 'test' ? 'test' : daemonStyle || inv.mode === 'smtp' ? 'daemon' : 'other',
      refuseUnsafe: caller.uid !== 0,
      // the submission, which cron and PHP start for every message, reads submit.cf frozen
      ...(inv.mode === 'deliver' ? { frozen: BUILD_ID } : {}),
    });
    printProblems(loaded.problems, printed, out, say);
    config = loaded.config;
    logLevel = config.options.LogLevel;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    printProblems(e.problems, printed, out, say);
    return e.exitStatus;
  }

  if (wantsVersionReport(inv.debug)) for (const line of await versionLines(config)) out.stdout(line);

  let exitStatus: number = parsed.exitStatus;
  const usage = (err: PosternError) => {
    say({ message: err.message, kind: 'user' });
    exitStatus = err.exit;
  };
  if (inv.bodyType !== undefined && !/^(7bit|8bitmime)$/i.test(inv.bodyType)) {
    usage(new PosternError(ERR.USAGE_BAD_VALUE, `Illegal body type ${inv.bodyType}`));
  }
  if (inv.syslogLabel !== undefined && !isTrusted(config, caller)) {
    log().warning(1, NOQID, `user ${caller.uid} changed syslog label`);
  }
  const denial = checkPermissions(inv, config, caller);
  if (denial !== undefined) {
    log().log(1, 'alert', NOQID, denial.logText);
    usage(denial);
    return denial.exit;
  }
  if (exitStatus !== EX.OK && inv.mode !== 'test') return exitStatus;

  return modes.run(inv, config, caller, out, { cfPath, commandLine: [inv.argv0, ...args], log: log(), syserr });
}

/** -d0.1 with -bC: the report needs the macros of a configuration that may not load cleanly. */
async function reportVersion(cfPath: string, inv: Invocation, out: Output): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(cfPath, { ...configInputs(inv), mode: 'check' }).config;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return;
  }
  for (const line of await versionLines(config)) out.stdout(line);
}

/** The -d0.1 report; loaded when asked for, as it needs node:os, which a submission does not. */
async function versionLines(config: Config): Promise<string[]> {
  const { systemIdentity } = await import('../common/identity.js');
  return versionReport(config, systemIdentity());
}

/** The logger is opened on first use, so a run that logs nothing never loads the addon. */
function lazyLogger(inv: Invocation, logLevel: () => number): () => Logger {
  let logger: Logger | undefined;
  return () => {
    logger ??= openLogger({ label: inv.syslogLabel, logLevel: logLevel() });
    logger.setLogLevel(logLevel());
    return logger;
  };
}

/** -D and -X name files sendmail appends to; it stops at once when it cannot. */
function cannotAppend(file: string): string | undefined {
  try {
    closeSync(openSync(file, 'a', 0o600));
    return undefined;
  } catch (e) {
    return `cannot open ${file}: ${errnoText(e)}`;
  }
}

function configInputs(inv: Invocation) {
  return { commandLineOptions: commandLineOptions(inv.options), commandLineMacros: inv.macros };
}

/**
 * Problems with -O/-o settings were printed while the command line was
 * parsed, and the configuration reader meets them again: print each once.
 */
function printProblems(
  problems: readonly Problem[],
  alreadyPrinted: readonly string[],
  out: Output,
  say: (p: { message: string; kind: 'system' }) => void,
): void {
  const pending = [...alreadyPrinted];
  for (const p of problems) {
    const seen = p.file === null ? pending.indexOf(p.message) : -1;
    if (seen >= 0) {
      pending.splice(seen, 1);
      continue;
    }
    // errors are sendmail's syserr (printed and logged); warnings are only printed
    if (p.severity === 'error') say({ message: p.message, kind: 'system' });
    else if (p.code === 'CONFIG_UNSAFE') out.stderr(p.message);
    else out.stdout(p.message);
  }
}

