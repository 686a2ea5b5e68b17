/**
 * The filters of one SMTP session, in InputMailFilters order (or the
 * daemon's I= list), driven as sendmail 8.17's srvrsmtp.c drives milter.c:
 * opened and negotiated before the greeting, then one call per SMTP step.
 * Each call answers what the session must do, with the reply sendmail gives
 * and the log lines sendmail writes (gated by Milter.LogLevel, which
 * defaults to LogLevel).  See docs in index.ts for how a session uses it.
 */
import { NOQUEUE, type LogId, type Logger, type Priority } from '../common/log.js';
import type { Config, PortOptions } from '../config/types.js';
import { Filter, type CommandResult, type Verdict } from './filter.js';
import { configuredMacros, type MacroLookup } from './macros.js';
import { runMessagePhase, type MessageInput } from './message-phase.js';
import type { MilterEnvelope, MilterHeader, Modification } from './modifications.js';
import { cstrings, SMFIA, SMFIC, SMFIP, type MacroStage } from './protocol.js';
import {
  commandShutdownReply,
  parseReplyText,
  rejectMessageReply,
  rejectReply,
  replyLine,
  shutdownReply,
  tempfailReply,
  type MilterReply,
} from './replies.js';
import type { SpooledBody } from './spool.js';

/** sendmail's MAXFILTERS */
const MAX_FILTERS = 25;

/** The client as SMFIC_CONNECT describes it. */
export interface ConnectInfo {
  /** {client_name}: the client's host name, `[ip]` when it has none; sendmail says `localhost` for -bs */
  readonly hostname: string;
  readonly family: 'inet' | 'inet6' | 'unix' | 'unknown';
  /** the client's port (inet, inet6) */
  readonly port?: number;
  /** the client's address (an IPv4-mapped IPv6 address is sent as IPv4), or the socket path (unix) */
  readonly address?: string;
}

/** What the session does after a step (see index.ts). */
export interface StageOutcome {
  readonly action: 'continue' | 'reject' | 'tempfail' | 'discard' | 'shutdown';
  readonly reply?: MilterReply;
}

export interface MessageOutcome {
  readonly action: 'accept' | 'quarantine' | 'reject' | 'tempfail' | 'discard' | 'shutdown';
  readonly reply?: MilterReply;
  /** every change, in order (a superseded body replacement is dropped) */
  readonly modifications: readonly Modification[];
  /** the headers after the changes, to queue in place of those given */
  readonly headers: readonly MilterHeader[];
  /** the envelope after the changes (when one was given) */
  readonly envelope: MilterEnvelope | undefined;
  /** the new body, when a filter replaced it; the session disposes of it once queued */
  readonly body: SpooledBody | undefined;
  /** why the message is held, when action is 'quarantine' */
  readonly quarantine: string | undefined;
}

export interface MilterChainOptions {
  readonly config: Config;
  readonly log?: Logger;
  /** current macro values ({client_addr}, i, {mail_addr}...), read at each step */
  readonly macros: MacroLookup;
  /** the daemon the client came in on: its I= list replaces InputMailFilters */
  readonly daemon?: Pick<PortOptions, 'InputMailFilters'>;
}

const CONTINUE: StageOutcome = Object.freeze({ action: 'continue' });

export class MilterChain {
  readonly filters: Filter[];
  /** the queue id log lines carry; the session sets it once MAIL has one */
  logId: LogId = NOQUEUE;
  /** false once a connect/HELO verdict or an initialization failure took the filters out (sm_milterize) */
  active: boolean;
  /** what initialization decided (F=T, F=R or F=4 and a filter that could not be reached) */
  initOutcome: StageOutcome = CONTINUE;
  /** a filter discarded the transaction: no more filter calls until the next MAIL */
  private discarding = false;
  private readonly milterLogLevel: number;
  private readonly stageMacros: Record<MacroStage, readonly string[]>;

  private constructor(private readonly options: MilterChainOptions) {
    const config = options.config;
    this.milterLogLevel = config.options.Milter.LogLevel ?? config.options.LogLevel;
    this.stageMacros = configuredMacros(config.options.Milter);
    const names = (options.daemon?.InputMailFilters ?? config.options.InputMailFilters).slice(0, MAX_FILTERS);
    const ctx = {
      log: (threshold: number, priority: Priority, text: string) => this.log(threshold, priority, text),
      macrosFor: (stage: MacroStage) => this.stageMacros[stage],
    };
    this.filters = names.flatMap((n) => {
      const def = config.milters.get(n);
      return def === undefined ? [] : [new Filter(def, ctx)];
    });
    this.active = this.filters.length > 0;
  }

