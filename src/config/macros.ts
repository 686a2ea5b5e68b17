/**
 * sendmail's $-notation.  Postern keeps strings in the notation of the .cf
 * file and expands them when they are used:
 *
 *   $x  ${name}      the value of macro x / {name} (nothing when unset);
 *                    a value is itself expanded, up to 10 levels deep
 *   $&x              deferred: kept as written while the .cf is read,
 *                    the current value at run time
 *   $?x A $| B $.    A when x is set and not empty, else B (nests)
 *   $$               a literal dollar
 *   $* $+ $- $=c $~c $# $@ $: $> $[ $] $( $) $0-$9
 *                    rewriting-rule operators: kept as written
 */

/** Where expandMacros() finds values. */
export type MacroLookup = ReadonlyMap<string, string> | ((name: string) => string | undefined);

export interface ExpandOptions {
  /** Keep `$&x` as written (what reading the .cf does); default false: expand it. */
  readonly keepDeferred?: boolean;
}

const MAX_DEPTH = 10;
/** Operators that are macros "defined as themselves" in sendmail; `=` and `~` take a class name. */
const OPERATORS = '*+-#@:>[]()0123456789';

/** The macro name at text[i] (just after `$`, `$&`, `$?`...): [name, index after it], or null. */
export function macroNameAt(text: string, i: number): [string, number] | null {
  if (i >= text.length) return null;
  if (text[i] !== '{') return [text[i]!, i + 1];
  const close = text.indexOf('}', i + 1);
  if (close < 0) return null;
  return [text.slice(i + 1, close), close + 1];
}

function valueOf(lookup: MacroLookup, name: string): string | undefined {
  return typeof lookup === 'function' ? lookup(name) : lookup.get(name);
}

/** Expands the $-notation in `text` with the given macros. */
export function expandMacros(text: string, macros: MacroLookup, opts: ExpandOptions = {}): string {
  if (text.indexOf('$') < 0) return text;
  return expand(text, macros, opts.keepDeferred === true, 0);
}

function expand(text: string, macros: MacroLookup, keepDeferred: boolean, depth: number): string {
  let out = '';
  let skipping = false;
  let skipLevel = 0;
  let ifLevel = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const dollar = text.indexOf('$', i);
    const stop = dollar < 0 ? n : dollar;
    if (!skipping && stop > i) out += text.slice(i, stop);
    if (dollar < 0 || dollar + 1 >= n) {
      if (dollar >= 0 && !skipping) out += '$';
      break;
    }
    const op = text[dollar + 1]!;
    i = dollar + 2;
    switch (op) {
      case '$':
        if (!skipping) out += '$';
        continue;
      case '?': {
        const m = macroNameAt(text, i);
        if (m === null) break;
        i = m[1];
        ifLevel++;
        if (skipping) skipLevel++;
        else {
          const v = valueOf(macros, m[0]);
          skipping = v === undefined || v === '';
        }
        continue;
      }
      case '|':
        if (ifLevel === 0) break;
        if (skipLevel === 0) skipping = !skipping;
        continue;
      case '.':
        if (ifLevel === 0) break;
        ifLevel--;
        if (skipLevel === 0) skipping = false;
        else skipLevel--;
        continue;
      case '&': {
        const m = macroNameAt(text, i);
        if (m === null) break;
        i = m[1];
        if (skipping) continue;
        if (keepDeferred) out += text.slice(dollar, i);
        else out += insert(valueOf(macros, m[0]), macros, keepDeferred, depth);
        continue;
      }
      case '=':
      case '~': {
        const m = macroNameAt(text, i);
        if (m !== null) i = m[1];
        if (!skipping) out += text.slice(dollar, i);
        continue;
      }
      default:
        if (OPERATORS.includes(op)) {
          if (!skipping) out += '$' + op;
          continue;
        }
        {
          const m = macroNameAt(text, dollar + 1);
          if (m === null) break;
          i = m[1];
          if (!skipping) out += insert(valueOf(macros, m[0]), macros, keepDeferred, depth);
          continue;
        }
    }
    // not an operator we know in this position: keep it as written
    if (!skipping) out += text.slice(dollar, i);
  }
  return out;
}

function insert(value: string | undefined, macros: MacroLookup, keepDeferred: boolean, depth: number): string {
  if (value === undefined || value === '') return '';
  if (value.indexOf('$') < 0 || depth >= MAX_DEPTH) return value;
  return expand(value, macros, keepDeferred, depth + 1);
}

// ---------------------------------------------------------------- reading helpers

