/**
 * makemap's command line, as sendmail 8.17's makemap reads it: glibc getopt
 * with the option string "C:D:Nc:defi:Llorst:uvx" (so options may follow
 * the operands, and getopt's messages quote the letter and print argv[0] as
 * given), then exactly two operands, the map type and the map name.
 */

export interface MakemapOptions {
  cfFile: string | undefined;
  includeNull: boolean;
  allowDuplicates: boolean;
  allowEmpty: boolean;
  foldCase: boolean;
  fallbackType: string | undefined;
  append: boolean;
  replace: boolean;
  separator: string | undefined;
  comment: string;
  unmake: boolean;
  verbose: boolean;
  /** -l, -L, -x: list the types and exit. */
  list: 'l' | 'L' | 'x' | undefined;
  readonly operands: string[];
}

export interface ParsedArgs {
  readonly options: MakemapOptions;
  /** Lines for standard error (getopt's complaints, "Invalid separator"). */
  readonly stderr: string[];
  /** Print the usage and exit 64. */
  readonly usage: boolean;
}

const WITH_ARGUMENT = new Set(['C', 'D', 'c', 'i', 't']);
const FLAGS = new Set(['N', 'd', 'e', 'f', 'L', 'l', 'o', 'r', 's', 'u', 'v', 'x']);

export function usageLines(progname: string): string[] {
  const pad = ' '.repeat(progname.length);
  return [
    `Usage: ${progname} [-C cffile] [-N] [-c cachesize] [-D commentchar]`,
    `       ${pad} [-d] [-e] [-f] [-i type] [-l] [-o] [-r] [-s] [-t delimiter]`,
    `       ${pad} [-u] [-v] type mapname`,
  ];
}

export function parseMakemapArgs(argv0: string, args: readonly string[], posixlyCorrect = process.env.POSIXLY_CORRECT !== undefined): ParsedArgs {
  const o: MakemapOptions = {
    cfFile: undefined,
    includeNull: false,
    allowDuplicates: false,
    allowEmpty: false,
    foldCase: true,
    fallbackType: undefined,
    append: false,
    replace: false,
    separator: undefined,
    comment: '#',
    unmake: false,
    verbose: false,
    list: undefined,
    operands: [],
  };
  const stderr: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const word = args[i]!;
    if (word === '--') {
      o.operands.push(...args.slice(i + 1));
      break;
    }
    if (!word.startsWith('-') || word === '-') {
      if (posixlyCorrect) {
        o.operands.push(...args.slice(i));
        break;
      }
      o.operands.push(word);
      continue;
    }
    for (let p = 1; p < word.length; p++) {
      const letter = word[p]!;
      let value: string | undefined;
      if (WITH_ARGUMENT.has(letter)) {
        if (p + 1 < word.length) value = word.slice(p + 1);
        else if (i + 1 < args.length) value = args[++i]!;
        else {
          stderr.push(`${argv0}: option requires an argument -- '${letter}'`);
          return { options: o, stderr, usage: true };
        }
        p = word.length;
      } else if (!FLAGS.has(letter)) {
        stderr.push(`${argv0}: invalid option -- '${letter}'`);
        return { options: o, stderr, usage: true };
      }
      if (apply(o, letter, value ?? '', stderr)) return { options: o, stderr, usage: false };
    }
  }
  return { options: o, stderr, usage: o.list === undefined && o.operands.length !== 2 };
}

/** Applies one option; returns true when it ends the scan (the listing options exit at once). */
function apply(o: MakemapOptions, letter: string, value: string, stderr: string[]): boolean {
  switch (letter) {
    case 'C':
      o.cfFile = value;
      break;
    case 'N':
      o.includeNull = true;
      break;
    case 'd':
      o.allowDuplicates = true;
      break;
    case 'e':
      o.allowEmpty = true;
      break;
    case 'f':
      o.foldCase = false;
      break;
    case 'i':
      o.fallbackType = value;
      break;
    case 'D':
      o.comment = value.slice(0, 1);
      break;
    case 'o':
      o.append = true;
      break;
    case 'r':
      o.replace = true;
      break;
    case 't':
      if (value === '') stderr.push('Invalid separator');
      else o.separator = value[0];
      break;
    case 'u':
      o.unmake = true;
      break;
    case 'v':
      o.verbose = true;
      break;
    case 'l':
    case 'L':
    case 'x':
      o.list = letter;
      return true;
    default:
      break; // -c cache size and -s (skip safety checks) change nothing here
  }
  return false;
}
