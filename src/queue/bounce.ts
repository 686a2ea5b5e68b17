/**
 * Telling the sender: what failed for good (returned mail), what has waited
 * Timeout.queuewarn (a delay warning), what was relayed to a peer that
 * cannot report further (NOTIFY=SUCCESS without DSN), as RFC 3464 notifications made by
 * dsn/ and queued like any message, durably, before the original's state
 * moves on.  Each resolves with the number of notices queued.
 */
import type { SystemIdentity } from '../common/identity.js';
import type { Logger } from '../common/log.js';
import type { Config } from '../config/index.js';
import { dueWarnings, makeNotices, noticeSettings, queueLifetime, timeoutClassOf, type NoticeInput, type RecipientOutcome as ReportedOutcome } from './dsn/index.js';
import type { Envelope } from './envelope.js';
import type { MessageQueue } from './index.js';
import type { RecipientOutcome, RelayedOutcome } from './runner.js';

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

export async function queueNotices(deps: BounceDeps, input: NoticeInput): Promise<number> {
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

/**
 * Returned mail for the recipients that failed for good (or whose time ran
 * out); recipients relayed to a peer without DSN in the same attempt are
 * reported in it too, as sendmail's one report per attempt does.
 * `transcript` is what the attempt's deliveries said, the relayed lines follow it.
 */
export async function returnToSender(
  deps: BounceDeps,
  envelope: Envelope,
  failed: readonly RecipientOutcome[],
  relayed: readonly RelayedOutcome[] = [],
  transcript: readonly string[] = [],
): Promise<number> {
  const now = deps.now?.() ?? Date.now();
  const outcomes: ReportedOutcome[] = failed.map((o) => ({
    index: o.index,
    action: 'failed',
    status: o.status.dsn,
    // a remote server's own words when it gave some, as sendmail's q_rstatus
    diagnostic: o.reply ?? diagnosticOf(o),
    ...(o.remoteMta !== undefined ? { remoteMta: o.remoteMta } : {}),
    lastAttempt: now,
  }));
  outcomes.push(...relayed.map((o) => relayedOutcome(o, now)));
  const timedOut = failed.length > 0 && failed.every((o) => o.status.code === 'QUEUE_LIFETIME_EXCEEDED');
  const event: NoticeInput['event'] = timedOut
    ? { kind: 'expired', returnAfter: queueLifetime(deps.config.options.Timeout, timeoutClassOf(envelope)).returnAfter }
    : { kind: 'failure' };
  const lines = [...transcript, ...relayed.map(relayedLine)];
  return queueNotices(deps, { envelope, event, outcomes, ...(lines.length > 0 ? { transcript: lines } : {}) });
}

/**
 * The notice to a sender whose NOTIFY=SUCCESS recipients went to a peer
 * without DSN: a "Return receipt" (headers only) with Action: relayed, as
 * sendmail's dropenvelope() sends when nothing failed.
 */
export async function reportRelayed(deps: BounceDeps, envelope: Envelope, relayed: readonly RelayedOutcome[]): Promise<number> {
  const now = deps.now?.() ?? Date.now();
  return queueNotices(deps, { envelope, event: { kind: 'receipt' }, outcomes: relayed.map((o) => relayedOutcome(o, now)), transcript: relayed.map(relayedLine) });
}

/** A relayed recipient's part of a report: Action: relayed, the host and the reply that took it. */
export function relayedOutcome(o: RelayedOutcome, now: number): ReportedOutcome {
  return {
    index: o.index,
    action: 'relayed',
    status: o.status.dsn,
    ...(o.remoteMta !== undefined ? { remoteMta: o.remoteMta } : {}),
    ...(o.diagnostic !== undefined ? { diagnostic: o.diagnostic } : {}),
    lastAttempt: now,
  };
}

/** The transcript's line for it, as sendmail writes it when the peer does not speak DSN. */
export function relayedLine(o: RelayedOutcome): string {
  return `<${o.recipient.address.replace(/^<|>$/g, '')}>... relayed; expect no further notifications`;
}

/** A delay warning, once, when the message has waited Timeout.queuewarn, with the attempt's transcript; true when one was queued. */
export async function warnOfDelay(deps: BounceDeps, envelope: Envelope, transcript: readonly string[] = []): Promise<boolean> {
  if (envelope.warned === true) return false;
  const due = dueWarnings(envelope, deps.now?.() ?? Date.now(), deps.config.options.Timeout);
  if (due === null) return false;
  await queueNotices(deps, {
    envelope,
    event: { kind: 'warning', warnAfter: due.warnAfter, returnAfter: due.returnAfter },
    outcomes: due.outcomes,
    ...(transcript.length > 0 ? { transcript } : {}),
  });
  return true;
}
