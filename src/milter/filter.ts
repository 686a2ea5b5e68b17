/**
 * One filter of the chain and its state, as sendmail's struct milter and
 * mf_state keep them: opened and negotiated once per SMTP session, then
 * sent one command at a time.  A failure of any kind closes the socket and
 * leaves the filter in its error state for the rest of the session; what
 * that means for the mail is the F= flag's business (errorVerdict).
 */
import { ERR } from '../common/errors.js';
import type { Priority } from '../common/log.js';
import type { MilterDef } from '../config/types.js';
import { MilterConnection, MilterIOError } from './connection.js';
import { macroPacketData, type MacroLookup } from './macros.js';
import {
  decodeOptneg,
  optnegData,
  printable,
  SMFI_CURR_ACTS,
  SMFI_CURR_PROT,
  SMFIC,
  SMFIP,
  SMFIR,
  type MacroStage,
  type Negotiated,
  type Packet,
} from './protocol.js';
import { checkReplyCode } from './replies.js';

/** sendmail's SMFS_* states. */
export type FilterState = 'ready' | 'open' | 'inmsg' | 'done' | 'closable' | 'closed' | 'error' | 'skip';

/** sendmail's *state after a command: what the filter said about the command or message. */
export type Verdict = 'continue' | 'accept' | 'reject' | 'tempfail' | 'discard' | 'replycode' | 'shutdown';

export interface CommandResult {
  readonly verdict: Verdict;
  /** the checked reply text of a replycode verdict ("550-5.7.1 a\r\n550 5.7.1 b") */
  readonly response?: string;
}

/** What a filter needs from its chain. */
export interface FilterContext {
  /** `if (MilterLogLevel > threshold) sm_syslog(priority, e_id, text)` */
  log(threshold: number, priority: Priority, text: string): void;
  /** the configured macro list of a stage (Milter.macros.*, or the m4 defaults) */
  macrosFor(stage: MacroStage): readonly string[];
}

/** What each command is called in log lines, its skip and no-reply flags, and its default rejection. */
const COMMANDS: Record<string, { action: string; skip: number; noReply: number; reject: string }> = {
  [SMFIC.CONNECT]: { action: 'connect', skip: SMFIP.NOCONNECT, noReply: SMFIP.NR_CONN, reject: '554 Command rejected' },
  [SMFIC.HELO]: { action: 'helo', skip: SMFIP.NOHELO, noReply: SMFIP.NR_HELO, reject: '550 Command rejected' },
  [SMFIC.MAIL]: { action: 'mail', skip: SMFIP.NOMAIL, noReply: SMFIP.NR_MAIL, reject: '550 5.7.1 Command rejected' },
  [SMFIC.RCPT]: { action: 'rcpt', skip: SMFIP.NORCPT, noReply: SMFIP.NR_RCPT, reject: '550 5.7.1 Command rejected' },
  [SMFIC.HEADER]: { action: 'header', skip: SMFIP.NOHDRS, noReply: SMFIP.NR_HDR, reject: '550 5.7.1 Command rejected' },
  [SMFIC.BODY]: { action: 'body', skip: SMFIP.NOBODY, noReply: SMFIP.NR_BODY, reject: '554 5.7.1 Command rejected' },
  [SMFIC.EOH]: { action: 'eoh', skip: SMFIP.NOEOH, noReply: SMFIP.NR_EOH, reject: '550 5.7.1 Command rejected' },
  [SMFIC.UNKNOWN]: { action: 'unknown', skip: SMFIP.NOUNKNOWN, noReply: SMFIP.NR_UNKN, reject: '550 5.7.1 Command rejected' },
  [SMFIC.DATA]: { action: 'data', skip: SMFIP.NODATA, noReply: SMFIP.NR_DATA, reject: '550 5.7.1 Command rejected' },
};

export class Filter {
  state: FilterState = 'ready';
  conn: MilterConnection | null = null;
  negotiated: Negotiated | null = null;
  /** the failure that put the filter into its error state */
  error: MilterIOError | null = null;

  constructor(
    readonly def: MilterDef,
    private readonly ctx: FilterContext,
  ) {}

