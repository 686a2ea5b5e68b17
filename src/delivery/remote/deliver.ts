/**
 * deliverRemote(): one message to the recipients of one domain.  The
 * destination comes from the mailertable, the smart host or DNS; its hosts
 * are tried in order until one takes the transaction.  A host that cannot
 * be reached, or refuses at greeting, EHLO or STARTTLS, passes the message
 * to the next; once a host has answered MAIL, its replies are final for
 * this attempt (a 4xx defers, a 5xx bounces), per recipient.
 */
import { ERR } from '../../common/errors.js';
import { NOQID } from '../../common/log.js';
import { failed, type DeliveryStatus } from '../mailbox/status.js';
import { ConnectionCache } from './connection-cache.js';
import { cachedFailure, connectionRecord, lookupRecord, refusalRecord, transactionRecord } from './host-status/outcomes.js';
import type { HostStatusRecord } from './host-status/record.js';
import { HostStatusStore } from './host-status/store.js';
import { dnsTemporaryFailure, hostUnknown, isTemporaryDnsError, resolveTargets, systemResolver, type Target } from './mx.js';
import { connectionFailure, failureFromReply, parseReply, sentFromReply, type Phase } from './replies.js';
import { displayOf, errorMailerLine, requestTranscript, type SessionDialogue } from './report-transcript.js';
import { chooseDestination, parseRelaySpec, type HostSpec } from './routing.js';
import { admitSession, tlsRefusalStatus, tlsServerCheck } from './session-gate.js';
import type { ServerId } from './server-lookup.js';
import { SessionOpenError, SmtpSession, type SendOutcome } from './smtp-session.js';
import { EIGHT_BIT_REFUSED, messageForPeer, sendMessage, syserr } from './transaction.js';
import type { RecipientResult, RelayInfo, RemoteDeps, RemoteRecipient, RemoteRequest, RemoteResult, TlsInfo } from './types.js';

let sharedCache: ConnectionCache | undefined;

/** The process's connection cache (SMTP and LMTP sessions alike), made from the first options that ask for one. */
export function processCache(options: RemoteDeps['options']): ConnectionCache {
  sharedCache ??= new ConnectionCache(options.connectionCacheSize ?? 1, options.connectionCacheTimeout ?? 300);
  return sharedCache;
}

/** Closes the process's cached connections (end of a queue run). */
export function closeCachedConnections(): void {
  sharedCache?.closeAll();
}

/** `STARTTLS=client, relay=mx.example.net., version=TLSv1.3, verify=FAIL, cipher=..., bits=256/256` */
export function starttlsLine(tls: TlsInfo): string {
  const bits = String(tls.bits);
  return `STARTTLS=client, relay=${tls.relay.slice(0, 100)}, version=${tls.version.slice(0, 16)}, verify=${tls.verify}, cipher=${tls.cipher.slice(0, 64)}, bits=${bits}/${bits}`;
}

function everyone(recipients: readonly RemoteRecipient[], status: DeliveryStatus, extra: { relay?: RelayInfo; reply?: string } = {}): RecipientResult[] {
  return recipients.map((r) => ({ index: r.index, status, ...extra }));
}



/** The greeting's first word is our own name: the MX (or route) leads back here. */
function greetsAsUs(greeting: string, heloName: string): boolean {
  const name = /^\d{3}[ -](\S+)/.exec(greeting)?.[1];
  return name !== undefined && name.toLowerCase() === heloName.toLowerCase();
}

interface Attempt {
  /** Final results (the host took the transaction), or undefined to try the next host. */
  readonly results?: RecipientResult[];
  /** Why this host did not do: applies to every recipient if no later host does better. */
  readonly failure?: { status: DeliveryStatus; relay: RelayInfo; reply?: string };
  readonly stop?: boolean;
  /** What this attempt says about the host, for HostStatusDirectory. */
  readonly hostRecord?: HostStatusRecord;
  /** The session's dialogue, for the report's transcript. */
  readonly dialogue?: SessionDialogue;
}

/** The host status store of these options, unless there is none or the mailer ignores it (F=W). */
function hostStatusFor(deps: RemoteDeps, mailer: string): HostStatusStore | undefined {
  const settings = deps.options.hostStatus;
  if (settings === undefined || settings === null || settings.ignoredByMailers?.has(mailer)) return undefined;
  return new HostStatusStore(settings);
}

/** The name a host's status is kept under: its name, or the [literal]. */
function statusKey(target: Target): string {
  return target.name ?? target.relay;
}

