/**
 * The daemon's side of a local submission (`sendmail -t` and friends, over
 * the submission socket or from the client-queue runner): who submitted is
 * the kernel's word (SO_PEERCRED, or the owner of a client-queue file as the
 * runner reports it); the message is read and its headers made under
 * submit.cf's rules, as sendmail's MSP makes them, so the trust decisions
 * (X-Authentication-Warning for -f) are taken here, where the caller cannot
 * influence them; then it is queued, and only once the queue has it on disk
 * is the reply "accepted".  A message its submitter does not finish (no end
 * frame: its input failed, it was killed) is never queued.
 */
import type { SystemIdentity } from '../common/identity.js';
import { ERR, isPosternError } from '../common/errors.js';
import { localAuthinfo, type Logger } from '../common/log.js';
import type { Config } from '../config/index.js';
import { newInvocation } from '../msp/cmdline/parse.js';
import type { Invocation } from '../msp/cmdline/invocation.js';
import { addressKey, qualifiedEnvelopeAddress, readSubmission, SubmissionError, type Submission } from '../msp/submission/index.js';
import { recipientIdentity } from '../delivery/recipient-identity.js';
import { localDomains } from '../delivery/route.js';
import { refusal, type IncomingSubmission, type SubmissionHandler, type SubmissionReply, type SubmissionRequest } from '../msp/submit-protocol.js';
import { lookupUser, type PasswdEntry } from '../privsep/passwd.js';
import type { Envelope, Recipient } from '../queue/envelope.js';
import { filterLocalSubmission, localSubmissionsFiltered, type LocalMilterContext } from './local-milters.js';
import type { Reply } from './smtpd/replies.js';
import { qualifyHeaderAddresses } from './relay-headers.js';
import { unknownLocalRecipients } from './local-recipients.js';

/** What the handler needs from the queue: a durable accept, resolving only once the message is on disk. */
export interface QueueSink {
  assignId(): Promise<string>;
  accept(envelope: Envelope, content: AsyncIterable<Buffer>): Promise<void>;
}

export interface LocalSubmissionDeps {
  /** submit.cf, read by the daemon: its trusted users, PrivacyOptions, MaxHopCount... */
  readonly submitConfig: Config;
  readonly identity: SystemIdentity;
  readonly queue: QueueSink;
  readonly log?: Logger;
  readonly now?: () => Date;
  /** sendmail.cf, whose filters (X lines) see local submissions as the MTA sees the MSP's */
  readonly mtaConfig?: Config;
}

/** A filter's refusal: 4xx temporary (75: the MSP keeps the message in its client queue), 5xx unavailable (69). */
function milterRefusal(reply: Reply): SubmissionReply {
  const line = reply.text.split('\n').map((t) => `${reply.code} ${reply.status} ${t}`);
  return refusal(reply.code < 500 ? ERR.MILTER_TEMPFAIL : ERR.MILTER_REJECT, ...line);
}

/** The command line the MSP was given, as far as the request says it (and nothing of who gave it). */
export function invocationFromRequest(request: SubmissionRequest): Invocation {
  const inv = newInvocation('sendmail');
  inv.operands.push(...request.recipients);
  inv.recipientsFromHeaders = request.recipientsFromHeaders;
  if (request.ignoreDots) inv.options.push({ letter: 'i', text: 'T' });
  inv.sender = request.sender;
  inv.senderFlag = request.senderFlag === 'bs' ? undefined : request.senderFlag;
  inv.fullName = request.fullName;
  inv.hopCount = request.hopCount;
  inv.notify = request.notify === undefined ? undefined : { ...request.notify };
  inv.dsnReturn = request.ret;
  inv.envid = request.envid;
  inv.bodyType = request.bodyType;
  return inv;
}

/** The submitter's passwd entry; one without an entry keeps sendmail's "Unknown UID n" and the kernel's gid. */
function passwdEntry(uid: number, gid: number): PasswdEntry {
  return lookupUser(uid) ?? { name: `Unknown UID ${uid}`, uid, gid, gecos: '', home: '/', shell: '' };
}

/**
 * The recipients once each, as sendmail's MTA takes them from its MSP: the
 * MSP drops a repeated address once qualified (`bob` and `bob@$j`), the
 * MTA one that is the same recipient (sameaddr(): `Bob@$j` is local user
 * bob too); without sendmail.cf's local names, only the MSP's part.
 */
