/**
 * The aliases file, read as sendmail 8.17 reads it for newaliases (alias.c
 * readaliases), with its messages and the statistics it prints.
 *
 * Lines, as Debian's 8.17 reads them (measured):
 *   - a line ending in a backslash is joined with the next;
 *   - lines that start with a blank or a tab continue the line before: they
 *     are appended as they are, blanks included, without the line break;
 *   - a line starting with '#' is a comment, and so are its continuation
 *     lines; an empty line is ignored; a line that starts with a blank
 *     where nothing is being continued (after an empty line, at the top) is
 *     an error;
 *   - `name: value`: the value is everything after the first ':', leading
 *     blanks dropped, trailing blanks and a CR kept; nothing in it is
 *     checked here (an :include: file need not exist yet);
 *   - a line of more than 8190 bytes, continuations included, is refused
 *     ("alias line too long", sendmail's BUFSIZ buffer);
 *   - errors name the last physical line of the logical line.
 * A name given twice is a warning and the later value wins; both count in
 * the statistics, as sendmail counts them.
 */
import { ERR, type ErrorCode } from '../../common/errors.js';
import { EX } from '../../common/sysexits.js';
import { parseAliasName } from './alias-name.js';

export interface AliasEntry {
  /** The key: the local name, lower-cased. */
  readonly name: string;
  /** The right-hand side as written. */
  readonly value: string;
  /** Line number (the last physical line of the entry). */
  readonly line: number;
}

export interface AliasProblem {
  readonly line: number;
  /** What sendmail prints after `file: line N: `. */
  readonly text: string;
  /**
   * 'system': sendmail's syserr, printed and logged as SYSERR;
   * 'user': printed only; 'warning': printed only, exit status unchanged.
   */
  readonly severity: 'system' | 'user' | 'warning';
  /** The exit status this problem gives newaliases when it is the first to set one (0: none). */
  readonly exit: number;
  readonly code: ErrorCode;
}

export interface AliasStats {
  readonly aliases: number;
  /** Longest value, in bytes. */
  readonly longest: number;
  /** Names and values, in bytes. */
  readonly bytes: number;
}

export interface ParsedAliases {
  /** Every entry stored, in file order (a repeated name appears twice; the last wins). */
  readonly entries: AliasEntry[];
  readonly problems: AliasProblem[];
  readonly stats: AliasStats;
}

export interface AliasParseOptions {
  /** Whether `name@domain` names this host (class w, this host's names, localhost, [127.0.0.1]). */
  readonly isLocalDomain: (domain: string) => boolean;
  /** What blanks between two words of a name become (the BlankSub option); default '.'. */
  readonly blankSub?: string;
}

/** sendmail reads with fgets into a BUFSIZ (8192) buffer: 8190 bytes and the newline. */
export const MAX_ALIAS_LINE = 8190;

export function problemMessage(file: string, p: AliasProblem): string {
  return `${file}: line ${p.line}: ${p.text}`;
}

/** The exit status newaliases ends with after these problems: the first one that sets one. */
export function problemsExit(problems: readonly AliasProblem[]): number {
  return problems.find((p) => p.exit !== 0)?.exit ?? EX.OK;
}

interface LogicalLine {
  readonly text: string;
  readonly line: number;
  readonly tooLong: boolean;
}

/** Physical lines joined into logical ones, as described at the top. */
function* logicalLines(data: string): Generator<LogicalLine> {
  const physical = data.split('\n');
  if (physical[physical.length - 1] === '') physical.pop();
  let n = 0;
  const continues = (i: number) => i < physical.length && (physical[i]!.startsWith(' ') || physical[i]!.startsWith('\t'));
  while (n < physical.length) {
    let text = physical[n]!;
    let tooLong = text.length > MAX_ALIAS_LINE;
    n++;
    while (!tooLong && text.endsWith('\\') && n < physical.length) {
      text = text.slice(0, -1) + physical[n]!;
      tooLong = text.length > MAX_ALIAS_LINE;
      n++;
    }
    if (text === '' && !tooLong) {
      yield { text, line: n, tooLong };
      continue;
    }
    while (continues(n)) {
      text += physical[n]!;
      n++;
      if (text.length > MAX_ALIAS_LINE) tooLong = true;
      // once too long, the rest of the entry is skipped with it
    }
    yield { text, line: n, tooLong };
  }
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';

/**
 * Parses an aliases file's content (bytes, or a string of one character per
 * byte).  Names and values come back as UTF-8 strings.
 */
export function parseAliases(content: Buffer | string, options: AliasParseOptions): ParsedAliases {
  const data = typeof content === 'string' ? content : content.toString('latin1');
  const blankSub = options.blankSub ?? '.';
  const entries: AliasEntry[] = [];
  const problems: AliasProblem[] = [];
  const seen = new Set<string>();
  let aliases = 0;
  let longest = 0;
  let bytes = 0;
  const problem = (line: number, text: string, severity: AliasProblem['severity'], code: ErrorCode, exit: number) =>
    problems.push({ line, text: utf8(text), severity, code, exit });
  const syserr = (line: number, text: string) => problem(line, text, 'system', ERR.ALIAS_SYNTAX.code, EX.SOFTWARE);

  for (const { text, line, tooLong } of logicalLines(data)) {
    if (tooLong) {
      syserr(line, 'alias line too long');
      continue;
    }
    if (text === '' || text.startsWith('#')) continue;
    if (text.startsWith(' ') || text.startsWith('\t')) {
      syserr(line, 'Non-continuation line starts with space');
      continue;
    }
    const colon = text.indexOf(':');
    if (colon < 0) {
      syserr(line, 'missing colon');
      continue;
    }
    const name = parseAliasName(text, blankSub, options.isLocalDomain);
    for (const p of name.problems) {
      if (p.kind === 'notice') problem(line, `${text}... ${p.text}`, 'warning', ERR.ALIAS_BAD_NAME.code, 0);
      else if (p.text === 'illegal alias name') syserr(line, `${text.slice(0, 40)}... illegal alias name`);
      else if (p.kind === 'user') problem(line, `${name.written}... ${p.text}`, 'user', ERR.ALIAS_BAD_NAME.code, EX.USAGE);
      else syserr(line, `${name.written}... ${p.text}`);
    }
    if (name.key === undefined) continue;
    let v = colon + 1;
    while (isSpace(text[v])) v++;
    const value = text.slice(v);
    if (value === '') {
      syserr(line, `${text.slice(0, 40)}... missing value for alias`);
      continue;
    }
    if (seen.has(name.key)) {
      problem(line, `${name.written}... Warning: duplicate alias name ${name.key}`, 'warning', ERR.ALIAS_SYNTAX.code, 0);
    }
    seen.add(name.key);
    entries.push({ name: utf8(name.key), value: utf8(value), line });
    aliases++;
    bytes += name.key.length + value.length;
    longest = Math.max(longest, value.length);
  }
  return { entries, problems, stats: { aliases, longest, bytes } };
}

function utf8(binary: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\x80-\xff]/.test(binary) ? Buffer.from(binary, 'latin1').toString('utf8') : binary;
}