/** A status that cannot be written costs the next delivery a connection, not this one its mail. */
async function recordHost(deps: RemoteDeps, store: HostStatusStore | undefined, queueId: string, target: Target, record: HostStatusRecord | undefined): Promise<void> {
  if (store === undefined || record === undefined) return;
  try {
    await store.write(statusKey(target), record);
  } catch (e) {
    syserr(deps.log, queueId, `mci_store_persistent: cannot write host status for ${statusKey(target)} in ${store.settings.directory}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

export async function deliverRemote(request: RemoteRequest, deps: RemoteDeps): Promise<RemoteResult> {
  const options = deps.options;
  const destination = chooseDestination(request.domain, options);
  const dialogues: SessionDialogue[] = [];
  const finish = (recipients: RecipientResult[], mailer: string, transcript: string[], tls?: TlsInfo): RemoteResult => ({
    recipients,
    mailer,
    transcript,
    reportTranscript: requestTranscript(dialogues, request.recipients, recipients),
    ...(tls ? { tls } : {}),
  });
  if (destination.kind === 'error') {
    const recipients = everyone(request.recipients, destination.status, destination.reply ? { reply: destination.reply } : {});
    if (destination.mailer !== 'error' || destination.reply === undefined) return finish(recipients, destination.mailer, []);
    // the error mailer speaks its own reply for each recipient
    const reply = destination.reply;
    return { recipients, mailer: destination.mailer, transcript: [], reportTranscript: request.recipients.map((r) => errorMailerLine(reply, displayOf(r))) };
  }
  const mailer = destination.mailer;
  const hosts: HostSpec[] = [...destination.hosts];
  if (options.fallbackMxHost) {
    const fallback = parseRelaySpec(options.fallbackMxHost, mailer);
    if (fallback.kind === 'hosts') hosts.push(...fallback.hosts);
  }
  const resolver = deps.resolver ?? systemResolver();
  const list = await resolveTargets(hosts, resolver, {
    localNames: options.localNames,
    heloName: options.heloName,
    tryNullMxList: options.tryNullMxList ?? false,
    ...(deps.random ? { random: deps.random } : {}),
  });
  if (!list.ok) {
    if (list.syserr !== undefined) syserr(deps.log, request.queueId, list.syserr);
    const extra = { ...(list.relay ? { relay: { host: list.relay } } : {}), ...(list.reply ? { reply: list.reply } : {}) };
    return finish(everyone(request.recipients, list.status, extra), mailer, []);
  }

  const cache = deps.cache ?? processCache(deps.options);
  const hostStatus = hostStatusFor(deps, mailer);
  const port = options.mailerPorts?.get(mailer) ?? options.port ?? 25;
  let transcript: string[] = [];
  let tls: TlsInfo | undefined;
  let lastTemporary: Attempt['failure'];
  let lastFailure: Attempt['failure'];
  for (const target of list.targets) {
    // a host that failed lately is not tried again before Timeout.hoststatus
    const down = await hostStatus?.blocking(statusKey(target));
    if (down !== undefined) {
      const { status, reply } = cachedFailure(down, target);
      lastFailure = { status, relay: { host: target.relay }, ...(reply !== undefined ? { reply } : {}) };
      if (status.status === 'deferred') lastTemporary = lastFailure;
      continue;
    }
    const addresses = await targetAddresses(target, resolver);
    if (!Array.isArray(addresses)) {
      lastFailure = { status: addresses, relay: { host: target.relay } };
      if (addresses.status === 'deferred') lastTemporary = lastFailure;
      await recordHost(deps, hostStatus, request.queueId, target, lookupRecord(addresses.status === 'deferred'));
      continue;
    }
    let hostRecord: HostStatusRecord | undefined;
    for (const address of addresses) {
      const attempt = await tryHost(request, deps, cache, target, address, port);
      transcript = attempt.transcript;
      if (attempt.dialogue !== undefined) dialogues.push(attempt.dialogue);
      if (attempt.tls) tls = attempt.tls;
      hostRecord = attempt.hostRecord ?? hostRecord;
      if (attempt.results) {
        await recordHost(deps, hostStatus, request.queueId, target, hostRecord);
        return finish(attempt.results, mailer, transcript, tls);
      }
      lastFailure = attempt.failure;
      if (attempt.failure?.status.status === 'deferred') lastTemporary = attempt.failure;
      if (attempt.stop) {
        await recordHost(deps, hostStatus, request.queueId, target, hostRecord);
        const { status, relay, reply } = attempt.failure!;
        return finish(everyone(request.recipients, status, { relay, ...(reply ? { reply } : {}) }), mailer, transcript);
      }
    }
    // every address of the host failed: the last one's failure is the host's
    await recordHost(deps, hostStatus, request.queueId, target, hostRecord);
  }
  // every host failed: a temporary failure anywhere means "try again later"
  const final = lastTemporary ?? lastFailure ?? { status: failed(ERR.REMOTE_HOST_UNKNOWN, 'Host unknown (no host to try)'), relay: { host: request.domain } };
  return finish(everyone(request.recipients, final.status, { relay: final.relay, ...(final.reply ? { reply: final.reply } : {}) }), mailer, transcript);
}

async function targetAddresses(target: Target, resolver: NonNullable<RemoteDeps['resolver']>): Promise<string[] | DeliveryStatus> {
  if (target.literal !== undefined) return [target.literal];
  const name = target.name!;
  try {
    const found = await resolver.lookupAddresses(name);
    return found.length > 0 ? found : hostUnknown(name);
  } catch (e) {
    return isTemporaryDnsError(e) ? dnsTemporaryFailure(name) : hostUnknown(name);
  }
}

/** ${server_name} and ${server_addr} of a host: its name, or the [literal] as written. */
function serverId(target: Target, address: string): ServerId {
  return { name: target.name ?? target.relay, address };
}

async function openSession(deps: RemoteDeps, target: Target, address: string, port: number): Promise<SmtpSession | { failure: NonNullable<Attempt['failure']>; transcript: string[]; hostRecord: HostStatusRecord }> {
  const relay = { host: target.relay, address };
  const sessionTarget = { address, relay: target.relay, ...(target.name !== undefined ? { servername: target.name } : {}) };
  const server = serverId(target, address);
  // Try_TLS:host NO: this host is talked to without STARTTLS
  const ignoreTLS = deps.options.serverPolicy?.mayTryTls(server) === false;
  try {
    return await SmtpSession.open(sessionTarget, deps.options, { port, ignoreTLS });
  } catch (e) {
    const transcript = ((e as { transcript?: string[] }).transcript ?? []).slice();
    if (e instanceof SessionOpenError && e.tls) {
      // a failed handshake fails tls_server whatever the access map says
      const refused = tlsServerCheck(deps, server, 'SOFTWARE', undefined)!;
      if (deps.options.tlsFallbackToClear) {
        try {
          return await SmtpSession.open(sessionTarget, deps.options, { port, ignoreTLS: true });
        } catch {
          // the first failure says more
        }
      }
      const status = tlsRefusalStatus(refused);
      return { failure: { status, relay }, transcript, hostRecord: refusalRecord(status, refused) };
    }
    const parsed = e instanceof SessionOpenError && e.reply !== undefined ? parseReply(e.reply) : undefined;
    if (parsed !== undefined) {
      const status = failureFromReply(parsed, 'greeting');
      return { failure: { status, relay, reply: parsed.line }, transcript, hostRecord: refusalRecord(status, parsed.line) };
    }
    const error = e instanceof SessionOpenError ? e.original : e;
    const status = connectionFailure(error, target.relay);
    return { failure: { status, relay }, transcript, hostRecord: connectionRecord(error, status.dsn) };
  }
}

async function tryHost(
  request: RemoteRequest,
  deps: RemoteDeps,
  cache: ConnectionCache,
  target: Target,
  address: string,
  port: number,
): Promise<Attempt & { transcript: string[]; tls?: TlsInfo }> {
  const options = deps.options;
  const relay: RelayInfo = { host: target.relay, address };
  const key = `${address}|${port}|${target.name ?? ''}`;
  const dialogue = (lines: string[]): SessionDialogue => ({ host: target.relay, lines });
  let session = cache.take(key);
  // a cached session's dialogue starts after the RSET that checked it, as sendmail's probe is no part of the message's
  let reused = true;
  if (session === undefined || !(await session.reset())) {
    session?.quit();
    reused = false;
    const opened = await openSession(deps, target, address, port);
    if (!(opened instanceof SmtpSession)) return { failure: opened.failure, transcript: opened.transcript, hostRecord: opened.hostRecord, dialogue: dialogue(opened.transcript) };
    session = opened;
    if (session.tls) deps.log?.info(8, NOQID, starttlsLine(session.tls));
    if (greetsAsUs(session.greeting, options.heloName)) {
      syserr(deps.log, request.queueId, `553 5.3.5 ${target.relay} config error: mail loops back to me (MX problem?)`);
      const transcript = session.transcript.slice();
      session.quit();
      const status = failed(ERR.REMOTE_MX_LOOP, 'Local configuration error');
      const reply = '553 5.3.5 system config error';
      return { failure: { status, relay, reply }, stop: true, transcript, hostRecord: refusalRecord(status, reply), dialogue: dialogue(transcript) };
    }
    const gate = await admitSession(deps, session, serverId(target, address), relay, request.queueId);
    if (!gate.ok) {
      session.quit();
      const transcript = session.transcript.slice();
      return { failure: { status: gate.status, relay, ...(gate.reply !== undefined ? { reply: gate.reply } : {}) }, transcript, hostRecord: gate.hostRecord, dialogue: dialogue(transcript), ...(session.tls ? { tls: session.tls } : {}) };
    }
  }
  const start = session.transcript.length;
  const from = reused ? start : 0;
  const extensions = session.extensions();
  const peer8bit = extensions?.has('8BITMIME') ?? false;
  const prepared = await messageForPeer(request, peer8bit, options);
  if (prepared === 'refused') {
    const lines = session.transcript.slice(from);
    session.transcript.length = 0;
    cache.put(key, session);
    const { status, reply } = EIGHT_BIT_REFUSED;
    return { results: everyone(request.recipients, status, { relay, reply }), transcript: [], hostRecord: transactionRecord({ dsn: status.dsn }), dialogue: dialogue(lines) };
  }
  const outcome = await sendMessage(session, request, request.recipients, prepared, peer8bit, options);
  const transcript = session.transcript.slice(start);
  const lines = session.transcript.slice(from);
  session.transcript.length = 0;
  const tls = session.tls;
  if (outcome.kind === 'broken') {
    session.quit();
    const status = connectionFailure(outcome.error, target.relay);
    return { failure: { status, relay }, transcript, hostRecord: connectionRecord(outcome.error, status.dsn), dialogue: dialogue(lines), ...(tls ? { tls } : {}) };
  }
  cache.put(key, session);
  const dsnOffered = extensions?.has('DSN') ?? false;
  const results = transactionResults(request.recipients, outcome, relay, dsnOffered);
  return { results, transcript, hostRecord: transactionRecord(lastReply(outcome, results)), dialogue: dialogue(lines), ...(tls ? { tls } : {}) };
}

/** The reply that ended the transaction, as sendmail's last mci_setstat() saw it. */
function lastReply(outcome: Exclude<SendOutcome, { kind: 'broken' }>, results: readonly RecipientResult[]): { reply?: string; dsn: string; phase?: string } {
  if (outcome.kind === 'sent') return { reply: outcome.final, dsn: sentFromReply(outcome.final).dsn };
  const parsed = parseReply(outcome.reply);
  const dsn = parsed !== undefined ? failureFromReply(parsed, outcome.phase).dsn : '5.5.0';
  if (outcome.phase !== 'rcpt') return { reply: outcome.reply, dsn, phase: outcome.phase };
  // every recipient refused: the last refusal is the last word
  const refused = [...outcome.rejected.values()].pop();
  const last = results[results.length - 1];
  return refused !== undefined ? { reply: refused, dsn: last?.status.dsn ?? dsn, phase: 'rcpt' } : { reply: outcome.reply, dsn, phase: 'rcpt' };
}

/** Each recipient's outcome from a transaction the host answered. */
function transactionResults(recipients: readonly RemoteRecipient[], outcome: Exclude<SendOutcome, { kind: 'broken' }>, relay: RelayInfo, dsnOffered: boolean): RecipientResult[] {
  return recipients.map((r) => {
    const rcptReply = outcome.rejected.get(r.address);
    let status: DeliveryStatus;
    let reply: string | undefined;
    const fromReply = (text: string, phase: Phase) => {
      const parsed = parseReply(text);
      reply = parsed?.line ?? text;
      return parsed ? failureFromReply(parsed, phase) : failed(ERR.REMOTE_PROTOCOL_ERROR, 'Remote protocol error');
    };
    if (rcptReply !== undefined) status = fromReply(rcptReply, 'rcpt');
    else if (outcome.kind === 'failed') status = fromReply(outcome.reply, outcome.phase);
    else status = sentFromReply(outcome.final);
    const relayed = status.status === 'sent' && r.notify?.success === true && r.notify.never !== true && !dsnOffered;
    const accepted = status.status === 'sent' && outcome.kind === 'sent' ? { acceptedReply: parseReply(outcome.final)?.line ?? outcome.final } : {};
    return { index: r.index, status, relay, ...(reply !== undefined ? { reply } : {}), ...(relayed ? { relayedWithoutDsn: true } : {}), ...accepted };
  });
}
