/**
 * What one delivery adds to the "Transcript of session follows" part of a
 * report, in the words sendmail 8.17 writes into its transcript file
 * (usersmtp.c's reply(), deliver.c's giveresponse()):
 *
 *   ... while talking to mx.example.net.:          before a session's first error
 *   >>> RCPT TO:<bob@example.net>                   the command an error answers
 *   <<< 550 5.1.1 <bob@example.net>... User unknown every line of a 4xx or 5xx reply
 *   550 5.1.1 <bob@example.net>... User unknown     what became of the recipient
 *
 * The last kind stands alone where no reply was had
 * (`<bob@example.net>... Deferred: Connection refused by mx.example.net.`)
 * and, after a refused MAIL or DATA, speaks for every recipient that got
 * that far.  A 5xx to EHLO is left out (HELO follows), STARTTLS and AUTH
 * show as "STARTTLS dialogue" and "AUTH dialogue", so no credential is ever
 * quoted, and the replies to the end of the message answer DATA, as in
 * sendmail.  After a refused MAIL, the refusals of the RCPTs and DATA sent
 * with it under PIPELINING are left out: sendmail never sends those (it
 * waits for MAIL's reply), and they say nothing the MAIL refusal did not.
 *
 * One difference, on purpose: sendmail prints the last command it wrote,
 * which under PIPELINING is often not the one the error answers (its RCPT
 * refusals come after `>>> DATA`); here each reply is paired with its own
 * command, as a peer without PIPELINING shows it in sendmail's reports too.
 */
import { ERR } from '../../common/errors.js';
import { EX } from '../../common/sysexits.js';
import type { DeliveryStatus } from '../mailbox/status.js';
import { parseReply } from './replies.js';
import type { RecipientResult, RemoteRecipient } from './types.js';

export interface TranscriptRecipient {
  /** The RCPT address as sent. */
  readonly address: string;
  /** The address as the report names it (sendmail's q_paddr): `<bob@example.net>`, `bob`. */
  readonly display: string;
  readonly status: DeliveryStatus;
}

export interface SessionDialogue {
  /** The host as relay= names it (sendmail's CurHostName): `mx.example.net.`, `[192.0.2.1]`, `localhost`. */
  readonly host: string;
  /** The session's `>>> ` and `<<< ` lines, in order, as SmtpSession records them. */
  readonly lines: readonly string[];
  /** LMTP: one reply per accepted recipient after the message, each that recipient's own. */
  readonly lmtp?: boolean;
}

/** sendmail's sm_sysexmsg(): the reply code and enhanced status each sysexits value is reported with. */
const SYSEXIT_REPLY: Readonly<Record<number, string>> = {
  [EX.USAGE]: '500 5.0.0',
  [EX.DATAERR]: '501 5.6.0',
  [EX.NOINPUT]: '550 5.3.0',
  [EX.NOUSER]: '550 5.1.1',
  [EX.NOHOST]: '550 5.1.2',
  [EX.UNAVAILABLE]: '554 5.0.0',
  [EX.SOFTWARE]: '554 5.3.0',
  [EX.OSERR]: '451 4.0.0',
  [EX.OSFILE]: '554 5.3.5',
  [EX.CANTCREAT]: '550 5.0.0',
  [EX.IOERR]: '451 4.0.0',
  [EX.TEMPFAIL]: '450 4.0.0',
  [EX.PROTOCOL]: '554 5.5.0',
  [EX.NOPERM]: '550 5.0.0',
  [EX.CONFIG]: '554 5.3.5',
};

/** fmtmsg() names the address only for these reply codes. */
const NAMES_ADDRESS = /^(050|250|252|450|550|553)\b/;

function spoken(reply: string, to: string, text: string): string {
  return `${reply} ${NAMES_ADDRESS.test(reply) ? `${to}... ` : ''}${text}`;
}

/**
 * giveresponse()'s transcript line for a recipient (or a comma-separated
 * list of them) and its outcome; undefined for a delivery, which sendmail
 * does not write there.
 */
export function outcomeLine(status: DeliveryStatus, to: string): string | undefined {
  if (status.status === 'sent') return undefined;
  if (status.status === 'deferred') return `${to}... Deferred: ${status.text}`;
  const exit = status.code !== undefined ? ERR[status.code].exit : undefined;
  return spoken(SYSEXIT_REPLY[exit ?? EX.UNAVAILABLE] ?? '554 5.3.0', to, status.text);
}

/** The error mailer's line (a mailertable `error:` entry): its own reply, addressed. */
export function errorMailerLine(reply: string, to: string): string {
  const parsed = parseReply(reply);
  if (parsed === undefined) return `${to}... ${reply}`;
  return spoken(parsed.enhanced !== undefined ? `${parsed.code} ${parsed.enhanced}` : String(parsed.code), to, parsed.text);
}

interface Command {
  readonly text: string;
  readonly verb: string;
  /** The address of an RCPT. */
  readonly rcpt?: string;
  readonly auth: boolean;
  shown: boolean;
}

