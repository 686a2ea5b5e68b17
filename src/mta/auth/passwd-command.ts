/**
 * postern-passwd: manages the SMTP AUTH credential file.
 *
 *   npm run passwd -- add USER        password from standard input (asked for, unechoed, on a terminal)
 *   npm run passwd -- delete USER
 *   npm run passwd -- list
 *   options: -f FILE (default /etc/mail/postern-auth), -C sendmail.cf (for RunAsUser)
 *
 * Run as root, the file is written root:RunAsUser's group, mode 0640: the
 * SMTP workers (RunAsUser) read it, nobody else does, and only root changes
 * it.  Run as anyone else (a test, `npm start` as a user), it is the
 * caller's own, mode 0600.
 */
import { existsSync } from 'node:fs';
import { ERR, PosternError, isPosternError } from '../../common/errors.js';
import { loadConfig } from '../../config/index.js';
import { resolveRunAs } from '../run-as.js';
import { DEFAULT_CREDENTIALS_FILE, hashPassword, readCredentials, validUserName, writeCredentials, type WriteOptions } from './credentials.js';

export interface PasswdIO {
  /** the password: the first line of standard input, or asked for on a terminal */
  readonly readPassword: () => Promise<string>;
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
  readonly euid: number;
}

const USAGE = 'usage: postern-passwd [-f file] [-C sendmail.cf] add|delete user | list';

/** Mode and owner the file gets: readable by the workers (RunAsUser's group, as the daemon resolves it) when root writes it. */
function fileOptions(euid: number, cfPath: string): WriteOptions {
  if (euid !== 0) return { mode: 0o600 };
  const spec = existsSync(cfPath) ? loadConfig(cfPath).config.options.RunAsUser : { user: 'smmta', group: null };
  try {
    return { mode: 0o640, owner: { uid: 0, gid: resolveRunAs(spec, 0).gid } };
  } catch {
    // no RunAsUser to give it to: root's alone
    return { mode: 0o600, owner: { uid: 0, gid: 0 } };
  }
}

export async function passwdMain(args: readonly string[], io: PasswdIO): Promise<number> {
  let file = DEFAULT_CREDENTIALS_FILE;
  let cf = '/etc/mail/sendmail.cf';
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if ((a === '-f' || a === '-C') && i + 1 < args.length) {
      if (a === '-f') file = args[++i]!;
      else cf = args[++i]!;
    } else rest.push(a);
  }
  const [verb, user, extra] = rest;
  try {
    if (verb === 'list' && user === undefined) {
      for (const name of readCredentials(file).keys()) io.stdout(name);
      return 0;
    }
    if ((verb !== 'add' && verb !== 'delete') || user === undefined || extra !== undefined) throw new PosternError(ERR.AUTH_USAGE, USAGE);
    if (!validUserName(user)) throw new PosternError(ERR.AUTH_USAGE, `${user}: a user name has no colon, blank or control character`);
    const entries = readCredentials(file);
    if (verb === 'delete') {
      if (!entries.delete(user)) {
        io.stderr(`postern-passwd: ${user}: no such user in ${file}`);
        return 67;
      }
    } else {
      const password = await io.readPassword();
      if (password === '') throw new PosternError(ERR.AUTH_USAGE, 'empty password refused');
      entries.set(user, await hashPassword(password));
    }
    writeCredentials(file, entries, fileOptions(io.euid, cf));
    return 0;
  } catch (e) {
    if (isPosternError(e)) {
      io.stderr(`postern-passwd: ${e.message}`);
      return e.exit;
    }
    io.stderr(`postern-passwd: ${e instanceof Error ? e.message : String(e)}`);
    return 73;
  }
}

/** The password from standard input: unechoed after a prompt on a terminal, else the first line. */
export function readPasswordFromStdin(): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let text = '';
    const tty = stdin.isTTY === true;
    if (tty) {
      process.stderr.write('Password: ');
      stdin.setRawMode(true);
    }
    stdin.setEncoding('utf8');
    const finish = (value: string | Error): void => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      if (tty) {
        stdin.setRawMode(false);
        process.stderr.write('\n');
      }
      stdin.pause();
      if (value instanceof Error) reject(value);
      else resolve(value);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\n' || ch === '\r') return finish(text);
        if (tty && ch === '\u0003') return finish(new Error('interrupted'));
        if (tty && (ch === '\u007f' || ch === '\b')) text = text.slice(0, -1);
        else text += ch;
      }
    };
    const onEnd = (): void => finish(text);
    stdin.on('data', onData);
    stdin.on('end', onEnd);
  });
}
