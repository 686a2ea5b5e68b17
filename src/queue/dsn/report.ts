/**
 * The text of a report, line by line, in the order and wording of sendmail
 * 8.17's errbody(): the human-readable part (warning banner, where the
 * message came from, the addresses by outcome, the transcript) and the
 * machine-readable message/delivery-status part of RFC 3464.
 */
import { MAXSHORTSTR, formatInterval, shortenString } from '../../common/log-format.js';
import { arpaDate } from '../../msp/submission/compose.js';
import type { NoticeInput, NoticeKind, NoticeSettings, RecipientOutcome } from './types.js';

const date = (ms: number): string => arpaDate(new Date(ms));

/** What sendmail's exitstat() makes of a status that is only a sysexits number. */
const SYSEXIT_TEXT: Record<number, string> = {
  64: 'Command line usage error',
  65: 'Data format error',
  66: 'Cannot open input',
  67: 'User unknown',
  68: 'Host unknown',
  69: 'Service unavailable',
  70: 'Internal error',
  71: 'Operating system error',
  72: 'System file missing',
  73: "Can't create output",
  74: 'I/O error',
  75: 'Deferred',
  76: 'Remote protocol error',
  77: 'Insufficient permission',
  78: 'Local configuration error',
};

function exitText(status: string): string {
  if (!/^\d+$/.test(status)) return status;
  return SYSEXIT_TEXT[Number(status)] ?? status;
}