  /** `if (MilterLogLevel > threshold) sm_syslog(...)` */
  log(threshold: number, priority: Priority, text: string): void {
    if (this.milterLogLevel > threshold) this.options.log?.syslog(priority, this.logId, text);
  }

  private get hostname(): string {
    return this.options.macros('j') ?? 'localhost';
  }

  /**
   * milter_init(): connects to and negotiates with every filter.  A filter
   * that fails with F=T/R/4 stops the others being opened and sets
   * initOutcome; one without those flags is left out.
   */
  static async open(options: MilterChainOptions): Promise<MilterChain> {
    const chain = new MilterChain(options);
    if (chain.filters.length === 0) {
      chain.log(10, 'info', 'Milter: no active filter');
      return chain;
    }
    let verdict: Verdict = 'continue';
    for (const f of chain.filters) {
      if (!(await f.open())) {
        verdict = f.errorVerdict();
        if (verdict !== 'continue') break;
      }
    }
    if (verdict !== 'continue') {
      await chain.quit();
      chain.active = false;
      const words = verdict === 'reject' ? 'rejecting commands' : verdict === 'shutdown' ? 'closing connection' : 'temp failing commands';
      chain.log(3, 'info', `Milter: initialization failed, ${words}`);
      chain.initOutcome = chain.sessionOutcome(verdict);
    }
    return chain;
  }

  /** The outcome of a connection-wide verdict (initialization, connect). */
  private sessionOutcome(verdict: Verdict): StageOutcome {
    if (verdict === 'reject') return { action: 'reject', reply: { code: 550, status: '5.0.0', text: 'Command rejected' } };
    if (verdict === 'shutdown') return { action: 'shutdown', reply: shutdownReply(this.hostname) };
    if (verdict === 'tempfail') return { action: 'tempfail', reply: tempfailReply() };
    return CONTINUE;
  }

  /**
   * milter_command(): sends a step to every filter that is listening, with
   * the stage's macros first, until one gives a verdict other than continue.
   */
  private async command(cmd: string, data: Buffer | undefined, stage: MacroStage | null, where: string, cmdError = false): Promise<CommandResult> {
    let result: CommandResult = { verdict: 'continue' };
    for (const f of this.filters) {
      if (f.state === 'error') {
        const v = f.errorVerdict();
        if (v === 'continue') continue;
        return { verdict: v };
      }
      if (!f.listening) continue;
      if (stage !== null && !(await f.sendMacros(stage, this.options.macros))) {
        const v = f.errorVerdict();
        if (v === 'continue') continue;
        return { verdict: v };
      }
      // a rejected RCPT goes only to filters that asked for those (SMFIP_RCPT_REJ)
      if (cmdError && (where !== 'rcpt' || (f.pflags & SMFIP.RCPT_REJ) === 0)) continue;
      result = await f.command(cmd, data, where);
      if (result.verdict !== 'continue') break;
    }
    return result;
  }

  /** milter_per_connection_check(): filters done with the connection are sent QUIT. */
  private async quitClosable(): Promise<void> {
    for (const f of this.filters) if (f.state === 'closable') await f.quit();
  }

  /** Filters in a message are aborted, done ones made ready for the next (HELO, MAIL). */
  private async resetMessage(): Promise<void> {
    for (const f of this.filters) {
      if (f.state === 'inmsg') await f.abort();
      if (f.state === 'done') f.state = 'open';
    }
  }

  /** SMFIC_CONNECT, before the greeting.  Not continue: the filters are out for the session. */
  async connect(info: ConnectInfo): Promise<StageOutcome> {
    if (!this.active || this.discarding) return CONTINUE;
    this.log(9, 'info', 'Milter: connect to filters');
    const family = info.family === 'inet' ? SMFIA.INET : info.family === 'inet6' ? SMFIA.INET6 : info.family === 'unix' ? SMFIA.UNIX : SMFIA.UNKNOWN;
    let address = info.address ?? '';
    let fam: string = family;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (family === SMFIA.INET6 && mapped) {
      fam = SMFIA.INET;
      address = mapped[1]!;
    }
    const parts = [Buffer.from(info.hostname + '\0', 'latin1'), Buffer.from(fam, 'latin1')];
    if (fam !== SMFIA.UNKNOWN) {
      const port = Buffer.alloc(2);
      port.writeUInt16BE(fam === SMFIA.UNIX ? 0 : (info.port ?? 0) & 0xffff);
      parts.push(port, Buffer.from(address + '\0', 'latin1'));
    }
    const r = await this.command(SMFIC.CONNECT, Buffer.concat(parts), 'connect', 'connect');
    let verdict = r.verdict;
    // a reply code cannot be given to a connection: its class decides (Debian builds without _FFR_MILTER_CONNECT_REPLYCODE)
    if (verdict === 'replycode') verdict = r.response?.startsWith('4') ? (r.response.startsWith('421 ') ? 'shutdown' : 'tempfail') : 'reject';
    if (verdict !== 'continue') {
      this.log(9, 'info', 'Milter: connect, ending');
      await this.quit();
    } else {
      await this.quitClosable();
    }
    if (verdict === 'discard' || verdict === 'continue') return CONTINUE;
    const addr = info.address ?? '';
    const words = verdict === 'reject' ? 'rejecting commands' : verdict === 'shutdown' ? 'shutdown' : 'temp failing commands';
    this.log(3, 'info', `Milter: connect: host=${info.hostname}, addr=${addr}, ${words}`);
    this.active = false;
    return this.sessionOutcome(verdict);
  }

