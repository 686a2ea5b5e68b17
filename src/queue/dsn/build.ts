/**
 * One notice as a message ready for the queue: its envelope (null sender,
 * one recipient who is told only of failure, marked as a notice so that its
 * own failure is never answered in kind) and its content, produced as a
 * stream in the form sendmail 8.17's returntosender() and errbody() write:
 *
 *   Received, Date, From, Message-Id (sendmail.cf's H lines), To, MIME-Version,
 *   Content-Type: multipart/report; report-type=delivery-status, Subject,
 *   Auto-Submitted; then the human-readable part, the message/delivery-status
 *   part and the original as message/rfc822 (or text/rfc822-headers).
 *
 * With SendMimeErrors=false the report is plain text, as sendmail's is.
 */
import { returnLine, type ReturnKind } from '../../common/log-format.js';
import { expandMacros } from '../../config/macros.js';
import type { HeaderDef } from '../../config/types.js';
import { POSTERN_VERSION } from '../../msp/modes.js';
import { arpaDate, numericTime } from '../../msp/submission/compose.js';
import type { NewEnvelope } from '../index.js';
import { guardBoundary, headerValue, openOriginal } from './original.js';
import { reportedOutcomes } from './plan.js';
import { deliveryStatusLines, humanReadableLines } from './report.js';
import type { NoticeInput, NoticeMarks, NoticePlan, NoticeSettings } from './types.js';

/** sendmail's m4 header lines (proto.m4), used when no sendmail.cf H lines are given. */
const M4_HEADERS: readonly HeaderDef[] = [
  { name: 'Received', value: '$?sfrom $s $.$?_($?s$|from $.$_)\n\t$.by $j ($v/$Z)$?r with $r$. id $i$?u\n\tfor $u; $|;\n\t$.$b', mailerFlags: null, macroCondition: null, line: 0 },
  { name: 'Date', value: '$a', mailerFlags: 'D', macroCondition: null, line: 0 },
  { name: 'From', value: '$?x$x <$g>$|$g$.', mailerFlags: 'F', macroCondition: null, line: 0 },
  { name: 'Message-Id', value: '<$t.$i@$j>', mailerFlags: 'M', macroCondition: null, line: 0 },
];

/**
 * Mailer flags that both of Debian's usual mailers for a report (local and
 * esmtp) carry: an H line conditioned on other flags (Full-Name on `x`) is
 * not written, one on these is.
 */
const REPORT_MAILER_FLAGS = 'mDFMX';

export interface NoticeIds {
  /** the notice's queue id (from MessageQueue.assignId()) */
  readonly id: string;
  /** ms since the epoch */
  readonly now: number;
}

export interface BuiltNotice {
  readonly envelope: NewEnvelope & NoticeMarks;
  /** the message text; reading it opens and streams the original */
  readonly content: AsyncIterable<Buffer>;
  /** `NEWQID: DSN: User unknown`, to log under the original's id (LogLevel > 5, LOG_INFO) */
  readonly logLine: string;
}

function subjectOf(plan: NoticePlan): { subject: string; auto: string } {
  const m = plan.message;
  if (m.startsWith('Warning:')) return { subject: m, auto: 'warning-timeout' };
  if (m.startsWith('Postmaster warning:')) return { subject: m, auto: 'postmaster-warning' };
  if (m === 'Return receipt') return { subject: m, auto: 'return-receipt' };
  if (plan.kind === 'postmaster' || plan.kind === 'postmaster-copy') {
    return { subject: 'Postmaster notify: see transcript for details', auto: 'postmaster-notification' };
  }
  return { subject: 'Returned mail: see transcript for details', auto: 'failure' };
}

/** What sendmail logs the new message as (returntosender's tests, in its order). */
function logKind(input: NoticeInput, plan: NoticePlan): ReturnKind {
  if (input.envelope.notice !== undefined) return 'return to sender';
  if (input.event.kind === 'warning' && plan.message.startsWith('Warning:')) return 'sender notify';
  if (plan.kind === 'postmaster' || plan.kind === 'postmaster-copy') return 'postmaster notify';
  return 'DSN';
}

/** The log line for a notice: `NEWQID: DSN: reason`, logged under the original's queue id. */
export function noticeLogLine(input: NoticeInput, plan: NoticePlan, newId: string): string {
  return returnLine({ newId, kind: logKind(input, plan), message: plan.message });
}

