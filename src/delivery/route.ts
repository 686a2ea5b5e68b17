/**
 * Where a recipient goes: a local user's mailbox, or another host.  Local
 * means no domain, or a domain of class w (Cw, Fw), this host's names, or
 * `localhost`, as sendmail's canonicalisation decides before choosing the
 * local mailer.  A `+detail` is dropped when the user without it exists, as
 * the local mailer's $u does; `Bob` is user bob, as the local mailer gets
 * its users lower-cased.
 */
import type { SystemIdentity } from '../common/identity.js';
import type { Config } from '../config/index.js';
import { lookupUser } from '../privsep/passwd.js';

export type Route =
  | { readonly kind: 'local'; readonly user: string }
  /** alias and .forward targets that are not addresses: `|program`, `/file`, `:include:/list` */
  | { readonly kind: 'program'; readonly command: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'include'; readonly path: string }
  | { readonly kind: 'unknown-user'; readonly localPart: string }
  | { readonly kind: 'remote'; readonly domain: string };

/** The address without angle brackets and surrounding blanks. */
export function bareAddress(address: string): string {
  const trimmed = address.trim();
  return trimmed.startsWith('<') && trimmed.endsWith('>') ? trimmed.slice(1, -1) : trimmed;
}

export function localDomains(config: Config, identity: SystemIdentity): Set<string> {
  const names = new Set<string>(['localhost', 'localhost.localdomain']);
  for (const n of config.classes.get('w') ?? []) names.add(n.toLowerCase());
  for (const n of [identity.canonicalName, identity.shortName, identity.nodeName]) if (n !== '') names.add(n.toLowerCase());
  const j = config.macros.get('j');
  if (j !== undefined && !j.includes('$')) names.add(j.toLowerCase());
  return names;
}

export function route(address: string, local: ReadonlySet<string>, userExists: (name: string) => boolean = (n) => lookupUser(n) !== undefined): Route {
  const bare = bareAddress(address);
  if (bare.startsWith('|')) return { kind: 'program', command: bare.slice(1) };
  if (bare.startsWith('/')) return { kind: 'file', path: bare };
  if (bare.toLowerCase().startsWith(':include:')) return { kind: 'include', path: bare.slice(9) };
  const at = bare.lastIndexOf('@');
  const domain = at < 0 ? '' : bare.slice(at + 1).toLowerCase().replace(/\.$/, '');
  if (at >= 0 && !local.has(domain) && !/^\[127\.\d+\.\d+\.\d+\]$/.test(domain)) return { kind: 'remote', domain };
  let localPart = at < 0 ? bare : bare.slice(0, at);
  if (localPart.startsWith('"') && localPart.endsWith('"') && localPart.length >= 2) localPart = localPart.slice(1, -1);
  // Mlocal has no F=u: sendmail hands the local mailer the user lower-cased, and finduser() tries that form too
  const lower = localPart.toLowerCase();
  for (const name of lower === localPart ? [localPart] : [localPart, lower]) {
    if (userExists(name)) return { kind: 'local', user: name };
    const plus = name.indexOf('+');
    if (plus > 0 && userExists(name.slice(0, plus))) return { kind: 'local', user: name.slice(0, plus) };
  }
  return { kind: 'unknown-user', localPart };
}
