/**
 * A message's recipients as sendmail's send queue (recipient.c) treats
 * them while aliases, .forward files and :include: lists are expanded:
 *   - a recipient is on the list once, whatever form it arrives in
 *     (sameaddr(): `bob`, `bob@$j` and `Bob` are one local user, see
 *     recipient-identity.ts); a second one is a duplicate;
 *   - a list entry that names one of the entries that led to it
 *     (self_reference(): `bob` in bob's .forward, or kim → lee → kim) is not
 *     added: the first real user on that loop, from the repeated address
 *     back up the chain, keeps the mail in its mailbox (QSELFREF).  When
 *     that is the one being expanded, it is simply not replaced; when it is
 *     an address replaced earlier, `\user` delivers to its mailbox;
 *   - what counts for replacing a .forward's owner is every entry that is
 *     not such a loop, duplicates included (include()'s nincludes);
 *   - sendmail expands depth first, one envelope recipient after another, so
 *     when an entry is an envelope recipient not yet expanded (`kim lee`,
 *     kim forwarding to lee and lee to kim), sendmail reaches that recipient
 *     first through this entry, and its loops run through the entry's
 *     chain.  Expanding breadth first, the list records such an adoption
 *     (`adoptions` for the round under way; the caller keeps it in the
 *     envelope as `adoptedBy` for later rounds and queue runs) and follows
 *     it as the recipient's parent; without it both would be replaced and the mail
 *     lost, in the run that finds the loop or in a later one that retries a
 *     deferred delivery.
 */
import { bareAddress, route } from '../delivery/route.js';
import { recipientIdentity } from '../delivery/recipient-identity.js';
import { lookupUser } from '../privsep/passwd.js';
import type { Recipient } from './envelope.js';

export interface Placement {
  /** the entries new to the message, to be added */
  readonly added: Recipient[];
  /** entries that were not loops back to an ancestor (duplicates count): none, and the owner keeps its mail */
  readonly counted: number;
  /** an entry came back to the recipient being expanded: it keeps its own mail too */
  readonly keepsOwn: boolean;
}

/** A recipient written with a backslash: the mailbox of that user, neither aliased nor forwarded. */
function mailboxOf(user: string): string {
  return `\\${user}`;
}

export class SendList {
  private readonly byIdentity = new Map<string, number>();
  private readonly byAddress = new Map<string, number>();
  private readonly added: Recipient[] = [];

  constructor(
    private readonly recipients: readonly Recipient[],
    private readonly local: ReadonlySet<string>,
    /** envelope recipients reached in this round through another's list before their own expansion: index → that other's index */
    private readonly adoptions: Map<number, number> = new Map(),
    /** whether a local user has a mailbox (a passwd entry), which decides where a loop ends */
    private readonly userExists: (name: string) => boolean = (name) => lookupUser(name) !== undefined,
  ) {
    for (const [index, r] of recipients.entries()) {
      if (r.state === 'duplicate') continue;
      const id = this.identity(r);
      if (!this.byIdentity.has(id)) this.byIdentity.set(id, index);
      const bare = bareAddress(r.address);
      if (!this.byAddress.has(bare)) this.byAddress.set(bare, index);
    }
  }

  identity(r: Pick<Recipient, 'address' | 'origin'>): string {
    return recipientIdentity(r, this.local);
  }

  /** The open recipients that an earlier recipient of the message already is (sendmail's duplicate suppression). */
  duplicates(): number[] {
    const out: number[] = [];
    for (const [index, r] of this.recipients.entries()) {
      if (r.state !== 'pending' && r.state !== 'deferred') continue;
      if (this.byIdentity.get(this.identity(r)) !== index) out.push(index);
    }
    return out;
  }

  /** Recipient `index` and the addresses it was expanded from, nearest first. */
  private chain(index: number): Recipient[] {
    const out: Recipient[] = [];
    const seen = new Set<number>();
    for (let i: number | undefined = index; i !== undefined && !seen.has(i); ) {
      seen.add(i);
      const r: Recipient | undefined = this.recipients[i] ?? this.added[i - this.recipients.length];
      if (r === undefined) break;
      out.push(r);
      const up: string | undefined = r.parent ?? r.adoptedBy;
      i = up === undefined ? this.adoptions.get(i) : this.byAddress.get(up);
    }
    return out;
  }

  private isUser(r: Recipient): boolean {
    return route(r.address.replace(/^\\/, ''), this.local, this.userExists).kind === 'local';
  }

  /**
   * Where the entries of recipient `index`'s list go: what to add, and
   * whether the recipient keeps its mail.  `unexpanded(i)`: recipient i has
   * not been expanded yet, so an entry that is i adopts it (see above).
   */
  place(index: number, entries: readonly Recipient[], unexpanded: (index: number) => boolean = () => false): Placement {
    const added: Recipient[] = [];
    let counted = 0;
    let keepsOwn = false;
    const owner = this.recipients[index]!;
    const ancestors = this.chain(index);
    for (const entry of entries) {
      const id = this.identity(entry);
      const repeated = ancestors.find((a) => this.identity(a) === id);
      // the first real user from the entry back up the chain keeps the mail
      const keeper = repeated === undefined ? undefined : [entry, ...ancestors].find((a) => this.isUser(a));
      if (repeated !== undefined && keeper !== undefined) {
        const kept = keeper === entry || this.identity(keeper) === id ? repeated : keeper;
        if (kept === owner) keepsOwn = true;
        else this.add(this.mailboxEntry(kept, owner), added);
        continue;
      }
      counted++;
      const existing = this.byIdentity.get(id);
      const other = existing === undefined ? undefined : this.recipients[existing];
      if (
        existing !== undefined &&
        other !== undefined &&
        other.parent === undefined &&
        other.adoptedBy === undefined &&
        !this.adoptions.has(existing) &&
        unexpanded(existing) &&
        (other.state === 'pending' || other.state === 'deferred')
      ) {
        this.adoptions.set(existing, index);
      }
      this.add(entry, added);
    }
    return { added, counted, keepsOwn };
  }

  /** The adoptions made so far, as the envelope keeps them: recipient index and the adopter's address. */
  adoptionsToKeep(): Array<{ index: number; adoptedBy: string }> {
    const out: Array<{ index: number; adoptedBy: string }> = [];
    for (const [index, adopter] of this.adoptions) {
      const r = this.recipients[index];
      const by = this.recipients[adopter];
      if (r !== undefined && by !== undefined && r.adoptedBy === undefined) out.push({ index, adoptedBy: bareAddress(by.address) });
    }
    return out;
  }

  /** `\user` for a recipient replaced earlier that a loop came back to. */
  private mailboxEntry(kept: Recipient, owner: Recipient): Recipient {
    const where = route(kept.address.replace(/^\\/, ''), this.local, this.userExists);
    const user = where.kind === 'local' ? where.user : bareAddress(kept.address);
    return {
      address: mailboxOf(user),
      state: 'pending',
      parent: bareAddress(owner.address),
      keptFor: kept.address,
      aliased: true,
      ...(owner.notify !== undefined ? { notify: owner.notify } : {}),
    };
  }

  private add(entry: Recipient, into: Recipient[]): void {
    const id = this.identity(entry);
    if (this.byIdentity.has(id)) return;
    const index = this.recipients.length + this.added.length;
    this.byIdentity.set(id, index);
    const bare = bareAddress(entry.address);
    if (!this.byAddress.has(bare)) this.byAddress.set(bare, index);
    this.added.push(entry);
    into.push(entry);
  }
}