  /**
   * SMFIC_HELO.  reject/tempfail: HELO is still answered 250, and the filters
   * are out for the session; `reply` is what later commands get.
   */
  async helo(name: string): Promise<StageOutcome> {
    if (!this.active) return CONTINUE;
    await this.resetMessage();
    this.discarding = false;
    const r = await this.command(SMFIC.HELO, cstrings(name), 'helo', 'helo');
    await this.quitClosable();
    switch (r.verdict) {
      case 'reject':
        this.log(3, 'info', `Milter: helo=${name}, reject=Command rejected`);
        this.active = false;
        return { action: 'reject', reply: { code: 550, status: '5.0.0', text: 'Command rejected' } };
      case 'tempfail':
        this.log(3, 'info', `Milter: helo=${name}, reject=451 4.3.2 Please try again later`);
        this.active = false;
        return { action: 'tempfail', reply: tempfailReply() };
      case 'replycode': {
        this.log(3, 'info', `Milter: helo=${name}, reject=${r.response}`);
        this.active = false;
        const reply = parseReplyText(r.response!);
        return { action: reply.code === 421 ? 'shutdown' : 'reject', reply };
      }
      case 'shutdown':
        this.log(3, 'info', `Milter: helo=${name}, reject=421 4.7.0 ${this.hostname} closing connection`);
        this.active = false;
        return { action: 'shutdown', reply: shutdownReply(this.hostname) };
      default:
        return CONTINUE;
    }
  }

  /** MILTER_REPLY: a MAIL, RCPT or unknown command's verdict as the reply sendmail gives. */
  private commandOutcome(r: CommandResult, what: string, addr: string): StageOutcome {
    switch (r.verdict) {
      case 'shutdown':
        this.log(3, 'info', `Milter: ${what}=${addr}, reject=421, errormode=4`);
        return { action: 'shutdown', reply: commandShutdownReply() };
      case 'replycode': {
        this.log(3, 'info', `Milter: ${what}=${addr}, reject=${r.response}`);
        const reply = parseReplyText(r.response!);
        return { action: reply.code === 421 ? 'shutdown' : reply.code < 500 ? 'tempfail' : 'reject', reply };
      }
      case 'reject':
        this.log(3, 'info', `Milter: ${what}=${addr}, reject=550 5.7.1 Command rejected`);
        return { action: 'reject', reply: rejectReply() };
      case 'discard':
        this.log(3, 'info', `Milter: ${what}=${addr}, discard`);
        this.discarding = true;
        return { action: 'discard' };
      case 'tempfail':
        this.log(3, 'info', `Milter: ${what}=${addr}, reject=${replyLine(tempfailReply())}`);
        return { action: 'tempfail', reply: tempfailReply() };
      default:
        return CONTINUE;
    }
  }

  /** SMFIC_MAIL: args[0] is the address as the client wrote it (`<a@b>`), then its ESMTP arguments. */
  async envfrom(args: readonly string[]): Promise<StageOutcome> {
    if (!this.active) return CONTINUE;
    await this.resetMessage();
    this.discarding = false;
    this.log(14, 'info', `Milter: sender: ${args[0] ?? ''}`);
    const r = await this.command(SMFIC.MAIL, cstrings(...args), 'envfrom', 'mail');
    if (r.verdict === 'replycode' || r.verdict === 'reject' || r.verdict === 'discard' || r.verdict === 'tempfail') await this.abort();
    return this.commandOutcome(r, 'from', args[0] ?? '');
  }

  /**
   * SMFIC_RCPT.  `rejected`: the session already refused this recipient
   * (its reply stands); filters that asked (SMFIP_RCPT_REJ) still see it.
   */
  async envrcpt(args: readonly string[], rejected = false): Promise<StageOutcome> {
    if (!this.active || this.discarding) return this.discarding ? { action: 'discard' } : CONTINUE;
    this.log(14, 'info', `Milter: rcpts: ${args[0] ?? ''}`);
    const r = await this.command(SMFIC.RCPT, cstrings(...args), 'envrcpt', 'rcpt', rejected);
    return this.commandOutcome(r, 'to', args[0] ?? '');
  }

