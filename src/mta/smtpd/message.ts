/**
 * A message received over SMTP becomes a queued message: its header block
 * is read (at most MaxHeadersLength), the headers sendmail.cf's H lines
 * define are added as sendmail adds them (Received always, first; Date,
 * From, Message-Id and the others only when the message lacks them: sendmail
 * adds them to relayed mail too, they are "default" headers of every
 * envelope), and the text is streamed into the queue.  The caller replies
 * 250 only once accept() has resolved, that is once the message is on disk.
 */
import { ERR, isPosternError } from '../../common/errors.js';
import type { SystemIdentity } from '../../common/identity.js';
import type { Config, HeaderDef } from '../../config/index.js';
import { expandMacros } from '../../config/index.js';
import { POSTERN_VERSION } from '../../msp/modes.js';
import { arpaDate, numericTime } from '../../msp/submission/compose.js';
import { parseHeaders, TRACE_HEADERS, type Header } from '../../msp/submission/headers.js';
import type { Envelope, Recipient } from '../../queue/envelope.js';
import type { QueueSink } from '../local-submission.js';
import type { MailParams } from './esmtp-params.js';
import { splitHeaderBlock } from './header-block.js';
import { filterMessage } from './milter-message.js';
import type { SessionMilters } from './milters.js';
import { MessageReadError, type MessageData } from './message-data.js';
import { classReply, type Reply } from './replies.js';

/** sendmail's m4 Received template (cfhead.m4's confRECEIVED_HEADER), for a sendmail.cf without an HReceived line. */
const DEFAULT_RECEIVED =
  '$?sfrom $s $.$?_($?s$|from $.$_)\n\t$.$?{auth_type}(authenticated$?{auth_ssf} bits=${auth_ssf}$.)\n\t$.by $j ($v/$Z)$?r with $r$. id $i$?{tls_version}\n\t(version=${tls_version} cipher=${cipher} bits=${cipher_bits} verify=${verify})$.$?u\n\tfor $u; $|;\n\t$.$b';

export interface Transaction {
  readonly queueId: string;
  /** MAIL FROM's address as written (`<a@b>`) and without brackets ('' for `<>`) */
  readonly senderWritten: string;
  readonly sender: string;
  readonly params: MailParams;
  readonly recipients: Recipient[];
  /** the recipients as first written (`<b@c>`), for $u */
  readonly recipientsWritten: string[];
  /** X-Authentication-Warning texts (`host [ip] didn't use HELO protocol`), added under PrivacyOptions=authwarnings */
  readonly warnings: readonly string[];
}

export interface SessionFacts {
  readonly config: Config;
  readonly identity: SystemIdentity;
  readonly queue: QueueSink;
  /** $s: the HELO/EHLO name, else the client's host name */
  readonly heloName: string;
  /** $_: `host [ip]` */
  readonly authinfo: string;
  /** $r: ESMTP or SMTP */
  readonly protocol: string;
  readonly now: Date;
  /** the session's macros: {tls_version}, {cipher}, {cipher_bits}, {verify}, {auth_type}, {auth_authen}, {auth_ssf}... */
  readonly macros?: ReadonlyMap<string, string>;
  /** the session's filters, which see the message before it is queued */
  readonly milters?: SessionMilters;
}

export type MessageOutcome =
  /** queued, or (discarded) dropped by a filter after being read in full */
  | { readonly kind: 'accepted'; readonly size: number; readonly messageId: string | undefined; readonly priorityClass: number; readonly discarded?: boolean }
  /** a filter closed the session: write the reply, then quit */
  | { readonly kind: 'shutdown'; readonly reply: Reply }
  /** refused with a reply; the session goes on */
  | { readonly kind: 'refused'; readonly reply: Reply }
  /** the text could not be read (bare line end, client gone): the session ends */
  | { readonly kind: 'broken'; readonly error: MessageReadError };

/** Macro values of this message, over those of sendmail.cf's D lines. */
function macroLookup(facts: SessionFacts, tx: Transaction, own: readonly Header[]): (name: string) => string | undefined {
  const date = arpaDate(facts.now);
  const fullName = own.find((h) => h.lname === 'full-name');
  const values: Record<string, string | undefined> = {
    j: facts.config.macros.get('j') ?? facts.identity.canonicalName,
    w: facts.config.macros.get('w') ?? facts.identity.shortName,
    m: facts.config.macros.get('m') ?? facts.identity.domain,
    k: facts.config.macros.get('k') ?? facts.identity.nodeName,
    v: POSTERN_VERSION,
    s: facts.heloName,
    _: facts.authinfo,
    r: facts.protocol,
    i: tx.queueId,
    u: tx.recipientsWritten.length === 1 ? tx.recipientsWritten[0] : undefined,
    a: date,
    b: date,
    d: date,
    t: numericTime(facts.now),
    f: tx.sender === '' ? (facts.config.macros.get('n') ?? 'MAILER-DAEMON') : tx.sender,
    g: tx.sender === '' ? (facts.config.macros.get('n') ?? 'MAILER-DAEMON') : tx.sender,
    x: fullName === undefined ? undefined : fullName.text.slice(fullName.text.indexOf(':') + 1).trim(),
  };
  return (name) => (name in values ? values[name] : (facts.macros?.get(name) ?? facts.config.macros.get(name)));
}

/** The value of the first field of that name (lower case), trimmed. */
function headerValue(headers: readonly Header[], lname: string): string | undefined {
  const h = headers.find((x) => x.lname === lname);
  return h === undefined ? undefined : h.text.slice(h.text.indexOf(':') + 1).trim();
}

function headerText(name: string, value: string): Header {
  return { name, lname: name.toLowerCase(), text: `${name}: ${value}\n` };
}

