/**
 * The SMTP commands, each answered as sendmail 8.17's smtp() answers it.
 * HELO/EHLO and the mail transaction (MAIL, RCPT, DATA, RSET) are here;
 * the queries (VRFY, EXPN, ETRN, HELP, VERB) are in queries.ts.
 */
import { ERR } from '../../common/errors.js';
import { addressKey } from '../../msp/submission/addresses.js';
import type { Recipient } from '../../queue/envelope.js';
import { parseAddressArgument, type ParsedAddress } from './address.js';
import { isReply, parseMailParams, parseRcptParams, trustedAuthParam, type ParamContext } from './esmtp-params.js';
import { receiveMessage, type SessionFacts } from './message.js';
import { MessageData } from './message-data.js';
import { dsnOffered, ehloKeywords } from './features.js';
import { auth } from './auth-command.js';
import type { CheckOutcome } from './policy.js';
import { etrn, expnOrVrfy, help, verb } from './queries.js';
import { addressReply, classReply, echo, formatMultiline, formatReply } from './replies.js';
import type { Session } from './session.js';
import { starttls } from './starttls.js';
import { xtextify } from '../tls/server-tls.js';
import { refusedAddress, resolvedAddress } from './milters.js';
import type { Reply } from './replies.js';

type SessionFactsQueue = SessionFacts['queue'];

export type Handler = (s: Session, arg: string, line: string, word: string) => Promise<void> | void;

/** sendmail's MAXNAME: a longer HELO name hides the Received: line. */
const MAXNAME = 256;
const MAX_HELO_COMMANDS = 3;

