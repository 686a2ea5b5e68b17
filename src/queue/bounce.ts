/**
 * Telling the sender: what failed for good (returned mail), what has waited
 * Timeout.queuewarn (a delay warning), as RFC 3464 notifications made by
 * dsn/ and queued like any message, durably, before the original's state
 * moves on.  Each resolves with the number of notices queued.
 */
import type { SystemIdentity } from '../common/identity.js';
import type { Logger } from '../common/log.js';
import type { Config } from '../config/index.js';
import { dueWarnings, makeNotices, noticeSettings, queueLifetime, timeoutClassOf, type NoticeInput, type RecipientOutcome as ReportedOutcome } from './dsn/index.js';
import type { Envelope } from './envelope.js';
import type { MessageQueue } from './index.js';
import type { RecipientOutcome } from './runner.js';

export interface BounceDeps {
  readonly queue: MessageQueue;
  readonly config: Config;
  readonly identity: SystemIdentity;
  readonly log: Logger;
  readonly now?: () => number;
}

/** The peer's own reply (sendmail's q_rstatus), or the SMTP reply a local failure stands for. */
function diagnosticOf(o: RecipientOutcome): string {
  if (o.reply !== undefined) return o.reply;
  const code = o.status.dsn.startsWith('5') ? 550 : 450;
  return `${code} ${o.status.dsn} <${o.recipient.address.replace(/^<|>$/g, '')}>... ${o.status.text}`;
}

async function queueNotices(deps: BounceDeps, input: NoticeInput): Promise<number> {
  const now = deps.now?.() ?? Date.now();
  const notices = await makeNotices(input, noticeSettings(deps.config, deps.identity), {
    assignId: () => deps.queue.assignId(),
    now,
    original: () => deps.queue.openContent(input.envelope.id),
  });
  for (const n of notices) {
    await deps.queue.accept(n.envelope, n.content, { id: n.id });
    deps.log.info(5, input.envelope.id, n.logLine);
  }
  return notices.length;
}

/** Returned mail for the recipients that failed for good (or whose time ran out). */
export async function returnToSender(deps: BounceDeps, envelope: Envelope, failed: readonly RecipientOutcome[]): Promise<number> {
  const now = deps.now?.() ?? Date.now();
  const outcomes: ReportedOutcome[] = failed.map((o) => ({
    index: o.index,
    action: 'failed',
    status: o.status.dsn,
    diagnostic: diagnosticOf(o),
    lastAttempt: now,
  }));
  const timedOut = failed.length > 0 && failed.every((o) => o.status.code === 'QUEUE_LIFETIME_EXCEEDED');
  const event: NoticeInput['event'] = timedOut
    ? { kind: 'expired', returnAfter: queueLifetime(deps.config.options.Timeout, timeoutClassOf(envelope)).returnAfter }
    : { kind: 'failure' };
  return queueNotices(deps, { envelope, event, outcomes });
}

/** A delay warning, once, when the message has waited Timeout.queuewarn; true when one was queued. */
export async function warnOfDelay(deps: BounceDeps, envelope: Envelope): Promise<boolean> {
  if (envelope.warned === true) return false;
  const due = dueWarnings(envelope, deps.now?.() ?? Date.now(), deps.config.options.Timeout);
  if (due === null) return false;
  await queueNotices(deps, {
    envelope,
    event: { kind: 'warning', warnAfter: due.warnAfter, returnAfter: due.returnAfter },
    outcomes: due.outcomes,
  });
  return true;
}
