/**
 * Reading RFC 822 address text as sendmail's prescan() does, for the SMTP
 * commands' addresses and the aliases file's targets alike: a backslash
 * quotes the character after it everywhere (inside a comment too, so `\)`
 * does not end one), "quoted strings" keep their parentheses and at signs.
 */

/** Drops (comments) outside quoted strings; a `)` with no comment open is kept. */
export function stripComments(s: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      if (depth === 0) out += c + s[i + 1];
      i++;
    } else if (quoted) {
      out += c;
      if (c === '"') quoted = false;
    } else if (c === '(') depth++;
    else if (c === ')' && depth > 0) depth--;
    else if (depth === 0) {
      if (c === '"') quoted = true;
      out += c;
    }
  }
  return out;
}

/** The index of the last `@` outside quoted strings, or -1. */
export function lastAtOutsideQuotes(s: string): number {
  let quoted = false;
  let at = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === '@' && !quoted) at = i;
  }
  return at;
}
