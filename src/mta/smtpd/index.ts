/**
 * The SMTP engine of a daemon worker: one listener (one DaemonPortOptions
 * entry) speaking ESMTP as sendmail 8.17 speaks it, into the MTA queue.
 *
 *   const server = createSmtpd({ config, identity, daemon, queue, log });
 *   server.on('error', ...);
 *   server.listen({ fd });            // the listening socket the master passed on
 *   ...
 *   server.close(() => ...);          // stop accepting; sessions in progress may finish
 *
 * smtp-server provides the listener, the connection bookkeeping and the
 * shutdown; the session itself (STARTTLS and AUTH included) is
 * Postern's (session.ts): smtp-server's command handlers word every reply
 * differently from sendmail, answer "You talk too soon" where sendmail
 * answers nothing, and hide from the application whether input is already
 * waiting, which the anti-smuggling checks need.
 */
import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { SystemIdentity } from '../../common/identity.js';
import type { Logger } from '../../common/log.js';
import type { Config, PortOptions } from '../../config/index.js';
import { gecosFullName } from '../../msp/submission/compose.js';
import { lookupUser } from '../../privsep/passwd.js';
import { cachedPeerName } from './peer-names.js';
export { reverseLookup } from './peer-names.js';
import type { QueueSink } from '../local-submission.js';
import { CredentialStore, DEFAULT_CREDENTIALS_FILE } from '../auth/credentials.js';
import { loadServerTls } from '../tls/server-tls.js';
import { AccessMap, accessSourceFromConfig, type AccessSource } from './access.js';
import { AccessPolicy } from './policy.js';
import { RecipientJudge, type LocalUserLookup, type RelayDecision } from './recipients.js';
import { Session, type PeerName, type SessionDeps } from './session.js';

export type { LocalUserLookup, RelayDecision, ClientInfo } from './recipients.js';
export type { PeerName } from './session.js';
export type { QueueSink } from '../local-submission.js';

export interface SmtpdDeps {
  /** admission before the greeting (MaxDaemonChildren, ConnectionRateThrottle): true, or the reply that refuses */
  readonly admit?: (socket: Socket) => Promise<true | string>;
  /** sendmail.cf */
  readonly config: Config;
  readonly identity: SystemIdentity;
  /** the DaemonPortOptions entry of this listener (Name for logs, M= modifiers) */
  readonly daemon: PortOptions;
  /** a durable accept: resolves only once the message is on disk */
  readonly queue: QueueSink;
  readonly log?: Logger;
  /** is this a local user (RCPT, VRFY)?  Default: /etc/passwd */
  readonly localUser?: LocalUserLookup;
  readonly now?: () => Date;
  /** may a client relay to a remote address?  When it answers, its word holds; default: policy.ts (AUTH, class R, access map, loopback) */
  readonly relay?: RelayDecision;
  /** the AUTH credential file; default ${PosternAuthFile} from sendmail.cf, else /etc/mail/postern-auth */
  readonly authFile?: string;
  /** the access map; default the `Kaccess` map of sendmail.cf (null: none) */
  readonly access?: AccessSource | null;
  /** the client's name from its address; default: reverse DNS, confirmed forward */
  readonly lookupPeer?: (address: string) => Promise<PeerName>;
  /** GreetPause in ms (access map GreetPause:, FEATURE(greet_pause)); default none */
  readonly greetPause?: number | ((address: string) => number);
  /** ETRN accepted: start a queue run for the domain (or `#group`) */
  readonly etrn?: (what: string) => void;
  /** the tarpit's pause; tests replace it */
  readonly sleep?: (ms: number) => Promise<void>;
  /** after close(), how long sessions in progress may go on before they are told 421 and cut; default 30 s */
  readonly closeTimeoutMs?: number;
}

/** passwd look-up by login name (never by uid: "RCPT TO:<0@host>" is not root). */
function passwdUser(name: string): ReturnType<LocalUserLookup> {
  if (/^\d+$/.test(name)) return false;
  const entry = lookupUser(name);
  if (entry === undefined) return false;
  const fullName = gecosFullName(entry.gecos, entry.name);
  return fullName === '' ? true : { fullName };
}

class PosternSmtpServer extends SMTPServer {
  constructor(
    options: SMTPServerOptions,
    private readonly sessionDeps: SessionDeps,
    private readonly admit: ((socket: Socket) => Promise<true | string>) | undefined,
  ) {
    super(options);
  }

  override connect(socket: Socket): void {
    const admit = this.admit;
    if (admit === undefined) return this.startSession(socket);
    void admit(socket).then(
      (verdict) => {
        if (verdict === true) this.startSession(socket);
        else socket.end(`${verdict}\r\n`);
      },
      () => socket.destroy(),
    );
  }

  private startSession(socket: Socket): void {
    const session = new Session(socket, this.sessionDeps);
    // SMTPServer.close() waits for, then says goodbye to, what is in this set: send() and close() are what it calls
    const set = this.connections as unknown as Set<Session>;
    set.add(session);
    session.onClosed(() => set.delete(session));
    void session.run();
  }
}

export function createSmtpd(deps: SmtpdDeps): SMTPServer {
  const greetPause = deps.greetPause;
  const tls = loadServerTls(deps.config, deps.log);
  const access = deps.access === undefined ? accessSourceFromConfig(deps.config, deps.log) : () => deps.access ?? null;
  const policy = new AccessPolicy(new AccessMap(access), deps.config);
  const authFile = deps.authFile ?? deps.config.macros.get('PosternAuthFile') ?? DEFAULT_CREDENTIALS_FILE;
  const sessionDeps: SessionDeps = {
    config: deps.config,
    identity: deps.identity,
    daemon: deps.daemon,
    queue: deps.queue,
    log: deps.log,
    now: deps.now ?? (() => new Date()),
    judge: new RecipientJudge(deps.config, deps.identity, deps.localUser ?? passwdUser, deps.relay, policy),
    lookupPeer: deps.lookupPeer ?? cachedPeerName,
    greetPause: typeof greetPause === 'function' ? greetPause : () => greetPause ?? 0,
    etrn: deps.etrn,
    sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    serverTls: 'context' in tls ? tls : null,
    credentials: deps.config.options.AuthMechanisms.length > 0 ? new CredentialStore(authFile) : null,
    policy,
  };
  return new PosternSmtpServer(
    {
      logger: false,
      disableReverseLookup: true,
      hideSTARTTLS: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      closeTimeout: deps.closeTimeoutMs ?? 30_000,
    },
    sessionDeps,
    deps.admit,
  );
}