export interface Translated {
  /** The line with comments removed and trailing white space stripped. */
  readonly text: string;
  /** Problems with macro names (sendmail's wording). */
  readonly errors: string[];
}

/**
 * What sendmail does to every cf line before looking at it: from
 * configuration level 3 on, `#` after the first column starts a comment
 * (white space before it goes too; `\#` is a literal `#`, `$#` an operator);
 * `${name}` references are checked; trailing white space is removed.
 */
export function translateLine(line: string, stripComments: boolean): Translated {
  let errors: string[] | null = null;
  let text = line;
  let i = 0;
  // most lines have neither a comment nor a {name}: nothing to look at but the end
  if (line.indexOf('{') < 0 && (!stripComments || line.indexOf('#', 1) < 0)) i = line.length;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '#' && i > 0 && stripComments) {
      if (text[i - 1] === '\\') {
        text = text.slice(0, i - 1) + text.slice(i);
        continue; // the '#' is now at i - 1 and stays
      }
      let start = i;
      while (start > 0 && (text[start - 1] === ' ' || text[start - 1] === '\t')) start--;
      const nl = text.indexOf('\n', i);
      text = nl < 0 ? text.slice(0, start) : text.slice(0, start) + text.slice(nl);
      i = start + 1;
      continue;
    }
    if (c !== '$' || i + 1 >= text.length) {
      i++;
      continue;
    }
    let j = i + 1;
    if (text[j] === '$') {
      i = j + 1;
      continue;
    }
    if ('=~&?'.includes(text[j]!)) j++;
    if (text[j] === '{') {
      const problem = checkBraceName(text, j);
      if (problem !== null) (errors ??= []).push(...problem.errors);
      i = problem === null ? text.indexOf('}', j) + 1 : problem.end;
    } else {
      i = j + 1;
    }
  }
  let end = text.length;
  while (end > 0 && isBlank(text.charCodeAt(end - 1))) end--;
  return { text: end === text.length ? text : text.slice(0, end), errors: errors ?? [] };
}

function isBlank(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/** Checks `{name}` at text[j]; null when well formed. */
function checkBraceName(text: string, j: number): { errors: string[]; end: number } | null {
  const errors: string[] = [];
  let k = j + 1;
  let name = '';
  while (k < text.length && text[k] !== '}') {
    const ch = text[k]!;
    if (isNameChar(ch)) name += ch;
    else errors.push(`Invalid macro/class character ${ch}`);
    k++;
  }
  if (k >= text.length) {
    errors.push(`Unbalanced { on ${name}`);
    return { errors, end: k };
  }
  if (k === j + 1) return { errors: ['Name required for macro/class'], end: k + 1 };
  return errors.length === 0 ? null : { errors, end: k + 1 };
}

export function isNameChar(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/**
 * A macro or class name at the start of `s` as D, C, F lines and
 * `Milter.macros` take it: one character, or `{name}` (`{x}` is `x`).
 * Returns [name, rest] or an error text.
 */
export function parseMacroName(s: string): [string, string] | { error: string } {
  if (s === '' || s.startsWith('{}')) return { error: 'Name required for macro/class' };
  if (s[0] !== '{') return [s[0]!, s.slice(1)];
  const close = s.indexOf('}');
  if (close < 0) return { error: `Unbalanced { on ${s.slice(1)}` };
  const name = s.slice(1, close);
  for (const ch of name) if (!isNameChar(ch)) return { error: `Invalid macro/class character ${ch}` };
  return [name, s.slice(close + 1)];
}

/** `$x` or `${name}` for a macro name, as written in the .cf. */
export function macroRef(name: string): string {
  return name.length === 1 ? '$' + name : '${' + name + '}';
}

/**
 * sendmail's munchstring(): a field value up to an unquoted `delim`
 * (`""` to take the whole rest), with `"` quoting removed and backslash
 * escapes (\r \n \f \b, any other character literally) resolved.
 * Returns the value and the index of the delimiter (or the end).
 */
export function munch(s: string, start: number, delim: string): [string, number] {
  let out = '';
  let quoted = false;
  let i = start;
  for (; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      const e = s[++i]!;
      out += e === 'r' ? '\r' : e === 'n' ? '\n' : e === 'f' ? '\f' : e === 'b' ? '\b' : e;
    } else if (c === '\\') {
      // a trailing backslash escapes nothing
    } else if (c === '"') quoted = !quoted;
    else if (quoted || c !== delim || delim === '') out += c;
    else break;
  }
  return [out, i];
}
