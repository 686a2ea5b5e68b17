/**
 * Alias expansion at delivery: a local recipient that names an alias is
 * replaced by the alias's targets, each a recipient of its own from then on
 * (so a target delivered is never delivered again when another one waits).
 * What the expansion cannot make sense of (error: entries, loops) fails the
 * alias's address, as sendmail bounces it.
 */
import { ERR } from '../common/errors.js';
import type { Recipient } from '../queue/envelope.js';
import { lookupUser } from '../privsep/passwd.js';
import { resolveAliases, type AliasLookup, type ResolvedTarget } from './aliases/index.js';
import type { DeliveryStatus } from './mailbox/status.js';
import { bareAddress } from './route.js';

export type Expansion =
  /** not an alias: deliver the address itself */
  | { readonly kind: 'none' }
  | { readonly kind: 'expanded'; readonly recipients: Recipient[]; readonly failure?: DeliveryStatus }
  /** the alias database cannot be read now: try again later */
  | { readonly kind: 'deferred'; readonly status: DeliveryStatus };

function asRecipient(t: ResolvedTarget, parent: Recipient): Recipient | undefined {
  const inherit = { state: 'pending' as const, parent: bareAddress(parent.address), aliased: true, ...(parent.notify !== undefined ? { notify: parent.notify } : {}) };
  switch (t.target.kind) {
    case 'address':
      // `\user` stays written so: no .forward for it either
      return { address: t.target.noAlias ? `\\${t.target.address}` : t.target.address, ...inherit };
    case 'program':
      return { address: `|${t.target.command}`, ...inherit };
    case 'file':
      return { address: t.target.path, ...inherit };
    case 'include':
      return { address: `:include:${t.target.path}`, ...inherit };
    case 'error':
      return undefined;
  }
}

export function expandRecipient(recipient: Recipient, localPart: string, lookup: AliasLookup, isLocalDomain: (domain: string) => boolean): Expansion {
  let resolution;
  try {
    resolution = resolveAliases(localPart, lookup, { isLocalDomain, isUser: (n) => lookupUser(n) !== undefined });
  } catch (e) {
    const text = e instanceof Error ? e.message : String(e);
    return { kind: 'deferred', status: { status: 'deferred', dsn: ERR.ALIAS_DATABASE_UNAVAILABLE.status, text, code: 'ALIAS_DATABASE_UNAVAILABLE' } };
  }
  const only = resolution.targets[0];
  if (resolution.errors.length === 0 && resolution.targets.length === 1 && only !== undefined && only.via.length === 0) return { kind: 'none' };
  const recipients = resolution.targets.map((t) => asRecipient(t, recipient)).filter((r): r is Recipient => r !== undefined);
  const errorTarget = resolution.targets.find((t) => t.target.kind === 'error');
  const firstError = resolution.errors[0];
  let failure: DeliveryStatus | undefined;
  if (errorTarget !== undefined && errorTarget.target.kind === 'error') {
    const status = errorTarget.target.status ?? '5.0.0';
    failure = { status: status.startsWith('4') ? 'deferred' : 'bounced', dsn: status, text: errorTarget.target.text };
  } else if (firstError !== undefined) {
    failure = { status: 'bounced', dsn: firstError.error.status, text: firstError.error.message, code: firstError.error.code };
  } else if (recipients.length === 0) {
    failure = { status: 'bounced', dsn: ERR.ALIAS_LOOP.status, text: 'aliasing/forwarding loop broken', code: 'ALIAS_LOOP' };
  }
  return { kind: 'expanded', recipients, ...(failure !== undefined ? { failure } : {}) };
}
