/**
 * A queue run: every message that is due (or every selected one, for -qI,
 * -qR, -qS), each recipient still open routed and attempted, the outcome
 * written back to the queue before the next message, the message removed
 * once nothing is left to do.  Runs as RunAsUser; local deliveries go to
 * the root broker, which writes as the recipient.
 *
 * What cannot be delivered yet stays queued with its reason (mailq shows
 * it); what can never be delivered is returned to its sender by the
 * `returnToSender` hook (RFC 3464 notifications) before the message goes.
 */
import type { SystemIdentity } from '../common/identity.js';
import { ERR } from '../common/errors.js';
import type { DeliveryLogInput, Logger } from '../common/log.js';
import type { RemoteRequest, RemoteResult } from '../delivery/remote/types.js';
import type { Config } from '../config/index.js';
import type { QueueMatch } from '../msp/cmdline/invocation.js';
import type { DeliveryStatus } from '../delivery/mailbox/status.js';
import { bareAddress, localDomains, route, type Route } from '../delivery/route.js';
import type { AliasLookup } from '../delivery/aliases/index.js';
import { RecipientExpansion, withoutBackslash } from './expansion.js';
import type { BrokerReply, LocalMailerRequest } from '../delivery/broker/protocol.js';
import type { Envelope, Recipient } from './envelope.js';
import type { MessageQueue } from './index.js';
import { messagePriority } from './mailq.js';

export interface QueueSelection {
  readonly byId: readonly QueueMatch[];
  readonly byRecipient: readonly QueueMatch[];
  readonly bySender: readonly QueueMatch[];
  /** -qQ: the quarantined messages instead of the others (with -qQreason matches) */
  readonly items?: 'normal' | 'quarantined';
  readonly byQuarantine?: readonly QueueMatch[];
}

/** What became of the recipients of one message in one run, for the DSN hook. */
export interface RecipientOutcome {
  readonly recipient: Recipient;
  readonly index: number;
  readonly status: DeliveryStatus;
  /** Remote delivery: the host talked to, as relay= names it (the report's Remote-MTA). */
  readonly remoteMta?: string;
  /** Remote delivery: the server's reply that failed it (the report's Diagnostic-Code). */
  readonly reply?: string;
}

/** A recipient that asked for NOTIFY=SUCCESS and was handed to a peer without DSN: owed a "relayed" notice. */
export interface RelayedOutcome extends RecipientOutcome {
  /** The reply that took it. */
  readonly diagnostic?: string;
}

export interface RunnerDeps {
  readonly queue: MessageQueue;
  readonly config: Config;
  readonly identity: SystemIdentity;
  readonly log: Logger;
  /** one local delivery, by the broker */
  readonly deliverLocal: (request: { queueId: string; sender: string; user: string }) => Promise<DeliveryStatus>;
  /**
   * Return what failed for good (and what expired) to the sender; resolves once
   * the notification is itself queued, so that removing the original loses nothing.
   * `transcript`: what this attempt's deliveries said (the report's "Transcript of session").
   */
  readonly returnToSender: (envelope: Envelope, failed: readonly RecipientOutcome[], relayed?: readonly RelayedOutcome[], transcript?: readonly string[]) => Promise<number>;
  /**
   * The "relayed" notice (Action: relayed) for recipients handed to a peer
   * without DSN, when nothing failed in the same attempt (a failure report
   * carries them instead); resolves with the number of notices queued.
   */
  readonly reportRelayed?: (envelope: Envelope, relayed: readonly RelayedOutcome[]) => Promise<number>;
  /** a delay warning when the message has waited Timeout.queuewarn, with this attempt's transcript; true when one was queued */
  readonly warnOfDelay?: (envelope: Envelope, transcript?: readonly string[]) => Promise<boolean>;
  /** remote delivery, one message to the recipients of one domain (src/delivery/remote) */
  readonly deliverRemote?: (request: RemoteRequest) => Promise<RemoteResult>;
  /** the to= line's fields of a remote result (mailer, relay, dsn, reply, stat) */
  readonly remoteLogFields?: (result: RemoteResult, r: RemoteResult['recipients'][number]) => Partial<DeliveryLogInput>;
  /**
   * Mailboxes through the local mailer when it speaks LMTP (Mlocal with
   * P=[IPC] and F=z, src/delivery/lmtp): all of a message's mailboxes in one
   * transaction, instead of the broker.  `mailbox` gives the RCPT address
   * for a recipient routed `where`, or undefined when it is not the mailer's.
   */
  readonly localLmtp?: {
    readonly mailbox: (address: string, where: Route) => string | undefined;
    readonly deliver: (request: RemoteRequest) => Promise<RemoteResult>;
  };
  /** the alias look-up (AliasFile); undefined: no aliasing (sendmail -n) */
  readonly aliases?: AliasLookup;
  /** .forward, :include:, |program and /file, by the broker; undefined: those wait, as before they existed */
  readonly localMailer?: (request: LocalMailerRequest) => Promise<BrokerReply>;
  readonly now?: () => number;
  /** messages delivered at the same time; default QUEUE_RUN_LANES */
  readonly concurrency?: number;
}

