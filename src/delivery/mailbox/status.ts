/**
 * The outcome of one mailbox delivery, as the broker hands it back to the
 * queue runner: sent, deferred (try again later) or bounced (never will work).
 */
import { ERR, type ErrorClass, type ErrorCode } from '../../common/errors.js';

export type DeliveryOutcome = 'sent' | 'deferred' | 'bounced';

export interface DeliveryStatus {
  readonly status: DeliveryOutcome;
  /** RFC 3463 enhanced status code, e.g. 2.1.5, 4.2.2, 5.2.0 */
  readonly dsn: string;
  /** Human-readable reason, for the log's stat= and the DSN's diagnostic. */
  readonly text: string;
  /** The registry's code for a failure (tests and log readers key on it). */
  readonly code?: ErrorCode;
}

/**
 * sendmail logs a local delivery through mail.local -l as dsn=2.1.5
 * (mail.local's LMTP "250 2.1.5 bob Ok"), so Postern reports the same.
 */
export function sent(): DeliveryStatus {
  return { status: 'sent', dsn: '2.1.5', text: 'Sent' };
}

/** A failure of a registered class: 5.x.x bounces, anything else defers. */
export function failed(cls: ErrorClass, text: string): DeliveryStatus {
  return { status: cls.status.startsWith('5') ? 'bounced' : 'deferred', dsn: cls.status, text, code: cls.code as ErrorCode };
}

/**
 * The class of an error from writing or syncing the mailbox.  All of them
 * defer: the partial append has been cut back, and space or quota may come
 * back.  (mail.local answers 450 4.2.0 to all of them, 552 5.2.2 for EDQUOT
 * only when run with -b; the finer codes tell the sender what happened.)
 */
export function writeErrorClass(error: unknown): ErrorClass {
  switch (errnoCode(error)) {
    case 'ENOSPC':
      return ERR.OS_NO_SPACE; // 4.3.1 mail system full
    case 'EDQUOT':
    case 'EFBIG':
      return ERR.MAILBOX_FULL; // 4.2.2 mailbox full
    default:
      return ERR.MAILBOX_WRITE_FAILED; // EIO and the rest: 4.3.0
  }
}

export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** "open: Permission denied"-style text for an error, without the path Node adds. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const e = error as NodeJS.ErrnoException;
    // Node words it "ENOSPC: no space left on device, write '/path'"
    const words = /^E[A-Z0-9]+: ([^,]+)/.exec(e.message)?.[1];
    return e.syscall && words ? `${e.syscall}: ${words}` : e.message;
  }
  return String(error);
}

const OUTCOMES: readonly string[] = ['sent', 'deferred', 'bounced'];

/** A status read from the agent, or undefined when it is not one. */
export function parseStatus(value: unknown): DeliveryStatus | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.status !== 'string' || !OUTCOMES.includes(v.status)) return undefined;
  if (typeof v.dsn !== 'string' || !/^[245]\.\d{1,3}\.\d{1,3}$/.test(v.dsn)) return undefined;
  if (v.dsn[0] !== { sent: '2', deferred: '4', bounced: '5' }[v.status as DeliveryOutcome]) return undefined;
  if (typeof v.text !== 'string') return undefined;
  const code = typeof v.code === 'string' && v.code in ERR ? (v.code as ErrorCode) : undefined;
  return { status: v.status as DeliveryOutcome, dsn: v.dsn, text: v.text.slice(0, 1000), ...(code ? { code } : {}) };
}
