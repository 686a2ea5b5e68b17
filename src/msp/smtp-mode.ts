/**
 * `sendmail -bs`: SMTP on standard input and output, as the caller, under
 * submit.cf, as sendmail's MSP speaks it (greeting `/Submit`, `Hello
 * USER@localhost`, no EXPN/VERB/ETRN under PrivacyOptions=goaway).  Each
 * accepted message goes to the daemon's submission socket as `sendmail -f
 * SENDER RCPT...` would send it, so the daemon makes its headers and takes
 * its trust decisions (X-Authentication-Warning for a sender the caller may
 * not claim).  With no daemon, or one that cannot take it now, it waits in
 * the client queue and the client hears 250, as sendmail's MSP answers; a
 * refusal (5xx) is the client's reply (sendmail's MSP answers 250 and
 * mails the sender a bounce).
 *
 * A loop of its own rather than the daemon's Session: that one is built on
 * a TCP socket (peer address, STARTTLS, AUTH), judges recipients and relay
 * rights, and ends in composing the MTA's headers and queueing locally;
 * none of that applies here.  The input side is shared (SmtpInput,
 * MessageData), so the anti-smuggling rules are the same: input waiting
 * after EHLO or DATA is a protocol error, which makes `sendmail -bs < file`
 * fail as Debian's 8.17 does, and a bare LF in the text ends the session.
 */
import { writeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { ERR, isPosternError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { EX } from '../common/sysexits.js';
import { expandMacros, type Config } from '../config/index.js';
import { systemIdentity } from '../common/identity.js';
import { parseAddressArgument } from '../mta/smtpd/address.js';
import { isReply, parseMailParams, parseRcptParams, type MailParams, type ParamContext } from '../mta/smtpd/esmtp-params.js';
import { withoutCR } from '../mta/smtpd/header-block.js';
import { helpReply } from '../mta/smtpd/help.js';
import { SmtpInput } from '../mta/smtpd/input.js';
import { MessageData, MessageReadError } from '../mta/smtpd/message-data.js';
import { classReply, echo, formatMultiline, formatReply, type Reply } from '../mta/smtpd/replies.js';
import { spoolBody, type SpooledBody } from '../milter/spool.js';
import type { Notify } from '../queue/envelope.js';
import type { Invocation } from './cmdline/invocation.js';
import { POSTERN_VERSION } from './modes.js';
import type { Caller } from './permissions.js';
import { arpaDate } from './submission/compose.js';
import { submissionRequest, submitSocketPath } from './submit.js';
import { submitMessage, type SubmissionReply, type SubmissionRequest } from './submit-protocol.js';
import { isTemporary } from './submit-wire.js';

const DAEMON_ABSENT = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK']);
const MAX_BAD_COMMANDS = 25;
const KNOWN = new Set(['helo', 'ehlo', 'mail', 'rcpt', 'data', 'rset', 'noop', 'quit', 'help', 'vrfy', 'expn', 'etrn', 'verb']);

interface Transaction {
  readonly sender: string;
  readonly params: MailParams;
  readonly recipients: string[];
  notify: Notify | undefined;
}

class BsSession {
  private readonly input = new SmtpInput(process.stdin as unknown as Socket);
  private readonly host: string;
  private readonly authinfo: string;
  private gotHello = false;
  private nullServer = false;
  private tx: Transaction | null = null;
  private bad = 0;
  done = false;

  constructor(
    private readonly inv: Invocation,
    private readonly config: Config,
    private readonly caller: Caller,
    private readonly log: Logger,
  ) {
    this.host = config.macros.get('j') ?? systemIdentity().canonicalName;
    this.authinfo = `${caller.name}@localhost`;
  }

  private write(text: string): void {
    const data = Buffer.from(text, 'latin1');
    for (let off = 0; off < data.length; ) {
      try {
        off += writeSync(1, data, off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') continue;
        this.done = true; // the client is gone (EPIPE)
        return;
      }
    }
  }

  private reply(r: Reply): void {
    this.write(formatReply(r));
  }

  private say(code: number, status: string, text: string): void {
    this.reply({ code, status, text });
  }

  private privacy(flag: Parameters<Config['options']['PrivacyOptions']['has']>[0]): boolean {
    return this.config.options.PrivacyOptions.has(flag);
  }

  private macro = (name: string): string | undefined => {
    if (name === 'j') return this.host;
    if (name === 'v') return POSTERN_VERSION;
    if (name === 'b') return arpaDate(new Date());
    if (name === '_') return this.authinfo;
    return this.config.macros.get(name);
  };

  private params(): ParamContext {
    const o = this.config.options;
    return { dsn: !this.privacy('noreceipts'), maxMessageSize: o.MaxMessageSize, deliverByMin: o.DeliverByMin, noReflection: this.privacy('noreflection') };
  }

  greet(): void {
    const text = expandMacros(this.config.options.SmtpGreetingMessage ?? '$j Postern $v/$Z; $b', this.macro);
    const lines = text.split('\n');
    const first = lines[0]!;
    const space = first.indexOf(' ');
    lines[0] = space < 0 ? `${first} ESMTP` : `${first.slice(0, space)} ESMTP${first.slice(space)}`;
    this.write(lines.map((l, i) => `220${i < lines.length - 1 ? '-' : ' '}${l}\r\n`).join(''));
  }

  /** The EHLO keywords of the MSP: the daemon's rules, without what PrivacyOptions withholds. */
  private keywords(): string[] {
    const o = this.config.options;
    const k = ['ENHANCEDSTATUSCODES', 'PIPELINING'];
    if (!this.privacy('noexpn')) {
      k.push('EXPN');
      if (!this.privacy('noverb')) k.push('VERB');
    }
    k.push('8BITMIME', o.MaxMessageSize > 0 ? `SIZE ${o.MaxMessageSize}` : 'SIZE');
    if (!this.privacy('noreceipts')) k.push('DSN');
    if (!this.privacy('noetrn')) k.push('ETRN');
    if (o.DeliverByMin > 0) k.push(`DELIVERBY ${o.DeliverByMin}`);
    else if (o.DeliverByMin === 0) k.push('DELIVERBY');
    k.push('HELP');
    return k;
  }

  async step(): Promise<void> {
    const r = await this.input.readLine(this.config.options.Timeout.command * 1000);
    if (r.kind === 'eof' || r.kind === 'timeout') {
      this.say(421, '4.4.1', `${this.host} Lost input channel from ${this.authinfo}`);
      this.done = true;
      return;
    }
    if (r.kind === 'too-long') {
      this.say(421, '4.7.0', `${this.host} Command too long, possible attack ${this.authinfo}`);
      this.done = true;
      return;
    }
    const m = /^[ \t]*(\S*)[ \t]*(.*)$/s.exec(r.text)!;
    const word = m[1]!.toLowerCase();
    const arg = m[2]!;
    // an unknown command is answered 500 even then, as sendmail's CMDERROR
    if (this.nullServer && KNOWN.has(word) && !['quit', 'helo', 'ehlo', 'noop', 'rset'].includes(word)) {
      if (this.tooManyBad()) return;
      return this.reply(classReply(ERR.SMTP_COMMAND_REJECTED, 'Command rejected'));
    }
    switch (word) {
      case 'helo':
      case 'ehlo':
        return this.hello(arg, m[1]!, word === 'ehlo');
      case 'mail':
        return this.mail(arg);
      case 'rcpt':
        return this.rcpt(arg);
      case 'data':
        return this.data();
      case 'rset':
        this.tx = null;
        return this.say(250, '2.0.0', 'Reset state');
      case 'noop':
        return this.say(250, '2.0.0', 'OK');
      case 'quit':
        this.say(221, '2.0.0', `${this.host} closing connection`);
        this.done = true;
        return;
      case 'help':
        return this.write(helpReply(this.config.options.HelpFile, arg, this.macro));
      case 'vrfy':
        if (this.privacy('novrfy')) return this.say(252, '2.5.2', 'Cannot VRFY user; try RCPT to attempt delivery (or try finger)');
        return this.say(252, '2.1.5', `<${arg.trim().replace(/^<|>$/g, '')}>`);
      case 'expn':
      case 'etrn':
        return this.reply(classReply(ERR.SMTP_NOT_ALLOWED, 'Sorry, we do not allow this operation'));
      case 'verb':
        return this.reply(classReply(ERR.SMTP_NOT_ALLOWED, 'Verbose unavailable'));
      default:
        if (this.tooManyBad()) return;
        return this.reply(classReply(ERR.SMTP_UNRECOGNIZED, `Command unrecognized: "${echo(r.text, this.privacy('noreflection'))}"`));
    }
  }

  private tooManyBad(): boolean {
    if (++this.bad <= MAX_BAD_COMMANDS) return false;
    this.say(421, ERR.SMTP_TOO_MANY_BAD_COMMANDS.status, `${this.host} Too many bad commands; closing connection`);
    this.done = true;
    return true;
  }

  private async hello(arg: string, word: string, extended: boolean): Promise<void> {
    // nothing may follow HELO/EHLO before its reply: `sendmail -bs < file` stops here, as Debian's 8.17 does
    if (await this.input.hasPending()) {
      this.reply(classReply(ERR.SMTP_PROTOCOL_ERROR, 'SMTP protocol error'));
      this.nullServer = true;
      return;
    }
    const name = arg.trim();
    if (name === '') return this.say(501, '5.0.0', `${word} requires domain address`);
    if (!/^[A-Za-z0-9[\].\-_#:]+$/.test(name)) return this.say(501, '5.0.0', 'Invalid domain name');
    this.tx = null;
    this.gotHello = true;
    const greeting = `${this.host} Hello ${this.authinfo}, pleased to meet you`;
    if (!extended) return this.say(250, '', greeting);
    this.write(formatMultiline(250, '', [greeting, ...this.keywords()]));
  }

  private argument(arg: string, wanted: string): string | null {
    const m = /^[ \t]*([^:\s]*)[ \t]*(:?)[ \t]*(.*)$/s.exec(arg)!;
    if (m[2] !== ':' || m[3] === '' || m[1]!.toLowerCase() !== wanted) {
      this.reply(classReply(ERR.SMTP_SYNTAX, `Syntax error in parameters scanning "${echo(m[1]!, this.privacy('noreflection'))}"`));
      return null;
    }
    return m[3]!;
  }

  private mail(arg: string): void {
    if (!this.gotHello && this.privacy('needmailhelo')) return this.reply(classReply(ERR.SMTP_BAD_SEQUENCE, 'Polite people say HELO first'));
    if (this.tx !== null) return this.reply(classReply(ERR.SMTP_SENDER_TWICE, 'Sender already specified'));
    const rest = this.argument(arg, 'from');
    if (rest === null) return;
    const addr = parseAddressArgument(rest, 'sender');
    if ('code' in addr) return this.reply(addr);
    const params = parseMailParams(addr.rest, this.params());
    if (isReply(params)) return this.reply(params);
    this.tx = { sender: addr.mailbox === '' ? '<>' : addr.mailbox, params, recipients: [], notify: undefined };
    this.say(250, '2.1.0', `${addr.written}... Sender ok`);
  }

  private rcpt(arg: string): void {
    const tx = this.tx;
    if (tx === null) return this.reply(classReply(ERR.SMTP_BAD_SEQUENCE, 'Need MAIL before RCPT'));
    const rest = this.argument(arg, 'to');
    if (rest === null) return;
    const addr = parseAddressArgument(rest, 'recipient');
    if ('code' in addr) return this.reply(addr);
    if (addr.mailbox === '') return this.say(553, '5.0.0', `${addr.written}... User address required`);
    const params = parseRcptParams(addr.rest, this.params());
    if (isReply(params)) return this.reply(params);
    // one NOTIFY for the submission: the request carries -N's, which is per message
    tx.notify ??= params.notify;
    tx.recipients.push(addr.mailbox);
    this.say(250, '2.1.5', `${addr.written}... Recipient ok`);
  }

  private async data(): Promise<void> {
    const tx = this.tx;
    if (tx === null) return this.reply(classReply(ERR.SMTP_BAD_SEQUENCE, 'Need MAIL command'));
    if (tx.recipients.length === 0) return this.reply(classReply(ERR.SMTP_BAD_SEQUENCE, 'Need RCPT (recipient)'));
    if (await this.input.hasPending()) {
      this.reply(classReply(ERR.SMTP_PROTOCOL_ERROR, 'SMTP protocol error'));
      this.done = true;
      return;
    }
    this.say(354, '', 'End data with <CR><LF>.<CR><LF>');
    const o = this.config.options;
    const text = new MessageData(this.input, { maxSize: o.MaxMessageSize, timeoutMs: o.Timeout.datablock * 1000 });
    this.tx = null;
    const request: SubmissionRequest = {
      ...submissionRequest(this.inv, this.config, this.caller),
      sender: tx.sender,
      // the daemon words its warning as sendmail's -bs does ("owned process doing -bs")
      senderFlag: 'bs',
      recipients: tx.recipients,
      recipientsFromHeaders: false,
      // the dots are already taken off: a line with a lone dot is text
      ignoreDots: true,
      ...(tx.notify !== undefined ? { notify: tx.notify } : {}),
      ...(tx.params.ret !== undefined ? { ret: tx.params.ret } : {}),
      ...(tx.params.envid !== undefined ? { envid: tx.params.envid } : {}),
      ...(tx.params.body !== undefined ? { bodyType: tx.params.body } : {}),
    };
    // the whole text first: a message cut short (bare LF, lost input) must never reach the daemon as if complete
    let spooled;
    try {
      spooled = await spoolBody(
        (async function* () {
          for await (const chunk of text.text()) yield withoutCR(chunk);
        })(),
      );
    } catch (e) {
      if (e instanceof MessageReadError) {
        const bare = e.problem === 'bare-lf' || e.problem === 'bare-cr';
        this.say(421, e.status, bare ? e.message : `${this.host} Lost input channel from ${this.authinfo}`);
        this.done = true;
        return;
      }
      if (isPosternError(e, ERR.SMTP_MESSAGE_TOO_BIG)) return this.reply(classReply(ERR.SMTP_MESSAGE_TOO_BIG, e.message));
      throw e;
    }
    let reply: SubmissionReply;
    try {
      reply = await this.submit(request, spooled);
      // a daemon that cannot take it now: the client queue keeps it and the client hears
      // 250, as sendmail 8.17's MSP answers (measured: 451 at the MTA, 250 and the
      // message waiting in clientmqueue, "Deferred: 451 ...")
      if (!reply.ok && isTemporary(reply) && this.config.options.QueueDirectory !== null) {
        const kept = await this.keep(request, spooled);
        if (kept.ok) {
          // logged as -t logs it (submit.ts): the id is the one mailq -Ac shows
          this.log.info(8, kept.id, `stat=Deferred: ${reply.lines.join(' ') || reply.code}`);
          reply = kept;
        }
      }
    } finally {
      await spooled.dispose();
    }
    if (reply.ok) return this.say(250, '2.0.0', `${reply.id} Message accepted for delivery`);
    // the daemon's lines may already be replies (a filter's): their code and status are not repeated
    const cls = ERR[reply.code];
    const said = reply.lines.map((l) => l.replace(/^\d{3}[ -](\d\.\d{1,3}\.\d{1,3} )?/, '')).join(' ');
    this.reply({ code: cls.smtp, status: cls.status, text: said || 'Message not accepted' });
  }

  /** To the daemon, or into the client queue when none answers. */
  private async submit(request: SubmissionRequest, message: SpooledBody): Promise<SubmissionReply> {
    try {
      return await submitMessage(submitSocketPath(this.config), request, message.read());
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === undefined || !DAEMON_ABSENT.has(code) || this.config.options.QueueDirectory === null) throw e;
      return this.keep(request, message);
    }
  }

  /** Into the client queue, for the client-queue runner to hand over later. */
  private async keep(request: SubmissionRequest, message: SpooledBody): Promise<SubmissionReply> {
    const { queueForLater } = await import('./client-queue.js');
    return queueForLater(this.config.options.QueueDirectory!, request, message.read());
  }
}

export async function smtpMode(inv: Invocation, config: Config, caller: Caller, log: Logger): Promise<number> {
  const s = new BsSession(inv, config, caller, log);
  s.greet();
  while (!s.done) await s.step();
  process.stdin.destroy();
  return EX.OK;
}