  get name(): string {
    return this.def.name;
  }
  get timeouts(): MilterDef['timeouts'] {
    return this.def.timeouts;
  }
  /** the protocol flags the filter negotiated (SMFIP_*) */
  get pflags(): number {
    return this.negotiated?.protocol ?? 0;
  }
  /** the actions the filter negotiated (SMFIF_*) */
  get actions(): number {
    return this.negotiated?.actions ?? 0;
  }
  /** open or in a message: commands go to it */
  get listening(): boolean {
    return this.conn !== null && (this.state === 'open' || this.state === 'inmsg');
  }

  /**
   * The verdict a failed filter forces (MILTER_SET_STATE): F=T tempfail,
   * F=4 shutdown (421), F=R reject; none: go on without it.
   */
  errorVerdict(): Verdict {
    const f = this.def.flags;
    return f.has('T') ? 'tempfail' : f.has('4') ? 'shutdown' : f.has('R') ? 'reject' : 'continue';
  }

  /** milter_error(): logs why, closes the socket without a QUIT, error state. */
  fail(e: unknown): void {
    const err = e instanceof MilterIOError ? e : null;
    if (err !== null) {
      this.error = err;
      this.ctx.log(0, 'err', err.message);
    } else if (e !== undefined && e !== null) {
      this.ctx.log(0, 'err', `Milter (${this.name}): ${e instanceof Error ? e.message : String(e)}`);
    }
    this.conn?.destroy();
    this.conn = null;
    this.state = 'error';
    this.ctx.log(0, 'info', `Milter (${this.name}): to error state`);
  }

  /** milter_open + milter_negotiate; false (and the error state) when either fails. */
  async open(): Promise<boolean> {
    try {
      this.conn = await MilterConnection.open(this.def, this.timeouts.connect);
    } catch (e) {
      this.fail(e);
      return false;
    }
    this.state = 'open';
    try {
      await this.negotiate();
    } catch (e) {
      this.ctx.log(0, 'err', `Milter (${this.name}): init failed to negotiate`);
      this.fail(e);
      return false;
    }
    this.ctx.log(9, 'info', `Milter (${this.name}): init success to negotiate`);
    return true;
  }

  private protocolError(text: string): MilterIOError {
    return new MilterIOError(ERR.MILTER_PROTOCOL, `Milter (${this.name}): ${text}`);
  }

  private async negotiate(): Promise<void> {
    const conn = this.conn!;
    await conn.write(SMFIC.OPTNEG, optnegData(), this.timeouts.send, 'negotiate');
    const reply = await conn.read(this.timeouts.read, 'negotiate');
    if (reply.cmd !== SMFIC.OPTNEG) throw this.protocolError(`negotiate: returned ${printable(reply.cmd)} instead of ${SMFIC.OPTNEG}`);
    const n = decodeOptneg(reply.data);
    if ('error' in n) throw this.protocolError(`negotiate: ${n.error}`);
    if (n.version === 1 || n.version > 6) throw this.protocolError(`negotiate: version ${n.version} != MTA milter version 6`);
    if ((n.actions & SMFI_CURR_ACTS) !== n.actions) {
      throw this.protocolError(`negotiate: filter abilities 0x${n.actions.toString(16)} != MTA milter abilities 0x${SMFI_CURR_ACTS.toString(16)}`);
    }
    if (((n.protocol & SMFI_CURR_PROT) >>> 0) !== n.protocol >>> 0) {
      throw this.protocolError(`negotiate: protocol abilities 0x${n.protocol.toString(16)} != MTA milter abilities 0x${SMFI_CURR_PROT.toString(16)}`);
    }
    // older filters cannot take the commands their version lacks
    let protocol = n.protocol;
    if (n.version <= 2) protocol |= SMFIP.NOUNKNOWN;
    if (n.version <= 3) protocol |= SMFIP.NODATA;
    this.negotiated = { ...n, protocol };
  }

  /** The macro list this filter gets at a stage: its own from OPTNEG, else the configured one. */
  macroList(stage: MacroStage): readonly string[] {
    return this.negotiated?.macros[stage] ?? this.ctx.macrosFor(stage);
  }

