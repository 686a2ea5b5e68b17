/**
 * The session's side of the milter chain (src/milter): which filters a
 * listener uses (its I= list, else InputMailFilters), the macro values
 * sendmail gives them at each step, filled from the session, and the state
 * a filter's verdict leaves in the session (sendmail's `tempfail` flag).
 *
 * A listener without filters opens nothing and costs nothing: the session
 * keeps `milters === null` and every call site is skipped.
 */
import type { Config, PortOptions } from '../../config/index.js';
import { MilterChain, type ConnectInfo, type StageOutcome } from '../../milter/index.js';
import { anynetNtoa } from '../../common/log.js';
import type { ParsedAddress } from './address.js';
import { isLoopback } from './recipients.js';
import type { Reply } from './replies.js';
import type { Session } from './session.js';

/** The mailer triple sendmail's address resolution gives ({mail_*}, {rcpt_*}). */
export interface ResolvedAddress {
  readonly mailer: string;
  readonly host?: string;
  readonly addr: string;
}

/** Whether a listener has any filter to open: no filter, no chain, no cost. */
export function usesMilters(config: Config, daemon: Pick<PortOptions, 'InputMailFilters'>): boolean {
  if (config.milters.size === 0) return false;
  const names = daemon.InputMailFilters ?? config.options.InputMailFilters;
  return names.some((n) => config.milters.has(n));
}

/** The facts the macros are made of, read at each step (they change as the session goes on). */
export interface MacroSource {
  /** j, _, $r, $s and the sendmail.cf D macros, as the session's own `macro` gives them */
  base(name: string): string | undefined;
  /** TLS and AUTH macros ({tls_version}, {cipher}, {auth_type}...) */
  session(): ReadonlyMap<string, string>;
  readonly daemonName: string;
  readonly client: ConnectInfo;
  /** {client_name}: the resolved name, or `[ip]`; {client_addr} as sendmail prints it */
  readonly clientName: string;
  readonly clientAddr: string;
  readonly clientPtr: string | undefined;
  readonly clientResolve: 'OK' | 'FAIL' | 'FORGED' | undefined;
  readonly local: { readonly address: string; readonly port: number; readonly name: string } | undefined;
  /** the queue id once MAIL has one ($i) */
  queueId(): string | undefined;
}

/** The milter state of one SMTP session. */
export class SessionMilters {
  /** set by an initialization or a connect/HELO tempfail: MAIL, ETRN, VRFY, EXPN, AUTH, STARTTLS are refused */
  tempfail = false;
  sender: ResolvedAddress | undefined;
  recipient: ResolvedAddress | undefined;
  /** $i from MAIL on (the session's transaction has it only once MAIL is accepted) */
  queueId: string | undefined;
  /** the message's Message-Id, for {msg_id} at end of message */
  messageId: string | undefined;

  private constructor(
    readonly chain: MilterChain,
    private readonly source: MacroSource,
  ) {}

  static async open(config: Config, daemon: PortOptions, source: MacroSource, log: MilterChainLog): Promise<SessionMilters | null> {
    if (!usesMilters(config, daemon)) return null;
    let self: SessionMilters | undefined;
    const chain = await MilterChain.open({ config, ...(log !== undefined ? { log } : {}), daemon, macros: (name) => self?.macro(name) });
    self = new SessionMilters(chain, source);
    return self;
  }

  /** A macro's value as sendmail would have it at this step (undefined: not defined, not sent). */
  macro(name: string): string | undefined {
    const s = this.source;
    switch (name) {
      case 'daemon_name':
        return s.daemonName;
      case 'client_addr':
        return s.clientAddr;
      case 'client_name':
        return s.clientName;
      case 'client_port':
        return s.client.port === undefined ? undefined : String(s.client.port);
      case 'client_ptr':
        return s.clientPtr;
      case 'client_resolve':
        return s.clientResolve;
      case 'if_addr':
      case 'daemon_addr':
        return s.local?.address;
      case 'if_name':
        return s.local?.name;
      case 'daemon_port':
        return s.local === undefined ? undefined : String(s.local.port);
      case 'daemon_family':
        return s.client.family === 'inet6' ? 'inet6' : s.client.family === 'unix' ? 'local' : 'inet';
      case 'i':
        return s.queueId() ?? this.queueId;
      case 'mail_mailer':
        return this.sender?.mailer;
      case 'mail_host':
        return this.sender?.host;
      case 'mail_addr':
        return this.sender?.addr;
      case 'rcpt_mailer':
        return this.recipient?.mailer;
      case 'rcpt_host':
        return this.recipient?.host;
      case 'rcpt_addr':
        return this.recipient?.addr;
      case 'msg_id':
        return this.messageId;
      default:
        return s.session().get(name) ?? s.base(name);
    }
  }
}

