/**
 * The sendmail.cf reader.
 *
 *   loadConfig(path, opts?) → { config, warnings, problems, unsafe }
 *       Reads and checks a .cf (sendmail.cf or submit.cf).  Throws
 *       ConfigError (a PosternError: CONFIG_CANNOT_OPEN, CONFIG_SYNTAX,
 *       CONFIG_UNKNOWN_OPTION, CONFIG_BAD_VALUE, CONFIG_MISSING,
 *       CONFIG_UNSAFE) whose `message` holds every error line as sendmail
 *       prints it (`file: line 12: unknown configuration line "Zfoo"`),
 *       `problems` all problems, `exitStatus` sendmail's exit code.
 *       opts.commandLineOptions: -O/-o settings (see parseOptionArgument());
 *         they are applied first and made "sticky" as sendmail does, so they
 *         win over the file (PrivacyOptions and DontBlameSendmail add up).
 *         An error in them stops before the file is read, except in 'check'
 *         and 'test' mode.
 *       opts.commandLineMacros: -M settings; the file's D lines override
 *         them, as in sendmail.
 *       opts.mode: 'daemon' (-bd -bD -bs: InputMailFilters must be defined),
 *         'test' (-bt: no local mailer / QueueDirectory required),
 *         'check' (-bC), 'other' (default).
 *       opts.refuseUnsafe: a group/world-writable file (or unsafe directory
 *         path) is a CONFIG_UNSAFE error (exit 78) instead of a warning; set
 *         it when not running as root.
 *       opts.frozen: this build's identity; the file's parse is taken from
 *         its frozen form beside it when there is a trustworthy one, and
 *         left there when running as root (frozen.ts).  The result is the
 *         same as without it.
 *   checkConfig(path, opts?) → Problem[]        for `sendmail -bC`
 *   problemsExitCode(problems) → number          exit status for them
 *   setOption(config, name, value) → string[]    set one option afterwards
 *   parseOptionArgument('O' | 'o', arg)          a -O / -o argument
 *   optionNames(), formatOptionNames()           `sendmail -bO` (stdout, exit 0)
 *   optionTable()                                names, letters, kinds, safe-for-users
 *   expandMacros(text, macros, opts?)            $-notation at run time
 *
 * Printing problems as sendmail does: `message` of each, in order; the
 * CONFIG_UNSAFE permission warning on stderr, everything else on stdout.
 * User and group names (RunAsUser, DefaultUser, TrustedUser, U=) are kept
 * as written: resolving them is the caller's job.
 *
 * The parsed structures (Config, Options, Mailer, MapDef, MilterDef,
 * HeaderDef, Ruleset, QueueGroup, Problem...) are in types.ts.
 */
import { parseConfigText, openConfigFile } from './cf-reader.js';
import { checkFilesystem, finishConfig, type LoadMode } from './check.js';
import { newConfig } from './defaults.js';
import { freeze, thaw } from './frozen.js';
import { recordInputs } from './inputs.js';
import { newStickyState, setOptionText, type StickyState } from './options-parse.js';
import { lookupLetter } from './options-table.js';
import { ConfigError, Reporter } from './problems.js';
import type { Config, Problem } from './types.js';

export { expandMacros, type ExpandOptions, type MacroLookup } from './macros.js';
export { formatOptionNames, optionNames, optionTable, type OptionInfo } from './options-table.js';
export { ConfigError, problemsExitCode } from './problems.js';
export { defaultOptions } from './defaults.js';
export type { LoadMode } from './check.js';
export * from './types.js';

/** One -O or -o setting. */
export interface CommandLineOption {
  /** Long name (with `.suboption` where allowed) or, with form 'letter', the option letter. */
  readonly name: string;
  readonly value: string;
  /** Default: 'letter' when name is a single character, else 'long'. */
  readonly form?: 'long' | 'letter';
}

export interface LoadOptions {
  readonly commandLineOptions?: ReadonlyArray<CommandLineOption>;
  readonly commandLineMacros?: ReadonlyArray<{ readonly name: string; readonly value: string }>;
  readonly mode?: LoadMode;
  readonly refuseUnsafe?: boolean;
  /**
   * This build's identity: take the frozen parse of the file when there is
   * a trustworthy one, and leave one when running as root (see frozen.ts).
   */
  readonly frozen?: string;
}

export interface LoadResult {
  readonly config: Config;
  /** Warning messages, as sendmail would print them. */
  readonly warnings: string[];
  /** The same warnings with their details. */
  readonly problems: Problem[];
  /** The file (or its directory path) may be changed by someone other than root. */
  readonly unsafe: boolean;
}

/** `-O Name=value` → ('O', 'Name=value'); `-oQ/var/spool` → ('o', 'Q/var/spool'). */
export function parseOptionArgument(flag: 'O' | 'o', arg: string): CommandLineOption {
  if (flag === 'o') return { name: arg.slice(0, 1), value: arg.slice(1), form: 'letter' };
  const eq = arg.indexOf('=');
  return { name: eq < 0 ? arg : arg.slice(0, eq), value: eq < 0 ? '' : arg.slice(eq + 1), form: 'long' };
}

