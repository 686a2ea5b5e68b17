/**
 * Before a message's recipients are attempted, the local ones that name an
 * alias, a .forward or an :include: list are replaced by what those name,
 * durably, as recipients of their own (so a target delivered is never
 * delivered again while another waits).  Aliases are looked up here; lists
 * are read by the delivery broker as their owner.
 */
import { ERR } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Config } from '../config/index.js';
import type { AliasLookup } from '../delivery/aliases/index.js';
import type { BrokerReply, LocalMailerRequest } from '../delivery/broker/protocol.js';
import { expandRecipient } from '../delivery/expand.js';
import type { DeliveryStatus } from '../delivery/mailbox/status.js';
import { bareAddress, route } from '../delivery/route.js';
import type { Envelope, Recipient } from './envelope.js';
import { SendList } from './send-list.js';
import type { MessageQueue } from './index.js';

export interface ExpansionDeps {
  readonly queue: MessageQueue;
  readonly config: Config;
  readonly log: Logger;
  readonly aliases?: AliasLookup;
  readonly localMailer?: (request: LocalMailerRequest) => Promise<BrokerReply>;
}

export class RecipientExpansion {
  constructor(
    private readonly deps: ExpansionDeps,
    private readonly local: ReadonlySet<string>,
  ) {}

  /**
   * Suppresses the duplicates among the open recipients (one recipient in
   * whatever form: `bob`, `bob@$j`, `Bob`), then replaces each open local
   * recipient that names an alias by the alias's targets, durably, before
   * anything is delivered; returns the envelope as stored then, and the
   * statuses of aliases that failed to expand.
   */
  async expandAliases(envelope: Envelope): Promise<{ envelope: Envelope; forced: Map<number, DeliveryStatus> }> {
    const forced = new Map<number, DeliveryStatus>();
    const list = new SendList(envelope.recipients, this.local);
    const duplicates = new Set(list.duplicates());
    const states: Array<{ index: number; state: 'expanded' | 'duplicate' }> = [...duplicates].map((index) => ({ index, state: 'duplicate' }));
    const added: Recipient[] = [];
    const lookup = this.deps.aliases;
    for (const [index, r] of envelope.recipients.entries()) {
      if (lookup === undefined || duplicates.has(index) || (r.state !== 'pending' && r.state !== 'deferred') || r.aliased === true) continue;
      const where = route(r.address, this.local, () => true);
      if (where.kind !== 'local') continue;
      const expansion = expandRecipient(r, where.user, lookup, (d) => this.local.has(d.toLowerCase()));
      if (expansion.kind === 'none') continue;
      if (expansion.kind === 'deferred') {
        forced.set(index, expansion.status);
        continue;
      }
      // a temporary error: entry keeps the alias as it is, to be expanded again next time
      if (expansion.failure?.status === 'deferred') {
        forced.set(index, expansion.failure);
        continue;
      }
      const placed = list.place(index, expansion.recipients);
      added.push(...placed.added);
      if (expansion.failure !== undefined) forced.set(index, expansion.failure);
      // an alias a loop comes back to is delivered itself (alias(): QSELFREF undoes QS_EXPANDED)
      else if (!placed.keepsOwn) states.push({ index, state: 'expanded' });
      this.deps.log.info(9, envelope.id, `alias ${bareAddress(r.address)} => ${expansion.recipients.map((t) => t.address).join(', ') || '(nothing)'}`);
    }
    if (states.length === 0 && added.length === 0) return { envelope, forced };
    await this.deps.queue.update(envelope.id, { recipients: states, addRecipients: added });
    return { envelope: this.deps.queue.read(envelope.id) ?? envelope, forced };
  }

