/**
 * deliverLmtp(): one message to the recipients an LMTP mailer takes, in
 * transactions of at most r= recipients each.  LHLO, MAIL, one RCPT per
 * recipient, DATA, and then one reply per accepted recipient, each kept as
 * that recipient's own outcome: a 2xx is delivered, a 4xx deferred, a 5xx
 * bounced with its enhanced status, as sendmail's smtpgetstat() reads them.
 *
 * The session is remote delivery's (SmtpSession, on nodemailer's
 * SMTPConnection with `lmtp: true`); what differs is where it connects (a
 * Unix socket or the mailer's own port), that a mail loop is not looked
 * for, and how the replies are read.  The results have remote delivery's
 * shape, so the queue runner logs and returns them the same way.
 *
 * Sessions are kept between messages in remote delivery's connection cache
 * (ConnectionCacheSize, ConnectionCacheTimeout), under the mailer's name
 * and the socket or host, and checked with RSET before the next
 * transaction, as sendmail's mci cache keeps its [IPC] mailers' connections.
 */
import type { Readable } from 'node:stream';
import { ERR } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { failed, type DeliveryStatus } from '../mailbox/status.js';
import type { ConnectionCache } from '../remote/connection-cache.js';
import { processCache } from '../remote/deliver.js';
import { cachedFailure, connectionRecord, lookupRecord, refusalRecord, transactionRecord } from '../remote/host-status/outcomes.js';
import type { HostStatusRecord } from '../remote/host-status/record.js';
import { HostStatusStore } from '../remote/host-status/store.js';
import { dnsTemporaryFailure, hostUnknown, isTemporaryDnsError, resolveTargets, systemResolver, type Target } from '../remote/mx.js';
import { connectionFailure, failureFromReply, parseReply } from '../remote/replies.js';
import { requestTranscript, type SessionDialogue } from '../remote/report-transcript.js';
import { SessionOpenError, SmtpSession, type SendOutcome } from '../remote/smtp-session.js';
import { EIGHT_BIT_REFUSED, messageForPeer, sendMessage, syserr } from '../remote/transaction.js';
import type { DnsResolver, RecipientResult, RelayInfo, RemoteOptions, RemoteRecipient, RemoteRequest, RemoteResult } from '../remote/types.js';
import type { LmtpDestination } from './routing.js';
import { lmtpHost } from './routing.js';
import { connectUnixSocket, UNIX_SOCKET_HOST, type SocketSafety } from './socket.js';

export interface LmtpDeps {
  /** Remote delivery's settings: $j for LHLO, Timeout.*, EightBitMode, CACertFile, HostStatusDirectory... */
  readonly options: RemoteOptions;
  /** Timeout.lhlo, seconds (LHLO's own, where SMTP has Timeout.helo). */
  readonly lhloTimeout: number;
  /** The secure-file rules a Unix socket is judged by. */
  readonly socketSafety: SocketSafety;
  readonly resolver?: DnsResolver;
  /** SYSERRs go here. */
  readonly log?: Logger;
  readonly random?: () => number;
  /** Sessions kept between messages; default the process's, shared with remote delivery. */
  readonly cache?: ConnectionCache;
}

type Failure = { readonly status: DeliveryStatus; readonly relay: RelayInfo; readonly reply?: string };

function everyone(recipients: readonly RemoteRecipient[], f: Failure): RecipientResult[] {
  return recipients.map((r) => ({ index: r.index, status: f.status, relay: f.relay, ...(f.reply !== undefined ? { reply: f.reply } : {}) }));
}


/** The session settings for an LMTP peer: LHLO gets Timeout.lhlo, the port is the mailer's. */
function sessionOptions(deps: LmtpDeps, port: number): RemoteOptions {
  return { ...deps.options, port, timeouts: { ...deps.options.timeouts, helo: deps.lhloTimeout } };
}

/** Why a session could not be opened, for every recipient of it. */
function openFailure(e: unknown, relay: RelayInfo): Failure & { record: HostStatusRecord } {
  const parsed = e instanceof SessionOpenError && e.reply !== undefined ? parseReply(e.reply) : undefined;
  if (parsed !== undefined) {
    const status = failureFromReply(parsed, 'greeting');
    return { status, relay, reply: parsed.line, record: refusalRecord(status, parsed.line) };
  }
  const error = e instanceof SessionOpenError ? e.original : e;
  const status = connectionFailure(error, relay.host);
  return { status, relay, record: connectionRecord(error, status.dsn) };
}

/**
 * One recipient's reply to the end of the message: 2xx `Sent`, 4xx
 * deferred with the whole reply, 5xx `Service unavailable (its text)`, as
 * sendmail logs an LMTP mailer's per-recipient replies.
 */
