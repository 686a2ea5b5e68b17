/**
 * One SMTP session, as sendmail 8.17's smtp() runs it: the greeting, the
 * command loop, the "null server" state a protocol violation leaves behind
 * (every command but QUIT/HELO/EHLO/NOOP/RSET answered `550 5.0.0 Command
 * rejected`), the counters that end a session that misbehaves, and the way
 * out (doquit).  The commands themselves are in commands.ts.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ERR } from '../../common/errors.js';
import type { SystemIdentity } from '../../common/identity.js';
import { anynetNtoa, NOQUEUE, remoteAuthinfo, type LogId, type Logger } from '../../common/log.js';
import type { Config, PortOptions } from '../../config/index.js';
import { expandMacros } from '../../config/index.js';
import { POSTERN_VERSION } from '../../msp/modes.js';
import { arpaDate } from '../../msp/submission/compose.js';
import type { QueueSink } from '../local-submission.js';
import type { CredentialStore } from '../auth/credentials.js';
import { offeredMechanisms, type Mechanism } from '../auth/mechanisms.js';
import { xtextify, type ServerTls, type TlsSessionInfo } from '../tls/server-tls.js';
import { COMMANDS, type CommandName } from './commands.js';
import { SmtpInput } from './input.js';
import type { Transaction } from './message.js';
import type { AccessPolicy, ClientFacts } from './policy.js';
import { isLoopback, type RecipientJudge } from './recipients.js';
import { milterRefusedUnknown, milterTempfailed, openSessionMilters, type SessionMilters } from './milters.js';
import { classReply, echo, formatReply, type Reply } from './replies.js';

/** sendmail's MAXBADCOMMANDS: the 26th unknown or refused command ends the session. */
const MAX_BAD_COMMANDS = 25;

/** How long a reverse lookup may hold up the greeting. */
const LOOKUP_TIMEOUT_MS = 5000;

/** The client, as the session learns it before the greeting. */
export interface PeerName {
  /** the name its address resolves to (null: none) */
  readonly hostName: string | null;
  /** the name does not resolve back to the address */
  readonly mayBeForged: boolean;
}

export interface SessionDeps {
  readonly config: Config;
  readonly identity: SystemIdentity;
  readonly daemon: PortOptions;
  readonly queue: QueueSink;
  readonly log: Logger | undefined;
  readonly now: () => Date;
  readonly judge: RecipientJudge;
  /** the client's host name from its address */
  readonly lookupPeer: (address: string) => Promise<PeerName>;
  /** GreetPause (ms) for this client; 0 for none */
  readonly greetPause: (address: string) => number;
  /** ETRN: start a queue run for a domain; undefined: accepted and not acted on */
  readonly etrn: ((domain: string) => void) | undefined;
  /** the pause of the tarpit (tests replace it) */
  readonly sleep: (ms: number) => Promise<void>;
  /** STARTTLS: the server's certificate; null when none is configured or usable */
  readonly serverTls: ServerTls | null;
  /** AUTH: the credential store; null when AUTH is never offered */
  readonly credentials: CredentialStore | null;
  /** the access map and class R; null: loopback clients relay, nothing else is checked */
  readonly policy: AccessPolicy | null;
}

/** A client that authenticated: {auth_authen}, {auth_author}, {auth_type}. */
export interface AuthState {
  readonly authen: string;
  readonly author: string | null;
  readonly mechanism: Mechanism;
}

/** An open mail transaction: after MAIL, growing with each RCPT. */
export interface OpenTransaction extends Omit<Transaction, 'queueId'> {
  queueId: string | undefined;
  /** recipients by key, to answer a repeated RCPT with the first spelling */
  readonly seen: Map<string, string>;
  /** RCPT commands accepted, repeats included (sendmail's sm_nrcpts) */
  accepted: number;
  /** the access map said DISCARD for the sender or a recipient: accepted and dropped */
  discard: boolean;
}