  /**
   * .forward files and :include: lists, after the aliases: each open local
   * recipient's .forward and each :include: list (read by the broker, as
   * their users) replaces that recipient by its targets, durably, as an
   * alias is replaced; the new addresses are aliased in turn, and their
   * users' .forward files read, up to MaxAliasRecursion rounds.  A target
   * already among the recipients is not added again, and one that comes
   * back to an address that led to it ends the loop in the mailbox of the
   * first real user on it (send-list.ts): a user whose .forward names
   * itself keeps its mail, and so does one whose every entry loops back.
   */
  async expandLocalLists(start: Envelope, forced: Map<number, DeliveryStatus>): Promise<{ envelope: Envelope; forced: Map<number, DeliveryStatus> }> {
    const ask = this.deps.localMailer;
    if (ask === undefined) return { envelope: start, forced };
    let envelope = start;
    const looked = new Set<number>();
    for (let round = 0; round <= this.deps.config.options.MaxAliasRecursion; round++) {
      const states: Array<{ index: number; state: 'expanded' }> = [];
      const added: Recipient[] = [];
      // the adoptions of earlier rounds (and runs) come with the envelope, as adoptedBy
      const list = new SendList(envelope.recipients, this.local);
      for (const [index, r] of envelope.recipients.entries()) {
        if ((r.state !== 'pending' && r.state !== 'deferred') || forced.has(index) || looked.has(index)) continue;
        const bare = bareAddress(r.address);
        const where = route(withoutBackslash(bare), this.local);
        let reply: BrokerReply;
        if (where.kind === 'local' && !bare.startsWith('\\')) {
          reply = await ask({ version: 1, kind: 'forward', queueId: envelope.id, user: where.user, address: bare, ...detailOf(bare, where.user) });
        } else if (where.kind === 'include') {
          if (r.parent === undefined) {
            forced.set(index, { status: 'bounced', dsn: ERR.LOCAL_DIRECT_TARGET.status, text: 'Cannot mail directly to :include:s', code: 'LOCAL_DIRECT_TARGET' });
            continue;
          }
          reply = await ask({ version: 1, kind: 'include', queueId: envelope.id, path: where.path, ...(r.origin !== undefined ? { origin: r.origin } : {}) });
        } else {
          continue;
        }
        looked.add(index);
        if (reply.status === 'none') continue;
        if (reply.status !== 'forwarded') {
          forced.set(index, reply);
          continue;
        }
        const entries: Recipient[] = reply.targets.map((t) => ({
          address: t.address,
          state: 'pending',
          parent: bare,
          origin: t.origin,
          ...(/^[|/\\]|^:include:/i.test(t.address) ? { aliased: true } : {}),
          ...(r.notify !== undefined ? { notify: r.notify } : {}),
        }));
        const placed = list.place(index, entries, (i) => !looked.has(i));
        added.push(...placed.added);
        // a .forward's owner is replaced unless it is on a loop of its own, or every entry was one
        if (where.kind !== 'local' || (placed.counted > 0 && !placed.keepsOwn)) states.push({ index, state: 'expanded' });
        this.deps.log.info(9, envelope.id, `${where.kind === 'local' ? 'forward' : 'include'} ${bare} => ${placed.added.map((t) => t.address).join(', ') || '(nothing new)'}`);
      }
      // adoptions first: a recipient adopted and expanded in one round ends 'expanded'
      const adopted = list.adoptionsToKeep().map(({ index, adoptedBy }) => ({ index, state: envelope.recipients[index]!.state, adoptedBy }));
      if (states.length === 0 && added.length === 0 && adopted.length === 0) break;
      await this.deps.queue.update(envelope.id, { recipients: [...adopted, ...states], addRecipients: added });
      envelope = this.deps.queue.read(envelope.id) ?? envelope;
      const again = await this.expandAliases(envelope);
      envelope = again.envelope;
      for (const [i, status] of again.forced) forced.set(i, status);
    }
    return { envelope, forced };
  }
}

/** The address without the `\\` that keeps a local user from being aliased or forwarded further. */
export function withoutBackslash(address: string): string {
  const bare = bareAddress(address);
  return bare.startsWith('\\') ? bare.slice(1) : bare;
}

/** The +detail of user+detail, as ForwardPath's $h. */
function detailOf(address: string, user: string): { detail?: string } {
  const local = address.includes('@') ? address.slice(0, address.lastIndexOf('@')) : address;
  return local.startsWith(`${user}+`) ? { detail: local.slice(user.length + 1) } : {};
}