function topHeaders(settings: NoticeSettings, ids: NoticeIds, to: string): string[] {
  const j = settings.hostName;
  const site = settings.macros;
  const n = settings.daemonName ?? site?.get('n') ?? 'MAILER-DAEMON';
  const date = arpaDate(new Date(ids.now));
  const own: Record<string, string | undefined> = {
    j,
    // as the SMTP server's Received lines: Postern's version, $Z from sendmail.cf when it sets one
    v: settings.version ?? POSTERN_VERSION,
    Z: settings.version ?? site?.get('Z') ?? POSTERN_VERSION,
    i: ids.id,
    s: 'localhost',
    _: 'localhost',
    r: '',
    u: undefined,
    a: date,
    b: date,
    d: date,
    t: numericTime(new Date(ids.now)),
    x: 'Mail Delivery Subsystem',
    g: n.includes('@') ? n : `${n}@${j}`,
    f: n.includes('@') ? n : `${n}@${j}`,
    n,
  };
  const lookup = (name: string): string | undefined => (name in own ? own[name] : site?.get(name));
  const defs = settings.headerDefs !== undefined && settings.headerDefs.length > 0 ? settings.headerDefs : M4_HEADERS;
  const out: string[] = [];
  for (const def of defs) {
    const lname = def.name.toLowerCase();
    // Return-Path is the delivering mailer's; a report is never Resent-
    if (lname === 'return-path' || lname.startsWith('resent-')) continue;
    if (def.mailerFlags !== null && ![...def.mailerFlags].some((f) => REPORT_MAILER_FLAGS.includes(f))) continue;
    if (def.macroCondition !== null && (lookup(def.macroCondition.replace(/^\{|\}$/g, '')) ?? '') === '') continue;
    const value = expandMacros(def.value, lookup);
    if (value.trim() !== '') out.push(`${def.name}: ${value}`);
  }
  out.push(`To: ${to.includes('@') ? `<${to}>` : to}`);
  return out;
}

/** The notice's envelope: from <>, to the plan's recipient, who hears only of its failure. */
function noticeEnvelope(plan: NoticePlan, settings: NoticeSettings, ids: NoticeIds, has8bit: boolean): NewEnvelope & NoticeMarks {
  return {
    sender: '',
    recipients: [{ address: plan.to, state: 'pending', notify: { never: false, success: false, failure: true, delay: false } }],
    ...(has8bit ? { bodyType: '8BITMIME' as const } : {}),
    hopCount: 0,
    relay: 'localhost',
    arrival: ids.now,
    messageId: `<${numericTime(new Date(ids.now))}.${ids.id}@${settings.hostName}>`,
    notice: plan.kind,
  };
}

const lines = (ls: readonly string[]): Buffer => Buffer.from(ls.map((l) => `${l}\n`).join(''), 'utf8');

/**
 * Makes one planned notice.  `openOriginal` is called when the content is
 * read, and each notice reads the original once.
 */
export function buildNotice(
  input: NoticeInput,
  plan: NoticePlan,
  settings: NoticeSettings,
  ids: NoticeIds,
  original: () => AsyncIterable<Buffer | string>,
): BuiltNotice {
  const has8bit = input.has8bit ?? input.envelope.bodyType === '8BITMIME';
  const mime = settings.sendMimeErrors !== false;
  const boundary = `${ids.id}.${Math.floor(ids.now / 1000)}/${settings.hostName.slice(0, 100)}`;
  const outcomes = reportedOutcomes(input);
  const returnAfter = input.event.kind === 'warning' || input.event.kind === 'expired' ? input.event.returnAfter : undefined;

  async function* content(): AsyncGenerator<Buffer> {
    const orig = await openOriginal(original());
    try {
      const cte = headerValue(orig.header, 'content-transfer-encoding');
      const encoding = cte !== undefined && cte.toLowerCase() === 'binary' ? cte : has8bit ? '8bit' : undefined;
      const { subject, auto } = subjectOf(plan);
      const head = topHeaders(settings, ids, plan.to);
      if (mime) {
        head.push('MIME-Version: 1.0', `Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="${boundary}"`);
        if (encoding !== undefined) head.push(`Content-Transfer-Encoding: ${encoding}`);
      }
      head.push(`Subject: ${subject}`, `Auto-Submitted: auto-generated (${auto})`, '');
      if (mime) head.push('This is a MIME-encapsulated message', '', `--${boundary}`, '');
      head.push(...humanReadableLines(input, outcomes, plan.kind));
      if (mime) {
        head.push('', `--${boundary}`, 'Content-Type: message/delivery-status', '');
        head.push(...deliveryStatusLines(input, outcomes, settings, ids.now, returnAfter));
      }
      head.push('');
      if (mime) {
        head.push(`--${boundary}`, `Content-Type: ${plan.returnBody ? 'message/rfc822' : 'text/rfc822-headers'}`);
        if (encoding !== undefined) head.push(`Content-Transfer-Encoding: ${encoding}`);
      } else {
        head.push(plan.returnBody ? '   ----- Original message follows -----' : '   ----- Message header follows -----');
      }
      head.push('');
      yield lines(head);
      yield orig.header;
      if (plan.returnBody) {
        yield Buffer.from('\n');
        yield* guardBoundary(orig.body(), mime ? boundary : null);
      } else {
        await orig.close();
        if (!mime) yield lines(['', '   ----- Message body suppressed -----']);
      }
      yield lines(mime ? ['', `--${boundary}--`, ''] : ['']);
    } finally {
      await orig.close();
    }
  }

  return {
    envelope: noticeEnvelope(plan, settings, ids, has8bit),
    content: { [Symbol.asyncIterator]: content },
    logLine: noticeLogLine(input, plan, ids.id),
  };
}