export function statusFromFinalReply(reply: string): { status: DeliveryStatus; reply?: string } {
  const parsed = parseReply(reply);
  if (parsed === undefined) return { status: failed(ERR.REMOTE_PROTOCOL_ERROR, 'Remote protocol error'), reply };
  if (parsed.code >= 200 && parsed.code < 300) return { status: { status: 'sent', dsn: parsed.enhanced?.startsWith('2') ? parsed.enhanced : '2.0.0', text: 'Sent' } };
  const status = failureFromReply(parsed, 'eom');
  if (status.status === 'bounced' && parsed.code >= 500 && parsed.text.trim() !== '') return { status: { ...status, text: `${status.text} (${parsed.text.trim()})` }, reply: parsed.line };
  return { status, reply: parsed.line };
}

/** Each recipient's outcome from one transaction. */
function transactionResults(recipients: readonly RemoteRecipient[], outcome: SendOutcome, finals: ReadonlyMap<string, string>, relay: RelayInfo, relayedWithoutDsn: boolean): RecipientResult[] {
  return recipients.map((r) => {
    let result: { status: DeliveryStatus; reply?: string };
    const final = finals.get(r.address);
    const refused = outcome.kind === 'broken' ? undefined : outcome.rejected.get(r.address);
    if (final !== undefined) result = statusFromFinalReply(final);
    else if (refused !== undefined) {
      const parsed = parseReply(refused);
      result = parsed !== undefined ? { status: failureFromReply(parsed, 'rcpt'), reply: parsed.line } : { status: failed(ERR.REMOTE_PROTOCOL_ERROR, 'Remote protocol error'), reply: refused };
    } else if (outcome.kind === 'broken') {
      // the replies that had come are kept; the rest never will
      result = { status: connectionFailure(outcome.error, relay.host) };
    } else if (outcome.kind === 'failed') {
      const parsed = parseReply(outcome.reply);
      result = parsed !== undefined ? { status: failureFromReply(parsed, outcome.phase), reply: parsed.line } : { status: failed(ERR.REMOTE_PROTOCOL_ERROR, 'Remote protocol error'), reply: outcome.reply };
    } else {
      // accepted, and no reply of its own was seen: nodemailer's last reply stands for it
      result = statusFromFinalReply(outcome.final);
    }
    const relayed = relayedWithoutDsn && result.status.status === 'sent' && r.notify?.success === true;
    return { index: r.index, status: result.status, relay, ...(result.reply !== undefined ? { reply: result.reply } : {}), ...(relayed ? { relayedWithoutDsn: true } : {}) };
  });
}


interface Transaction {
  readonly results: RecipientResult[];
  readonly transcript: string[];
  /** What the transaction says about a TCP host, for HostStatusDirectory. */
  readonly record: HostStatusRecord;
}

/** What one chunk of recipients came to, with the sessions it had. */
interface Done {
  readonly results: RecipientResult[];
  readonly transcript: string[];
  readonly dialogues: SessionDialogue[];
}

const lmtpDialogue = (host: string, lines: string[]): SessionDialogue => ({ host, lines, lmtp: true });

/** The session cached under `key`, if it still answers RSET. */
async function cachedSession(cache: ConnectionCache, key: string): Promise<SmtpSession | undefined> {
  const session = cache.take(key);
  if (session === undefined) return undefined;
  if (await session.reset()) return session;
  session.quit();
  return undefined;
}

/** The transaction, then the session back into the cache for the next message, or closed when it cannot go on. */
async function transactAndKeep(cache: ConnectionCache, key: string, session: SmtpSession, run: () => Promise<Transaction>): Promise<Transaction> {
  let done: Transaction;
  try {
    done = await run();
  } catch (e) {
    // halfway through a transaction: not fit for another
    session.quit();
    throw e;
  }
  cache.put(key, session);
  return done;
}

/**
 * MAIL, RCPT..., DATA and the replies, on an open session.  The dialogue
 * is the session's from `from` on: all of it for a new session (greeting
 * and LHLO included), what follows the RSET for a cached one.
 */
