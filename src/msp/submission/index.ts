/**
 * Submission: what a program pipes into `sendmail` becomes a message and an
 * envelope, as sendmail 8.17's MSP (submit.cf) makes them.
 *
 *   readSubmission(input, context) → Promise<Submission>
 *     input: standard input as an async iterable of Buffers (a Readable).
 *     context: { invocation, config, caller, identity, queueId, now? }
 *       caller: the submitting user's passwd entry (uid from the kernel).
 *     Reads the header block (at most MaxHeadersLength bytes) and returns
 *       sender      envelope sender: -f/-r as given, else the login name
 *       recipients  the operands, plus with -t the To/Cc/Bcc addresses (or
 *                   Resent-To/Cc/Bcc when any Resent- header is present);
 *                   duplicates merged.  Operands are NOT dropped with -t:
 *                   Debian's 8.17 is built without _FFR_FIX_DASHT (measured).
 *       headers     the final header block, LF line endings, ending with the
 *                   blank line; latin1 (one char per byte: write it with
 *                   Buffer.from(headers, 'latin1')).  Bcc / Resent-Bcc are
 *                   removed (sendmail keeps them in its qf and drops them
 *                   when it delivers: the message that leaves is the same).
 *       body        the body as a stream (LF endings, dots handled, see
 *                   reader.ts); consume it once, after this resolves.
 *       hopCount    max(-h, trace headers incl. our own Received), as sendmail
 *       fullName    $x (for the qf's Full-Name line), messageId, warnings.
 *     Throws SubmissionError (a PosternError, codes from the registry):
 *       SUBMIT_NO_RECIPIENTS  -t and nobody to send to.  sendmail prints
 *         "No recipient addresses found in header", queues nothing and
 *         exits 0 (measured): `exit` is 0.
 *       SUBMIT_TOO_MANY_HOPS  hopCount > MaxHopCount: sendmail exits 69 after
 *         "554 5.4.6 Too many hops 26 (25 max): from alice via localhost, to a@b"
 *         and saves dead.letter; the error carries `submission` so the
 *         caller can do that.
 *       SUBMIT_HEADERS_TOO_LARGE  "552 5.6.0 Headers too large (32768 max)", input discarded.
 *
 * Headers added (submit.cf's H lines, in its order, each only when the
 * message lacks it; Resent-Date/-From/-Message-Id only when the message has
 * Resent- headers), before the message's own headers:
 *   Received: (from USER@localhost)\n\tby HOST (Postern V/Submit) id QID;\n\tDATE
 *   [Resent-Date:] Date:  [Resent-From:] From:  Full-Name: (when $x is set)
 *   [Resent-Message-Id:] Message-Id: <YYYYMMDDhhmm.QID@HOST>
 *   X-Authentication-Warning: HOST: USER set sender to ADDR using -f
 *     or, for the MAIL FROM of a `sendmail -bs` session (`smtpSession`),
 *   X-Authentication-Warning: HOST: USER owned process doing -bs
 *     sendmail 8.17's srvrsmtp.c adds that one when the caller is not root,
 *     not in class t, and the sender is not the caller's own local address
 *     (measured: `alice`, `alice@localhost`, `alice@$j` pass; `bob`, `<>`,
 *     `boss@example.com` are warned about); it never adds "set sender to" there.
 */
import { ERR, PosternError, type ErrorClass } from '../../common/errors.js';
import type { Invocation } from '../cmdline/invocation.js';
import type { Config } from '../../config/index.js';
import type { PasswdEntry } from '../../privsep/passwd.js';
import type { SystemIdentity } from '../../common/identity.js';
import { POSTERN_VERSION } from '../modes.js';
import { addressKey, parseAddressList } from './addresses.js';
import { arpaDate, fromHeaderValue, gecosFullName, numericTime, quoteFullName } from './compose.js';
import { readMessage } from './reader.js';
import { Header, parseHeaders, TRACE_HEADERS } from './headers.js';

