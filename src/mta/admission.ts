/**
 * Who gets a session at all, before the greeting: sendmail's
 * MaxDaemonChildren (or a daemon's c=) bounds the sessions at once, and
 * ConnectionRateThrottle the new connections per second.  The limits are the
 * daemon's; each worker takes its share (the master has several workers on
 * one listening socket).  A connection over the session limit is told
 * `421 4.3.2 Too many open connections.` (sendmail's wording for its
 * per-client limit; sendmail itself would stop accepting for a while), and
 * logged as sendmail logs the refusal; one over the rate waits for its turn,
 * as sendmail's accept loop makes it wait.
 */
import type { Socket } from 'node:net';
import { NOQID, type Logger } from '../common/log.js';

export interface AdmissionLimits {
  /** sessions at once in this worker; 0: no limit */
  readonly maxSessions: number;
  /** new sessions a second in this worker; 0: no limit */
  readonly perSecond: number;
  readonly daemonName: string;
  /** the daemon's whole limit, for the log line */
  readonly daemonMax: number;
  readonly log?: Logger;
  /** called as each admitted session ends (a worker recycles itself after many) */
  readonly onSessionEnd?: () => void;
}

export const TOO_MANY = '421 4.3.2 Too many open connections.';

/** A worker's share of a daemon-wide limit (at least 1 when there is a limit). */
export function share(limit: number, workers: number): number {
  return limit <= 0 ? 0 : Math.max(1, Math.ceil(limit / Math.max(1, workers)));
}

export function admission(limits: AdmissionLimits): (socket: Socket) => Promise<true | string> {
  let active = 0;
  let nextSlot = 0;
  const interval = limits.perSecond > 0 ? 1000 / limits.perSecond : 0;
  return async (socket) => {
    if (limits.maxSessions > 0 && active >= limits.maxSessions) {
      limits.log?.info(8, NOQID, `rejecting connections on daemon ${limits.daemonName}: ${active} children, max ${limits.daemonMax}`);
      return TOO_MANY;
    }
    active++;
    socket.once('close', () => {
      active--;
      limits.onSessionEnd?.();
    });
    if (interval > 0) {
      const now = Date.now();
      const at = Math.max(now, nextSlot);
      nextSlot = at + interval;
      if (at > now) await new Promise((resolve) => setTimeout(resolve, at - now));
    }
    return true;
  };
}
