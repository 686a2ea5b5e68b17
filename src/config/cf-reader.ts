/**
 * Reading a sendmail.cf: opening it the way sendmail does (and warning about
 * dangerous permissions), folding continuation lines, stripping comments,
 * and handing each line to the parser of its first letter.
 */
import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ERR } from '../common/errors.js';
import { classLine, fileClassLine, trustedLine } from './classes.js';
import { defineEnvironment, defineHeader, defineMacro, definePrecedence, defineQueueGroup, setVersion } from './lines.js';
import { translateLine, expandMacros } from './macros.js';
import { defineMailer } from './mailers.js';
import { parseMapLine } from './maps.js';
import { parseMilterLine, type LineError } from './milters.js';
import { setOptionText, type StickyState } from './options-parse.js';
import { Reporter } from './problems.js';
import { addRule, newRulesetState, startRuleset, type RulesetState } from './rulesets.js';
import type { Config } from './types.js';
import { ValueError, errnoText } from './values.js';

/** What opening the file found about its safety. */
export interface FileSafety {
  /** Group- or world-writable file, or a directory on its path anyone but root may change. */
  readonly unsafe: boolean;
}

/**
 * Opens and reads the file.  A file that cannot be opened or is not a plain
 * file is an error (`file: line 0: cannot open: ...`, exit 72); dangerous
 * permissions are warnings.
 */
