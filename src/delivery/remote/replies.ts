/**
 * SMTP replies and connection errors turned into recipient outcomes, with
 * the texts sendmail logs for them: a deferral keeps the whole reply
 * (`Deferred: 450 4.2.0 <b@x>... Mailbox busy`), a permanent failure the
 * sysexits text (`User unknown`, `Service unavailable`) with the reply
 * kept apart for reply= and the DSN, a success the reply's text
 * (`Sent (<id> Message accepted for delivery)`).
 */
import { ERR, type ErrorClass, type ErrorCode } from '../../common/errors.js';
import type { DeliveryStatus } from '../mailbox/status.js';

export interface ParsedReply {
  readonly code: number;
  readonly enhanced?: string;
  /** The text after the code and the enhanced status. */
  readonly text: string;
  /** The line as received (the last line of a multi-line reply, as sendmail keeps it). */
  readonly line: string;
}

export function parseReply(response: string): ParsedReply | undefined {
  const lines = response.split(/\r?\n/).filter((l) => l !== '');
  const line = (lines[lines.length - 1] ?? '').replace(/^(\d{3})-/, '$1 ');
  const m = /^([1-5]\d\d)(?:[ -]|$)(?:([245]\.\d{1,3}\.\d{1,3})(?: |$))?(.*)$/.exec(line);
  if (m === null) return undefined;
  return { code: Number(m[1]), ...(m[2] !== undefined ? { enhanced: m[2] } : {}), text: m[3] ?? '', line };
}

/** sendmail's smtptodsn(): the enhanced status a reply without one stands for. */
export function replyCodeToDsn(code: number): string {
  const known: Record<number, string> = {
    421: '4.4.2',
    450: '4.2.0',
    451: '4.3.0',
    452: '4.3.1',
    500: '5.5.2',
    501: '5.5.4',
    502: '5.5.1',
    503: '5.5.1',
    504: '5.5.4',
    550: '5.2.0',
    551: '5.1.6',
    552: '5.2.2',
    553: '5.1.0',
    554: '5.0.0',
  };
  return known[code] ?? (code >= 200 && code < 300 ? '2.0.0' : code >= 400 && code < 500 ? '4.0.0' : '5.0.0');
}

function status(cls: ErrorClass, outcome: DeliveryStatus['status'], dsn: string, text: string): DeliveryStatus {
  return { status: outcome, dsn, text, code: cls.code as ErrorCode };
}

export type Phase = 'greeting' | 'ehlo' | 'mail' | 'rcpt' | 'data' | 'eom';

/** A recipient's outcome from a failure reply at `phase`. */
export function failureFromReply(reply: ParsedReply, phase: Phase): DeliveryStatus {
  const { code } = reply;
  if (code >= 400 && code < 500) {
    return status(ERR.REMOTE_TEMPORARY_REPLY, 'deferred', reply.enhanced?.startsWith('4') ? reply.enhanced : replyCodeToDsn(code), reply.line);
  }
  if (code >= 500) {
    if (phase === 'rcpt' && (code === 550 || code === 551 || code === 553)) {
      const fallback = code === 550 ? '5.1.1' : code === 551 ? '5.1.6' : '5.1.3';
      return status(ERR.REMOTE_USER_UNKNOWN, 'bounced', reply.enhanced?.startsWith('5') ? reply.enhanced : fallback, 'User unknown');
    }
    return status(ERR.REMOTE_PERMANENT_REPLY, 'bounced', reply.enhanced?.startsWith('5') ? reply.enhanced : replyCodeToDsn(code), 'Service unavailable');
  }
  return status(ERR.REMOTE_PROTOCOL_ERROR, 'bounced', '5.5.0', 'Remote protocol error');
}

/** The outcome of a message the server took: `Sent (<its words>)`. */
export function sentFromReply(response: string): DeliveryStatus {
  const reply = parseReply(response);
  const text = reply?.text.trim() ?? '';
  return { status: 'sent', dsn: reply?.enhanced?.startsWith('2') ? reply.enhanced : '2.0.0', text: text === '' ? 'Sent' : `Sent (${text})` };
}

/** A connection that failed without a reply, in sendmail's words for its errno. */
export function connectionFailure(error: unknown, relay: string): DeliveryStatus {
  const code = String((error as { originalCode?: unknown; code?: unknown } | null)?.originalCode ?? (error as { code?: unknown } | null)?.code ?? '');
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'ECONNREFUSED':
      return status(ERR.REMOTE_CONNECTION_FAILED, 'deferred', '4.4.1', `Connection refused by ${relay}`);
    case 'ECONNRESET':
    case 'EPIPE':
      return status(ERR.REMOTE_CONNECTION_FAILED, 'deferred', '4.4.2', `Connection reset by ${relay}`);
    case 'ETIMEDOUT':
    case 'ETIMEOUT':
      return status(ERR.REMOTE_TIMEOUT, 'deferred', '4.4.1', `Connection timed out with ${relay}`);
    case 'EHOSTUNREACH':
      return status(ERR.REMOTE_CONNECTION_FAILED, 'deferred', '4.4.1', 'No route to host');
    case 'ENETUNREACH':
      return status(ERR.REMOTE_CONNECTION_FAILED, 'deferred', '4.4.1', 'Network is unreachable');
    default:
      if (/timeout|timed out/i.test(message)) return status(ERR.REMOTE_TIMEOUT, 'deferred', '4.4.2', `Connection timed out with ${relay}`);
      return status(ERR.REMOTE_CONNECTION_FAILED, 'deferred', '4.4.2', `${message.replace(/\s+/g, ' ').slice(0, 150)} (${relay})`);
  }
}
