/**
 * LMTP mailers (RFC 2033) for the queue runner: `P=[IPC]`, `F=z`, over a
 * Unix socket (`A=FILE path`) or TCP (`A=TCP $h [port]`).  Recipients reach
 * one through the mailertable (`lmtp:[host]`), or as local mailboxes when
 * the local mailer is such a mailer (FEATURE(`local_lmtp', `[IPC]',
 * `FILE /var/run/dovecot/lmtp')).
 *
 *   const lmtp = lmtpFromConfig(config, remoteOptions, log);
 *   const to = lmtp.forDomain('example.com');          // undefined: remote delivery's
 *   const result = await lmtp.deliver(request, to!);   // remote delivery's RemoteResult
 */
import { userInfo } from 'node:os';
import { ERR } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { NOQID } from '../../common/log.js';
import type { Config } from '../../config/index.js';
import { lookupUser } from '../../privsep/passwd.js';
import { failed } from '../mailbox/status.js';
import { requestTranscript } from '../remote/report-transcript.js';
import type { RemoteOptions, RemoteRequest, RemoteResult } from '../remote/types.js';
import { deliverLmtp, type LmtpDeps } from './deliver.js';
import { lmtpMailer, lmtpMailers } from './mailer.js';
import type { Route } from '../route.js';
import { lmtpDestination, localLmtpRecipient, type LmtpDestination } from './routing.js';

export { deliverLmtp, statusFromFinalReply, type LmtpDeps } from './deliver.js';
export { lmtpMailer, lmtpMailers, type LmtpEndpoint, type LmtpMailer } from './mailer.js';
export { lmtpDestination, lmtpHost, localLmtpRecipient, type LmtpDestination } from './routing.js';
export { connectUnixSocket, UNIX_SOCKET_HOST, type SocketSafety } from './socket.js';

export interface LmtpSetup {
  /** The LMTP destination the mailertable gives `domain`, or undefined (remote delivery's then). */
  forDomain(domain: string): LmtpDestination | undefined;
  /**
   * The local mailer when it is an LMTP one: its destination, or why it
   * cannot be used (local mail then waits, rather than go where the
   * administrator did not want it).
   */
  readonly local: LmtpDestination | { readonly problem: string } | undefined;
  /**
   * When there is such a local mailer: the RCPT address it is given for a
   * recipient routed `where`, or undefined when the recipient is not its.
   */
  readonly localMailbox: ((address: string, where: Route) => string | undefined) | undefined;
  deliver(request: RemoteRequest, destination: LmtpDestination): Promise<RemoteResult>;
  /** Delivers to the local mailer (which must be `local` above). */
  deliverLocal(request: RemoteRequest): Promise<RemoteResult>;
}

/** The secure-file rules for a mailer's socket, judged for this process's own identity. */
function socketSafety(config: Config): LmtpDeps['socketSafety'] {
  const dbs = config.options.DontBlameSendmail;
  const trusted = config.options.TrustedUser;
  const trustedUid = trusted === null ? undefined : typeof trusted === 'number' ? trusted : lookupUser(trusted)?.uid;
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry: group membership is then by gid alone
  }
  return {
    who: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, ...(user !== undefined ? { user } : {}), ...(trustedUid !== undefined ? { trustedUid } : {}) },
    dirPath: { groupWritableSafe: dbs.has('GroupWritableDirPathSafe'), trustSticky: dbs.has('TrustStickyBit') },
  };
}

export function lmtpFromConfig(config: Config, options: RemoteOptions, log?: Logger): LmtpSetup {
  const mailers = lmtpMailers(config, (problem) => log?.warning(0, NOQID, problem));
  const localMailer = config.mailers.get('local');
  const found = localMailer !== undefined ? lmtpMailer(localMailer) : undefined;
  const local = found === undefined ? undefined : 'problem' in found ? found : { mailer: found, hosts: [] };
  const deps: LmtpDeps = { options, lhloTimeout: config.options.Timeout.lhlo, socketSafety: socketSafety(config), ...(log !== undefined ? { log } : {}) };
  const deliver = (request: RemoteRequest, destination: LmtpDestination) => deliverLmtp(request, destination, deps);
  // a local mailer that cannot be used still takes the mailboxes, which then wait
  const localMailbox =
    local === undefined ? undefined : 'problem' in local ? (address: string, where: Route) => (where.kind === 'local' ? address : undefined) : (address: string, where: Route) => localLmtpRecipient(address, where, local.mailer);
  return {
    forDomain: (domain) => lmtpDestination(domain, options.mailertable, mailers),
    local,
    localMailbox,
    deliver,
    deliverLocal: async (request) => {
      if (local !== undefined && !('problem' in local)) return deliver(request, local);
      const status = failed(ERR.LMTP_NO_DESTINATION, local?.problem ?? 'the local mailer is not an LMTP mailer');
      const recipients = request.recipients.map((r) => ({ index: r.index, status }));
      return { recipients, mailer: 'local', transcript: [], reportTranscript: requestTranscript([], request.recipients, recipients) };
    },
  };
}