export class Session {
  /** the connection: the TCP socket, after STARTTLS the TLS socket over it */
  socket: Socket;
  input: SmtpInput;
  readonly address: string;
  /** the address as sendmail prints it (anynet_ntoa: IPv4-mapped shown as IPv4, `IPv6:` tagged) */
  readonly ip: string;
  /** RealHostName: the resolved name, or `[ip]` */
  hostName = '';
  /** what the reverse lookup found */
  peer: PeerName = { hostName: null, mayBeForged: false };
  /** the handshake's facts once STARTTLS is done */
  tlsInfo: TlsSessionInfo | null = null;
  auth: AuthState | null = null;
  /** check_relay said DISCARD: every message is accepted and dropped */
  discardAll = false;
  /** $_: `host [ip]` */
  authinfo = '';
  /** HELO/EHLO seen, and with which name; $r */
  gotHello = false;
  heloName: string | null = null;
  /** $r: SMTP, or ESMTP with S (TLS) and A (AUTH) as RFC 3848 has it */
  protocol: string | null = null;
  /** set by a protocol violation or check_relay: the text (550 5.0.0) or the whole reply every refused command gets */
  nullServer: string | Reply | null = null;
  /** MAIL, EXPN, VRFY or ETRN was used (else "did not issue MAIL/EXPN/VRFY/ETRN" is logged) */
  didSomething = false;
  tx: OpenTransaction | null = null;
  /** the milter chain of this session; null when the listener has no filter */
  milters: SessionMilters | null = null;
  /** 554 when a filter refused the connection (sendmail's greetcode) */
  greetCode = 220;
  readonly counters = { bad: 0, helo: 0, verify: 0, noop: 0, etrn: 0, auth: 0 };
  /** the last command recognised (the "lost input channel ... after" log line), null before one */
  private lastCommand: string | null = null;
  private commandsRead = 0;
  private closing = false;

  private readonly closedWaiters: Array<() => void> = [];
  private socketClosed = false;

  constructor(
    socket: Socket,
    readonly deps: SessionDeps,
  ) {
    this.socket = socket;
    this.input = new SmtpInput(socket);
    this.address = socket.remoteAddress ?? '0.0.0.0';
    this.ip = anynetNtoa(this.address);
    socket.setNoDelay(true);
    this.watchClose(socket);
  }

  private watchClose(socket: Socket): void {
    socket.once('close', () => {
      if (this.socketClosed) return;
      this.socketClosed = true;
      for (const w of this.closedWaiters.splice(0)) w();
    });
  }

  /** Calls `f` once the connection is gone (whichever socket carries it by then). */
  onClosed(f: () => void): void {
    if (this.socketClosed) f();
    else this.closedWaiters.push(f);
  }

  /** STARTTLS is done: the session goes on over `secure`, and starts over as RFC 3207 says (EHLO again). */
  adoptSocket(secure: TLSSocket, info: TlsSessionInfo): void {
    this.socket = secure;
    this.input = new SmtpInput(secure);
    this.watchClose(secure);
    this.tlsInfo = info;
    this.gotHello = false;
    this.heloName = null;
    this.protocol = null;
    this.tx = null;
    this.counters.helo = 0;
  }

  /** $r for EHLO and after AUTH (sendmail's GET_PROTOCOL). */
  esmtpProtocol(): string {
    return `ESMTP${this.tlsInfo !== null ? 'S' : ''}${this.auth !== null ? 'A' : ''}`;
  }

  /** The SASL mechanisms offered now: none without a credential store that can be read. */
  authMechanisms(): Mechanism[] {
    const store = this.deps.credentials;
    if (store === null) return [];
    const m = offeredMechanisms(this.config, this.deps.daemon, this.tlsInfo !== null);
    return m.length > 0 && store.available() ? m : [];
  }

  /** The client as policy.ts sees it. */
  clientFacts(): ClientFacts {
    return {
      ip: this.ip,
      hostName: this.peer.hostName,
      mayBeForged: this.peer.mayBeForged,
      authType: this.auth?.mechanism ?? null,
      loopback: isLoopback(this.address),
    };
  }

  /** The session's macros for the Received: header: TLS ({tls_version}, {cipher}...) and AUTH ({auth_type}...). */
  sessionMacros(): Map<string, string> {
    const m = new Map<string, string>(this.tlsInfo?.macros ?? []);
    if (this.auth !== null) {
      m.set('auth_type', this.auth.mechanism);
      m.set('auth_authen', xtextify(this.auth.authen, '<>")'));
      m.set('auth_ssf', '0');
      if (this.auth.author !== null) m.set('auth_author', xtextify(this.auth.author, '<>")'));
    }
    return m;
  }