/** RFC 3461 xtext decoding (`+2B` → `+`), as sendmail's xuntextify(). */
export function xtextDecode(s: string): string {
  return s.replace(/\+([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function displayOf(input: NoticeInput, o: RecipientOutcome): string {
  return o.displayAddress ?? `<${input.envelope.recipients[o.index]?.address ?? ''}>`;
}

function finalRecipientOf(input: NoticeInput, settings: NoticeSettings, o: RecipientOutcome): string {
  if (o.finalRecipient !== undefined) return o.finalRecipient;
  const addr = input.envelope.recipients[o.index]?.address ?? '';
  const type = settings.addrType ?? 'rfc822';
  return addr.includes('@') || type.toLowerCase() !== 'rfc822' ? `${type}; ${addr}` : `${type}; ${addr}@${settings.hostName}`;
}

const statusOf = (o: RecipientOutcome): string => o.status ?? (o.action === 'failed' ? '5.0.0' : o.action === 'delayed' ? '4.0.0' : '2.0.0');

function actionText(o: RecipientOutcome): string {
  switch (o.action) {
    case 'delivered':
      return o.toList === true ? 'delivered (to mailing list)' : 'delivered (to mailbox)';
    case 'relayed':
      return 'relayed (to non-DSN-aware mailer)';
    case 'expanded':
      return 'expanded (to multi-recipient alias)';
    default:
      return o.action;
  }
}

function successText(o: RecipientOutcome): string {
  switch (o.action) {
    case 'relayed':
      return 'relayed to non-DSN-aware mailer';
    case 'delivered':
      return o.toList === true ? 'successfully delivered to mailing list' : 'successfully delivered to mailbox';
    default:
      return 'expanded by alias';
  }
}

const short = (s: string): string => shortenString(s, MAXSHORTSTR);

/** The transcript as the report shows it: this attempt's lines, then what the lifetime event adds. */
export function transcriptLines(input: NoticeInput): string[] {
  const lines = [...(input.transcript ?? [])];
  const ev = input.event;
  if (ev.kind === 'expired') {
    lines.push(`Message could not be delivered for ${formatInterval(ev.returnAfter, false)}`, 'Message will be deleted from queue');
  } else if (ev.kind === 'warning') {
    lines.push(
      `Warning: message still undelivered after ${formatInterval(ev.warnAfter, false)}`,
      `Will keep trying until message is ${formatInterval(ev.returnAfter, false)} old`,
    );
  }
  return lines;
}

/** The human-readable part: from the banner to the end of the transcript. */
export function humanReadableLines(input: NoticeInput, outcomes: readonly RecipientOutcome[], kind: NoticeKind): string[] {
  const pmNotify = kind === 'postmaster' || kind === 'postmaster-copy';
  // the banner goes by every recipient's state, whatever each asked to be told
  const anyFailed = input.event.kind === 'expired' || input.outcomes.some((o) => o.action === 'failed');
  const out: string[] = [];
  if (!pmNotify && !anyFailed && kind !== 'receipt') {
    out.push(
      '    **********************************************',
      '    **      THIS IS A WARNING MESSAGE ONLY      **',
      '    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **',
      '    **********************************************',
      '',
    );
  }
  out.push(`The original message was received at ${date(input.envelope.arrival)}`, `from ${input.envelope.relay}`);
  if (pmNotify) out.push(`with id ${input.envelope.id}`);
  out.push('');

  const section = (title: string, items: readonly RecipientOutcome[], line: (o: RecipientOutcome) => string[]): void => {
    if (items.length === 0) return;
    out.push(`   ----- The following addresses had ${title} -----`);
    for (const o of items) {
      out.push(...line(o));
      if (o.expandedFrom !== undefined) out.push(`    (expanded from: ${short(o.expandedFrom)})`);
    }
    out.push('');
  };
  section(
    'permanent fatal errors',
    outcomes.filter((o) => o.action === 'failed'),
    (o) => [short(displayOf(input, o)), ...(o.diagnostic !== undefined ? [`    (reason: ${short(exitText(o.diagnostic))})`] : [])],
  );
  // sendmail lists "transient non-fatal errors" only for Deliver-By delays, which Postern does not offer
  section(
    'successful delivery notifications',
    outcomes.filter((o) => o.action !== 'failed' && o.action !== 'delayed'),
    (o) => [`${short(displayOf(input, o))}  (${successText(o)})`],
  );

  const transcript = transcriptLines(input);
  if (transcript.length > 0) out.push('   ----- Transcript of session follows -----', ...transcript);
  return out;
}

/** The message/delivery-status part's body: per-message fields, then a block per recipient. */
export function deliveryStatusLines(
  input: NoticeInput,
  outcomes: readonly RecipientOutcome[],
  settings: NoticeSettings,
  now: number,
  returnAfter: number | undefined,
): string[] {
  const env = input.envelope;
  const out: string[] = [];
  if (env.envid !== undefined) out.push(`Original-Envelope-Id: ${xtextDecode(env.envid).slice(0, 800)}`);
  out.push(`Reporting-MTA: dns; ${settings.hostName.slice(0, 800)}`);
  if (input.receivedFrom !== undefined) out.push(`Received-From-MTA: ${input.receivedFrom.type ?? 'dns'}; ${input.receivedFrom.name.slice(0, 800)}`);
  out.push(`Arrival-Date: ${date(env.arrival)}`);

  for (const o of outcomes) {
    const r = env.recipients[o.index];
    out.push('');
    const semi = r?.orcpt?.indexOf(';') ?? -1;
    if (r?.orcpt !== undefined && semi >= 0) {
      out.push(`Original-Recipient: ${r.orcpt.slice(0, Math.min(semi, 100))};${xtextDecode(r.orcpt.slice(semi + 1)).slice(0, 700)}`);
    }
    const final = finalRecipientOf(input, settings, o);
    out.push(`Final-Recipient: ${final}`);
    if (o.actualRecipient !== undefined && o.actualRecipient !== final && settings.noActualRecipient !== true) {
      out.push(`X-Actual-Recipient: ${o.actualRecipient}`);
    }
    out.push(`Action: ${actionText(o)}`, `Status: ${statusOf(o)}`);
    if (o.remoteMta !== undefined) out.push(`Remote-MTA: ${o.mtaType ?? 'dns'}; ${o.remoteMta.slice(0, 800).replace(/\.$/, '')}`);
    if (o.diagnostic !== undefined) out.push(`Diagnostic-Code: ${o.diagnosticType ?? 'smtp'}; ${o.diagnostic.slice(0, 800)}`);
    out.push(`Last-Attempt-Date: ${date(o.lastAttempt ?? now)}`);
    if (o.action === 'delayed' && returnAfter !== undefined) out.push(`Will-Retry-Until: ${date(env.arrival + returnAfter * 1000)}`);
  }
  return out;
}
