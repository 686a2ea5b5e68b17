/**
 * Which recipients a session accepts: an address in a local domain (class
 * w, $j, $w, localhost, a bracketed address of this host) is taken when its
 * user exists; any other address is relaying, which policy.ts allows or
 * refuses (AUTH, class R, the access map's To: and Connect:, loopback).  A
 * percent hack, a bang path or a source route that leads off this host is
 * relaying like any other remote address.
 *
 * RelayDecision is a seam over the policy: when it answers, its word holds.
 */
import { networkInterfaces } from 'node:os';
import { ERR } from '../../common/errors.js';
import type { SystemIdentity } from '../../common/identity.js';
import type { Config } from '../../config/index.js';
import type { ParsedAddress } from './address.js';
import type { AccessPolicy, ClientFacts } from './policy.js';
import { classReply, type Reply } from './replies.js';

/** What the session knows of the client when it judges a recipient. */
export interface ClientInfo {
  /** the client's IP address as the socket reports it */
  readonly address: string;
  /** $_: `host [ip]` */
  readonly authinfo: string;
  /** name, address, AUTH state, for the relay rules of policy.ts */
  readonly facts?: ClientFacts;
}

/** May this client send mail to this remote address?  undefined: no opinion, the default rule applies. */
export type RelayDecision = (client: ClientInfo, recipient: string) => boolean | undefined;

/** A known local user (its full name is shown by VRFY), or false. */
export type LocalUserLookup = (name: string) => boolean | { readonly fullName?: string };

export type Destination =
  | { readonly kind: 'local'; readonly user: string; readonly fullName?: string }
  | { readonly kind: 'remote'; readonly address: string };

export class RecipientJudge {
  private readonly localNames: Set<string>;

  constructor(
    config: Config,
    identity: SystemIdentity,
    private readonly localUser: LocalUserLookup,
    private readonly relay: RelayDecision | undefined,
    private readonly policy: AccessPolicy | null = null,
  ) {
    this.localNames = new Set(
      [identity.canonicalName, identity.shortName, 'localhost', ...(config.classes.get('w') ?? [])].map((d) => d.toLowerCase()),
    );
    // sendmail puts the addresses of the host's interfaces in class w too (unless DontProbeInterfaces)
    if (config.options.DontProbeInterfaces !== true) {
      for (const list of Object.values(networkInterfaces())) {
        for (const a of list ?? []) {
          if (config.options.DontProbeInterfaces === 'loopback' && a.internal) continue;
          this.localNames.add(a.family === 'IPv6' ? `[ipv6:${a.address.toLowerCase()}]` : `[${a.address}]`);
        }
      }
    }
  }

  isLocalDomain(domain: string): boolean {
    const d = domain.toLowerCase().replace(/\.$/, '');
    return d === '' || this.localNames.has(d);
  }

  /** Where a recipient goes, ignoring who asks (VRFY/EXPN use this too). */
  destination(addr: ParsedAddress): Destination | Reply {
    // a source route goes to its first hop; hops on this host are skipped, as sendmail's ruleset 3 does
    const hops = addr.route.filter((h) => !this.isLocalDomain(h));
    if (hops.length > 0) return { kind: 'remote', address: addr.mailbox };
    return this.resolve(addr.local, addr.domain, addr.written);
  }

  private resolve(local: string, domain: string, written: string): Destination | Reply {
    if (!this.isLocalDomain(domain)) return { kind: 'remote', address: `${local}@${domain}` };
    const unquoted = local.startsWith('"') && local.endsWith('"') && local.length >= 2 ? local.slice(1, -1).replace(/\\(.)/g, '$1') : local;
    const percent = unquoted.lastIndexOf('%');
    if (percent >= 0) return this.resolve(unquoted.slice(0, percent), unquoted.slice(percent + 1), written);
    const bang = unquoted.indexOf('!');
    if (bang >= 0) {
      const host = unquoted.slice(0, bang);
      if (!this.isLocalDomain(host)) return { kind: 'remote', address: `${unquoted.slice(bang + 1)}@${host}` };
      return this.resolve(unquoted.slice(bang + 1), '', written);
    }
    // the local mailer is case-blind (no F=u) and ignores a +detail
    const user = unquoted.toLowerCase().replace(/\+.*$/, '');
    // RFC 5321 4.5.1: postmaster is always there, whatever the aliases say
    if (user === 'postmaster') return { kind: 'local', user };
    const known = user === '' ? false : this.localUser(user);
    if (known === false) return classReply(ERR.SMTP_USER_UNKNOWN, 'User unknown', written);
    return known === true || known.fullName === undefined ? { kind: 'local', user } : { kind: 'local', user, fullName: known.fullName };
  }

  /** RCPT: the destination, or the refusal (relaying denied, user unknown). */
  judge(addr: ParsedAddress, client: ClientInfo): Destination | Reply {
    const d = this.destination(addr);
    if ('code' in d || d.kind === 'local') return d;
    const override = this.relay?.(client, addr.mailbox);
    if (override === undefined && this.policy !== null && client.facts !== undefined) {
      const domain = d.address.slice(d.address.lastIndexOf('@') + 1);
      const verdict = this.policy.mayRelay(client.facts, domain, addr.written, (name) => this.isLocalDomain(name));
      return verdict === true ? d : verdict;
    }
    const allowed = override ?? isLoopback(client.address);
    return allowed ? d : classReply(ERR.SMTP_RELAYING_DENIED, 'Relaying denied', addr.written);
  }
}

/** 127.0.0.0/8, ::1, and IPv4-mapped loopback. */
export function isLoopback(ip: string): boolean {
  const a = ip.toLowerCase().replace(/^::ffff:/, '');
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}
