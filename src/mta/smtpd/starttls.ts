/**
 * STARTTLS (RFC 3207) as sendmail 8.17 answers it:
 *
 *   501 5.5.2 Syntax error (no parameters allowed)
 *   503 5.5.0 TLS not available                      the daemon has M=S
 *   454 4.3.3 TLS not available after start          no usable certificate, or TLS already on
 *   503 5.5.0 TLS not permitted during a mail transaction
 *   220 2.0.0 Ready to start TLS                     then the handshake on the same socket
 *
 * After the handshake the session starts over (EHLO again) and STARTTLS is
 * no longer offered; a failed handshake ends the connection, since nothing
 * can be said to a client in the middle of one.
 */
import { TLSSocket } from 'node:tls';
import { ERR } from '../../common/errors.js';
import { NOQID } from '../../common/log.js';
import { startTlsLogLine, tlsSessionInfo } from '../tls/server-tls.js';
import { classReply } from './replies.js';
import type { Session } from './session.js';

/** Waits for the handshake; the error, or null once it is done. */
function handshake(secure: TLSSocket, timeoutMs: number): Promise<Error | null> {
  return new Promise((resolve) => {
    const done = (e: Error | null): void => {
      clearTimeout(timer);
      secure.off('secure', ok);
      secure.off('error', fail);
      secure.off('close', closed);
      resolve(e);
    };
    const ok = (): void => done(null);
    const fail = (e: Error): void => done(e);
    const closed = (): void => done(new Error('connection closed'));
    const timer = setTimeout(() => done(Object.assign(new Error('timeout'), { reason: 'timeout' })), timeoutMs);
    secure.once('secure', ok);
    secure.once('error', fail);
    secure.once('close', closed);
  });
}

export async function starttls(s: Session, arg: string): Promise<void> {
  if (arg.trim() !== '') return s.say(501, '5.5.2', 'Syntax error (no parameters allowed)');
  if (s.deps.daemon.Modifiers.includes('S')) return s.reply(classReply(ERR.TLS_NOT_OFFERED, 'TLS not available'));
  const tls = s.deps.serverTls;
  if (tls === null || s.tlsInfo !== null) return s.reply(classReply(ERR.TLS_NOT_AVAILABLE, 'TLS not available after start'));
  if (s.tx !== null) return s.say(503, '5.5.0', 'TLS not permitted during a mail transaction');
  s.say(220, '2.0.0', 'Ready to start TLS');
  const plain = s.socket;
  const dropped = s.input.detach();
  if (dropped > 0) s.log?.notice(5, NOQID, `STARTTLS=server, relay=${s.authinfo}, ${dropped} bytes sent in clear after STARTTLS discarded`);
  const secure = new TLSSocket(plain, {
    isServer: true,
    secureContext: tls.context,
    requestCert: tls.requestCert,
    rejectUnauthorized: false,
  });
  // until the session adopts it, an error must not go unhandled
  secure.on('error', () => undefined);
  const timeout = (s.config.options.Timeout.starttls || 3600) * 1000;
  const failure = await handshake(secure, timeout);
  if (failure !== null) {
    const reason = (failure as { reason?: string }).reason ?? failure.message;
    s.log?.warning(5, NOQID, `STARTTLS=server, error: accept failed=-1, reason=${reason}, SSL_error=1, errno=0, retry=-1, relay=${s.authinfo.slice(0, 100)}`);
    secure.destroy();
    plain.destroy();
    s.close();
    return;
  }
  const info = tlsSessionInfo(secure, tls.requestCert);
  s.adoptSocket(secure, info);
  s.log?.info(8, NOQID, startTlsLogLine(s.authinfo, info));
}