async function transact(session: SmtpSession, request: RemoteRequest, recipients: readonly RemoteRecipient[], relay: RelayInfo, deps: LmtpDeps, finalDelivery: boolean, from: number): Promise<Transaction> {
  const extensions = session.extensions();
  const peer8bit = extensions?.has('8BITMIME') ?? false;
  let prepared: Awaited<ReturnType<typeof messageForPeer>> | undefined;
  try {
    prepared = await messageForPeer(request, peer8bit, deps.options);
    if (prepared === 'refused') {
      const { status, reply } = EIGHT_BIT_REFUSED;
      return { results: everyone(recipients, { status, relay, reply }), transcript: session.transcript.slice(from), record: transactionRecord({ dsn: status.dsn }) };
    }
    // one RCPT per address: the replies are matched to recipients by it
    const outcome = await sendMessage(session, request, recipients, prepared, peer8bit, deps.options);
    const finals = new Map(session.lmtpReplies);
    const relayed = !finalDelivery && !(extensions?.has('DSN') ?? false);
    const results = transactionResults(recipients, outcome, finals, relay, relayed);
    const transcript = session.transcript.slice(from);
    if (outcome.kind === 'broken') return { results, transcript, record: connectionRecord(outcome.error, connectionFailure(outcome.error, relay.host).dsn) };
    // per-recipient replies never keep a host away (sendmail's EX_NOTSTICKY); a refused MAIL or DATA may
    const last = outcome.kind === 'failed' && outcome.phase !== 'rcpt' ? { reply: outcome.reply, dsn: results[0]?.status.dsn ?? '5.0.0', phase: outcome.phase } : { reply: [...finals.values()].pop() ?? (outcome.kind === 'sent' ? outcome.final : outcome.reply), dsn: results[results.length - 1]?.status.dsn ?? '2.0.0' };
    return { results, transcript, record: transactionRecord(last) };
  } finally {
    if (typeof prepared === 'object' && typeof (prepared.message as Readable).destroy === 'function') (prepared.message as Readable).destroy();
    session.transcript.length = 0;
  }
}

/** Over the mailer's Unix socket: relay= is `localhost`, as sendmail names it. */
async function overUnixSocket(mailerName: string, path: string, request: RemoteRequest, recipients: readonly RemoteRecipient[], deps: LmtpDeps, finalDelivery: boolean): Promise<Done> {
  const relay: RelayInfo = { host: UNIX_SOCKET_HOST };
  const cache = deps.cache ?? processCache(deps.options);
  const key = `lmtp:${mailerName}|unix:${path}`;
  let session = await cachedSession(cache, key);
  const from = session?.transcript.length ?? 0;
  if (session === undefined) {
    const connected = await connectUnixSocket(path, deps.socketSafety, deps.options.timeouts.connect);
    if (!connected.ok) {
      syserr(deps.log, request.queueId, connected.syserr);
      return { results: everyone(recipients, { status: connected.status, relay }), transcript: [], dialogues: [] };
    }
    try {
      session = await SmtpSession.open({ address: UNIX_SOCKET_HOST, relay: UNIX_SOCKET_HOST }, sessionOptions(deps, 0), { lmtp: true, connection: connected.socket, ignoreTLS: true });
    } catch (e) {
      connected.socket.destroy();
      const transcript = ((e as { transcript?: string[] }).transcript ?? []).slice();
      return { results: everyone(recipients, openFailure(e, relay)), transcript, dialogues: [lmtpDialogue(UNIX_SOCKET_HOST, transcript)] };
    }
  }
  const open = session;
  const { results, transcript } = await transactAndKeep(cache, key, open, () => transact(open, request, recipients, relay, deps, finalDelivery, from));
  return { results, transcript, dialogues: [lmtpDialogue(UNIX_SOCKET_HOST, transcript)] };
}

async function addressesOf(target: Target, resolver: DnsResolver): Promise<string[] | DeliveryStatus> {
  if (target.literal !== undefined) return [target.literal];
  const name = target.name!;
  try {
    const found = await resolver.lookupAddresses(name);
    return found.length > 0 ? found : hostUnknown(name);
  } catch (e) {
    return isTemporaryDnsError(e) ? dnsTemporaryFailure(name) : hostUnknown(name);
  }
}

/**
 * Over TCP: the hosts in order (MX records unless bracketed or F=0), each
 * address in turn until one holds a transaction, as remote delivery tries
 * them, with the same host status.
 */
