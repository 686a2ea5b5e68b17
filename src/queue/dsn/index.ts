/**
 * Delivery status notifications (RFC 3464) as sendmail 8.17 writes them.
 *
 * After a delivery attempt, or when a queued message's lifetime runs out,
 * the queue runner describes what happened and gets back the notices to
 * queue, each with its envelope, its content (a stream) and its log line:
 *
 *   const settings = noticeSettings(config, identity);
 *   const t = config.options.Timeout;
 *   const life = expired(env, Date.now(), t);            // queuereturn passed?
 *   const warn = life === null ? dueWarnings(env, Date.now(), t) : null;
 *   const input: NoticeInput =
 *     life !== null ? { envelope: env, event: { kind: 'expired', returnAfter: life.returnAfter }, outcomes: life.outcomes, transcript }
 *     : warn !== null ? { envelope: env, event: { kind: 'warning', warnAfter: warn.warnAfter, returnAfter: warn.returnAfter }, outcomes: warn.outcomes, transcript }
 *     : { envelope: env, event: { kind: 'failure' }, transcript, outcomes: [{ index: 1, action: 'failed', status: '5.1.1',
 *           diagnostic: '550 5.1.1 <bob@x.test>... User unknown', remoteMta: 'mx.x.test', mtaType: 'DNS', diagnosticType: 'SMTP' }] };
 *   const notices = await makeNotices(input, settings, {
 *     assignId: () => q.assignId(), now: Date.now(), original: () => q.openContent(env.id) });
 *   for (const n of notices) {
 *     await q.accept(n.envelope, n.content, { id: n.id });   // durable before it is logged
 *     log.info(6, env.id, n.logLine);                       // "NEWQID: DSN: User unknown"
 *   }
 *   // then: mark the message warned (a warning was queued), or remove it (expired)
 *
 * planNotices() alone says who would be told what, without building anything.
 */
import type { Config } from '../../config/types.js';
import { buildNotice, type BuiltNotice } from './build.js';
import { planNotices } from './plan.js';
import type { NoticeInput, NoticePlan, NoticeSettings } from './types.js';

export * from './types.js';
export { planNotices, reportedOutcomes, mayWarn, pingsOnFailure, pingsOnDelay, pingsOnSuccess } from './plan.js';
export { buildNotice, noticeLogLine, type BuiltNotice, type NoticeIds } from './build.js';
export { dueWarnings, expired, timeoutClassOf, queueLifetime, type TimeoutClass, type ClassHints, type LifetimeDecision } from './timing.js';
export { xtextDecode } from './report.js';

/** The settings notices take from a loaded configuration and $j. */
export function noticeSettings(config: Config, identity: { readonly canonicalName: string }, version?: string): NoticeSettings {
  const o = config.options;
  return {
    hostName: config.macros.get('j') ?? identity.canonicalName,
    doubleBounceAddress: o.DoubleBounceAddress,
    postmasterCopy: o.PostmasterCopy,
    sendMimeErrors: o.SendMimeErrors,
    noBodyReturn: o.PrivacyOptions.has('nobodyreturn'),
    noActualRecipient: o.PrivacyOptions.has('noactualrecipient'),
    noReceipts: o.PrivacyOptions.has('noreceipts'),
    headerDefs: config.headers,
    macros: config.macros,
    ...(version !== undefined ? { version } : {}),
  };
}

export interface MadeNotice extends BuiltNotice {
  readonly plan: NoticePlan;
  /** the id assignId() gave: pass it to accept() as options.id (the content already names it) */
  readonly id: string;
}

/** Plans the notices and builds each, with a fresh queue id apiece. */
export async function makeNotices(
  input: NoticeInput,
  settings: NoticeSettings,
  opts: { readonly assignId: () => Promise<string>; readonly now: number; readonly original: () => AsyncIterable<Buffer | string> },
): Promise<MadeNotice[]> {
  const out: MadeNotice[] = [];
  for (const plan of planNotices(input, settings)) {
    const id = await opts.assignId();
    out.push({ ...buildNotice(input, plan, settings, { id, now: opts.now }, opts.original), plan, id });
  }
  return out;
}
