/**
 * The smaller cf lines: D (macro), H (header), P (precedence), Q (queue
 * group), E (environment), V (version).
 */
import { enterRuleset, type RulesetState } from './rulesets.js';
import { macroNameAt, munch, parseMacroName } from './macros.js';
import type { Config, QueueGroup } from './types.js';
import { ValueError, isSpace, parseTime } from './values.js';

/** D line (text after the D). */
export function defineMacro(config: Config, text: string): void {
  const m = parseMacroName(text);
  if ('error' in m) throw new ValueError(m.error);
  config.macros.set(m[0], munch(m[1], 0, '')[0]);
}

/** H line (text after the H). */
export function defineHeader(config: Config, rulesets: RulesetState, text: string, lineNo: number): void {
  const syntax = (): ValueError => new ValueError(`header syntax error, line "${text}"`);
  let p = 0;
  let mailerFlags: string | null = null;
  let macroCondition: string | null = null;
  if (text[0] === '?') {
    const q = text.indexOf('?', 1);
    if (q < 0) throw syntax();
    const cond = text.slice(1, q);
    if (cond.startsWith('$')) {
      const m = macroNameAt(cond, 1);
      if (m === null || m[0] === '' || m[1] !== cond.length) throw syntax();
      macroCondition = m[0];
    } else {
      for (const c of cond) if (c.charCodeAt(0) > 127) throw syntax();
      mailerFlags = cond;
    }
    p = q + 1;
  }
  const start = p;
  while (p < text.length && text.charCodeAt(p) > 32 && text.charCodeAt(p) < 127 && text[p] !== ':') p++;
  const name = text.slice(start, p);
  while (p < text.length && isSpace(text[p]!)) p++;
  if (text[p] !== ':' || name === '') throw syntax();
  const value = text.slice(p + 1).replace(/^[ \t]+/, '');
  const call = /^\s*\$>(\+?)/.exec(value);
  if (call !== null) {
    // HName: $>ruleset -- a check ruleset for the header, not a header to add
    const { ref } = enterRuleset(config, rulesets, value.slice(call[0].length));
    if (ref.number > 0) {
      config.headerChecks.set(name.toLowerCase(), { header: name, ruleset: ref.name, stripComments: call[1] !== '+' });
    }
    return;
  }
  config.headers.push({ name, value, mailerFlags, macroCondition, line: lineNo });
}

/** P line (text after the P); false when it is not a precedence line at all. */
export function definePrecedence(config: Config, text: string): boolean {
  const eq = text.indexOf('=');
  if (eq < 0) return false;
  if (config.precedences.size >= 25) throw new ValueError('too many P lines, 25 max');
  config.precedences.set(text.slice(0, eq), parseInt(text.slice(eq + 1), 10) || 0);
  return true;
}

/** E line (text after the E). */
export function defineEnvironment(config: Config, text: string): void {
  const eq = text.indexOf('=');
  if (eq < 0) config.environment.set(text, null);
  else config.environment.set(text.slice(0, eq), text.slice(eq + 1));
}

/** V line (text after the V).  Sets the level and vendor; level 6 and up turn ColonOkInAddr off. */
export function setVersion(config: Config, text: string): void {
  let p = 0;
  while (p < text.length && isSpace(text[p]!)) p++;
  if (!(text[p]! >= '0' && text[p]! <= '9')) throw new ValueError(`invalid argument to V line: "${text.slice(0, 20)}"`);
  const start = p;
  while (p < text.length && text[p]! >= '0' && text[p]! <= '9') p++;
  config.configLevel = parseInt(text.slice(start, p), 10);
  if (config.configLevel >= 6) config.options.ColonOkInAddr = false;
  if (text[p] === '/') {
    const vendor = /^[A-Za-z]*/.exec(text.slice(p + 1))![0];
    const known = ['Berkeley', 'Postern'].find((v) => v.toLowerCase() === vendor.toLowerCase());
    if (known === undefined) throw new ValueError(`invalid V line vendor code: "${vendor}"`);
    config.vendor = known;
  }
}

/** Q line (text after the Q).  Returns warnings. */
export function defineQueueGroup(config: Config, text: string, lineNo: number, errors: string[]): string[] {
  const warnings: string[] = [];
  if (text === '') throw new ValueError('name required for queue');
  let p = 0;
  while (p < text.length && text[p] !== ',' && !isSpace(text[p]!)) p++;
  const name = text.slice(0, p);
  if (p < text.length) p++;
  const q: QueueGroup = {
    name,
    path: null,
    flags: new Set(),
    interval: 0,
    nice: config.options.NiceQueueRun,
    runners: null,
    maxJobs: 0,
    maxRecipients: 0,
    line: lineNo,
  };
  while (p < text.length) {
    while (p < text.length && (text[p] === ',' || isSpace(text[p]!))) p++;
    if (p >= text.length) break;
    const code = text[p]!;
    while (p < text.length && text[p] !== '=' && text[p] !== ',') p++;
    if (text[p] !== '=') throw new ValueError(`queue ${name}: \`=' expected`);
    p++;
    while (p < text.length && isSpace(text[p]!)) p++;
    const [value, end] = munch(text, p, ',');
    p = end;
    switch (code) {
      case 'P':
        if (value === '') errors.push(`queue ${name}: empty path name`);
        else q.path = value;
        break;
      case 'F':
        for (const c of value) if (!isSpace(c)) q.flags.add(c);
        break;
      case 'I':
        q.interval = parseTime(value, 'm');
        break;
      case 'N':
        q.nice = parseInt(value, 10) || 0;
        break;
      case 'R': {
        const r = parseInt(value, 10) || 0;
        const max = config.options.MaxQueueChildren;
        if (max > 0 && r > max) {
          warnings.push(`Q=${name}: R=${r} exceeds MaxQueueChildren=${max}, set to MaxQueueChildren`);
          q.runners = max;
        } else q.runners = r;
        break;
      }
      case 'J':
        q.maxJobs = parseInt(value, 10) || 0;
        break;
      case 'r':
        q.maxRecipients = parseInt(value, 10) || 0;
        break;
      default:
        errors.push(`Q${name}: unknown queue equate ${code}=`);
    }
  }
  if (config.queueGroups.size >= 50 && !config.queueGroups.has(name)) {
    throw new ValueError('too many queue groups defined (50 max)');
  }
  if (q.path === null) {
    if (config.options.QueueDirectory === null || config.options.QueueDirectory === '') {
      throw new ValueError('QueueDir must be defined before queue groups');
    }
    q.path = config.options.QueueDirectory;
  }
  if ((q.runners ?? 0) > 1 && !q.flags.has('f')) {
    warnings.push(`Warning: Q=${name}: R=${q.runners}: multiple queue runners specified\n\tbut flag 'f' is not set`);
  }
  config.queueGroups.set(name, q);
  return warnings;
}
