/**
 * Connecting to an LMTP server's Unix socket (`A=FILE path`), as sendmail's
 * makeconnection_ds() does: the socket and every directory above it must
 * pass the secure-file rules for the user the runner runs as (otherwise
 * anyone who can write one of those directories could put a socket of
 * their own there and read other people's mail), then connect.
 *
 * Failures are sendmail's, word for word: `makeconnection_ds: unsafe domain
 * socket PATH: No such file or directory` (4.3.5) before connecting, `Could
 * not connect to socket PATH: Connection refused` (4.4.1) after; both are
 * SYSERRs in the log and defer the recipients, whose stat= is the error
 * (`Deferred: No such file or directory`, `Deferred: Connection refused by
 * localhost`).
 */
import { connect, type Socket } from 'node:net';
import { ERR } from '../../common/errors.js';
import type { DeliveryStatus } from '../mailbox/status.js';
import { failed } from '../mailbox/status.js';
import { errnoNumber, strerror } from '../remote/host-status/record.js';
import { fromError, safeFile, type Checker, type DirPathRules } from '../safefile/rules.js';

/** relay= and the host name sendmail uses for a mailer on a Unix socket. */
export const UNIX_SOCKET_HOST = 'localhost';

export type SocketConnection =
  | { readonly ok: true; readonly socket: Socket }
  | { readonly ok: false; readonly status: DeliveryStatus; readonly syserr: string };

export interface SocketSafety {
  /** Whom the socket is judged for: the runner's own identity (RunAsUser). */
  readonly who: Checker;
  readonly dirPath: Omit<DirPathRules, 'fatal'>;
}

function unsafe(path: string, text: string): SocketConnection {
  return { ok: false, status: { ...failed(ERR.LMTP_SOCKET_UNSAFE, text), dsn: '4.3.5' }, syserr: `makeconnection_ds: unsafe domain socket ${path}: ${text}` };
}

/** Opens `path`, or says why not; `timeoutSeconds` 0 leaves it to the kernel. */
export function connectUnixSocket(path: string, safety: SocketSafety, timeoutSeconds: number): Promise<SocketConnection> {
  const verdict = safeFile(path, safety.who, {
    dirPath: { fatal: true, ...safety.dirPath },
    noHardlink: true,
    rootOk: true,
    execOk: true,
    access: 'write',
  });
  if ('code' in verdict) return Promise.resolve(unsafe(path, verdict.text));
  return new Promise((resolve) => {
    const socket = connect({ path });
    const timer = timeoutSeconds > 0 ? setTimeout(() => socket.destroy(Object.assign(new Error('Connection timed out'), { code: 'ETIMEDOUT' })), timeoutSeconds * 1000) : undefined;
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve({ ok: true, socket });
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      const code = (error as { code?: string }).code;
      const n = errnoNumber(code);
      const words = n !== 0 && !strerror(n).startsWith('Unknown error') ? strerror(n) : fromError(error).text;
      // giveresponse() names the host after a refusal, as for a TCP peer
      const text = code === 'ECONNREFUSED' ? `Connection refused by ${UNIX_SOCKET_HOST}` : words;
      resolve({ ok: false, status: { ...failed(ERR.LMTP_SOCKET_FAILED, text), dsn: '4.4.1' }, syserr: `Could not connect to socket ${path}: ${words}` });
    });
  });
}