  get config(): Config {
    return this.deps.config;
  }
  get log(): Logger | undefined {
    return this.deps.log;
  }
  /** $j */
  get hostname(): string {
    return this.deps.config.macros.get('j') ?? this.deps.identity.canonicalName;
  }
  get logId(): LogId {
    return this.tx?.queueId ?? NOQUEUE;
  }
  get noReflection(): boolean {
    return this.config.options.PrivacyOptions.has('noreflection');
  }
  privacy(flag: Parameters<Config['options']['PrivacyOptions']['has']>[0]): boolean {
    return this.config.options.PrivacyOptions.has(flag);
  }
  /** Macro values for the greeting and the help file. */
  macro = (name: string): string | undefined => {
    if (name === 'j') return this.hostname;
    if (name === 'v') return POSTERN_VERSION;
    if (name === 'b') return arpaDate(this.deps.now());
    if (name === 'w') return this.config.macros.get('w') ?? this.deps.identity.shortName;
    if (name === '_') return this.authinfo;
    return this.config.macros.get(name);
  };

  write(text: string): void {
    if (!this.closing && !this.socket.destroyed && this.socket.writable) this.socket.write(text, 'latin1');
  }

  reply(r: Reply): void {
    this.write(formatReply(r));
  }

  /** A reply as sendmail's message() writes it: code, enhanced status, text. */
  say(code: number, status: string, text: string): void {
    this.reply({ code, status, text });
  }

  /** Runs the session to its end. */
  async run(): Promise<void> {
    try {
      const peer = await Promise.race([
        this.deps.lookupPeer(this.address).catch(() => ({ hostName: null, mayBeForged: false })),
        new Promise<PeerName>((r) => setTimeout(() => r({ hostName: null, mayBeForged: false }), LOOKUP_TIMEOUT_MS).unref()),
      ]);
      this.peer = peer;
      this.hostName = peer.hostName ?? `[${this.ip}]`;
      this.authinfo = remoteAuthinfo({ hostName: peer.hostName, address: this.address, mayBeForged: peer.mayBeForged });
      this.checkConnect();
      if (!(await openSessionMilters(this))) return;
      await this.greet();
      while (!this.closing) await this.nextCommand();
    } catch (e) {
      this.log?.syslog('err', this.logId, `SYSERR: smtpd: ${e instanceof Error ? e.message : String(e)}`);
      this.say(421, '4.3.0', `${this.hostname} Internal error; closing connection`);
      this.close();
    }
  }

  /** check_relay: a REJECT or ERROR makes this a null server (the greeting is still 220, as sendmail's). */
  private checkConnect(): void {
    const policy = this.deps.policy;
    if (policy === null) return;
    const outcome = policy.checkConnect(this.clientFacts());
    if (outcome.kind === 'pass') return;
    const base = { ruleset: 'check_relay', arg1: this.hostName, arg2: this.ip, relay: this.authinfo };
    if (outcome.kind === 'discard') {
      this.discardAll = true;
      this.log?.logRuleset(NOQUEUE, { ...base, outcome: { kind: 'discard' } });
      return;
    }
    this.nullServer = outcome.reply;
    this.log?.logRuleset(NOQUEUE, { ...base, outcome: { kind: 'reject', reply: formatReply(outcome.reply).replace(/\r\n$/, '') } });
  }

  private async greet(): Promise<void> {
    let code = this.greetCode;
    const pause = this.nullServer === null ? this.deps.greetPause(this.address) : 0;
    if (pause > 0) {
      const started = Date.now();
      if (await this.input.sendsWithin(Math.min(pause, 300_000))) {
        code = 554;
        this.nullServer = 'Command rejected';
        const secs = Math.round((Date.now() - started) / 1000);
        this.log?.syslog('info', this.logId, `rejecting commands from ${this.hostName} [${this.ip}] due to pre-greeting traffic after ${secs} seconds`);
      }
    }
    // sendmail puts "ESMTP" after the greeting's first word
    const text = code === 220 ? expandMacros(this.config.options.SmtpGreetingMessage ?? '$j Postern $v ready at $b', this.macro) : `${this.hostname} not accepting messages`;
    const lines = text.split('\n');
    const first = lines[0]!;
    const space = first.indexOf(' ');
    lines[0] = space < 0 ? `${first} ESMTP` : `${first.slice(0, space)} ESMTP${first.slice(space)}`;
    this.write(lines.map((l, i) => `${code}${i < lines.length - 1 ? '-' : ' '}${i > 0 ? l.replace(/^\s/, '') : l}\r\n`).join(''));
  }

