/**
 * smrsh's rules, as sendmail 8.17's smrsh applies them to `smrsh -c
 * "command"` (smrsh/smrsh.c, read for behaviour):
 *
 *   - each command word loses its leading path and must exist in the smrsh
 *     directory (/etc/mail/smrsh on Debian) as a file (or a link to one)
 *     that may be executed; the command then runs from there;
 *   - `exec WORD` is allowed, and the builtins `exit` and `echo`;
 *   - `&&` and `||` chain commands; any other of < | > ^ ( ) ; & ` $ CR LF
 *     (also with the eighth bit set, which some shells strip) is refused;
 *   - quotes and everything else in the arguments pass through;
 *   - the result runs as `/bin/sh -c NEWCOMMAND` with PATH as the only
 *     variable of its environment.
 * The answer is the new command, or smrsh's message, exit status and log
 * line; the words are smrsh's own, after its "smrsh: " prefix.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { EX } from '../../common/sysexits.js';

export const SMRSH_DIR = '/etc/mail/smrsh';
/** smrsh's PATH as Debian builds it */
export const SMRSH_PATH = '/usr/bin:/bin';
const SPECIALS = '<|>^();&`$\r\n';
/** smrsh's command buffer: 1000 bytes */
const COMMAND_BUFFER = 1000;

export type SmrshVerdict =
  | { readonly ok: true; readonly command: string }
  | {
      readonly ok: false;
      /** 64 (usage) or 69 (refused) */
      readonly exit: number;
      /** what smrsh prints after "PROGRAM: " (or the whole usage line) */
      readonly message: string;
      /** what smrsh logs (LOG_CRIT, or LOG_ERR for usage) */
      readonly log: string;
      readonly usage?: boolean;
    };

/** Checks on a program in the smrsh directory; the defaults look at the file system. */
export interface SmrshProbe {
  /** 'missing' when stat fails, 'not-file' when it is no regular file, 'not-executable' when access(X_OK) fails */
  check(path: string): 'ok' | 'missing' | 'not-file' | 'not-executable';
}

export const FS_PROBE: SmrshProbe = {
  check(path) {
    let st;
    try {
      st = statSync(path);
    } catch {
      return 'missing';
    }
    if (!st.isFile()) return 'not-file';
    try {
      accessSync(path, constants.X_OK);
    } catch {
      return 'not-executable';
    }
    return 'ok';
  },
};

const isSpace = (c: string | undefined) => c !== undefined && /[ \t\n\v\f\r]/.test(c);

function isSpecial(c: string): boolean {
  const code = c.charCodeAt(0);
  return SPECIALS.includes(c) || (code >= 0x80 && code <= 0xff && SPECIALS.includes(String.fromCharCode(code & 0x7f)));
}

/**
 * `command` is the -c argument as bytes read as latin1 (so an 8-bit byte is
 * one character); `uid` names the caller in the log line.
 */
export function checkSmrshCommand(command: string, uid: number, dir = SMRSH_DIR, probe: SmrshProbe = FS_PROBE): SmrshVerdict {
  const refuse = (message: string, log: string): SmrshVerdict => ({ ok: false, exit: EX.UNAVAILABLE, message, log });
  if (command.length > COMMAND_BUFFER - dir.length - 2) return refuse(`command too long: ${command}`, `command too long: ${command.slice(0, 40)}`);
  let out = '';
  const add = (s: string) => {
    if (COMMAND_BUFFER - out.length <= s.length + 1) throw new TooLong();
    out += s;
  };
  let q = 0;
  let isExec = false;
  try {
    while (q < command.length) {
      while (q < command.length && isSpace(command[q])) q++;
      if (q >= command.length) {
        if (isExec) return refuse('missing command to exec', `uid ${uid}: missing command to exec`);
        break;
      }
      // the command word ends at a blank; its name is what follows the last "/" (eighth bit ignored)
      let end = q;
      while (end < command.length && command[end] !== ' ' && command[end] !== '\t') end++;
      const word = command.slice(q, end);
      let slash = -1;
      for (let i = word.length - 1; i >= 0; i--) {
        if ((word.charCodeAt(i) & 0x7f) === 0x2f) {
          slash = i;
          break;
        }
      }
      const name = word.slice(slash + 1);
      const more = end < command.length;
      if (word === 'exec' && more) {
        add('exec ');
        q = end + 1;
        isExec = true;
        continue;
      } else if (word === 'exit' || word === 'echo') {
        add(name);
      } else {
        const path = `${dir}/${name}`;
        const state = probe.check(path);
        if (state !== 'ok') {
          const why = state === 'missing' ? ' (stat failed)' : state === 'not-file' ? ' (not a file)' : '';
          return refuse(`"${name}" not available for sendmail programs${why}`, `uid ${uid}: attempt to use "${name}"${why}`);
        }
        add(path);
      }
      isExec = false;
      if (!more) break;
      const rest = command.slice(end);
      let at = -1;
      for (let i = 0; i < rest.length; i++) {
        if (isSpecial(rest[i]!)) {
          at = i;
          break;
        }
      }
      if (at < 0) {
        add(rest);
        break;
      }
      const c = rest[at]!;
      if ((c === '&' || c === '|') && rest[at + 1] === c) {
        add(rest.slice(0, at + 2));
        q = end + at + 2;
        continue;
      }
      return refuse(`cannot use ${c} in command`, `uid ${uid}: attempt to use ${c} in command: ${command}`);
    }
  } catch (e) {
    if (e instanceof TooLong) return refuse(`command too long: ${command}`, `command too long: ${command.slice(0, 40)}`);
    throw e;
  }
  if (isExec) return refuse('missing command to exec', `uid ${uid}: missing command to exec`);
  if (out === '') return { ok: false, exit: EX.USAGE, message: 'Usage: smrsh -c command', log: 'usage', usage: true };
  return { ok: true, command: out };
}

class TooLong extends Error {}