function command(text: string, auth: boolean): Command {
  const rcpt = /^RCPT TO:\s*<([^>]*)>/i.exec(text)?.[1];
  const shownAs = auth ? 'AUTH dialogue' : /^STARTTLS$/i.test(text) ? 'STARTTLS dialogue' : text;
  const verb = text === '.' ? '.' : (/^\S+/.exec(text)?.[0] ?? '').toUpperCase();
  return { text: shownAs, verb, auth, shown: false, ...(rcpt !== undefined ? { rcpt } : {}) };
}

/** The commands PIPELINING sends with MAIL, whose replies follow from MAIL's. */
const AFTER_MAIL = new Set(['RCPT', 'DATA', '.']);

const isError = (reply: string): boolean => /^[45]/.test(reply);

/** One session's error exchanges, with the outcome of each recipient a reply decided, into `out`. */
function sessionLines(session: SessionDialogue, recipients: readonly TranscriptRecipient[], told: Set<number>, out: string[]): void {
  const byAddress = new Map<string, number>();
  recipients.forEach((r, i) => {
    if (!byAddress.has(r.address)) byAddress.set(r.address, i);
  });
  const pending: Command[] = [];
  const accepted: number[] = [];
  let data: Command | undefined;
  let afterMessage = 0;
  let current: Command | undefined;
  let continued = false;
  let inAuth = false;
  let mailRefused = false;
  let introduced = false;
  const tell = (i: number | undefined) => {
    if (i === undefined || told.has(i)) return;
    const r = recipients[i]!;
    const line = outcomeLine(r.status, r.display);
    told.add(i);
    if (line !== undefined) out.push(line);
  };

  for (const line of session.lines) {
    if (line.startsWith('>>> ')) {
      const text = line.slice(4);
      if (/^AUTH /i.test(text)) inAuth = true;
      pending.push(command(text, inAuth));
      continue;
    }
    if (!line.startsWith('<<< ')) continue;
    const reply = line.slice(4);
    const first = !continued;
    if (first) {
      current = pending.shift() ?? data;
      if (current !== undefined && !AFTER_MAIL.has(current.verb)) mailRefused = false;
    }
    continued = /^\d{3}-/.test(reply);
    const final = !continued;
    // what follows a refused MAIL in the same batch is its echo
    if (mailRefused && current !== undefined && current !== data) continue;
    // the greeting answers nothing; an error to EHLO only sends the client to HELO
    const ehloRefusal = reply.startsWith('5') && current?.verb === 'EHLO';
    if (isError(reply) && !ehloRefusal) {
      if (!introduced) out.push(`... while talking to ${session.host}:`);
      introduced = true;
      if (current !== undefined && !current.shown) out.push(`>>> ${current.text}`);
      if (current !== undefined) current.shown = true;
      out.push(`<<< ${reply}`);
    }
    if (!final || current === undefined) continue;
    if (current.auth && !reply.startsWith('334')) inAuth = false;
    if (current.verb === 'MAIL' && isError(reply)) mailRefused = true;
    if (current.rcpt !== undefined) {
      const i = byAddress.get(current.rcpt);
      if (reply.startsWith('2')) {
        if (i !== undefined) accepted.push(i);
      } else if (isError(reply)) tell(i);
    } else if (current === data) {
      // LMTP: a reply per accepted recipient, in their order
      if (session.lmtp === true && afterMessage < accepted.length) {
        const i = accepted[afterMessage++];
        if (isError(reply)) tell(i);
      }
    } else if (current.verb === 'DATA' && reply.startsWith('3')) {
      data = current;
    }
  }
}

/**
 * The report's lines for one delivery: each session's errors, in the order
 * they were had, then the outcome of every recipient no reply spoke for,
 * those with the same outcome together (`<a@x>,<b@x>... Deferred: ...`).
 */
export function deliveryTranscript(sessions: readonly SessionDialogue[], recipients: readonly TranscriptRecipient[]): string[] {
  const out: string[] = [];
  const told = new Set<number>();
  for (const s of sessions) sessionLines(s, recipients, told, out);
  const groups = new Map<string, { status: DeliveryStatus; names: string[] }>();
  recipients.forEach((r, i) => {
    if (told.has(i) || r.status.status === 'sent') return;
    const key = `${r.status.status}\0${r.status.code ?? ''}\0${r.status.text}`;
    const g = groups.get(key) ?? { status: r.status, names: [] };
    g.names.push(r.display);
    groups.set(key, g);
  });
  for (const g of groups.values()) {
    const line = outcomeLine(g.status, g.names.join(','));
    if (line !== undefined) out.push(line);
  }
  return out;
}

/** The report's lines for a request's recipients and their results (one result per recipient, by index). */
export function requestTranscript(sessions: readonly SessionDialogue[], recipients: readonly RemoteRecipient[], results: readonly RecipientResult[]): string[] {
  const byIndex = new Map(results.map((r) => [r.index, r.status]));
  const list: TranscriptRecipient[] = [];
  for (const r of recipients) {
    const status = byIndex.get(r.index);
    if (status !== undefined) list.push({ address: r.address, display: displayOf(r), status });
  }
  return deliveryTranscript(sessions, list);
}

export function displayOf(r: RemoteRecipient): string {
  return r.display ?? `<${r.address}>`;
}