  private async nextCommand(): Promise<void> {
    const r = await this.input.readLine(this.config.options.Timeout.command * 1000);
    if (r.kind === 'eof' || r.kind === 'timeout') return this.lostInput(r.kind);
    if (r.kind === 'too-long') {
      this.say(421, ERR.SMTP_LINE_TOO_LONG.status, `${this.hostname} Command too long, possible attack ${this.authinfo}`);
      this.log?.syslog('info', this.logId, `${this.authinfo}: SMTP violation, input too long: ${r.length}`);
      return this.quit();
    }
    const line = r.text;
    const first = this.commandsRead++ === 0;
    const m = /^[ \t]*(\S*)[ \t]*(.*)$/s.exec(line)!;
    const word = m[1]!;
    const arg = m[2]!;
    if (first && /^(GET|POST|CONNECT|USER)[ \t]/i.test(line)) {
      this.say(421, '4.7.0', `${this.hostname} Rejecting open proxy ${this.authinfo}`);
      this.log?.syslog('info', this.logId, `${this.authinfo}: probable open proxy: command=${line.slice(0, 40)}`);
      return this.quit();
    }
    const name = word.toLowerCase() as CommandName;
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (command !== undefined) this.lastCommand = name;
    if (name === 'mail' || name === 'expn' || name === 'vrfy' || name === 'etrn') this.didSomething = true;
    if (this.nullServer !== null && command !== undefined && !['quit', 'helo', 'ehlo', 'noop', 'rset'].includes(name)) {
      if (this.tooManyBad()) return;
      this.reply(typeof this.nullServer === 'string' ? classReply(ERR.SMTP_COMMAND_REJECTED, this.nullServer) : this.nullServer);
      return;
    }
    if (command === undefined) {
      if (await milterRefusedUnknown(this, line)) return;
      return this.unknownCommand(line);
    }
    if (milterTempfailed(this, name, word, arg)) return;
    await command(this, arg, line, word);
  }

  /** Counts a bad command; true (the session is over) at the 26th. */
  tooManyBad(): boolean {
    if (++this.counters.bad <= MAX_BAD_COMMANDS) return false;
    this.say(421, ERR.SMTP_TOO_MANY_BAD_COMMANDS.status, `${this.hostname} Too many bad commands; closing connection`);
    this.quit();
    return true;
  }

  unknownCommand(line: string): void {
    if (this.tooManyBad()) return;
    this.reply(classReply(ERR.SMTP_UNRECOGNIZED, `Command unrecognized: "${echo(line, this.noReflection)}"`));
  }

  /**
   * sendmail's checksmtpattack(): from the max-th use of a command on, log
   * once and slow the client down, 1, 2, 4... seconds (at most 4 minutes).
   * True when the session was ended instead (MaxDaemonChildren set and
   * twice the limit reached).
   */
  async tarpit(counter: keyof Session['counters'], max: number, command: string): Promise<boolean> {
    if (max <= 0) return false;
    const n = ++this.counters[counter];
    if (n < max) return false;
    if (n === max) this.log?.logSmtpAttack(this.logId, this.authinfo, command, n);
    const shift = n - max;
    let s = shift > 8 ? 240 : Math.min(240, 1 << shift);
    const first = Math.floor(n / max);
    await this.deps.sleep(first * 1000);
    s -= first;
    if (s > 0) await this.deps.sleep(Math.min(s, 240) * 1000);
    if (this.config.options.MaxDaemonChildren > 0 && n >= max * 2) {
      this.say(421, '4.7.0', `${this.hostname} Too many bad commands; closing connection`);
      this.quit();
      return true;
    }
    return false;
  }

  private lostInput(kind: 'eof' | 'timeout'): void {
    if (kind === 'timeout' && this.log?.at(1)) {
      this.log.notice(1, this.logId, `timeout waiting for input from ${this.hostName} during server cmd read`);
    }
    this.say(421, ERR.SMTP_CONNECTION_LOST.status, `${this.hostname} Lost input channel from ${this.authinfo}`);
    const threshold = this.tx !== null ? 1 : 19;
    this.log?.notice(threshold, this.logId, `lost input channel from ${this.authinfo} to ${this.deps.daemon.Name ?? 'stdin'} after ${this.lastCommand ?? 'startup'}`);
    this.quit();
  }

  /** sendmail's doquit: the closing log line, then the connection goes. */
  quit(): void {
    if (this.closing) return;
    if (!this.didSomething && this.nullServer === null) this.log?.logNoTransaction(this.logId, this.authinfo, this.deps.daemon.Name);
    this.close();
  }

  /** Ends the connection: our side is closed once the replies are out; the socket goes soon after. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.input.discard();
    this.socket.end();
    // a client that keeps its side open does not keep the session
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  /** smtp-server's SMTPServer.close() talks to its connections this way when it gives up waiting. */
  send(code: number, text: string): void {
    this.say(code, code >= 400 ? '4.3.2' : '2.0.0', `${this.hostname} ${text}`);
  }
}