export function openConfigFile(path: string, report: Reporter): { text: string; safety: FileSafety } | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    report.line = 0;
    report.error(ERR.CONFIG_CANNOT_OPEN, `cannot open: ${errnoText(e)}`);
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      report.line = 0;
      report.error(ERR.CONFIG_CANNOT_OPEN, 'not a plain file');
      return null;
    }
    let unsafe = false;
    if ((st.mode & 0o022) !== 0) {
      unsafe = true;
      report.fileProblem('warning', ERR.CONFIG_UNSAFE, 'WARNING: dangerous write permissions', 0);
    }
    const dir = unsafeDirectory(path);
    if (dir !== null) {
      unsafe = true;
      report.fileProblem('warning', ERR.CONFIG_UNSAFE, `WARNING: unsafe directory path ${dir}`, 0);
    }
    return { text: readFileSync(fd, 'utf8'), safety: { unsafe } };
  } catch (e) {
    report.line = 0;
    report.error(ERR.CONFIG_CANNOT_OPEN, `cannot open: ${errnoText(e)}`);
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * The first directory above the file that a user other than root could
 * change: group- or world-writable without the sticky bit, or owned by
 * someone else.  (sendmail does not check this for its .cf; Postern warns.)
 */
function unsafeDirectory(path: string): string | null {
  let dir = dirname(resolve(path));
  for (;;) {
    try {
      const st = statSync(dir);
      const writable = (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0;
      if (writable || (st.uid !== 0 && st.uid !== process.getuid?.())) return dir;
    } catch {
      return null;
    }
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

export interface ParseState {
  readonly config: Config;
  readonly report: Reporter;
  readonly sticky: StickyState;
  readonly rulesets: RulesetState;
  /** Filters named by X lines, usable or not (a second definition is an error either way). */
  readonly milterNames: Set<string>;
}

/** Parses the text of a .cf into `config`, reporting problems as sendmail words them. */
export function parseConfigText(text: string, config: Config, report: Reporter, sticky: StickyState): void {
  const state: ParseState = { config, report, sticky, rulesets: newRulesetState(), milterNames: new Set() };
  let pos = 0;
  let lineNo = 0;
  const n = text.length;
  while (pos < n) {
    // one logical line: physical lines joined while the next one starts with a space or tab
    let end = pos;
    let logical = '';
    for (;;) {
      const nl = text.indexOf('\n', end);
      if (nl < 0) {
        logical += text.slice(end);
        end = n;
        break;
      }
      lineNo++;
      const next = text.charCodeAt(nl + 1);
      if (next === 32 || next === 9) {
        logical += text.slice(end, nl + 1);
        end = nl + 1;
        continue;
      }
      logical += text.slice(end, nl);
      end = nl + 1;
      break;
    }
    pos = end;
    if (logical.indexOf('\r') >= 0) logical = logical.replace(/\r\n/g, '\n').replace(/\r$/, '');
    report.line = lineNo;
    if (logical[0] === '#') continue;
    parseLine(state, logical);
  }
}

function parseLine(state: ParseState, raw: string): void {
  const { config, report } = state;
  const { text, errors } = translateLine(raw, config.configLevel >= 3);
  for (const e of errors) report.error(ERR.CONFIG_SYNTAX, e);
  if (text === '') return;
  const rest = text.slice(1);
  try {
    switch (text[0]) {
      case 'R': {
        const problems: string[] = [];
        addRule(config, state.rulesets, text, report.line, problems);
        for (const p of problems) report.error(ERR.CONFIG_SYNTAX, p);
        return;
      }
      case 'S': {
        const warning = startRuleset(config, state.rulesets, expandMacros(rest, config.macros, { keepDeferred: true }));
        if (warning !== null) report.warn(warning, false, ERR.CONFIG_SYNTAX);
        return;
      }
      case 'D':
        defineMacro(config, rest);
        return;
      case 'H':
        defineHeader(config, state.rulesets, rest, report.line);
        return;
      case 'C':
        classLine(config, rest);
        return;
      case 'T':
        trustedLine(config, rest);
        return;
      case 'F':
        fileClassLine(config, rest, report.line);
        return;
      case 'M': {
        const out = { errors: [] as string[], warnings: [] as string[] };
        defineMailer(config, state.rulesets, rest, report.line, out);
        for (const e of out.errors) report.error(ERR.CONFIG_SYNTAX, e);
        for (const w of out.warnings) report.warn(w, false, ERR.CONFIG_SYNTAX);
        return;
      }
      case 'O':
        setOptionText(
          { config, report, sticky: state.sticky, fromCommandLine: false },
          rest[0] === ' ' ? rest.slice(1) : rest,
          rest[0] === ' ' ? 'long' : 'letter',
        );
        return;
      case 'P':
        if (!definePrecedence(config, rest)) unknownLine(state, text);
        return;
      case 'Q': {
        const errors: string[] = [];
        const warnings = defineQueueGroup(config, rest, report.line, errors);
        for (const e of errors) report.error(ERR.CONFIG_SYNTAX, e);
        for (const w of warnings) report.warn(w, false, ERR.CONFIG_SYNTAX);
        return;
      }
      case 'V':
        setVersion(config, rest);
        return;
      case 'K': {
        const map = parseMapLine(expandMacros(rest, config.macros, { keepDeferred: true }), report.line);
        config.maps.set(map.name, map);
        return;
      }
      case 'E':
        defineEnvironment(config, rest);
        return;
      case 'X': {
        const errors: LineError[] = [];
        const { milter, name } = parseMilterLine(rest, report.line, errors);
        for (const e of errors) report.error(ERR.CONFIG_SYNTAX, e.text, e.exit);
        if (name === null) return;
        if (state.milterNames.has(name)) report.error(ERR.CONFIG_SYNTAX, `X${name}: duplicate filter definition`);
        else {
          state.milterNames.add(name);
          if (milter !== null) config.milters.set(name, milter);
        }
        return;
      }
      default:
        unknownLine(state, text);
    }
  } catch (e) {
    if (!(e instanceof ValueError)) throw e;
    const cls = text[0] === 'F' && e.exit === 71 ? ERR.CONFIG_CANNOT_OPEN : ERR.CONFIG_SYNTAX;
    report.error(cls, e.message, e.exit);
  }
}

function unknownLine(state: ParseState, text: string): void {
  state.report.error(ERR.CONFIG_SYNTAX, `unknown configuration line "${text}"`);
}