function applyCommandLine(config: Config, opts: LoadOptions, sticky: StickyState): Reporter {
  const report = new Reporter(null);
  for (const m of opts.commandLineMacros ?? []) config.macros.set(m.name, m.value);
  for (const o of opts.commandLineOptions ?? []) {
    const form = o.form ?? (o.name.length === 1 ? 'letter' : 'long');
    const text = form === 'letter' ? o.name + o.value : `${o.name}=${o.value}`;
    setOptionText({ config, report, sticky, fromCommandLine: true }, text, form);
  }
  return report;
}

type ReadResult = { config: Config; problems: Problem[]; unsafe: boolean; opened: boolean };

/** Reads everything; never throws for configuration problems. */
function read(path: string, opts: LoadOptions): ReadResult {
  const mode = opts.mode ?? 'other';
  if (opts.frozen !== undefined && commandLineKeepsOrder(opts)) {
    const quick = readThroughFrozen(path, opts, mode, opts.frozen);
    if (quick !== null) return quick;
  }
  const config = newConfig(path);
  const sticky = newStickyState();
  const cmd = applyCommandLine(config, opts, sticky);
  if (cmd.errors().length > 0 && mode !== 'check' && mode !== 'test') {
    return { config, problems: cmd.problems, unsafe: false, opened: false };
  }
  const report = new Reporter(path);
  const file = openConfigFile(path, report);
  const problems = [...cmd.problems];
  if (file === null) return { config, problems: [...problems, ...report.problems], unsafe: false, opened: false };
  if (file.safety.unsafe && opts.refuseUnsafe === true) {
    for (const w of report.problems) {
      problems.push(w.code === 'CONFIG_UNSAFE' ? { ...w, severity: 'error', exit: 78 } : w);
    }
    return { config, problems, unsafe: true, opened: false };
  }
  parseConfigText(file.text, config, report, sticky);
  finishConfig(config, report, mode);
  return { config, problems: [...problems, ...report.problems], unsafe: file.safety.unsafe, opened: true };
}

/**
 * Options whose command-line setting replaces the file's whole, and that
 * nothing else in the file reads: for them, applying the command line after
 * the file (as a frozen parse must) gives what sendmail's order, command
 * line first and sticky, gives.  The ones cron, PHP, mutt and git set:
 * -i/-oi, -oem and the other -oe, -odq/-odi/-odb, -m/-om.
 */
const FROZEN_OPTIONS = new Set(['ignoredots', 'errormode', 'deliverymode', 'metoo']);

function commandLineKeepsOrder(opts: LoadOptions): boolean {
  if ((opts.commandLineMacros ?? []).length > 0) return false;
  return (opts.commandLineOptions ?? []).every((o) => {
    const form = o.form ?? (o.name.length === 1 ? 'letter' : 'long');
    const info = form === 'letter' ? lookupLetter(o.name) : null;
    const name = info === null ? o.name : 'error' in info ? '' : info.name;
    return FROZEN_OPTIONS.has(name.toLowerCase());
  });
}

/**
 * The file's parse taken from its frozen form, or made and (as root) frozen,
 * then the command line and the final checks on top.  Null sends the caller
 * down the usual path, which reports whatever this one met: an unsafe file,
 * a problem in the file or in the command line.
 */
function readThroughFrozen(path: string, opts: LoadOptions, mode: LoadMode, build: string): ReadResult | null {
  const report = new Reporter(path);
  const file = openConfigFile(path, report);
  if (file === null || file.safety.unsafe || report.problems.length > 0) return null;
  let config = thaw(path, file.text, build);
  if (config === null) {
    const parsed = recordInputs(() => {
      const fresh = newConfig(path);
      parseConfigText(file.text, fresh, report, newStickyState());
      return fresh;
    });
    if (report.problems.length > 0) return null;
    config = parsed.result;
    freeze(path, file.text, parsed.inputs, config, build);
  }
  if (applyCommandLine(config, opts, newStickyState()).problems.length > 0) return null;
  finishConfig(config, report, mode);
  return { config, problems: report.problems, unsafe: false, opened: true };
}

/** Reads a .cf; see the top of this file. */
export function loadConfig(path: string, opts: LoadOptions = {}): LoadResult {
  const { config, problems, unsafe } = read(path, opts);
  if (problems.some((p) => p.severity === 'error')) throw new ConfigError(problems);
  return { config, warnings: problems.map((p) => p.message), problems, unsafe };
}

/**
 * `sendmail -bC`: every problem of the file, in the order sendmail prints
 * them (the permission warning goes to stderr, the rest to stdout), with
 * the queue directory and host status directory checked too.
 */
export function checkConfig(path: string, opts: Omit<LoadOptions, 'mode' | 'refuseUnsafe'> = {}): Problem[] {
  const { config, problems, opened } = read(path, { ...opts, mode: 'check' });
  if (!opened) return problems;
  const report = new Reporter(null);
  checkFilesystem(config, report);
  return [...problems, ...report.problems];
}

/**
 * Sets one option on a loaded configuration (long name, `Name.sub`, or a
 * single letter).  Returns warnings; throws ConfigError on a bad name or value.
 */
export function setOption(config: Config, name: string, value: string): string[] {
  const report = new Reporter(null);
  const form = name.length === 1 ? 'letter' : 'long';
  setOptionText(
    { config, report, sticky: newStickyState(), fromCommandLine: true },
    form === 'letter' ? name + value : `${name}=${value}`,
    form,
  );
  if (report.errors().length > 0) throw new ConfigError(report.problems);
  return report.warnings().map((p) => p.message);
}
