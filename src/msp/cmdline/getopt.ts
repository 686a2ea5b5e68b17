/**
 * Option scanning as sendmail 8.17 does it with its own BSD-derived getopt,
 * which differs from glibc's in ways scripts can see:
 *  - the next word is taken as an option's argument even when it starts
 *    with '-' (`-b -t` asks for operation mode '-');
 *  - scanning stops at the first non-option word or at `--`; words are never
 *    permuted;
 *  - the messages are `argv0: illegal option -- Z` and
 *    `argv0: option requires an argument -- f`, without quotes.
 * sendmail scans twice: a silent first pass (opterr = 0) to find the
 * operation mode, and a reporting second pass.  In the silent pass an
 * unknown letter is treated as if it took an argument, and a missing
 * argument leaves the previous option's argument in place; both are
 * reproduced because they decide what the first pass sees.
 */

/** sendmail 8.17's option letters; ':' marks a letter that takes an argument. */
export const SENDMAIL_OPTION_LETTERS = 'A:B:b:C:cD:d:e:F:f:Gh:IiL:M:mN:nO:o:p:Q:q:R:r:sTtUV:vX:';

export type ScanResult =
  | { readonly kind: 'option'; readonly letter: string; readonly arg: string | undefined }
  | { readonly kind: 'illegal'; readonly letter: string; readonly message: string }
  | { readonly kind: 'missing'; readonly letter: string; readonly message: string }
  | { readonly kind: 'end'; readonly operandIndex: number };

export class OptionScanner {
  private index = 0;
  private cluster = '';
  private staleArg: string | undefined;

  constructor(
    private readonly argv0: string,
    private readonly args: readonly string[],
    private readonly reportErrors: boolean,
    private readonly letters: string = SENDMAIL_OPTION_LETTERS,
  ) {}

  next(): ScanResult {
    if (this.cluster === '') {
      const word = this.args[this.index];
      if (word === undefined || word[0] !== '-' || word.length === 1) return { kind: 'end', operandIndex: this.index };
      if (word === '--' || word[1] === '-') {
        return { kind: 'end', operandIndex: this.index + 1 };
      }
      this.cluster = word.slice(1);
    }
    const letter = this.cluster[0] as string;
    this.cluster = this.cluster.slice(1);
    const at = letter === ':' ? -1 : this.letters.indexOf(letter);
    const known = at >= 0;
    const takesArgument = !known || this.letters[at + 1] === ':';

    if (!known && this.reportErrors) {
      if (this.cluster === '') this.index++;
      return { kind: 'illegal', letter, message: `${this.argv0}: illegal option -- ${letter}` };
    }
    if (!takesArgument) {
      if (this.cluster === '') this.index++;
      this.staleArg = undefined;
      return { kind: 'option', letter, arg: undefined };
    }
    let arg: string | undefined;
    if (this.cluster !== '') {
      arg = this.cluster;
    } else if (this.index + 1 >= this.args.length) {
      this.cluster = '';
      this.index++;
      if (this.reportErrors) {
        return { kind: 'missing', letter, message: `${this.argv0}: option requires an argument -- ${letter}` };
      }
      return { kind: 'option', letter, arg: this.staleArg };
    } else {
      this.index++;
      arg = this.args[this.index];
    }
    this.cluster = '';
    this.index++;
    this.staleArg = arg;
    return { kind: 'option', letter, arg };
  }
}

/**
 * sendmail's rewriting of argument forms getopt cannot express, applied
 * before scanning: a bare `-q` runs the queue once (`-q0`), a bare `-Q`
 * releases quarantined mail (`-Q.`), a bare `-d` means `-d0-99.1`, a bare
 * `-C` means `-Csendmail.cf`.  A value-taking letter written alone is left
 * to take the next word when that word does not start with '-'.
 * Returns null when the arguments use the forbidden `-Q.` form.
 */
export function rewriteObsoleteForms(args: readonly string[], letters: string = SENDMAIL_OPTION_LETTERS): string[] | null {
  const out = [...args];
  for (let i = 0; i < out.length; i++) {
    const word = out[i] as string;
    if (word[0] !== '-' || word[1] === '-') break;
    if (word.startsWith('-Q.') || (word === '-Q' && out[i + 1] === '.')) return null;
    const letter = word[1];
    const at = letter === undefined ? -1 : letters.indexOf(letter);
    const next = out[i + 1];
    if (at >= 0 && letters[at + 1] === ':' && word.length === 2 && letter !== 'd' && next !== undefined && next[0] !== '-') {
      i++;
      continue;
    }
    if (word === '-C') out[i] = '-Csendmail.cf';
    else if (word === '-q') out[i] = '-q0';
    else if (word === '-Q') out[i] = '-Q.';
    else if (word === '-d') out[i] = '-d0-99.1';
  }
  return out;
}