type MilterChainLog = Parameters<typeof MilterChain.open>[0]['log'];

/** How sendmail's parseaddr resolves an address for {mail_*}/{rcpt_*}: local users by name, others by domain. */
export function resolvedAddress(addr: ParsedAddress, isLocal: boolean): ResolvedAddress {
  // sendmail gives a mailer without a host (local) the host "localhost"
  if (addr.mailbox === '') return { mailer: 'local', host: 'localhost', addr: '<>' };
  if (isLocal) return { mailer: 'local', host: 'localhost', addr: addr.local };
  return { mailer: 'esmtp', host: addr.route[0] ?? addr.domain, addr: addr.mailbox };
}

/** A refused recipient as sendmail shows it to filters that asked to see those: the error mailer, status and text. */
export function refusedAddress(reply: Reply): ResolvedAddress {
  return { mailer: 'error', host: reply.status, addr: reply.text.replace(/^.*?\.\.\. /, '') };
}

/** A step's outcome as the reply the session gives, or null to go on (continue, discard). */
export function outcomeReply(o: StageOutcome): Reply | null {
  if (o.action === 'continue' || o.action === 'discard' || o.reply === undefined) return null;
  return o.reply;
}

/**
 * Opens the session's filters and tells them of the connection, before the
 * greeting, as srvrsmtp.c does; false when a filter ended the session.
 */
export async function openSessionMilters(s: Session): Promise<boolean> {
  if (s.nullServer !== null || s.discardAll) return true;
  const milters = await SessionMilters.open(s.config, s.deps.daemon, macroSource(s), s.log);
  if (milters === null) return true;
  s.milters = milters;
  s.onClosed(() => void milters.chain.close());
  let outcome = milters.chain.initOutcome;
  if (outcome.action === 'continue') outcome = await milters.chain.connect(connectInfo(s));
  switch (outcome.action) {
    case 'reject':
      s.greetCode = 554;
      s.nullServer = 'Command rejected';
      return true;
    case 'tempfail':
      milters.tempfail = true;
      return true;
    case 'shutdown':
      s.reply(outcome.reply!);
      s.quit();
      return false;
    default:
      return true;
  }
}

function connectInfo(s: Session): ConnectInfo {
  return { hostname: s.hostName, family: s.address.includes(':') ? 'inet6' : 'inet', port: s.socket.remotePort ?? 0, address: s.address };
}

/** What the filters' macros are made of, read at each step. */
function macroSource(s: Session): MacroSource {
  const local = s.socket.localAddress;
  return {
    base: (name) => s.macro(name),
    session: () => s.sessionMacros(),
    daemonName: s.deps.daemon.Name ?? 'MTA',
    client: connectInfo(s),
    clientName: s.hostName,
    clientAddr: s.ip,
    clientPtr: s.peer.hostName ?? undefined,
    clientResolve: s.peer.hostName === null ? 'FAIL' : s.peer.mayBeForged ? 'FORGED' : 'OK',
    local: local === undefined ? undefined : { address: anynetNtoa(local), port: s.socket.localPort ?? 0, name: isLoopback(local) ? 'localhost' : s.hostname },
    queueId: () => s.tx?.queueId,
  };
}

/** An unknown command goes to the filters first (SMFIC_UNKNOWN); true when one refused it with its own reply. */
export async function milterRefusedUnknown(s: Session, line: string): Promise<boolean> {
  if (s.milters === null || s.nullServer !== null) return false;
  const o = await s.milters.chain.unknown(line);
  const reply = outcomeReply(o);
  if (reply === null) return false;
  s.reply(reply);
  if (o.action === 'shutdown') s.quit();
  return true;
}

/**
 * The commands sendmail refuses once a filter said tempfail at connect or
 * HELO (MAIL is refused in commands.ts, after its syntax is checked).
 */
const TEMPFAILED: Readonly<Record<string, Reply>> = {
  vrfy: { code: 550, status: '5.7.1', text: 'Please try again later' },
  expn: { code: 550, status: '5.7.1', text: 'Please try again later' },
  etrn: { code: 451, status: '4.3.2', text: 'Please try again later' },
  auth: { code: 454, status: '4.3.0', text: 'Please try again later' },
  starttls: { code: 454, status: '4.7.0', text: 'Please try again later' },
};

/** True when the command was refused for an earlier tempfail (and answered). */
export function milterTempfailed(s: Session, name: string, word: string, arg: string): boolean {
  if (s.milters?.tempfail !== true || !Object.hasOwn(TEMPFAILED, name)) return false;
  s.log?.info(9, s.logId, `SMTP ${word.toUpperCase()} command (${arg.slice(0, 100)}) from ${s.authinfo} tempfailed (due to previous checks)`);
  s.reply(TEMPFAILED[name]!);
  return true;
}
