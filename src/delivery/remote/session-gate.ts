/**
 * What a new session must pass before a message goes over it, in sendmail
 * 8.17's order (deliver.c after STARTTLS): the destination's TLS_Srv:
 * requirement (tls_server), then SMTP AUTH with the AuthInfo: credentials.
 * A session that fails is ended (QUIT) and the next host is tried; its
 * recipients keep the failure if no host does better.
 */
import { ERR } from '../../common/errors.js';
import { NOQID } from '../../common/log.js';
import { failed, type DeliveryStatus } from '../mailbox/status.js';
import { authenticate, chooseMechanisms } from './client-auth.js';
import { refusalRecord } from './host-status/outcomes.js';
import type { HostStatusRecord } from './host-status/record.js';
import { parseReply } from './replies.js';
import { serverAddress, type ServerId } from './server-lookup.js';
import type { SmtpSession } from './smtp-session.js';
import { tlsRefusal, type TlsVerify } from './tls-policy.js';
import type { RelayInfo, RemoteDeps } from './types.js';

export type GateResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly status: DeliveryStatus; readonly reply?: string; readonly hostRecord: HostStatusRecord };

/** sendmail's ${verify} for a session: OK or FAIL after STARTTLS, NONE without it. */
export function verifyOf(session: SmtpSession): TlsVerify {
  return session.tls === undefined ? 'NONE' : session.tls.verify;
}

/**
 * The tls_server check on its own, for a session or a failed handshake
 * (`SOFTWARE`): the refusal reply, logged as sendmail logs a ruleset's
 * rejection, or null.
 */
export function tlsServerCheck(deps: RemoteDeps, server: ServerId, verify: TlsVerify, tls: { bits: number; cnSubject?: string } | undefined): string | null {
  const requirement = deps.options.serverPolicy?.tlsRequirement(server) ?? null;
  const refusal = tlsRefusal(requirement, { verify, bits: tls?.bits ?? 0, ...(tls?.cnSubject !== undefined ? { cnSubject: tls.cnSubject } : {}) }, server.name);
  if (refusal !== null) deps.log?.log(5, 'notice', NOQID, `ruleset=tls_server, arg1=${verify}, relay=${server.name}, reject=${refusal}`);
  return refusal;
}

/** The deferral (or, with PERM+, the bounce) a TLS refusal gives. */
export function tlsRefusalStatus(reply: string): DeliveryStatus {
  const parsed = parseReply(reply);
  const dsn = parsed?.enhanced ?? '4.7.0';
  const cls = dsn.startsWith('5') ? ERR.REMOTE_TLS_REQUIRED_PERM : ERR.REMOTE_TLS_REQUIRED;
  return { ...failed(cls, reply), dsn };
}

function refusal(status: DeliveryStatus, reply?: string): GateResult {
  return { ok: false, status, ...(reply !== undefined ? { reply } : {}), hostRecord: refusalRecord(status, reply) };
}

export async function admitSession(deps: RemoteDeps, session: SmtpSession, server: ServerId, relay: RelayInfo, queueId: string): Promise<GateResult> {
  const refused = tlsServerCheck(deps, server, verifyOf(session), session.tls);
  if (refused !== null) return refusal(tlsRefusalStatus(refused));
  return authenticateSession(deps, session, server, relay, queueId);
}

/** AUTH when the server offers it and an AuthInfo: entry names this server (smtpauth()). */
async function authenticateSession(deps: RemoteDeps, session: SmtpSession, server: ServerId, relay: RelayInfo, queueId: string): Promise<GateResult> {
  const policy = deps.options.serverPolicy;
  const offered = session.authMechanisms();
  if (policy === undefined || policy === null || offered.length === 0) return { ok: true };
  const entry = policy.authInfo(server);
  if (!entry.found) return { ok: true };
  if (entry.info === null) {
    deps.log?.warning(8, NOQID, `AUTH=client, relay=${server.name.slice(0, 64)} [${serverAddress(server.address).slice(0, 16)}], authinfo failed`);
    return { ok: true };
  }
  const info = entry.info;
  if (info.password === '' || (info.user === '' && info.authid === '')) return { ok: true };
  const wanted = info.mechanisms ?? deps.options.authMechanisms ?? [];
  const clearAllowed = !policy.mayTryTls(server);
  const choice = chooseMechanisms(wanted, offered, session.tls !== undefined, clearAllowed);
  const tempfail = (reply?: string): GateResult => {
    deps.log?.err(8, NOQID, `AUTH=client, relay=${relay.host.slice(0, 100)}, temporary failure, connection abort`);
    return refusal(failed(ERR.REMOTE_AUTH_TEMPFAIL, 'Temporary AUTH failure'), reply);
  };
  if (choice.list.length === 0) {
    const mine = new Set(offered.filter((m) => wanted.map((w) => w.toUpperCase()).includes(m)));
    deps.log?.notice(8, queueId, `AUTH=client, available mechanisms=${[...mine].join(' ')} do not fulfill requirements`);
    if (choice.withheld.length > 0) {
      deps.log?.notice(
        8,
        queueId,
        `AUTH=client, relay=${relay.host.slice(0, 100)}: ${choice.withheld.join(' and ')} not sent without STARTTLS; an access map entry Try_TLS:${server.name} NO allows it`,
      );
    }
    return tempfail();
  }
  const outcome = await session.authenticate((send) => authenticate(send, info, choice.list));
  if (outcome === 'broken' || outcome.kind === 'broken') {
    return refusal(failed(ERR.REMOTE_CONNECTION_FAILED, `Connection reset by ${relay.host}`));
  }
  if (outcome.kind === 'ok') {
    session.authenticated = true;
    deps.log?.info(9, NOQID, `AUTH=client, relay=${relay.host.slice(0, 100)}, mech=${outcome.mechanism.slice(0, 16)}, bits=0`);
    return { ok: true };
  }
  // refused by every mechanism: on without AUTH, and the server says what it thinks of that
  if (outcome.kind === 'refused') return { ok: true };
  return tempfail(outcome.reply === '' ? undefined : outcome.reply);
}