async function overTcp(
  destination: LmtpDestination,
  port: number,
  request: RemoteRequest,
  recipients: readonly RemoteRecipient[],
  deps: LmtpDeps,
  finalDelivery: boolean,
): Promise<Done> {
  const { mailer } = destination;
  const written = mailer.endpoint.kind === 'tcp' ? mailer.endpoint.host : null;
  const hosts = written !== null ? [lmtpHost(written, mailer.noMx)] : destination.hosts;
  if (hosts.length === 0) {
    syserr(deps.log, request.queueId, `null destination for ${mailer.name} mailer`);
    const status = failed(ERR.LMTP_NO_DESTINATION, 'Local configuration error');
    return { results: everyone(recipients, { status, relay: { host: request.domain || mailer.name } }), transcript: [], dialogues: [] };
  }
  const resolver = deps.resolver ?? systemResolver();
  const list = await resolveTargets(hosts, resolver, {
    localNames: deps.options.localNames,
    heloName: deps.options.heloName,
    tryNullMxList: deps.options.tryNullMxList ?? false,
    ...(deps.random ? { random: deps.random } : {}),
  });
  if (!list.ok) {
    if (list.syserr !== undefined) syserr(deps.log, request.queueId, list.syserr);
    return { results: everyone(recipients, { status: list.status, relay: { host: list.relay ?? request.domain }, ...(list.reply ? { reply: list.reply } : {}) }), transcript: [], dialogues: [] };
  }
  const settings = deps.options.hostStatus;
  const store = settings && !mailer.ignoresHostStatus ? new HostStatusStore(settings) : undefined;
  const record = async (target: Target, r: HostStatusRecord | undefined) => {
    if (store === undefined || r === undefined) return;
    const key = target.name ?? target.relay;
    await store.write(key, r).catch((e: unknown) => syserr(deps.log, request.queueId, `mci_store_persistent: cannot write host status for ${key} in ${store.settings.directory}: ${e instanceof Error ? e.message : String(e)}`));
  };
  const cache = deps.cache ?? processCache(deps.options);
  const dialogues: SessionDialogue[] = [];
  let transcript: string[] = [];
  let lastTemporary: Failure | undefined;
  let lastFailure: Failure | undefined;
  const note = (f: Failure) => {
    lastFailure = f;
    if (f.status.status === 'deferred') lastTemporary = f;
  };
  for (const target of list.targets) {
    const down = await store?.blocking(target.name ?? target.relay);
    if (down !== undefined) {
      const { status, reply } = cachedFailure(down, target);
      note({ status, relay: { host: target.relay }, ...(reply !== undefined ? { reply } : {}) });
      continue;
    }
    const addresses = await addressesOf(target, resolver);
    if (!Array.isArray(addresses)) {
      note({ status: addresses, relay: { host: target.relay } });
      await record(target, lookupRecord(addresses.status === 'deferred'));
      continue;
    }
    let hostRecord: HostStatusRecord | undefined;
    for (const address of addresses) {
      const relay: RelayInfo = { host: target.relay, address };
      const key = `lmtp:${mailer.name}|${address}|${port}|${target.name ?? ''}`;
      let session = await cachedSession(cache, key);
      const from = session?.transcript.length ?? 0;
      if (session === undefined) {
        try {
          session = await SmtpSession.open({ address, relay: target.relay, ...(target.name !== undefined ? { servername: target.name } : {}) }, sessionOptions(deps, port), { lmtp: true });
        } catch (e) {
          const f = openFailure(e, relay);
          transcript = ((e as { transcript?: string[] }).transcript ?? []).slice();
          dialogues.push(lmtpDialogue(target.relay, transcript));
          hostRecord = f.record;
          note(f);
          continue;
        }
      }
      const open = session;
      const done = await transactAndKeep(cache, key, open, () => transact(open, request, recipients, relay, deps, finalDelivery, from));
      dialogues.push(lmtpDialogue(target.relay, done.transcript));
      await record(target, done.record);
      return { results: done.results, transcript: done.transcript, dialogues };
    }
    await record(target, hostRecord);
  }
  const final = lastTemporary ?? lastFailure ?? { status: failed(ERR.REMOTE_HOST_UNKNOWN, 'Host unknown (no host to try)'), relay: { host: request.domain } };
  return { results: everyone(recipients, final), transcript, dialogues };
}

/**
 * Delivers `request` through the LMTP mailer of `destination`.  `mailer=`
 * of the to= lines is the mailer's name (`local` for the local mailer).
 */
export async function deliverLmtp(request: RemoteRequest, destination: LmtpDestination, deps: LmtpDeps): Promise<RemoteResult> {
  const { mailer } = destination;
  const results: RecipientResult[] = [];
  const transcript: string[] = [];
  const dialogues: SessionDialogue[] = [];
  for (let i = 0; i < request.recipients.length; i += mailer.maxRecipients) {
    const chunk = request.recipients.slice(i, i + mailer.maxRecipients);
    const done =
      mailer.endpoint.kind === 'unix'
        ? await overUnixSocket(mailer.name, mailer.endpoint.path, request, chunk, deps, mailer.local)
        : await overTcp(destination, mailer.endpoint.port, request, chunk, deps, mailer.local);
    results.push(...done.results);
    transcript.push(...done.transcript);
    dialogues.push(...done.dialogues);
  }
  return { recipients: results, mailer: mailer.name, transcript, reportTranscript: requestTranscript(dialogues, request.recipients, results) };
}
