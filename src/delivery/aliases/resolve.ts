/**
 * Alias expansion without I/O: the alias look-up is a function, so the
 * expander can be tested on plain tables and used over the database or the
 * text file alike.  .forward files and :include: lists are the caller's
 * (they must be read as their owner); their targets are reported here.
 *
 * What sendmail does and this follows (recipient.c, alias.c):
 *   - an alias's right-hand side replaces it, recursively; `\user` is not
 *     aliased any further;
 *   - an address met twice is delivered once ("duplicate suppressed");
 *   - an alias that reaches itself again (`bob: bob, carol`, or a longer
 *     loop through other aliases) is delivered to the first name on the loop
 *     that is a real user, from the repeated address back up the chain;
 *     when none is, that branch yields nothing, and an address that yields
 *     nothing at all because of loops fails with "aliasing/forwarding loop
 *     broken";
 *   - more than MaxAliasRecursion (10) levels fail with
 *     "aliasing/forwarding loop broken (11 aliases deep; 10 max)";
 *   - `owner-NAME` names who gets the errors of list NAME: its value when
 *     that is a single plain address, else `owner-NAME` itself.
 */
import { ERR, PosternError } from '../../common/errors.js';
import { aliasKey, classifyTarget, type AliasTarget } from './targets.js';

/** The right-hand side of alias `name` (lower-cased local name), split into items, or undefined. */
export type AliasLookup = (name: string) => readonly string[] | undefined;

export interface ResolveOptions {
  /** MaxAliasRecursion; default 10. */
  readonly maxDepth?: number;
  /** Whether a domain is this host's; default: no domain means local, any domain means remote. */
  readonly isLocalDomain?: (domain: string) => boolean;
  /** Whether a local name has a mailbox (a passwd entry): decides where a loop is broken; default: every name. */
  readonly isUser?: (name: string) => boolean;
  /** sendmail -n: no aliasing at all. */
  readonly noAlias?: boolean;
}

export interface ResolvedTarget {
  readonly target: AliasTarget;
  /** The aliases that led here, outermost first (empty: the address itself). */
  readonly via: readonly string[];
  /** Envelope sender for errors, from the nearest `owner-` alias on the way, if any. */
  readonly owner: string | undefined;
}

export interface ResolveError {
  /** The address (or alias item) that failed. */
  readonly address: string;
  readonly error: PosternError;
}

export interface Resolution {
  readonly targets: ResolvedTarget[];
  readonly errors: ResolveError[];
  /** Addresses dropped as duplicates, as written. */
  readonly duplicates: string[];
}

/** The immediate right-hand side of `name`, classified; undefined when it is not an alias. */
export function expandAlias(name: string, lookup: AliasLookup, seen?: ReadonlySet<string>): { targets: AliasTarget[]; loop: boolean } | undefined {
  const key = aliasKey(name);
  const rhs = lookup(key);
  if (rhs === undefined) return undefined;
  return { targets: rhs.map(classifyTarget), loop: seen?.has(key) ?? false };
}

/** Who a list's errors go to, from its `owner-` alias (sendmail: the owner of an owner- alias is owner-owner). */
export function listOwner(name: string, lookup: AliasLookup): string | undefined {
  const ownerName = name.startsWith('owner-') ? 'owner-owner' : `owner-${name}`;
  const value = lookup(ownerName);
  if (value === undefined) return undefined;
  const joined = value.join(', ');
  return /[,:/|"]/.test(joined) ? ownerName : joined;
}

/** Equal for two targets that are one recipient (sendmail's sameaddr()): `bob`, `Bob` and `bob@` a local domain are one. */
function targetIdentity(t: AliasTarget, isLocalDomain: (domain: string) => boolean): string {
  switch (t.kind) {
    case 'address':
      return `address:${t.domain === undefined || isLocalDomain(t.domain) ? aliasKey(t.local) : `${t.local}@${t.domain.toLowerCase()}`}:${t.noAlias ? 'q' : ''}`;
    case 'program':
      return `program:${t.command}`;
    case 'file':
      return `file:${t.path}`;
    case 'include':
      return `include:${t.path}`;
    case 'error':
      return `error:${t.status ?? ''}:${t.keyword ?? ''}:${t.text}`;
  }
}

export function resolveAliases(address: string, lookup: AliasLookup, options: ResolveOptions = {}): Resolution {
  const maxDepth = options.maxDepth ?? 10;
  const isLocalDomain = options.isLocalDomain ?? (() => false);
  const isUser = options.isUser ?? (() => true);
  const targets: ResolvedTarget[] = [];
  const errors: ResolveError[] = [];
  const duplicates: string[] = [];
  const delivered = new Set<string>();
  const expanded = new Set<string>();
  let loopBroken = false;

  const deliver = (target: AliasTarget, via: readonly string[], owner: string | undefined, written: string) => {
    const id = targetIdentity(target, isLocalDomain);
    if (delivered.has(id)) {
      duplicates.push(written);
      return;
    }
    delivered.add(id);
    targets.push({ target, via, owner });
  };

  const visit = (item: string, chain: readonly string[], owner: string | undefined): void => {
    const target = classifyTarget(item);
    if (target.kind !== 'address' || options.noAlias === true || target.noAlias) return deliver(target, chain, owner, item);
    if (target.domain !== undefined && !isLocalDomain(target.domain)) return deliver(target, chain, owner, item);
    const name = aliasKey(target.local);
    if (chain.length > maxDepth) {
      errors.push({
        address: item,
        error: new PosternError(ERR.ALIAS_LOOP, `aliasing/forwarding loop broken (${chain.length} aliases deep; ${maxDepth} max)`),
      });
      return;
    }
    const loopAt = chain.indexOf(name);
    if (loopAt >= 0) {
      // the candidates: this address, then its parents back to the one it repeats
      const candidates = [name, ...chain.slice(loopAt).reverse()];
      const mailbox = candidates.find((c) => isUser(c));
      if (mailbox === undefined) {
        loopBroken = true;
        return;
      }
      const local: AliasTarget = { kind: 'address', address: mailbox, local: mailbox, domain: undefined, noAlias: true };
      return deliver(local, chain, owner, item);
    }
    const rhs = lookup(name);
    if (rhs === undefined || rhs.length === 0) return deliver({ ...target, local: target.local }, chain, owner, item);
    if (expanded.has(name)) {
      duplicates.push(item);
      return;
    }
    expanded.add(name);
    const listOwnerName = listOwner(name, lookup) ?? owner;
    for (const next of rhs) visit(next, [...chain, name], listOwnerName);
  };

  visit(address, [], undefined);
  if (targets.length === 0 && errors.length === 0 && loopBroken) {
    errors.push({ address, error: new PosternError(ERR.ALIAS_LOOP, 'aliasing/forwarding loop broken') });
  }
  return { targets, errors, duplicates };
}
