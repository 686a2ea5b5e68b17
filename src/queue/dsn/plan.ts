/**
 * Who is told what, after sendmail 8.17's dropenvelope() and savemail():
 *
 * - A failure (or an expired queue lifetime) goes to the sender, for the
 *   recipients whose NOTIFY includes FAILURE (no NOTIFY means FAILURE,DELAY).
 * - A delay warning goes to the sender once, for the recipients whose NOTIFY
 *   includes DELAY, never for a null, owner-* or *-request sender nor for bulk
 *   mail (Precedence below 0).
 * - When the sender is the null sender, the report goes to DoubleBounceAddress
 *   (postmaster); when the message was itself a report to the postmaster,
 *   nothing is sent: that is what keeps reports from looping.
 * - PostmasterCopy gets a separate, headers-only copy of failure reports about
 *   ordinary mail.
 * - A success notice ("Return receipt", headers only) goes to a non-null
 *   sender when recipients with NOTIFY=SUCCESS were delivered and nothing
 *   failed or waits, unless PrivacyOptions has noreceipts.
 */
import { formatInterval } from '../../common/log-format.js';
import type { Notify, Recipient } from '../envelope.js';
import {
  DEFAULT_NOTIFY,
  type NoticeInput,
  type NoticeKind,
  type NoticePlan,
  type NoticeSettings,
  type QueuedEnvelope,
  type RecipientOutcome,
} from './types.js';

function notifyOf(r: Recipient | undefined): Notify {
  return r?.notify ?? DEFAULT_NOTIFY;
}

export function pingsOnFailure(r: Recipient | undefined): boolean {
  const n = notifyOf(r);
  return !n.never && n.failure;
}

export function pingsOnDelay(r: Recipient | undefined): boolean {
  const n = notifyOf(r);
  return !n.never && n.delay;
}

export function pingsOnSuccess(r: Recipient | undefined): boolean {
  const n = notifyOf(r);
  return !n.never && n.success;
}

/** Whether a delay warning may be sent for this message at all (dropenvelope's sender tests). */
export function mayWarn(envelope: QueuedEnvelope, precedenceClass = 0): boolean {
  // sendmail tests the whole address as written, which catches owner-/-request
  // senders only when they have no brackets or domain (list expansions); the
  // local part is tested here, so a list's sender is never warned whatever its form
  const s = envelope.sender.toLowerCase();
  const at = s.lastIndexOf('@');
  const local = at > 0 ? s.slice(0, at) : s;
  return (
    envelope.warned !== true &&
    envelope.notice === undefined &&
    precedenceClass >= 0 &&
    s !== '' &&
    !local.startsWith('owner-') &&
    !(local.length > 8 && local.endsWith('-request'))
  );
}

/**
 * The outcomes a report shows, as errbody() filters them: failures unless
 * NOTIFY leaves FAILURE out, delays when NOTIFY has DELAY, successes only
 * with NOTIFY=SUCCESS.  An expired lifetime turns what still waits into
 * failures with 4.4.7, as dropenvelope() does.
 */
export function reportedOutcomes(input: NoticeInput): RecipientOutcome[] {
  const out: RecipientOutcome[] = [];
  for (const o of input.outcomes) {
    const r = input.envelope.recipients[o.index];
    let oc = o;
    if (input.event.kind === 'expired' && o.action === 'delayed') oc = { ...o, action: 'failed', status: '4.4.7' };
    switch (oc.action) {
      case 'failed':
        if (pingsOnFailure(r)) out.push(oc);
        break;
      case 'delayed':
        if (input.event.kind === 'warning' && pingsOnDelay(r) && mayWarn(input.envelope, input.precedenceClass)) out.push(oc);
        break;
      default:
        if (pingsOnSuccess(r)) out.push(oc);
    }
  }
  return out;
}

/** The reason text (sendmail's e_message): the Subject of warnings and the log line. */
export function noticeMessage(input: NoticeInput, outcomes: readonly RecipientOutcome[]): string {
  const ev = input.event;
  if (ev.kind === 'expired') return `Cannot send message for ${formatInterval(ev.returnAfter, false)}`;
  if (ev.kind === 'warning' && outcomes.some((o) => o.action === 'delayed')) {
    return `Warning: could not send message for past ${formatInterval(ev.warnAfter, false)}`;
  }
  if (input.message !== undefined && input.message !== '') return input.message;
  if (ev.kind === 'receipt' || !outcomes.some((o) => o.action === 'failed')) return 'Return receipt';
  const failed = outcomes.find((o) => o.action === 'failed' && o.diagnostic !== undefined);
  return failed?.diagnostic !== undefined ? reasonOf(failed.diagnostic) : 'Unable to deliver mail';
}

/** `550 5.1.1 <bob@x>... User unknown` → `User unknown`, as sendmail's log shows it. */
function reasonOf(diagnostic: string): string {
  let s = diagnostic.replace(/^\d{3}[ -]/, '').replace(/^\d\.\d{1,3}\.\d{1,3} /, '');
  const dots = s.indexOf('... ');
  if (dots >= 0 && !s.slice(0, dots).includes(' ')) s = s.slice(dots + 4);
  return s.trim() === '' ? diagnostic : s;
}

function isDsnSender(s: string): boolean {
  return s === '';
}

/** Whether the sender's report may carry the original's body (RET, size refusals, bulk mail, PrivacyOptions). */
export function bodyMayReturn(input: NoticeInput, settings: NoticeSettings): boolean {
  return (
    input.envelope.ret !== 'hdrs' && input.bodyRefused !== true && (input.precedenceClass ?? 0) >= 0 && settings.noBodyReturn !== true
  );
}

function describe(kind: NoticeKind, to: string, subject: string, returnBody: boolean): string {
  const what = {
    sender: 'report',
    postmaster: 'report on undeliverable null-sender mail',
    'postmaster-copy': 'copy of the failure report',
    receipt: 'return receipt',
  }[kind];
  return `${what} "${subject}" to ${to}, ${returnBody ? 'with the whole original' : 'with the original header only'}`;
}

/** The notices one delivery attempt (or lifetime event) calls for; [] when none. */
export function planNotices(input: NoticeInput, settings: NoticeSettings): NoticePlan[] {
  const env = input.envelope;
  const outcomes = reportedOutcomes(input);
  const failure = outcomes.some((o) => o.action === 'failed');
  const delay = outcomes.some((o) => o.action === 'delayed');
  const success = outcomes.some((o) => o.action !== 'failed' && o.action !== 'delayed');
  const message = noticeMessage(input, outcomes);
  const plans: NoticePlan[] = [];
  const add = (kind: NoticeKind, to: string, returnBody: boolean): void => {
    plans.push({ kind, to, returnBody, message, description: describe(kind, to, message, returnBody) });
  };
  const classOk = (input.precedenceClass ?? 0) >= 0;

  if (failure || delay) {
    const body = bodyMayReturn(input, settings);
    if (env.notice === 'postmaster' || env.notice === 'postmaster-copy') {
      // a report to the postmaster that cannot be delivered is dropped: nothing answers it
    } else if (isDsnSender(env.sender)) {
      const to = settings.doubleBounceAddress ?? 'postmaster';
      if (to !== '') add('postmaster', to, body);
    } else {
      add('sender', env.sender, body);
    }
  }
  const copy = settings.postmasterCopy ?? '';
  if (failure && copy !== '' && env.notice === undefined && classOk) add('postmaster-copy', copy, false);
  if (success && !failure && !delay && !isDsnSender(env.sender) && settings.noReceipts !== true) add('receipt', env.sender, false);
  return plans;
}
