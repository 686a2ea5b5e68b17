/**
 * Value syntaxes shared by options and cf lines: booleans, numbers, sendmail
 * time intervals, octal modes, users.  Each parser returns the value or
 * throws a ValueError whose text is what sendmail would print.
 *
 * Postern is stricter than sendmail's atoi()/atobool() here: sendmail reads
 * `LogLevel=abc` as 0 and `SevenBitInput=yes please`... as true; Postern
 * rejects a value it cannot read as a clear CONFIG_BAD_VALUE.
 */
import type { UserSpec } from './types.js';

/** A bad value; `exit` is sendmail's exit status for it when that is not 70. */
export class ValueError extends Error {
  constructor(
    message: string,
    readonly exit = 70,
  ) {
    super(message);
  }
}

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

export function parseBool(option: string, value: string): boolean {
  const v = value.trim();
  if (v === '') return true; // "O UseMSP" alone means true, as in sendmail
  const c = v[0]!;
  if ('tTyY'.includes(c)) return true;
  if ('fFnN'.includes(c)) return false;
  throw new ValueError(`readcf: option ${option}: invalid boolean value "${value}"`);
}

/** A decimal integer; empty means 0 as with sendmail's atoi(). */
export function parseInteger(option: string, value: string): number {
  const v = value.trim();
  if (v === '') return 0;
  let i = 0;
  if (v[0] === '-' || v[0] === '+') i = 1;
  if (i === v.length) throw new ValueError(`readcf: option ${option}: invalid number "${value}"`);
  for (let j = i; j < v.length; j++) {
    if (!isDigit(v[j]!)) throw new ValueError(`readcf: option ${option}: invalid number "${value}"`);
  }
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new ValueError(`readcf: option ${option}: number out of range "${value}"`);
  return n;
}

export function parseOctal(option: string, value: string): number {
  const v = value.trim();
  if (v === '') return 0;
  for (const c of v) {
    if (c < '0' || c > '7') throw new ValueError(`readcf: option ${option}: invalid octal mode "${value}"`);
  }
  return parseInt(v, 8) & 0o777;
}

const UNIT_SECONDS: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };

/**
 * sendmail's convtime(): `now`, or a sum of numbers each followed by one of
 * w d h m s; a number without a unit takes `defaultUnit`.  A leading `-`
 * negates the whole.  Returns seconds.
 */
export function parseTime(value: string, defaultUnit: 'w' | 'd' | 'h' | 'm' | 's'): number {
  if (value.toLowerCase() === 'now') return 0;
  let p = 0;
  let sign = 1;
  if (value[0] === '-') {
    sign = -1;
    p = 1;
  }
  let total = 0;
  while (p < value.length) {
    let n = 0;
    while (p < value.length && isDigit(value[p]!)) n = n * 10 + (value.charCodeAt(p++) - 48);
    let unit: string = defaultUnit;
    if (p < value.length) {
      const c = value[p++]!;
      if (UNIT_SECONDS[c] === undefined) throw new ValueError(`Invalid time unit \`${c}'`);
      unit = c;
    }
    total += n * UNIT_SECONDS[unit]!;
  }
  return sign * total;
}

/**
 * `user[:group]` as DefaultUser and RunAsUser take it (`.` and `/` also
 * separate; a numeric uid or gid stays a number).  Names are not looked up.
 */
export function parseUserSpec(value: string, separators = './:'): UserSpec {
  let cut = -1;
  for (let i = 0; i < value.length; i++) {
    if (separators.includes(value[i]!)) {
      cut = i;
      break;
    }
  }
  const user = cut < 0 ? value : value.slice(0, cut);
  const group = cut < 0 ? '' : value.slice(cut + 1);
  return { user: idOrName(user), group: group === '' ? null : idOrName(group) };
}

function idOrName(s: string): string | number | null {
  if (s === '') return null;
  if (isDigit(s[0]!)) return parseInt(s, 10);
  return s;
}

/** Splits on runs of white space, dropping empty words. */
export function words(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && isSpace(s[i]!)) i++;
    const start = i;
    while (i < s.length && !isSpace(s[i]!)) i++;
    if (i > start) out.push(s.slice(start, i));
  }
  return out;
}

export { isDigit, isSpace };

/**
 * Words of a flag list as PrivacyOptions and DontBlameSendmail read it:
 * separated by white space or punctuation, words made of letters and digits.
 */
export function flagWords(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && isSeparator(s.charCodeAt(i))) i++;
    if (i >= s.length) break;
    const start = i;
    while (i < s.length && isAlnumCode(s.charCodeAt(i))) i++;
    out.push(s.slice(start, i));
    if (i < s.length) i++; // the character that ended the word goes with it
  }
  return out;
}

export function isAlnumCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** ASCII white space or punctuation. */
function isSeparator(c: number): boolean {
  return (c >= 9 && c <= 13) || c === 32 || (c > 32 && c < 127 && !isAlnumCode(c));
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EIO: 'Input/output error',
  EMFILE: 'Too many open files',
  ENFILE: 'Too many open files in system',
  ENOSPC: 'No space left on device',
  EDQUOT: 'Disk quota exceeded',
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  EPIPE: 'Broken pipe',
  ETIMEDOUT: 'Connection timed out',
};

/** strerror() text for a Node error, as sendmail appends it to a message. */
export function errnoText(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && ERRNO_TEXT[code] !== undefined) return ERRNO_TEXT[code];
  return e instanceof Error ? e.message : String(e);
}