export { addressKey, parseAddressList, qualifiedEnvelopeAddress } from './addresses.js';
export { arpaDate, fromHeaderValue, gecosFullName, quoteFullName } from './compose.js';
export { readMessage } from './reader.js';

export interface SubmissionContext {
  readonly invocation: Invocation;
  readonly config: Config;
  /** the submitting user (SO_PEERCRED / file owner), from the passwd file */
  readonly caller: PasswdEntry;
  readonly identity: SystemIdentity;
  readonly queueId: string;
  /** arrival time; default now */
  readonly now?: Date;
  /** the -C file of a caller who is not root: sendmail's "Processed by USER with -C FILE" */
  readonly untrustedConfig?: string;
  /** the sender is the MAIL FROM of a `sendmail -bs` session, not a -f/-r */
  readonly smtpSession?: boolean;
}

export interface Submission {
  readonly sender: string;
  readonly recipients: string[];
  readonly headers: string;
  readonly body: AsyncIterable<Buffer>;
  readonly hopCount: number;
  readonly fullName: string | undefined;
  readonly messageId: string | undefined;
  readonly warnings: string[];
}

/** A message the MSP will not take; `submission` is kept where sendmail still saves the message (dead.letter). */
export class SubmissionError extends PosternError {
  constructor(
    cls: ErrorClass,
    message: string,
    readonly submission?: Submission,
  ) {
    super(cls, message);
    this.name = 'SubmissionError';
  }
}

function ignoreDots(inv: Invocation, config: Config): boolean {
  // -i and -oi arrive as letter 'i' (text 'T' or the -o value), -O as letter ' '
  let on = config.options.IgnoreDots;
  for (const o of inv.options) {
    if (o.letter === 'i') on = !/^\s*[fn0]/i.test(o.text);
    else if (o.letter === ' ' && /^IgnoreDots\s*(=|$)/i.test(o.text)) on = !/=\s*[fn0]/i.test(o.text);
  }
  return on;
}

/** True when `sender` is the caller's own local name (sendmail: local mailer and same user). */
function isOwnAddress(sender: string, caller: PasswdEntry, identity: SystemIdentity, config: Config): boolean {
  const bare = sender.replace(/^<(.*)>$/, '$1');
  const at = bare.lastIndexOf('@');
  if (at < 0) return bare === caller.name;
  const domain = bare.slice(at + 1).toLowerCase();
  const local = new Set([identity.canonicalName, identity.shortName, 'localhost', ...(config.classes.get('w') ?? [])].map((d) => d.toLowerCase()));
  return bare.slice(0, at) === caller.name && (local.has(domain) || local.has(domain.replace(/^\[|\]$/g, '')));
}