/**
 * Messages a queue run delivers at the same time, each lane doing what one of
 * sendmail's queue-run children does.  A lane mostly waits (for a peer's
 * reply, the broker, a commit): with 4, bench/relay.mjs had the runner
 * finishing 0.5 to 0.9 s after the last message was accepted, 636-670
 * messages/s; with 8 it keeps up, 666-712/s.  Each lane may keep
 * ConnectionCacheSize connections of its own.
 */
export const QUEUE_RUN_LANES = 8;

export interface RunSummary {
  attempted: number;
  completed: number;
  deferred: number;
}

function matches(list: readonly QueueMatch[], values: readonly string[]): boolean {
  if (list.length === 0) return true;
  return list.some((m) => values.some((v) => v.toLowerCase().includes(m.pattern.toLowerCase())) !== m.negate);
}

export function selected(envelope: Envelope, selection: QueueSelection | undefined): boolean {
  if (selection === undefined) return true;
  const open = envelope.recipients.filter((r) => r.state === 'pending' || r.state === 'deferred').map((r) => r.address);
  return (
    matches(selection.byId, [envelope.id]) &&
    matches(selection.byRecipient, open) &&
    matches(selection.bySender, [envelope.sender]) &&
    matches(selection.byQuarantine ?? [], [envelope.quarantine ?? ''])
  );
}

export class QueueRunner {
  private readonly local: Set<string>;
  private readonly now: () => number;
  private readonly expansion: RecipientExpansion;

  constructor(private readonly deps: RunnerDeps) {
    this.local = localDomains(deps.config, deps.identity);
    this.now = deps.now ?? Date.now;
    this.expansion = new RecipientExpansion(deps, this.local);
  }

  /**
   * One pass.  A selection (-qI/-qR/-qS) runs the selected messages whether
   * due or not, as sendmail does; otherwise only those whose time has come.
   */
  async runOnce(selection?: QueueSelection): Promise<RunSummary> {
    const summary: RunSummary = { attempted: 0, completed: 0, deferred: 0 };
    // notices queued during a pass (returned mail, warnings) go out in the
    // next one at once; a few rounds at most, since a notice about a notice
    // is made only for the postmaster and never further
    for (let round = 0; round < 4; round++) {
      this.noticesQueued = 0;
      await this.pass(round === 0 ? selection : undefined, summary);
      if (this.noticesQueued === 0) break;
    }
    return summary;
  }

  private noticesQueued = 0;

  /**
   * Messages just accepted (the daemon's immediate delivery, DeliveryMode
   * background): these and only these, as sendmail's daemon delivers what it
   * has just taken; the rest of the queue waits for its -q interval.  The
   * notices this queues go out at once, in a pass over what is due.
   */
  async runArrivals(ids: readonly string[]): Promise<RunSummary> {
    const summary: RunSummary = { attempted: 0, completed: 0, deferred: 0 };
    this.noticesQueued = 0;
    await this.work(ids, (e) => e.quarantine === undefined, summary);
    if (this.noticesQueued === 0) return summary;
    const more = await this.runOnce();
    return { attempted: summary.attempted + more.attempted, completed: summary.completed + more.completed, deferred: summary.deferred + more.deferred };
  }

  private async pass(selection: QueueSelection | undefined, summary: RunSummary): Promise<void> {
    const now = this.now();
    // a quarantined message waits for -qQ; -qQ runs those and only those
    const wanted = (e: Envelope) => (e.quarantine !== undefined) === (selection?.items === 'quarantined') && selected(e, selection);
    const due = this.deps.queue.list().filter((e) => wanted(e) && (selection !== undefined || e.nextAttempt <= now));
    await this.work(
      due.map((e) => e.id),
      wanted,
      summary,
    );
  }