  /** SMFIC_DATA, when DATA is accepted, before 354. */
  async data(): Promise<StageOutcome> {
    if (!this.active || this.discarding) return this.discarding ? { action: 'discard' } : CONTINUE;
    const r = await this.command(SMFIC.DATA, undefined, 'data', 'data');
    switch (r.verdict) {
      case 'replycode': {
        this.log(3, 'info', `Milter: cmd=data, reject=${r.response}`);
        const reply = parseReplyText(r.response!);
        return { action: reply.code === 421 ? 'shutdown' : reply.code < 500 ? 'tempfail' : 'reject', reply };
      }
      case 'reject':
        this.log(3, 'info', 'Milter: cmd=data, reject=550 5.7.1 Command rejected');
        return { action: 'reject', reply: rejectReply() };
      case 'discard':
        this.log(3, 'info', 'Milter: cmd=data, discard');
        this.discarding = true;
        return { action: 'discard' };
      case 'tempfail':
        this.log(3, 'info', `Milter: cmd=data, reject=${replyLine(tempfailReply())}`);
        return { action: 'tempfail', reply: tempfailReply() };
      case 'shutdown':
        this.log(3, 'info', `Milter: cmd=data, reject=421 4.7.0 ${this.hostname} closing connection`);
        return { action: 'shutdown', reply: shutdownReply(this.hostname) };
      default:
        return CONTINUE;
    }
  }

  /** SMFIC_UNKNOWN: a command the session does not know, before it answers 500. */
  async unknown(line: string): Promise<StageOutcome> {
    if (!this.active || this.discarding) return CONTINUE;
    this.log(9, 'info', `Sending "${line}" to Milter`);
    const r = await this.command(SMFIC.UNKNOWN, cstrings(line), null, 'unknown');
    return this.commandOutcome(r, 'unknown', line);
  }

  /**
   * The message, once it is all in (sendmail's milter_data): headers, EOH,
   * body and EOM to each filter in turn.  Filters still in the message
   * afterwards are aborted, as sendmail does.
   */
  async message(input: MessageInput): Promise<MessageOutcome> {
    const unchanged = {
      modifications: [],
      headers: input.headers,
      envelope: input.envelope,
      body: undefined,
      quarantine: undefined,
    };
    if (!this.active) return { action: 'accept', ...unchanged };
    if (this.discarding) return { action: 'discard', ...unchanged };
    const r = await runMessagePhase(this.filters, input, { log: (t, p, s) => this.log(t, p, s), macros: this.options.macros });
    const base = { modifications: r.modifications, headers: r.headers, envelope: r.envelope, body: r.body, quarantine: r.quarantine };
    let outcome: MessageOutcome;
    switch (r.verdict) {
      case 'replycode': {
        this.log(3, 'info', `Milter: data, reject=${r.response}`);
        const reply = parseReplyText(r.response!);
        outcome = { ...base, action: reply.code === 421 ? 'shutdown' : reply.code < 500 ? 'tempfail' : 'reject', reply };
        break;
      }
      case 'reject':
        this.log(3, 'info', 'Milter: data, reject=554 5.7.1 Command rejected');
        outcome = { ...base, action: 'reject', reply: rejectMessageReply() };
        break;
      case 'discard':
        this.log(3, 'info', 'Milter: data, discard');
        outcome = { ...base, action: 'discard' };
        break;
      case 'tempfail':
        this.log(3, 'info', `Milter: data, reject=${replyLine(tempfailReply())}`);
        outcome = { ...base, action: 'tempfail', reply: tempfailReply() };
        break;
      case 'shutdown':
        this.log(3, 'info', `Milter: data, reject=421 4.7.0 ${this.hostname} closing connection`);
        outcome = { ...base, action: 'shutdown', reply: shutdownReply(this.hostname) };
        break;
      default:
        outcome = { ...base, action: r.quarantine !== undefined ? 'quarantine' : 'accept' };
    }
    if (outcome.action !== 'accept' && outcome.action !== 'quarantine') await r.body?.dispose();
    await this.abort();
    if (outcome.action === 'accept' || outcome.action === 'quarantine') this.log(9, 'info', 'Milter accept: message');
    return outcome;
  }

  /** milter_abort(): the transaction is over without a message (RSET, a refused MAIL, a failed DATA). */
  async abort(): Promise<void> {
    for (const f of this.filters) await f.abort();
  }

  /** milter_quit(): QUIT to every filter and close; the session is over. */
  async quit(): Promise<void> {
    for (const f of this.filters) await f.quit();
  }

  /** The same as quit(), by the name the session may expect. */
  close(): Promise<void> {
    return this.quit();
  }
}