export async function readSubmission(input: AsyncIterable<Buffer | string>, ctx: SubmissionContext): Promise<Submission> {
  const { invocation: inv, config, caller, identity, queueId } = ctx;
  const now = ctx.now ?? new Date();
  const host = identity.canonicalName;
  const raw = await readMessage(input, { ignoreDots: ignoreDots(inv, config), maxHeadersLength: config.options.MaxHeadersLength });
  if (raw.headersTooLarge) {
    throw new SubmissionError(ERR.SUBMIT_HEADERS_TOO_LARGE, `552 5.6.0 Headers too large (${config.options.MaxHeadersLength} max)`);
  }
  const own = parseHeaders(raw.headerLines);
  const has = (name: string) => own.some((h) => h.lname === name);
  const resent = own.some((h) => h.lname.startsWith('resent-'));

  const sender = inv.sender ?? caller.name;
  const senderIsCaller = inv.sender === undefined || isOwnAddress(inv.sender, caller, identity, config);
  let fullName: string | undefined;
  if (inv.fullName !== undefined && inv.fullName !== '') fullName = quoteFullName(inv.fullName);
  else if (senderIsCaller) {
    const g = gecosFullName(caller.gecos, caller.name);
    if (g !== '') fullName = g;
  }
  const senderForHeader = inv.sender ?? caller.name;

  const date = arpaDate(now);
  const messageId = `<${numericTime(now)}.${queueId}@${host}>`;
  const added: Header[] = [];
  const add = (name: string, value: string) => added.push({ name, lname: name.toLowerCase(), text: `${name}: ${value}\n` });
  added.push({
    name: 'Received',
    lname: 'received',
    text: `Received: (from ${caller.name}@localhost)\n\tby ${host} (Postern ${POSTERN_VERSION}/Submit) id ${queueId};\n\t${date}\n`,
  });
  if (resent && !has('resent-date')) add('Resent-Date', date);
  if (!has('date')) add('Date', date);
  const from = fromHeaderValue(fullName, senderForHeader);
  if (resent && !has('resent-from')) add('Resent-From', from);
  if (!has('from')) add('From', from);
  if (fullName !== undefined && !has('full-name')) add('Full-Name', fullName);
  if (resent && !has('resent-message-id')) add('Resent-Message-Id', messageId);
  if (!has('message-id')) add('Message-Id', messageId);

  const warnings: string[] = [];
  const warn = (text: string) => {
    if (config.options.PrivacyOptions.has('authwarnings')) add('X-Authentication-Warning', text);
    warnings.push(text);
  };
  // sendmail's order: the -C warning is raised before the sender is looked at
  if (ctx.untrustedConfig !== undefined) warn(`${host}: Processed by ${caller.name} with -C ${ctx.untrustedConfig}`);
  const trusted = config.classes.get('t')?.has(caller.name) === true;
  if (ctx.smtpSession === true) {
    if (caller.uid !== 0 && !trusted && !isOwnAddress(sender, caller, identity, config)) warn(`${host}: ${caller.name} owned process doing -bs`);
  } else if (inv.sender !== undefined && inv.sender !== caller.name && !trusted && !isOwnAddress(inv.sender, caller, identity, config)) {
    warn(`${host}: ${caller.name} set sender to ${inv.sender} using -${inv.senderFlag ?? 'f'}`);
  }

  // recipients: operands, then (with -t) the headers
  const recipients: string[] = [];
  const seen = new Set<string>();
  const take = (list: string) => {
    for (const a of parseAddressList(list)) {
      const k = addressKey(a);
      if (!seen.has(k)) {
        seen.add(k);
        recipients.push(a);
      }
    }
  };
  for (const op of inv.operands) take(op);
  const rcptFields = resent ? ['resent-to', 'resent-cc', 'resent-bcc'] : ['to', 'cc', 'bcc'];
  if (inv.recipientsFromHeaders) for (const h of own) if (rcptFields.includes(h.lname)) take(h.value);

  const kept = inv.recipientsFromHeaders ? own.filter((h) => h.lname !== 'bcc' && h.lname !== 'resent-bcc') : own;
  const all = [...added, ...kept];
  const hopCount = Math.max(inv.hopCount ?? 0, all.filter((h) => TRACE_HEADERS.has(h.lname)).length);
  const msgIdHeader = own.find((h) => h.lname === 'message-id');
  const submission: Submission = {
    sender,
    recipients,
    headers: all.map((h) => h.text).join('') + '\n',
    body: raw.body,
    hopCount,
    fullName,
    messageId: msgIdHeader !== undefined ? msgIdHeader.value.trim() : messageId,
    warnings,
  };
  if (inv.recipientsFromHeaders && recipients.length === 0) {
    // the rest of the input is not wanted
    for await (const _ of raw.body);
    throw new SubmissionError(ERR.SUBMIT_NO_RECIPIENTS, 'No recipient addresses found in header', submission);
  }
  if (hopCount > config.options.MaxHopCount) {
    throw new SubmissionError(ERR.SUBMIT_TOO_MANY_HOPS,
      `554 5.4.6 Too many hops ${hopCount} (${config.options.MaxHopCount} max): from ${sender} via localhost, to ${recipients[0] ?? '(nobody)'}`,
      submission,
    );
  }
  return submission;
}