/** A HELO name as sendmail accepts it: letters, digits and `[].-_#:`, trailing blanks allowed. */
function heloName(arg: string): { name: string; valid: boolean } {
  const m = /^([^ \t]*)([ \t]*)(.*)$/s.exec(arg)!;
  const name = m[1]!;
  const valid = /^[A-Za-z0-9[\].\-_#:]*$/.test(name) && m[3] === '';
  return { name, valid };
}

async function hello(s: Session, arg: string, word: string, extended: boolean): Promise<void> {
  s.protocol = extended ? s.esmtpProtocol() : 'SMTP';
  if (await s.tarpit('helo', MAX_HELO_COMMANDS, 'HELO/EHLO')) return;
  // transaction stuffing: nothing may follow HELO/EHLO before its reply
  if (await s.input.hasPending()) {
    s.log?.syslog('info', s.logId, `rejecting server ${extended ? 'EHLO' : 'HELO'} from ${s.hostName} [${s.ip}] due to traffic before response`);
    s.reply(classReply(ERR.SMTP_PROTOCOL_ERROR, 'SMTP protocol error'));
    s.nullServer = 'Command rejected';
    return;
  }
  const bogusOk = s.config.options.AllowBogusHELO;
  if (arg === '' && !bogusOk) return s.say(501, '5.0.0', `${word} requires domain address`);
  if (arg.length > MAXNAME) return s.say(501, '5.0.0', 'Invalid domain name');
  const { name, valid } = heloName(arg);
  if (!valid && !bogusOk) {
    s.log?.info(9, s.logId, `invalid domain name (${arg}) from ${s.authinfo}`);
    return s.say(501, '5.0.0', 'Invalid domain name');
  }
  // a HELO/EHLO starts over, as RSET does
  s.tx = null;
  s.gotHello = true;
  s.heloName = name;
  if (!(await heloToMilters(s, name))) return;
  const greeting = `${s.hostname} Hello ${s.authinfo}, ${valid ? 'pleased to meet you' : 'accepting invalid domain name'}`;
  if (!extended) return s.say(250, '', greeting);
  s.write(formatMultiline(250, '', [greeting, ...(s.nullServer !== null ? ['ENHANCEDSTATUSCODES'] : ehloKeywords(s))]));
}

/**
 * SMFIC_HELO: a refusal does not refuse HELO itself; it makes every later
 * command fail (nullserver, or tempfail for MAIL and friends).  False when
 * a filter closed the session.
 */
async function heloToMilters(s: Session, name: string): Promise<boolean> {
  const m = s.milters;
  if (m === null || s.nullServer !== null) return true;
  const o = await m.chain.helo(name);
  switch (o.action) {
    case 'reject':
      s.nullServer = o.reply ?? 'Command rejected';
      return true;
    case 'tempfail':
      m.tempfail = true;
      return true;
    case 'shutdown':
      m.tempfail = true;
      s.reply(o.reply!);
      s.quit();
      return false;
    default:
      return true;
  }
}

/**
 * A MAIL or RCPT step's verdict: the reply that replaces 250 (and true),
 * or false to go on.  A filter's 421 ends the session after its reply.
 */
function milterRefused(s: Session, o: { action: string; reply?: Reply }): boolean {
  if (o.action === 'continue' || o.action === 'discard' || o.reply === undefined) return false;
  s.reply(o.reply);
  if (o.action === 'shutdown') s.quit();
  return true;
}

/** A recipient the session refused, shown to the filters that asked for those (SMFIP_RCPT_REJ); its reply stands. */
async function refusedToMilters(s: Session, args: string[], reply: Reply): Promise<void> {
  const m = s.milters;
  if (m === null || s.tx === null || s.tx.discard || s.discardAll) return;
  m.recipient = refusedAddress(reply);
  const o = await m.chain.envrcpt(args, true);
  m.recipient = undefined;
  if (o.action === 'shutdown') {
    s.reply(o.reply!);
    s.quit();
  }
}

/** The ESMTP parameters after an address, as words (what SMFIC_MAIL / SMFIC_RCPT carry after the address). */
function argWords(rest: string): string[] {
  return rest.split(/[ \t]+/).filter((w) => w !== '');
}

/** sendmail's skipword(): `FROM:` / `TO:` before the address; the reply on a mistake echoes the first word. */
function skipWord(s: Session, arg: string, wanted: string): string | null {
  const m = /^[ \t]*([^:\s]*)[ \t]*(:?)[ \t]*(.*)$/s.exec(arg)!;
  if (m[2] !== ':' || m[3] === '' || m[1]!.toLowerCase() !== wanted) {
    s.reply(classReply(ERR.SMTP_SYNTAX, `Syntax error in parameters scanning "${echo(m[1]!, s.noReflection)}"`));
    return null;
  }
  return m[3]!;
}

function paramContext(s: Session): ParamContext {
  const o = s.config.options;
  return { dsn: dsnOffered(s), maxMessageSize: o.MaxMessageSize, deliverByMin: o.DeliverByMin, noReflection: s.noReflection };
}

async function mail(s: Session, arg: string): Promise<void> {
  if (!s.gotHello && s.privacy('needmailhelo')) return s.reply(classReply(ERR.SMTP_BAD_SEQUENCE, 'Polite people say HELO first'));
  if (s.tx !== null) return s.reply(classReply(ERR.SMTP_SENDER_TWICE, 'Sender already specified'));
  // M=a: the daemon takes mail from authenticated clients only
  if (s.deps.daemon.Modifiers.includes('a') && s.auth === null) return s.reply(classReply(ERR.SMTP_AUTH_REQUIRED, 'Authentication required'));
  const rest = skipWord(s, arg, 'from');
  if (rest === null) return;
  if (s.milters?.tempfail === true) {
    s.log?.info(9, s.logId, `SMTP MAIL command (${rest.slice(0, 100)}) from ${s.authinfo} tempfailed (due to previous checks)`);
    return s.say(451, '4.3.2', 'Please try again later');
  }
  const addr = parseAddressArgument(rest, 'sender');
  if ('code' in addr) return s.reply(addr);
  const parsed = parseMailParams(addr.rest, paramContext(s));
  if (isReply(parsed)) return s.reply(parsed);
  // AUTH= is believed only from a client authenticated as that identity ({auth_authen}, xtext as sendmail keeps it)
  const params = parsed.auth === undefined ? parsed : { ...parsed, auth: trustedAuthParam(parsed.auth, s.auth === null ? null : xtextify(s.auth.authen, '<>")')) };
  const check = s.deps.policy?.checkSender(addr.written, addr.local, addr.domain) ?? { kind: 'pass' };
  if (rulesetRefused(s, 'check_mail', addr.written, check)) return;
  s.protocol ??= 'SMTP';
  const warnings = s.gotHello ? [] : [`${s.authinfo} didn't use HELO protocol`];
  let queueId: string | undefined;
  let milterDiscard = false;
  const m = s.milters;
  if (m !== null && check.kind !== 'discard' && !s.discardAll) {
    // filters log with the queue id and are sent it as $i: sendmail has one from MAIL on
    queueId = await s.deps.queue.assignId();
    m.chain.logId = queueId;
    m.queueId = queueId;
    m.sender = resolvedAddress(addr, addr.domain === '' || s.deps.judge.isLocalDomain(addr.domain));
    const o = await m.chain.envfrom([addr.written, ...argWords(addr.rest)]);
    if (milterRefused(s, o)) return;
    milterDiscard = o.action === 'discard';
  }
  s.tx = {
    queueId,
    senderWritten: addr.written,
    sender: addr.mailbox,
    params,
    recipients: [],
    recipientsWritten: [],
    warnings,
    seen: new Map(),
    accepted: 0,
    discard: check.kind === 'discard' || milterDiscard,
  };
  s.say(250, '2.1.0', `${addr.written}... Sender ok`);
}

/** A check_mail / check_rcpt refusal from the access map: replied and logged as sendmail's rscheck logs it. */
function rulesetRefused(s: Session, ruleset: string, arg1: string, check: CheckOutcome): boolean {
  if (check.kind === 'pass') return false;
  if (check.kind === 'discard') {
    s.log?.logRuleset(s.logId, { ruleset, arg1, relay: s.authinfo, outcome: { kind: 'discard' } });
    return false;
  }
  s.reply(check.reply);
  s.log?.logRuleset(s.logId, { ruleset, arg1, relay: s.authinfo, outcome: { kind: 'reject', reply: formatReply(check.reply).replace(/\r\n$/, '') } });
  return true;
}

/** The key under which two spellings of a recipient are the same (the local part of a local user is case-blind). */
function recipientKey(addr: ParsedAddress, local: boolean): string {
  return local ? addr.mailbox.toLowerCase() : addressKey(addr.mailbox);
}

async function rcpt(s: Session, arg: string): Promise<void> {
  const tx = s.tx;
  if (tx === null) return s.reply(classReply(ERR.SMTP_BAD_SEQUENCE, 'Need MAIL before RCPT'));
  const max = s.config.options.MaxRecipientsPerMessage;
  if (max > 0 && tx.accepted >= max) return s.reply(classReply(ERR.SMTP_TOO_MANY_RECIPIENTS, 'Too many recipients'));
  const rest = skipWord(s, arg, 'to');
  if (rest === null) return;
  const addr = parseAddressArgument(rest, 'recipient');
  if ('code' in addr) return s.reply(addr);
  if (addr.mailbox === '') return s.reply(addressReply(553, '5.0.0', addr.written, 'User address required'));
  const params = parseRcptParams(addr.rest, paramContext(s));
  if (isReply(params)) return s.reply(params);
  const judge = s.deps.judge;
  const localDomain = addr.route.every((h) => judge.isLocalDomain(h)) && judge.isLocalDomain(addr.domain);
  const check = s.deps.policy?.checkRecipient(addr.written, addr.local, addr.domain, localDomain) ?? { kind: 'pass' };
  const milterArgs = [addr.written, ...argWords(addr.rest)];
  if (rulesetRefused(s, 'check_rcpt', addr.written, check)) {
    if (check.kind === 'reject') await refusedToMilters(s, milterArgs, check.reply);
    return;
  }
  if (check.kind === 'discard') tx.discard = true;
  const verdict = judge.judge(addr, { address: s.address, authinfo: s.authinfo, facts: s.clientFacts() });
  if ('code' in verdict) {
    const text = `${verdict.code} ${verdict.status} ${verdict.text}`;
    if (verdict.code === ERR.SMTP_RELAYING_DENIED.smtp && verdict.status === ERR.SMTP_RELAYING_DENIED.status) {
      s.log?.logRuleset(s.logId, { ruleset: 'check_rcpt', arg1: addr.written, relay: s.authinfo, outcome: { kind: 'reject', reply: text } });
    } else {
      s.log?.logUserError(s.logId, addr.written, verdict.text.replace(/^.*?\.\.\. /, ''));
    }
    s.reply(verdict);
    return refusedToMilters(s, milterArgs, verdict);
  }
  const m = s.milters;
  if (m !== null && !tx.discard && !s.discardAll) {
    m.recipient = resolvedAddress(addr, verdict.kind === 'local');
    const o = await m.chain.envrcpt(milterArgs);
    m.recipient = undefined;
    if (milterRefused(s, o)) return;
    if (o.action === 'discard') tx.discard = true;
  }
  const key = recipientKey(addr, verdict.kind === 'local');
  const first = tx.seen.get(key);
  if (first === undefined) {
    tx.queueId ??= await s.deps.queue.assignId();
    tx.seen.set(key, addr.written);
    const r: Recipient = {
      address: addr.mailbox,
      state: 'pending',
      ...(params.orcpt !== undefined ? { orcpt: params.orcpt } : {}),
      ...(params.notify !== undefined ? { notify: params.notify } : {}),
    };
    tx.recipients.push(r);
    tx.recipientsWritten.push(addr.written);
  }
  tx.accepted++;
  s.say(250, '2.1.5', `${first ?? addr.written}... Recipient ok`);
}

async function data(s: Session): Promise<void> {
  const tx = s.tx;
  if (tx === null) return s.reply(classReply(ERR.SMTP_BAD_SEQUENCE, 'Need MAIL command'));
  if (tx.accepted === 0 || tx.queueId === undefined) return s.reply(classReply(ERR.SMTP_BAD_SEQUENCE, 'Need RCPT (recipient)'));
  // transaction stuffing: the text may only come after 354; sendmail ends the session
  if (await s.input.hasPending()) {
    s.log?.syslog('info', s.logId, `rejecting server DATA from ${s.hostName} [${s.ip}] due to traffic before response`);
    s.reply(classReply(ERR.SMTP_PROTOCOL_ERROR, 'SMTP protocol error'));
    return s.quit();
  }
  const m = s.milters;
  if (m !== null && !tx.discard && !s.discardAll) {
    const o = await m.chain.data();
    // a refused DATA leaves the transaction as it was, as sendmail's smtp_data does
    if (milterRefused(s, o)) return;
    if (o.action === 'discard') tx.discard = true;
  }
  s.say(354, '', 'End data with <CR><LF>.<CR><LF>');
  const o = s.config.options;
  const text = new MessageData(s.input, { maxSize: o.MaxMessageSize, timeoutMs: o.Timeout.datablock * 1000 });
  const discard = tx.discard || s.discardAll;
  const facts = {
    config: s.config,
    identity: s.deps.identity,
    queue: discard ? DISCARDING_SINK : s.deps.queue,
    heloName: s.heloName ?? s.hostName,
    authinfo: s.authinfo,
    protocol: s.protocol ?? 'SMTP',
    now: s.deps.now(),
    macros: s.sessionMacros(),
    ...(m !== null && !discard ? { milters: m } : {}),
  };
  const outcome = await receiveMessage(text, facts, { ...tx, queueId: tx.queueId });
  s.tx = null;
  if (outcome.kind === 'shutdown') {
    s.reply(outcome.reply);
    return s.quit();
  }
  if (outcome.kind !== 'accepted') await m?.chain.abort();
  if (outcome.kind === 'broken') {
    const e = outcome.error;
    const bare = e.problem === 'bare-lf' || e.problem === 'bare-cr';
    const where = bare ? `, where=${e.where}, status=tempfail` : '';
    const line = `collect: relay=${s.hostName}, from=${tx.senderWritten}, info=${e.message}${where}`;
    s.log?.notice(0, tx.queueId, line);
    s.say(421, e.status, bare ? e.message : line);
    return s.close();
  }
  if (outcome.kind === 'refused') return s.reply(outcome.reply);
  s.log?.logSender(tx.queueId, {
    from: tx.senderWritten,
    size: outcome.size,
    class: outcome.priorityClass,
    nrcpts: tx.recipients.length,
    ...(outcome.messageId !== undefined ? { msgid: outcome.messageId } : {}),
    ...(tx.params.body !== undefined ? { bodytype: tx.params.body } : {}),
    proto: facts.protocol,
    daemon: s.deps.daemon.Name,
    relay: { kind: 'authinfo', authinfo: s.authinfo },
  });
  // DISCARD: the client is told what it would be told, and the message goes nowhere
  if (discard || outcome.discarded === true) s.log?.info(4, tx.queueId, 'discarded');
  s.say(250, '2.0.0', `${tx.queueId} Message accepted for delivery`);
}

/** Where a discarded message's text goes: read to its end (size, Message-Id and errors as for any other), kept nowhere. */
const DISCARDING_SINK: SessionFactsQueue = {
  assignId: () => Promise.reject(new Error('a discarded message needs no queue id')),
  accept: async (_envelope, content) => {
    for await (const _chunk of content) {
      // dropped
    }
  },
};

const notImplemented: Handler = (s, _arg, line) => {
  s.reply(classReply(ERR.SMTP_NOT_IMPLEMENTED, `Command not implemented: "${echo(line, s.noReflection)}"`));
};

/** Commands sendmail only lists to log who tries them. */
const bogus: Handler = (s, _arg, line, word) => {
  s.log?.log(0, 'crit', s.logId, `"${word.toLowerCase()}" command from ${s.authinfo} (${s.ip})`);
  s.unknownCommand(line);
};

export const COMMANDS = {
  helo: (s, arg, _line, word) => hello(s, arg, word, false),
  ehlo: (s, arg, _line, word) => hello(s, arg, word, true),
  mail: (s, arg) => mail(s, arg),
  rcpt: (s, arg) => rcpt(s, arg),
  data: (s) => data(s),
  rset: async (s) => {
    s.tx = null;
    await s.milters?.chain.abort();
    s.say(250, '2.0.0', 'Reset state');
  },
  vrfy: (s, arg, line) => expnOrVrfy(s, arg, line, true),
  expn: (s, arg, line) => expnOrVrfy(s, arg, line, false),
  help: (s, arg) => help(s, arg),
  noop: async (s) => {
    if (await s.tarpit('noop', s.config.options.MaxNOOPCommands, 'NOOP')) return;
    s.say(250, '2.0.0', 'OK');
  },
  quit: (s) => {
    s.say(221, '2.0.0', `${s.hostname} closing connection`);
    s.quit();
  },
  etrn: (s, arg, line) => etrn(s, arg, line),
  verb: (s) => verb(s),
  send: notImplemented,
  saml: notImplemented,
  soml: notImplemented,
  turn: notImplemented,
  auth: (s, arg) => auth(s, arg),
  starttls: (s, arg) => starttls(s, arg),
  showq: bogus,
  debug: bogus,
  wiz: bogus,
} satisfies Record<string, Handler>;

export type CommandName = keyof typeof COMMANDS;
