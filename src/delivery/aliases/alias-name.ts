/**
 * The left-hand side of an alias line, turned into the key sendmail stores.
 *
 * sendmail parses the name as an address (parseaddr with ':' as the
 * delimiter) and keys the alias by the local user it resolves to.  What that
 * means in practice, as Debian's 8.17 does it (measured against its
 * newaliases):
 *   - comments in parentheses are dropped; `Name <user>` keys `user`;
 *   - blanks between two words become BlankSub (`foo bar` → `foo.bar`),
 *     blanks next to a special character vanish (`a . b` → `a.b`);
 *   - a quoted local part is unquoted when nothing in it needs the quotes
 *     (`"x"` → `x`, `"a b"` stays);
 *   - `user@host` keys `user` when host is this host, and is refused otherwise,
 *     as are `a%b` and `a!b` (they route elsewhere);
 *   - the key is lower-cased (ASCII only);
 *   - a ':' inside quotes or angle brackets does not end the name, and an
 *     unclosed quote or angle bracket is closed at the end of the line (with
 *     a complaint), so `quo"te: x` keys `quo"te: x"`.
 * Strings here are "binary" (latin1): one character per byte of the file.
 */

export interface NameProblem {
  /** `Unbalanced '<'` and friends: printed, change nothing else. */
  readonly kind: 'notice' | 'user' | 'system';
  readonly text: string;
}

export interface ParsedName {
  /** The key, or undefined when the line is refused. */
  readonly key: string | undefined;
  /** The name as written (up to the ':' that ends it), trimmed: what messages quote. */
  readonly written: string;
  /** Offset of the character after the name in the line. */
  readonly end: number;
  readonly problems: NameProblem[];
}

const SPECIALS = '()<>@,;:\\".[]';
const isBlank = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\v' || c === '\f';

interface Token {
  readonly text: string;
  /** an atom or quoted string (blanks between two of these become BlankSub) */
  readonly word: boolean;
  readonly blankBefore: boolean;
}

interface Scan {
  tokens: Token[];
  end: number;
  problems: NameProblem[];
  /** an unclosed '(' makes the name illegal */
  failed: boolean;
  /** tokens inside the last <...>, when there was one */
  angle: Token[] | undefined;
}

/** sendmail's prescan, as far as alias names need it. */
function scan(line: string): Scan {
  const out: Scan = { tokens: [], end: line.length, problems: [], failed: false, angle: undefined };
  let angle: Token[] | undefined;
  let blank = false;
  let i = 0;
  const push = (t: Token) => (angle ?? out.tokens).push(t);
  const unbalanced = (c: string) => out.problems.push({ kind: 'notice', text: `Unbalanced '${c}'` });
  while (i < line.length) {
    const c = line[i]!;
    if (isBlank(c)) {
      blank = true;
      i++;
      continue;
    }
    if (c === ':' && angle === undefined) {
      out.end = i;
      break;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < line.length && line[j] !== '"') j += line[j] === '\\' ? 2 : 1;
      let quoted = line.slice(i, Math.min(j + 1, line.length));
      if (j >= line.length) {
        unbalanced('"');
        quoted += '"';
      }
      push({ text: quoted, word: true, blankBefore: blank });
      i = j + 1;
    } else if (c === '(') {
      let depth = 0;
      let j = i;
      for (; j < line.length; j++) {
        if (line[j] === '\\') j++;
        else if (line[j] === '(') depth++;
        else if (line[j] === ')' && --depth === 0) break;
      }
      if (j >= line.length) {
        unbalanced('(');
        out.failed = true;
        out.end = line.length;
        return out;
      }
      i = j + 1;
      continue; // a comment separates like a blank
    } else if (c === ')' || (c === '>' && angle === undefined)) {
      unbalanced(c);
      i++;
    } else if (c === '<') {
      angle = [];
      i++;
    } else if (c === '>') {
      out.angle = angle;
      angle = undefined;
      i++;
    } else if (c === '\\') {
      push({ text: line.slice(i, i + 2), word: true, blankBefore: blank });
      i += 2;
    } else if (SPECIALS.includes(c)) {
      push({ text: c, word: false, blankBefore: blank });
      i++;
    } else {
      let j = i;
      while (j < line.length && !isBlank(line[j]!) && !SPECIALS.includes(line[j]!)) j++;
      push({ text: line.slice(i, j), word: true, blankBefore: blank });
      i = j;
    }
    blank = false;
  }
  if (angle !== undefined) {
    unbalanced('<');
    out.angle = angle;
  }
  return out;
}

function join(tokens: readonly Token[], blankSub: string): string {
  let s = '';
  tokens.forEach((t, n) => {
    if (n > 0 && t.blankBefore && t.word && tokens[n - 1]!.word) s += blankSub;
    s += t.text;
  });
  return s;
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** `"x"` → `x` when the quotes protect nothing. */
function unquote(local: string): string {
  if (local.length < 2 || !local.startsWith('"') || !local.endsWith('"')) return local;
  const inner = local.slice(1, -1);
  return inner === '' || /[\s"\\()<>@,;:[\]]/.test(inner) ? local : inner;
}

export function parseAliasName(line: string, blankSub: string, isLocalDomain: (domain: string) => boolean): ParsedName {
  const s = scan(line);
  const written = line.slice(0, s.end).trim();
  const problems = [...s.problems];
  const refuse = (text?: string, kind: NameProblem['kind'] = 'system'): ParsedName => {
    if (text !== undefined) problems.push({ kind, text });
    return { key: undefined, written, end: s.end, problems };
  };
  const tokens = s.angle ?? s.tokens;
  if (s.failed || tokens.length === 0) return refuse('illegal alias name');
  if (tokens.length === 1 && tokens[0]!.text === '@') return { key: '', written, end: s.end, problems };
  const ats = tokens.flatMap((t, n) => (t.text === '@' ? [n] : []));
  const nonLocal = 'cannot alias non-local names';
  if (tokens.some((t) => t.text === ',') || ats.length > 1) {
    problems.push({ kind: 'user', text: 'Invalid route address' });
    return refuse(nonLocal);
  }
  const localTokens = ats.length === 0 ? tokens : tokens.slice(0, ats[0]);
  if (ats.length === 1) {
    const domain = lowerAscii(join(tokens.slice(ats[0]! + 1), blankSub)).replace(/\.$/, '');
    if (domain === '') {
      problems.push({ kind: 'user', text: 'Hostname required' });
      return refuse(nonLocal);
    }
    if (!isLocalDomain(domain)) return refuse(nonLocal);
  }
  const local = unquote(join(localTokens, blankSub));
  if (local === '' || local === '""') {
    problems.push({ kind: 'user', text: 'User address required' });
    return refuse(nonLocal);
  }
  // % and ! route the address to another host (the percent hack, UUCP)
  if (/^[^"]*[%!]/.test(local) && !local.startsWith('"')) return refuse(nonLocal);
  return { key: lowerAscii(local), written, end: s.end, problems };
}
