/**
 * Between a delivery attempt and a host's status: what an attempt leaves
 * behind (as sendmail's mci_setstat would have it), and what a recipient is
 * told when a host is skipped because its status says it is down: the
 * words of the failure that put it there, as sendmail repeats them.
 */
import { ERR, type ErrorCode } from '../../../common/errors.js';
import type { DeliveryStatus } from '../../mailbox/status.js';
import { dnsTemporaryFailure, hostUnknown } from '../mx.js';
import { connectionFailure, parseReply } from '../replies.js';
import { errnoName, errnoNumber, HOST_NOT_FOUND, strerror, TRY_AGAIN, type HostStatusRecord } from './record.js';

const EX_OK = 0;
const EX_NOHOST = 68;
const EX_UNAVAILABLE = 69;
const EX_TEMPFAIL = 75;
const EX_CONFIG = 78;

const seconds = (now: number) => Math.floor(now / 1000);

function errorCode(error: unknown): string | undefined {
  const e = error as { originalCode?: unknown; code?: unknown } | null;
  const code = e?.originalCode ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A connection that failed, or broke, without a reply: the errno is what the next look will repeat. */
export function connectionRecord(error: unknown, dsn: string, now = Date.now()): HostStatusRecord {
  let errno = errnoNumber(errorCode(error));
  // a timer of ours, not the kernel's, timed the connection out: the kernel would have said ETIMEDOUT
  if (errno === 0 && /timeout|timed out/i.test(error instanceof Error ? error.message : String(error))) errno = errnoNumber('ETIMEDOUT');
  return { errno, herrno: 0, exitStatus: EX_TEMPFAIL, dsn, lastUse: seconds(now) };
}

/** The host's addresses could not be found: for now (TRY_AGAIN) or for good (HOST_NOT_FOUND). */
export function lookupRecord(temporary: boolean, now = Date.now()): HostStatusRecord {
  return temporary
    ? { errno: errnoNumber('EAGAIN'), herrno: TRY_AGAIN, exitStatus: EX_TEMPFAIL, dsn: '4.4.3', lastUse: seconds(now) }
    : { errno: 0, herrno: HOST_NOT_FOUND, exitStatus: EX_NOHOST, dsn: '5.1.2', lastUse: seconds(now) };
}

/**
 * The host answered with `reply` before any transaction (greeting, EHLO,
 * STARTTLS): 4xx keeps it away for a while, 5xx too (sendmail's
 * EX_UNAVAILABLE is as sticky as a deferral).
 */
export function refusalRecord(status: DeliveryStatus, reply: string | undefined, now = Date.now()): HostStatusRecord {
  const exitStatus = status.code === ERR.REMOTE_MX_LOOP.code ? EX_CONFIG : status.status === 'deferred' ? EX_TEMPFAIL : EX_UNAVAILABLE;
  return { errno: 0, herrno: 0, exitStatus, dsn: status.dsn, ...(reply !== undefined ? { reply } : {}), lastUse: seconds(now) };
}

/**
 * A transaction the host took part in.  Only a 4xx to the end of the
 * message (other than 452) marks the host as failing, as in sendmail;
 * refusals of a sender or a recipient say nothing about the host.
 */
export function transactionRecord(last: { reply?: string; dsn: string; phase?: string }, now = Date.now()): HostStatusRecord {
  const code = last.reply !== undefined ? parseReply(last.reply)?.code : undefined;
  const sticky = last.phase === 'eom' && code !== undefined && code >= 400 && code < 500 && code !== 452;
  const reply = last.reply !== undefined ? (parseReply(last.reply)?.line ?? last.reply) : undefined;
  return { errno: 0, herrno: 0, exitStatus: sticky ? EX_TEMPFAIL : EX_OK, dsn: last.dsn, ...(reply !== undefined ? { reply } : {}), lastUse: seconds(now) };
}

function cached(outcome: DeliveryStatus['status'], dsn: string, text: string): DeliveryStatus {
  return { status: outcome, dsn, text, code: ERR.HOST_STATUS_CACHED.code as ErrorCode };
}

/**
 * What the recipients of a skipped host are told: the failure that is on
 * record, in the words it had (`Connection refused by [192.0.2.1]`), with
 * the stored enhanced status.  `relay` is the host as relay= shows it.
 */
export function cachedFailure(record: HostStatusRecord, host: { relay: string; name?: string }): { status: DeliveryStatus; reply?: string } {
  const reply = record.reply !== undefined && record.reply !== '' ? record.reply : undefined;
  const withReply = (status: DeliveryStatus) => (reply !== undefined ? { status, reply } : { status });
  const name = host.name ?? host.relay;
  switch (record.exitStatus) {
    case EX_TEMPFAIL: {
      const dsn = record.dsn?.startsWith('4') ? record.dsn : '4.0.0';
      if (record.herrno === TRY_AGAIN) return { status: cached('deferred', dsn, dnsTemporaryFailure(name).text) };
      const code = errnoName(record.errno);
      if (record.errno !== 0 && code !== undefined) return { status: cached('deferred', dsn, connectionFailure(Object.assign(new Error(strerror(record.errno)), { code }), host.relay).text) };
      return withReply(cached('deferred', dsn, reply ?? 'Deferred'));
    }
    case EX_NOHOST:
      return { status: cached('bounced', record.dsn?.startsWith('5') ? record.dsn : '5.1.2', hostUnknown(name).text) };
    case EX_CONFIG:
      return withReply(cached('bounced', record.dsn?.startsWith('5') ? record.dsn : '5.3.5', 'Local configuration error'));
    default:
      return withReply(cached('bounced', record.dsn?.startsWith('5') ? record.dsn : '5.0.0', 'Service unavailable'));
  }
}
