/**
 * C, T and F lines: word classes.
 *
 *   Cwlocalhost                        words (macros expanded as the file is read)
 *   Troot daemon                       trusted users: class t
 *   Fw -o /etc/mail/local-host-names   words of a file (-o: may be missing),
 *   Ft /etc/mail/trusted-users %[^#]   optionally through a scanf format
 *   F{x}|/usr/bin/prog                 a program: recorded, not run
 *   F{x}key@hash:/etc/mail/map         a map lookup: recorded, not done
 */
import { readInput } from './inputs.js';
import { expandMacros, parseMacroName } from './macros.js';
import type { Config } from './types.js';
import { ValueError, errnoText, isSpace, words } from './values.js';

export function addToClass(config: Config, name: string, list: readonly string[]): void {
  let set = config.classes.get(name);
  if (set === undefined) {
    set = new Set();
    config.classes.set(name, set);
  }
  for (const w of list) set.add(w);
}

/** A C line (text after the C). */
export function classLine(config: Config, text: string): void {
  const m = parseMacroName(text);
  if ('error' in m) throw new ValueError(m.error);
  addToClass(config, m[0], words(expandMacros(m[1], config.macros, { keepDeferred: true })));
}

/** A T line (text after the T). */
export function trustedLine(config: Config, text: string): void {
  addToClass(config, 't', words(text));
}

/** An F line (text after the F).  Reads the file now; throws ValueError (with `exit`) on failure. */
export function fileClassLine(config: Config, text: string, lineNo: number): void {
  const m = parseMacroName(text);
  if ('error' in m) throw new ValueError(m.error);
  const className = m[0];
  let p = m[1];
  let i = 0;
  while (i < p.length && isSpace(p[i]!)) i++;
  p = p.slice(i);
  let optional = false;
  if (p.startsWith('-o')) {
    optional = true;
    let j = 0;
    while (j < p.length && !isSpace(p[j]!)) j++;
    while (j < p.length && isSpace(p[j]!)) j++;
    p = p.slice(j);
  }
  if (isMapSpec(p)) {
    config.classSources.push({ className, kind: 'map', source: p, format: '%s', optional, line: lineNo });
    addToClass(config, className, []);
    return;
  }
  const [file, rest, ok] = quotedWord(p);
  if (!ok) throw new ValueError(`illegal filename '${p}'`);
  if (file.startsWith('|')) {
    config.classSources.push({ className, kind: 'program', source: file.slice(1), format: '%s', optional, line: lineNo });
    addToClass(config, className, []);
    return;
  }
  const format = rest.replace(/^\s+/, '') || '%s';
  if (file === '') throw new ValueError('fileclass: missing file name');
  config.classSources.push({ className, kind: 'file', source: file, format, optional, line: lineNo });
  let content: string;
  try {
    content = readInput(file);
  } catch (e) {
    addToClass(config, className, []);
    if (optional) return;
    throw new ValueError(`fileclass: cannot open '${file}': ${errnoText(e)}`, 71);
  }
  const found: string[] = [];
  for (const line of content.split('\n')) {
    if (line === '' || line[0] === '#') continue;
    const match = scanOne(line + '\n', format);
    if (match !== null) found.push(...words(match));
  }
  addToClass(config, className, found);
}

/** `[key]@map:spec` or `@LDAP` (not a path, not a program). */
function isMapSpec(p: string): boolean {
  if (p.startsWith('/') || p.startsWith('|')) return false;
  const at = p.indexOf('@');
  if (at < 0) return false;
  const q = p.slice(at + 1);
  return q === 'LDAP' || (q[0] !== ':' && q.includes(':'));
}

/** sendmail's extrquotstr() with a space delimiter: [word, rest, quotes balanced]. */
function quotedWord(p: string): [string, string, boolean] {
  let out = '';
  let quoted = false;
  let backslash = false;
  let i = 0;
  for (; i < p.length; i++) {
    const c = p[i]!;
    if (backslash) {
      backslash = false;
      if (c !== ' ') out += '\\';
    }
    if (c === '\\') backslash = true;
    else if (c === '"') quoted = !quoted;
    else if (quoted || c !== ' ') out += c;
    else break;
  }
  return [out, p.slice(i), !(quoted || backslash)];
}

/**
 * The first conversion of a scanf format applied to a line, enough for the
 * formats class files use: literal text, white space, %s, %[set], %[^set],
 * widths and %*-suppression.  Null when the line does not match.
 */
export function scanOne(line: string, format: string): string | null {
  let li = 0;
  let fi = 0;
  while (fi < format.length) {
    const fc = format[fi]!;
    if (isSpace(fc)) {
      while (fi < format.length && isSpace(format[fi]!)) fi++;
      while (li < line.length && isSpace(line[li]!)) li++;
      continue;
    }
    if (fc !== '%' || format[fi + 1] === '%') {
      if (line[li] !== fc) return null;
      li++;
      fi += fc === '%' ? 2 : 1;
      continue;
    }
    fi++;
    const suppress = format[fi] === '*';
    if (suppress) fi++;
    let width = 0;
    while (format[fi]! >= '0' && format[fi]! <= '9') width = width * 10 + Number(format[fi++]);
    const conv = format[fi++];
    let taken: string;
    if (conv === 's') {
      while (li < line.length && isSpace(line[li]!)) li++;
      const start = li;
      while (li < line.length && !isSpace(line[li]!) && (width === 0 || li - start < width)) li++;
      taken = line.slice(start, li);
    } else if (conv === '[') {
      let negate = false;
      if (format[fi] === '^') {
        negate = true;
        fi++;
      }
      let set = '';
      if (format[fi] === ']') set += format[fi++];
      while (fi < format.length && format[fi] !== ']') set += format[fi++];
      fi++;
      const start = li;
      while (li < line.length && set.includes(line[li]!) !== negate && (width === 0 || li - start < width)) li++;
      taken = line.slice(start, li);
    } else {
      return null; // a conversion class files do not use
    }
    if (taken === '') return null;
    if (!suppress) return taken;
  }
  return null;
}