/** The headers to put before the message's own: Received, then the missing defaults in sendmail.cf's order. */
export function addedHeaders(facts: SessionFacts, tx: Transaction, own: readonly Header[]): Header[] {
  const macros = macroLookup(facts, tx, own);
  const has = (lname: string) => own.some((h) => h.lname === lname);
  const resent = own.some((h) => h.lname.startsWith('resent-'));
  const defs: readonly HeaderDef[] = facts.config.headers;
  const received = defs.find((h) => h.name.toLowerCase() === 'received');
  const out: Header[] = [headerText('Received', expandMacros(received?.value ?? DEFAULT_RECEIVED, macros))];
  for (const def of defs) {
    const lname = def.name.toLowerCase();
    // Return-Path is written by the delivering mailer (F=P), not kept in the queue
    if (lname === 'received' || lname === 'return-path' || has(lname)) continue;
    if (lname.startsWith('resent-') && !resent) continue;
    if (def.macroCondition !== null && (macros(def.macroCondition.replace(/^\{|\}$/g, '')) ?? '') === '') continue;
    const value = expandMacros(def.value, macros);
    if (value.trim() === '') continue;
    out.push(headerText(def.name, value));
  }
  if (facts.config.options.PrivacyOptions.has('authwarnings')) {
    for (const w of tx.warnings) out.push(headerText('X-Authentication-Warning', `${macros('j')}: ${w}`));
  }
  return out;
}

function precedenceClass(config: Config, own: readonly Header[]): number {
  const h = own.find((x) => x.lname === 'precedence');
  if (h === undefined) return 0;
  const word = h.text.slice(h.text.indexOf(':') + 1).trim().toLowerCase();
  for (const [name, value] of config.precedences) if (name.toLowerCase() === word) return value;
  return 0;
}

/** Why the queue refused: out of space, or another failure; the rest of the text is read and dropped first. */
async function queueFailure(e: unknown, data: MessageData): Promise<MessageOutcome> {
  if (e instanceof MessageReadError) return { kind: 'broken', error: e };
  if (isPosternError(e, ERR.SMTP_MESSAGE_TOO_BIG)) return { kind: 'refused', reply: classReply(ERR.SMTP_MESSAGE_TOO_BIG, e.message) };
  try {
    await data.drain();
  } catch (d) {
    if (d instanceof MessageReadError) return { kind: 'broken', error: d };
    throw d;
  }
  if (isPosternError(e, ERR.OS_NO_SPACE)) return { kind: 'refused', reply: classReply(ERR.OS_NO_SPACE, 'Insufficient disk space; try again later') };
  return { kind: 'refused', reply: classReply(ERR.OS_CALL_FAILED, 'Temporary system failure. Please try again later.') };
}

/** Reads the message text after `354` and queues it. */
export async function receiveMessage(data: MessageData, facts: SessionFacts, tx: Transaction): Promise<MessageOutcome> {
  const maxHeaders = facts.config.options.MaxHeadersLength;
  let raw;
  try {
    raw = await splitHeaderBlock(data.text(), maxHeaders);
  } catch (e) {
    return queueFailure(e, data);
  }
  if (raw.headersTooLarge) {
    return { kind: 'refused', reply: classReply(ERR.SMTP_HEADERS_TOO_LARGE, `Headers too large (${maxHeaders} max)`) };
  }
  const own = parseHeaders(raw.headerLines);
  const added = addedHeaders(facts, tx, own);
  const all = [...added, ...own];
  let messageId = headerValue(all, 'message-id');
  const arrival = facts.now.getTime();
  let envelope: Envelope = {
    id: tx.queueId,
    sender: tx.sender,
    recipients: tx.recipients,
    ...(tx.params.envid !== undefined ? { envid: tx.params.envid } : {}),
    ...(tx.params.ret !== undefined ? { ret: tx.params.ret } : {}),
    ...(tx.params.body !== undefined ? { bodyType: tx.params.body } : {}),
    ...(tx.params.auth !== undefined ? { auth: tx.params.auth } : {}),
    hopCount: all.filter((h) => TRACE_HEADERS.has(h.lname)).length,
    protocol: facts.protocol,
    relay: facts.authinfo,
    arrival,
    size: 0,
    ...(messageId !== undefined ? { messageId } : {}),
    attempts: 0,
    nextAttempt: arrival,
  };
  let headerBlock = all.map((h) => h.text).join('');
  let body = raw.body;
  let release = async () => {};
  if (facts.milters !== undefined) {
    let filtered;
    try {
      filtered = await filterMessage(facts.milters, { added, own, body, envelope, messageId });
    } catch (e) {
      return queueFailure(e, data);
    }
    if (filtered.kind === 'discard') return { kind: 'accepted', size: data.size, messageId, priorityClass: precedenceClass(facts.config, own), discarded: true };
    if (filtered.kind === 'refused') return { kind: 'refused', reply: filtered.reply };
    if (filtered.kind === 'shutdown') return filtered;
    ({ headerText: headerBlock, body, envelope } = filtered);
    release = filtered.dispose;
    // a filter may have changed it
    messageId = headerValue(parseHeaders(headerBlock.split(/(?<=\n)/)), 'message-id');
    if (messageId === undefined) delete (envelope as { messageId?: string }).messageId;
    else envelope = { ...envelope, messageId };
  }
  let size = 0;
  const content = (async function* () {
    const head = Buffer.from(headerBlock + '\n', 'latin1');
    size += head.length;
    yield head;
    for await (const chunk of body) {
      size += chunk.length;
      yield chunk;
    }
  })();
  try {
    await facts.queue.accept(envelope, content);
  } catch (e) {
    return queueFailure(e, data);
  } finally {
    await release();
  }
  return { kind: 'accepted', size, messageId, priorityClass: precedenceClass(facts.config, own) };
}