  /** milter_send_macros(); an I/O failure puts the filter into its error state (false). */
  async sendMacros(stage: MacroStage, lookup: MacroLookup): Promise<boolean> {
    const data = macroPacketData(stage, this.macroList(stage), lookup);
    if (data === null || this.conn === null) return true;
    try {
      await this.conn.write(SMFIC.MACRO, data, this.timeouts.send, 'send_macros');
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  /** Writes a packet; false (error state) on failure. */
  async write(cmd: string, data: Buffer | undefined, where: string): Promise<boolean> {
    if (this.conn === null) return false;
    try {
      await this.conn.write(cmd, data, this.timeouts.send, where);
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  /** Reads a packet; null (error state) on failure. */
  async read(timeoutSeconds: number, where: string): Promise<Packet | null> {
    if (this.conn === null) return null;
    try {
      return await this.conn.read(timeoutSeconds, where);
    } catch (e) {
      this.fail(e);
      return null;
    }
  }

  /**
   * milter_send_command(): one command and its answer.  A step the filter
   * said it does not want is not sent; one it said it does not answer is
   * sent and not waited for.
   */
  async command(cmd: string, data: Buffer | undefined, where: string): Promise<CommandResult> {
    const info = COMMANDS[cmd] ?? { action: 'default', skip: 0, noReply: 0, reject: '550 5.7.1 Command rejected' };
    if (info.skip !== 0 && (this.pflags & info.skip) !== 0) return { verdict: 'continue' };
    if (!(await this.write(cmd, data, where))) return { verdict: this.errorVerdict() };
    if (info.noReply !== 0 && (this.pflags & info.noReply) !== 0) return { verdict: 'continue' };
    const reply = await this.read(this.timeouts.read, where);
    if (reply === null) return { verdict: this.errorVerdict() };
    const action = info.action;
    switch (reply.cmd) {
      case SMFIR.REPLYCODE: {
        const response = checkReplyCode(reply.data, info.reject);
        this.ctx.log(10, 'info', `milter=${this.name}, action=${action}, reject=${response}`);
        return { verdict: 'replycode', response };
      }
      case SMFIR.REJECT:
        this.ctx.log(10, 'info', `milter=${this.name}, action=${action}, reject`);
        return { verdict: 'reject' };
      case SMFIR.DISCARD:
        this.ctx.log(10, 'info', `milter=${this.name}, action=${action}, discard`);
        return { verdict: 'discard' };
      case SMFIR.TEMPFAIL:
        this.ctx.log(10, 'info', `milter=${this.name}, action=${action}, tempfail`);
        return { verdict: 'tempfail' };
      case SMFIR.ACCEPT:
        // done with the connection (connect, helo) or with this message
        this.state = cmd === SMFIC.HELO || cmd === SMFIC.CONNECT ? 'closable' : 'done';
        this.ctx.log(10, 'info', `milter=${this.name}, action=${action}, accepted`);
        return { verdict: 'continue' };
      case SMFIR.CONTINUE:
        if (cmd === SMFIC.MAIL) this.state = 'inmsg';
        this.ctx.log(12, 'info', `milter=${this.name}, action=${action}, continue`);
        return { verdict: 'continue' };
      case SMFIR.SKIP:
        this.ctx.log(12, 'info', `milter=${this.name}, action=${action}, skip`);
        this.state = 'skip';
        return { verdict: 'continue' };
      default:
        this.fail(new MilterIOError(ERR.MILTER_PROTOCOL, `milter_send_command(${this.name}): action=${action} returned bogus response ${printable(reply.cmd)}`));
        // sendmail does not check the error here: the command goes on, the filter is out
        return { verdict: 'continue' };
    }
  }

  /** milter_abort_filter(): tells a filter in a message that it is over (no answer expected). */
  async abort(): Promise<void> {
    if (this.conn === null || this.state !== 'inmsg') return;
    this.ctx.log(10, 'info', `Milter (${this.name}): abort filter`);
    await this.write(SMFIC.ABORT, undefined, 'abort_filter');
    if ((this.state as FilterState) !== 'error') this.state = 'done';
  }

  /** milter_quit_filter(): QUIT and close; an error state is kept. */
  async quit(): Promise<void> {
    this.ctx.log(18, 'info', `Milter (${this.name}): quit filter`);
    if (this.state === 'error') return;
    if (this.conn === null || this.state === 'closed' || this.state === 'ready') {
      this.state = 'closed';
      return;
    }
    await this.write(SMFIC.QUIT, undefined, 'quit_filter');
    this.conn?.close();
    this.conn = null;
    if ((this.state as FilterState) !== 'error') this.state = 'closed';
  }
}
