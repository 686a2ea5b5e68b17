/**
 * S and R lines.  Postern routes natively, so rules are checked the way
 * sendmail checks them when reading and then kept as written (LHS, RHS and
 * comment, split on tabs) for tools and for later use.
 *
 * Ruleset names: `Sname` gets a free number counting down from 199, `Sname=N`
 * fixes it, `SN` is a plain number below 100.
 */
import type { Config, RulesetRef } from './types.js';
import { ValueError } from './values.js';

const MAX_NUMBERED = 100; // MAXRWSETS / 2
const MAX_MATCH = 9;

export interface RulesetState {
  /** Next number for a named ruleset (counts down). */
  next: number;
  /** The ruleset R lines go to, or -1. */
  current: number;
}

export function newRulesetState(): RulesetState {
  return { next: 200, current: -1 };
}

const isAlpha = (c: string): boolean => /^[A-Za-z]$/.test(c);
const isWordChar = (c: string): boolean => /^[A-Za-z0-9_]$/.test(c);

/**
 * sendmail's strtorwset() with "enter": a ruleset number or name (created if
 * new; `name=N` gives it a number).  Returns the reference and where the
 * name ended; throws ValueError with sendmail's text.
 */
export function enterRuleset(config: Config, state: RulesetState, text: string): { ref: RulesetRef; end: number } {
  let p = 0;
  while (text[p] === ' ' || text[p] === '\t') p++;
  const c = text[p] ?? '';
  if (c >= '0' && c <= '9') {
    const start = p;
    while (p < text.length && text[p]! >= '0' && text[p]! <= '9') p++;
    const n = parseInt(text.slice(start, p), 10);
    if (n >= MAX_NUMBERED) throw new ValueError(`bad ruleset ${n} (${MAX_NUMBERED} max)`);
    ensure(config, n);
    return { ref: { name: String(n), number: n }, end: p };
  }
  const q = p;
  while (p < text.length && isWordChar(text[p]!)) p++;
  if (p === q || !isAlpha(text[q] ?? '')) throw new ValueError(`invalid ruleset name: "${text.slice(q, q + 20)}"`);
  const name = text.slice(q, p);
  while (text[p] === ' ' || text[p] === '\t') p++;
  const existing = config.rulesetNames.get(name);
  let number: number;
  let end = p;
  if (text[p] === '=') {
    let r = p + 1;
    while (text[r] === ' ' || text[r] === '\t') r++;
    if (!(text[r]! >= '0' && text[r]! <= '9')) {
      throw new ValueError(`bad ruleset definition "${text.slice(q)}" (number required after \`=')`);
    }
    const start = r;
    while (r < text.length && text[r]! >= '0' && text[r]! <= '9') r++;
    number = parseInt(text.slice(start, r), 10);
    if (number >= MAX_NUMBERED) {
      throw new ValueError(`bad ruleset number ${number} in "${text.slice(q)}" (${MAX_NUMBERED} max)`);
    }
    end = r;
  } else if (existing !== undefined) {
    number = existing;
  } else {
    number = --state.next;
    if (number < MAX_NUMBERED) throw new ValueError(`${name}: too many named rulesets (${MAX_NUMBERED} max)`);
  }
  if (existing !== undefined && existing !== number) {
    throw new ValueError(`${name}: ruleset changed value (old ${existing}, new ${number})`);
  }
  config.rulesetNames.set(name, number);
  const rs = ensure(config, number);
  rs.name = name;
  return { ref: { name, number }, end };
}

function ensure(config: Config, n: number): NonNullable<ReturnType<Config['rulesets']['get']>> {
  let rs = config.rulesets.get(n);
  if (rs === undefined) {
    rs = { number: n, name: null, rules: [] };
    config.rulesets.set(n, rs);
  }
  return rs;
}

/** An S line (text after the S).  Returns a warning text when the ruleset already has rules. */
export function startRuleset(config: Config, state: RulesetState, text: string): string | null {
  state.current = -1;
  const { ref } = enterRuleset(config, state, text);
  state.current = ref.number;
  const rs = config.rulesets.get(ref.number)!;
  return rs.rules.length > 0 ? `WARNING: Ruleset ${text} has multiple definitions` : null;
}

/** An R line (the whole line, R included).  Throws ValueError; may report several problems. */
export function addRule(config: Config, state: RulesetState, line: string, lineNo: number, errors: string[]): void {
  if (state.current < 0) throw new ValueError(`missing valid ruleset for "${line}"`);
  const tab = line.indexOf('\t');
  if (tab < 0) throw new ValueError(`invalid rewrite line "${line}" (tab expected)`);
  const lhs = line.slice(1, tab);
  let p = tab;
  while (line[p] === '\t') p++;
  const rtab = line.indexOf('\t', p);
  const rhs = rtab < 0 ? line.slice(p) : line.slice(p, rtab);
  let comment = rtab < 0 ? '' : line.slice(rtab);
  comment = comment.replace(/^\t+/, '');
  const fuzzy = checkLhs(lhs, errors);
  if (fuzzy > MAX_MATCH) errors.push('R line: too many wildcards');
  checkRhs(rhs, fuzzy, errors);
  config.rulesets.get(state.current)!.rules.push({ lhs, rhs, comment, line: lineNo });
}

/** The `$` operators of a rule side: [operator character, index after the operator and its name]. */
function* operators(side: string): Generator<[string, number]> {
  let i = side.indexOf('$');
  while (i >= 0 && i + 1 < side.length) {
    const op = side[i + 1]!;
    let end = i + 2;
    if (op === '$') {
      i = side.indexOf('$', end);
      continue;
    }
    if ('=~&'.includes(op) || op === '{') {
      const at = op === '{' ? i + 1 : i + 2;
      if (side[at] === '{') {
        const close = side.indexOf('}', at);
        end = close < 0 ? side.length : close + 1;
      } else end = at + 1;
    }
    yield [op, end];
    i = side.indexOf('$', end);
  }
}

function checkLhs(lhs: string, errors: string[]): number {
  let fuzzy = 0;
  for (const [op] of operators(lhs)) {
    if ('*+-=~'.includes(op)) fuzzy++;
    else if (op >= '1' && op <= '9') errors.push('Inappropriate use of $1-$9 on LHS');
    else if (':>[]()'.includes(op)) errors.push(`Inappropriate use of $${op} on LHS`);
  }
  return fuzzy;
}

function checkRhs(rhs: string, fuzzy: number, errors: string[]): void {
  let inMap = false;
  let endToken = '';
  let args = 0;
  for (const [op] of operators(rhs)) {
    if (op >= '0' && op <= '9') {
      if (op === '0' || Number(op) > fuzzy) errors.push(`replacement $${op} out of bounds`);
    } else if ('*+-=~'.includes(op)) {
      errors.push(`Inappropriate use of $${op} on RHS`);
    } else if (op === '@') {
      if (inMap && ++args >= 10) errors.push('too many arguments for map lookup');
    } else if (op === '[' || op === '(') {
      if (inMap) errors.push('cannot nest map lookups');
      inMap = true;
      endToken = op === '[' ? ']' : ')';
      args = 0;
    } else if (op === ']' || op === ')') {
      if (op === endToken) {
        inMap = false;
        endToken = '';
      }
    }
  }
  if (inMap) errors.push('missing map closing token');
}