  /** Delivers the messages `ids`, a few at a time, each claimed first and read again under its claim. */
  private async work(ids: readonly string[], wanted: (e: Envelope) => boolean, summary: RunSummary): Promise<void> {
    const work = [...ids];
    const lanes = Array.from({ length: Math.max(1, this.deps.concurrency ?? QUEUE_RUN_LANES) }, async () => {
      for (let id = work.shift(); id !== undefined; id = work.shift()) {
        const claim = this.deps.queue.claim(id);
        if (claim === undefined) continue; // another runner has it
        try {
          // what was read before the claim may be stale: another runner may have just finished it
          const current = this.deps.queue.read(id);
          if (current === undefined || !wanted(current)) continue;
          summary.attempted++;
          if (await this.deliver(current)) summary.completed++;
          else summary.deferred++;
        } catch (error) {
          // the message stays queued as it is; the next run tries again
          summary.deferred++;
          this.deps.log.err(0, id, `queue run: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          claim.release();
        }
      }
    });
    await Promise.all(lanes);
  }

  /** Attempts every open recipient of one message; true when the message is done with and removed. */
  async deliver(original: Envelope): Promise<boolean> {
    const aliased = await this.expansion.expandAliases(original);
    const { envelope, forced } = await this.expansion.expandLocalLists(aliased.envelope, aliased.forced);
    const start = this.now();
    // a notification (null sender) has its own lifetime, as in sendmail
    const lifetime = this.deps.config.options.Timeout[envelope.sender === '' ? 'queuereturn.dsn' : 'queuereturn.normal'];
    const expired = start - envelope.arrival >= lifetime * 1000;
    const outcomes: RecipientOutcome[] = [];
    const relayed: RelayedOutcome[] = [];
    // sendmail's transcript of this attempt, for the reports it may call for
    const transcript: string[] = [];
    const expire = (status: DeliveryStatus): DeliveryStatus =>
      status.status === 'deferred' && expired
        ? { status: 'bounced', dsn: ERR.QUEUE_LIFETIME_EXCEEDED.status, text: `Message could not be delivered for ${describeAge(start - envelope.arrival)}: ${status.text}`, code: 'QUEUE_LIFETIME_EXCEEDED' }
        : status;
    // remote recipients go together, one delivery per domain, as sendmail groups them by host;
    // mailboxes too when the local mailer speaks LMTP
    const byDomain = new Map<string, Array<{ index: number; recipient: Recipient; address: string }>>();
    const mailboxes: Array<{ index: number; recipient: Recipient; address: string }> = [];
    for (const [index, recipient] of envelope.recipients.entries()) {
      if (recipient.state !== 'pending' && recipient.state !== 'deferred') continue;
      const where = forced.has(index) ? undefined : route(recipient.address, this.local);
      if (where?.kind === 'remote' && this.deps.deliverRemote !== undefined) {
        const list = byDomain.get(where.domain) ?? [];
        list.push({ index, recipient, address: bareAddress(recipient.address) });
        byDomain.set(where.domain, list);
        continue;
      }
      const mailbox = forced.has(index) ? undefined : this.lmtpMailbox(recipient);
      if (mailbox !== undefined) {
        mailboxes.push({ index, recipient, address: mailbox });
        continue;
      }
      const status = expire(forced.get(index) ?? (await this.attempt(envelope, recipient)));
      outcomes.push({ recipient, index, status });
      this.logAttempt(envelope, recipient, status, start);
    }
    const transactions = [...byDomain].map(([domain, list]) => ({ domain, list, send: this.deps.deliverRemote!, local: false }));
    if (mailboxes.length > 0) transactions.push({ domain: '', list: mailboxes, send: this.deps.localLmtp!.deliver, local: true });
    for (const { domain, list, send, local } of transactions) {
      const result = await send({
        queueId: envelope.id,
        sender: envelope.sender,
        domain,
        recipients: list.map(({ index, recipient, address }) => ({
          index,
          address,
          display: local ? shownLocally(recipient) : `<${bareAddress(recipient.address)}>`,
          ...(recipient.notify !== undefined ? { notify: recipient.notify } : {}),
          ...(recipient.orcpt !== undefined ? { orcpt: recipient.orcpt } : {}),
        })),
        ...(envelope.envid !== undefined ? { envid: envelope.envid } : {}),
        ...(envelope.ret !== undefined ? { ret: envelope.ret } : {}),
        ...(envelope.bodyType !== undefined ? { bodyType: envelope.bodyType } : {}),
        ...(envelope.auth !== undefined ? { auth: envelope.auth } : {}),
        content: () => this.deps.queue.openContent(envelope.id),
        bytes: () => this.deps.queue.storedBytes(envelope.id),
        size: envelope.size,
      });
      transcript.push(...(result.reportTranscript ?? []));
      for (const r of result.recipients) {
        const recipient = envelope.recipients[r.index]!;
        const status = expire(r.status);
        const remoteMta = r.relay !== undefined ? { remoteMta: r.relay.host } : {};
        outcomes.push({ recipient, index: r.index, status, ...remoteMta, ...(r.reply !== undefined ? { reply: r.reply } : {}) });
        // sendmail's QRELAYED: only for recipients as the envelope gave them, not alias expansions
        if (r.relayedWithoutDsn === true && status.status === 'sent' && recipient.parent === undefined) {
          relayed.push({ recipient, index: r.index, status, ...remoteMta, ...(r.acceptedReply !== undefined ? { diagnostic: r.acceptedReply } : {}) });
        }
        this.deps.log.logDelivery(envelope.id, {
          to: [local ? shownLocally(recipient) : `<${bareAddress(recipient.address)}>`],
          ...this.ctladdr(envelope),
          queuedAt: envelope.arrival,
          transactionStart: start,
          priority: messagePriority(envelope.size, envelope.recipients.length, envelope.attempts),
          status: status.text,
          ...(this.deps.remoteLogFields?.(result, r) ?? {}),
          ...(status !== r.status ? { status: status.text, dsn: status.dsn } : {}),
        });
      }
    }
    const failed = outcomes.filter((o) => o.status.status === 'bounced');
    const stillOpen = outcomes.some((o) => o.status.status === 'deferred');
    const recorded = (list: readonly RecipientOutcome[]) =>
      list.map((o) => ({
        index: o.index,
        state: o.status.status === 'sent' ? ('sent' as const) : o.status.status === 'bounced' ? ('bounced' as const) : ('deferred' as const),
        statusText: o.status.status === 'deferred' ? `Deferred: ${o.status.text}` : o.status.text,
        dsnStatus: o.status.dsn,
      }));
    if (failed.length === 0 && !stillOpen && relayed.length === 0) {
      // all delivered, nothing owed: the removal is the record (one commit, not two)
      await this.deps.queue.remove(envelope.id);
      return true;
    }
    // what was delivered is recorded at once, so a failure below cannot make it go twice
    await this.deps.queue.update(envelope.id, {
      attempts: envelope.attempts + 1,
      nextAttempt: this.now() + this.deps.config.options.MinQueueAge * 1000,
      recipients: recorded(outcomes.filter((o) => o.status.status !== 'bounced')),
    });
    if (failed.length > 0) {
      // a failure stays open until its notification is queued: never lost, at worst sent twice
      this.noticesQueued += await this.deps.returnToSender(envelope, failed, relayed, transcript);
      await this.deps.queue.update(envelope.id, { recipients: recorded(failed) });
    } else if (relayed.length > 0 && this.deps.reportRelayed !== undefined) {
      // already recorded as sent: a crash before this loses the notice, never repeats the delivery
      this.noticesQueued += await this.deps.reportRelayed(envelope, relayed);
    }
    if (stillOpen && this.deps.warnOfDelay !== undefined && (await this.deps.warnOfDelay(envelope, transcript))) {
      this.noticesQueued++;
      await this.deps.queue.update(envelope.id, { warned: true });
    }
    if (stillOpen) return false;
    await this.deps.queue.remove(envelope.id);
    return true;
  }

  /** The RCPT address of a mailbox the local LMTP mailer takes, if there is one. */
  private lmtpMailbox(recipient: Recipient): string | undefined {
    if (this.deps.localLmtp === undefined) return undefined;
    const address = withoutBackslash(recipient.address);
    return this.deps.localLmtp.mailbox(address, route(address, this.local));
  }

  private async attempt(envelope: Envelope, recipient: Recipient): Promise<DeliveryStatus> {
    // `\user`: the mailbox, no further forwarding (the .forward was looked at, or must not be)
    const where = route(withoutBackslash(recipient.address), this.local);
    switch (where.kind) {
      case 'local':
        return this.deps.deliverLocal({ queueId: envelope.id, sender: envelope.sender, user: where.user });
      case 'unknown-user':
        return { status: 'bounced', dsn: ERR.LOCAL_USER_UNKNOWN.status, text: 'User unknown', code: 'LOCAL_USER_UNKNOWN' };
      case 'program':
      case 'file':
      case 'include':
        if (where.kind !== 'include' && this.deps.localMailer !== undefined) return this.programOrFile(envelope, recipient, where);
        // an :include: is expanded before delivery; here only when no broker reads lists
        return {
          status: 'deferred',
          dsn: ERR.LOCAL_MAILER_UNAVAILABLE.status,
          text: `${where.kind === 'program' ? 'program' : where.kind === 'file' ? 'file' : ':include:'} delivery not built yet`,
          code: 'LOCAL_MAILER_UNAVAILABLE',
        };
      case 'remote':
        return {
          status: 'deferred',
          dsn: ERR.REMOTE_DELIVERY_UNAVAILABLE.status,
          text: `${where.domain}: remote delivery not built yet`,
          code: 'REMOTE_DELIVERY_UNAVAILABLE',
        };
    }
  }

  /** A |program or /file target, run or written by the broker as the identity its origin gives. */
  private async programOrFile(envelope: Envelope, recipient: Recipient, where: { kind: 'program'; command: string } | { kind: 'file'; path: string }): Promise<DeliveryStatus> {
    if (recipient.parent === undefined) {
      const what = where.kind === 'program' ? 'programs' : 'files';
      return { status: 'bounced', dsn: ERR.LOCAL_DIRECT_TARGET.status, text: `Cannot mail directly to ${what}`, code: 'LOCAL_DIRECT_TARGET' };
    }
    const origin = recipient.origin !== undefined ? { origin: recipient.origin } : {};
    const reply =
      where.kind === 'program'
        ? await this.deps.localMailer!({ version: 1, kind: 'program', queueId: envelope.id, sender: envelope.sender, command: where.command, ...origin })
        : await this.deps.localMailer!({ version: 1, kind: 'file', queueId: envelope.id, sender: envelope.sender, path: where.path, ...origin });
    if (reply.status === 'none' || reply.status === 'forwarded') {
      return { status: 'deferred', dsn: ERR.INTERNAL.status, text: `local delivery broker answered ${reply.status} for a ${where.kind}`, code: 'INTERNAL' };
    }
    return reply;
  }

  /** ctladdr=: the local submitter, as sendmail names the controlling user */
  private ctladdr(envelope: Envelope): { ctladdr?: { paddr: string; uid: number; gid: number } } {
    const s = envelope.submitter;
    return s === undefined ? {} : { ctladdr: { paddr: s.name, uid: s.uid, gid: s.gid } };
  }

  private logAttempt(envelope: Envelope, recipient: Recipient, status: DeliveryStatus, start: number): void {
    const stat = status.status === 'sent' ? 'Sent' : status.status === 'deferred' ? `Deferred: ${status.text}` : status.text;
    const kind = route(withoutBackslash(recipient.address), this.local).kind;
    const bare = bareAddress(recipient.address);
    // programs and files: the identity they ran as is the controlling user (sendmail's ctladdr=)
    const ran = (status as { ctladdr?: { name: string; uid: number; gid: number } }).ctladdr;
    this.deps.log.logDelivery(envelope.id, {
      to: [kind === 'program' ? `"${bare}"` : shownLocally(recipient)],
      ...(ran !== undefined ? { ctladdr: { paddr: ran.name, uid: ran.uid, gid: ran.gid } } : this.ctladdr(envelope)),
      queuedAt: envelope.arrival,
      transactionStart: start,
      mailer: kind === 'remote' ? 'esmtp' : kind === 'program' ? 'prog' : kind === 'file' ? '*file*' : 'local',
      priority: messagePriority(envelope.size, envelope.recipients.length, envelope.attempts),
      dsn: status.dsn,
      rcode: status.status === 'sent' ? 0 : 1,
      status: stat,
    });
  }
}

/** to= for a local recipient: `bob` as given, `<bob@host>` with its domain */
function localTo(address: string): string {
  const bare = bareAddress(address);
  return bare.includes('@') ? `<${bare}>` : bare;
}

/** A local recipient in the log; a loop's `\user` copy as the recipient it keeps the mail for, as sendmail shows it. */
function shownLocally(recipient: Recipient): string {
  return localTo(recipient.keptFor ?? recipient.address);
}

function describeAge(ms: number): string {
  const days = Math.floor(ms / 86_400_000);
  const hours = Math.floor((ms % 86_400_000) / 3_600_000);
  return days > 0 ? `${days} day${days === 1 ? '' : 's'}` : `${hours} hour${hours === 1 ? '' : 's'}`;
}