function onePerRecipient(addresses: readonly string[], local: ReadonlySet<string> | undefined): string[] {
  const seen = new Set<string>();
  return addresses.filter((address) => {
    const key = local === undefined ? addressKey(address) : recipientIdentity({ address }, local);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Up to this much of a message is handed back for the caller's dead.letter (the reply carries it, base64). */
export const DEAD_LETTER_LIMIT = 4 * 1024 * 1024;

/** What the caller's dead.letter gets: the message as the MSP made it, body included, while it stays under DEAD_LETTER_LIMIT. */
class DeadLetterCopy {
  private parts: Buffer[] | undefined;
  private bytes: number;

  constructor(headers: string) {
    const head = Buffer.from(headers, 'latin1');
    this.parts = [head];
    this.bytes = head.length;
  }

  add(chunk: Buffer): void {
    if (this.parts === undefined) return;
    this.bytes += chunk.length;
    if (this.bytes > DEAD_LETTER_LIMIT) this.parts = undefined;
    else this.parts.push(Buffer.from(chunk));
  }

  /** base64, or undefined when the message outgrew the limit */
  text(): string | undefined {
    return this.parts === undefined ? undefined : Buffer.concat(this.parts).toString('base64');
  }
}

export function localSubmissionHandler(deps: LocalSubmissionDeps): SubmissionHandler {
  const receive = receiver(deps);
  return async (incoming): Promise<SubmissionReply> => {
    const uid = incoming.request.onBehalfOf ?? incoming.peer.uid;
    const caller = passwdEntry(uid, uid === incoming.peer.uid ? incoming.peer.gid : uid);
    const queueId = await deps.queue.assignId();
    let reply: SubmissionReply;
    try {
      reply = await receive(incoming, caller, queueId);
    } catch (e) {
      if (!isPosternError(e, ERR.SUBMIT_ABANDONED)) throw e;
      reply = refusal(ERR.SUBMIT_ABANDONED, e.message);
    }
    // nothing was queued: as sendmail's collect() logs a client gone in the middle of DATA
    if (!reply.ok && reply.code === 'SUBMIT_ABANDONED') deps.log?.notice(0, queueId, `collect: ${reply.lines.join(' ')}, from ${caller.name} (uid ${caller.uid})`);
    return reply;
  };
}

/** One submission, read, filtered and queued; a submitter that abandons it gets nothing queued (SUBMIT_ABANDONED). */
function receiver(deps: LocalSubmissionDeps): (incoming: IncomingSubmission, caller: PasswdEntry, queueId: string) => Promise<SubmissionReply> {
  return async ({ request, body }, caller, queueId): Promise<SubmissionReply> => {
    const arrival = deps.now?.() ?? new Date();
    let submission: Submission;
    try {
      submission = await readSubmission(body, {
        invocation: invocationFromRequest(request),
        config: deps.submitConfig,
        caller,
        identity: deps.identity,
        queueId,
        now: arrival,
        ...(request.untrustedConfig !== undefined ? { untrustedConfig: request.untrustedConfig } : {}),
        smtpSession: request.senderFlag === 'bs',
      });
    } catch (e) {
      if (e instanceof SubmissionError) return refusal(ERR[e.code as keyof typeof ERR], e.message);
      throw e;
    }
    // sendmail's auth_warning(): with the header, under LogLevel > 3
    if (deps.submitConfig.options.PrivacyOptions.has('authwarnings')) for (const w of submission.warnings) deps.log?.info(3, queueId, `Authentication-Warning: ${w}`);
    const domain = deps.submitConfig.macros.get('j') ?? deps.identity.canonicalName;
    const local = deps.mtaConfig === undefined ? undefined : localDomains(deps.mtaConfig, deps.identity);
    const recipients: Recipient[] = onePerRecipient(
      submission.recipients.map((address) => qualifiedEnvelopeAddress(address, domain)),
      local,
    ).map((address) => ({
      address,
      state: 'pending',
      ...(request.notify !== undefined ? { notify: request.notify } : {}),
    }));
    // as sendmail's MTA refuses them at RCPT while its MSP relays the message in the caller's presence
    // (DeliveryMode=i); the client-queue runner's, -odq's and -bs's are taken and bounce later
    const interactive = request.onBehalfOf === undefined && request.deferred !== true && request.senderFlag !== 'bs';
    const unknown = deps.mtaConfig === undefined || local === undefined || !interactive ? [] : unknownLocalRecipients(recipients.map((r) => r.address), deps.mtaConfig, local);
    for (const address of unknown) deps.log?.notice(0, queueId, `<${address}>... User unknown`);
    const deadLetter = unknown.length === 0 ? undefined : new DeadLetterCopy(`Return-Path: <${submission.sender}>\n${submission.headers}`);
    const unknownReply = (): SubmissionReply => {
      const saved = deadLetter?.text();
      const refused = { ok: false, code: 'LOCAL_USER_UNKNOWN', exit: ERR.LOCAL_USER_UNKNOWN.exit } as const;
      // a message too big to hand back is not saved: the caller is told why it failed instead
      return saved === undefined ? { ...refused, lines: unknown.map((a) => `${a}... User unknown`) } : { ...refused, lines: [], deadLetter: saved };
    };
    if (deadLetter !== undefined) {
      const taken = recipients.filter((r) => !unknown.includes(r.address));
      recipients.length = 0;
      recipients.push(...taken);
      if (taken.length === 0) {
        for await (const chunk of submission.body) deadLetter.add(chunk);
        return unknownReply();
      }
    }
    // the bytes stored, headers included (sendmail's from= counts what it collected)
    let size = 0;
    // as sendmail's MSP relays it to the MTA: bare user names in address headers get @$j
    let headerBlock = qualifyHeaderAddresses(submission.headers, domain);
    let bodySource = submission.body;
    const content = (async function* () {
      const headers = Buffer.from(headerBlock, 'latin1');
      size += headers.length;
      yield headers;
      for await (const chunk of bodySource) {
        size += chunk.length;
        deadLetter?.add(chunk);
        yield chunk;
      }
    })();
    let envelope: Envelope = {
      id: queueId,
      sender: qualifiedEnvelopeAddress(submission.sender, domain),
      // the MSP hands sendmail's MTA the message over ESMTP: its qf has $r ESMTP, and mailq shows <addresses>
      protocol: 'ESMTP',
      recipients,
      ...(request.envid !== undefined ? { envid: request.envid } : {}),
      ...(request.ret !== undefined ? { ret: request.ret } : {}),
      ...(request.bodyType !== undefined ? { bodyType: request.bodyType.toUpperCase() === '8BITMIME' ? '8BITMIME' : '7BIT' } : {}),
      hopCount: submission.hopCount,
      submitter: { uid: caller.uid, gid: caller.gid, name: caller.name },
      relay: localAuthinfo(caller.name),
      arrival: arrival.getTime(),
      size: 0,
      ...(submission.messageId !== undefined ? { messageId: submission.messageId } : {}),
      attempts: 0,
      nextAttempt: arrival.getTime(),
    };
    let release = async () => {};
    const milters: LocalMilterContext | undefined =
      deps.mtaConfig !== undefined && localSubmissionsFiltered(deps.mtaConfig) ? { config: deps.mtaConfig, identity: deps.identity, ...(deps.log !== undefined ? { log: deps.log } : {}) } : undefined;
    try {
      if (milters !== undefined) {
        const filtered = await filterLocalSubmission(milters, { envelope, headers: headerBlock, body: submission.body, messageId: submission.messageId });
        if (filtered.kind === 'refused' || filtered.kind === 'shutdown') return milterRefusal(filtered.reply);
        if (filtered.kind === 'discard') {
          deps.log?.info(4, queueId, 'discarded');
          return { ok: true, id: queueId, lines: [] };
        }
        headerBlock = filtered.headerText + '\n';
        bodySource = filtered.body;
        envelope = filtered.envelope;
        release = filtered.dispose;
      }
      await deps.queue.accept(envelope, content);
    } catch (e) {
      if (isPosternError(e)) return refusal(ERR[e.code], e.message);
      throw e;
    } finally {
      await release();
    }
    deps.log?.logSender(queueId, {
      from: submission.sender,
      size,
      class: 0,
      nrcpts: envelope.recipients.length,
      ...(submission.messageId !== undefined ? { msgid: submission.messageId } : {}),
      relay: { kind: 'authinfo', authinfo: localAuthinfo(caller.name) },
    });
    if (unknown.length > 0) return unknownReply();
    // submission.warnings went into the message as X-Authentication-Warning; sendmail does not tell the caller
    return { ok: true, id: queueId, lines: [] };
  };
}
