/**
 * Queue lifetime decisions, as pure functions of an envelope and the clock.
 *
 * sendmail keeps one timeout class per message (e_timeoutclass): `urgent`
 * or `non-urgent` from a Priority: header or the Precedence class, `dsn`
 * for delivery reports, `normal` otherwise; Timeout.queuewarn.<class> and
 * Timeout.queuereturn.<class> then apply.  A queuewarn of 0 means no
 * warning (sendmail's binary default; the m4 configuration sets 4h).
 */
import type { Timeouts } from '../../config/types.js';
import type { Recipient } from '../envelope.js';
import { mayWarn, pingsOnDelay } from './plan.js';
import type { QueuedEnvelope, RecipientOutcome } from './types.js';

export type TimeoutClass = 'normal' | 'urgent' | 'non-urgent' | 'dsn';

export interface ClassHints {
  /** the Precedence: header's class (P lines of sendmail.cf); 0 when absent */
  readonly precedenceClass?: number;
  /** the Priority: header's value, when present */
  readonly priority?: string;
  /** the Content-Type: header's value, when present */
  readonly contentType?: string;
}

/** The timeout class, in the order eatheader() decides it. */
export function timeoutClassOf(envelope: QueuedEnvelope, hints: ClassHints = {}): TimeoutClass {
  let cls: TimeoutClass = 'normal';
  const pc = hints.precedenceClass ?? 0;
  if (pc < 0) cls = 'non-urgent';
  else if (pc > 0) cls = 'urgent';
  if (hints.contentType !== undefined && /^\s*multipart\s*\/\s*report\s*;(?:.*;)?\s*report-type\s*=\s*"?delivery-status\b/is.test(hints.contentType)) {
    cls = 'dsn';
  }
  const response = envelope.notice !== undefined;
  const p = hints.priority?.trim().toLowerCase();
  if (p === 'urgent' || p === 'normal' || p === 'non-urgent') cls = p;
  else if (response) cls = 'dsn';
  return cls;
}

/** Timeout.queuewarn and Timeout.queuereturn (seconds) for a class. */
export function queueLifetime(timeouts: Timeouts, cls: TimeoutClass): { warnAfter: number; returnAfter: number } {
  return { warnAfter: timeouts[`queuewarn.${cls}`], returnAfter: timeouts[`queuereturn.${cls}`] };
}

function undelivered(r: Recipient): boolean {
  return r.state === 'pending' || r.state === 'deferred';
}

function outcomeOf(index: number, r: Recipient, action: 'failed' | 'delayed', now: number, status?: string): RecipientOutcome {
  const code = status ?? r.dsnStatus;
  return { index, action, lastAttempt: now, ...(code !== undefined ? { status: code } : {}) };
}

export interface LifetimeDecision {
  /** the outcomes to report (give them to planNotices with the event) */
  readonly outcomes: RecipientOutcome[];
  readonly warnAfter: number;
  readonly returnAfter: number;
}

/**
 * The recipients a delay warning is due for: the message has waited
 * Timeout.queuewarn, has not been warned yet, may be warned (sender and
 * Precedence), and the recipients still wait and asked for DELAY (or gave
 * no NOTIFY).  null when no warning is due.  The caller marks the message
 * as warned once the warning is queued.
 */
export function dueWarnings(envelope: QueuedEnvelope, now: number, timeouts: Timeouts, hints: ClassHints = {}): LifetimeDecision | null {
  const { warnAfter, returnAfter } = queueLifetime(timeouts, timeoutClassOf(envelope, hints));
  if (warnAfter <= 0 || now < envelope.arrival + warnAfter * 1000) return null;
  if (now >= envelope.arrival + returnAfter * 1000) return null; // past return: it bounces instead
  if (!mayWarn(envelope, hints.precedenceClass ?? 0)) return null;
  const outcomes: RecipientOutcome[] = [];
  envelope.recipients.forEach((r, i) => {
    if (undelivered(r) && pingsOnDelay(r)) outcomes.push(outcomeOf(i, r, 'delayed', now));
  });
  return outcomes.length === 0 ? null : { outcomes, warnAfter, returnAfter };
}

/**
 * The recipients whose time is up: the message has waited
 * Timeout.queuereturn and they are still undelivered.  They fail with
 * 4.4.7 whatever NOTIFY says (planNotices then decides who is told).
 * null when the message has not expired.
 */
export function expired(envelope: QueuedEnvelope, now: number, timeouts: Timeouts, hints: ClassHints = {}): LifetimeDecision | null {
  const { warnAfter, returnAfter } = queueLifetime(timeouts, timeoutClassOf(envelope, hints));
  if (now < envelope.arrival + returnAfter * 1000) return null;
  const outcomes: RecipientOutcome[] = [];
  envelope.recipients.forEach((r, i) => {
    if (undelivered(r)) outcomes.push(outcomeOf(i, r, 'failed', now, '4.4.7'));
  });
  return outcomes.length === 0 ? null : { outcomes, warnAfter, returnAfter };
}
