/**
 * Which recipients an LMTP mailer takes, and where it sends them:
 *
 * - a domain whose mailertable entry names an LMTP mailer
 *   (`example.com lmtp:[10.0.0.5]`, `.example.com dovecot:localhost`), to the
 *   entry's hosts (A=TCP $h) or to the mailer's own socket or host;
 * - local mailboxes, when the local mailer (Mlocal) is itself an [IPC] LMTP
 *   mailer: the local part as the local mailer's R=EnvToL leaves it (the
 *   domain gone, a +detail kept), and users without a passwd entry too when
 *   the mailer lacks F=w (virtual users the LMTP server knows).
 */
import type { Route } from '../route.js';
import { bareAddress } from '../route.js';
import { hostSpec, mailertableEntry, splitHosts, type HostSpec } from '../remote/routing.js';
import type { KeyLookup } from '../remote/types.js';
import { isAddressLiteral, type LmtpMailer } from './mailer.js';

export interface LmtpDestination {
  readonly mailer: LmtpMailer;
  /** The hosts for A=TCP $h, in order; empty for a Unix socket or a host written in A=. */
  readonly hosts: readonly HostSpec[];
}

/** A host as the mailer connects to it: a bare address is a literal, F=0 turns MX look-ups off. */
export function lmtpHost(written: string, noMx: boolean): HostSpec {
  if (isAddressLiteral(written)) return { name: `[${written}]`, mx: false };
  const spec = hostSpec(written);
  return noMx && spec.mx ? { name: `[${spec.name}]`, mx: false } : spec;
}

/**
 * The LMTP destination of `domain` from the mailertable, or undefined when
 * its entry (if any) names no LMTP mailer: then it is remote delivery's.
 */
export function lmtpDestination(domain: string, mailertable: KeyLookup | null | undefined, mailers: ReadonlyMap<string, LmtpMailer>): LmtpDestination | undefined {
  if (mailertable === null || mailertable === undefined || mailers.size === 0) return undefined;
  const entry = mailertableEntry(mailertable, domain)?.trim();
  if (entry === undefined || entry.startsWith('[')) return undefined;
  const colon = entry.indexOf(':');
  if (colon <= 0) return undefined;
  const mailer = mailers.get(entry.slice(0, colon).toLowerCase());
  if (mailer === undefined) return undefined;
  return { mailer, hosts: splitHosts(entry.slice(colon + 1)).map((h) => lmtpHost(h, mailer.noMx)) };
}

/**
 * The RCPT address the local LMTP mailer is given for `address` (routed as
 * `where`), or undefined when the recipient is not a mailbox of its.
 */
export function localLmtpRecipient(address: string, where: Route, mailer: LmtpMailer): string | undefined {
  if (where.kind !== 'local' && !(where.kind === 'unknown-user' && !mailer.checksPasswd)) return undefined;
  const bare = bareAddress(address);
  const at = bare.lastIndexOf('@');
  let localPart = at < 0 ? bare : bare.slice(0, at);
  if (localPart.startsWith('"') && localPart.endsWith('"') && localPart.length >= 2) localPart = localPart.slice(1, -1);
  return localPart === '' ? undefined : localPart;
}
