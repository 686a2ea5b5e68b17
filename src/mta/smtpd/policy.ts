/**
 * Who may connect, send and relay: what sendmail.cf's check_relay,
 * check_mail and check_rcpt (proto.m4 with FEATURE(access_db)) decide, on
 * the access map, class R (relay-domains) and the session's AUTH state.
 *
 *   check_relay   Connect: by host name (domain suffixes), then by address
 *                 (prefixes).  REJECT/ERROR: every command but QUIT, HELO,
 *                 EHLO, NOOP and RSET is answered with the error;
 *                 DISCARD: every message is accepted and dropped.
 *   check_mail    From: user@domain, user@, domain (suffixes).
 *   check_rcpt    To: user@domain, user@ (local domains), domain, as with
 *                 FEATURE(blocklist_recipients); then relaying: an
 *                 authenticated client, a recipient domain in class R or
 *                 with To:domain RELAY, a client on loopback, in class R or
 *                 with Connect: RELAY (address, then a host name that
 *                 resolves both ways); else `550 5.7.1 ... Relaying denied`.
 */
import { ERR } from '../../common/errors.js';
import type { Config } from '../../config/index.js';
import { AccessMap, errorReply, type AccessValue } from './access.js';
import { addressReply, classReply, type Reply } from './replies.js';

/** What the policy knows of the client. */
export interface ClientFacts {
  /** the address as sendmail prints it: `192.0.2.1`, `IPv6:...` */
  readonly ip: string;
  /** the name its address resolves to, null when none */
  readonly hostName: string | null;
  /** the name does not resolve back to the address */
  readonly mayBeForged: boolean;
  /** the mechanism the client authenticated with, null when it has not */
  readonly authType: string | null;
  /** is the client on loopback (sendmail: "originated locally") */
  readonly loopback: boolean;
}

export type CheckOutcome =
  /** no entry, or OK/RELAY: go on */
  | { readonly kind: 'pass' }
  | { readonly kind: 'discard' }
  | { readonly kind: 'reject'; readonly reply: Reply };

const PASS: CheckOutcome = { kind: 'pass' };

function suffixIn(name: string, set: ReadonlySet<string> | undefined): boolean {
  if (set === undefined || set.size === 0) return false;
  const n = name.toLowerCase().replace(/\.$/, '');
  for (const r of set) {
    const c = r.toLowerCase();
    if (c !== '' && (n === c || n.endsWith(`.${c}`))) return true;
  }
  return false;
}

function prefixIn(ip: string, set: ReadonlySet<string> | undefined): boolean {
  if (set === undefined) return false;
  for (const r of set) if (r !== '' && (ip === r || ip.startsWith(`${r}.`) || ip.startsWith(`${r}:`))) return true;
  return false;
}

export class AccessPolicy {
  private readonly relayClass: ReadonlySet<string> | undefined;
  private readonly trustAuthMech: ReadonlySet<string> | undefined;

  constructor(
    readonly map: AccessMap,
    config: Config,
  ) {
    this.relayClass = config.classes.get('R');
    this.trustAuthMech = config.classes.get('TrustAuthMech');
  }

  /** A value from the map as a check's outcome; `address` prefixes the reply where sendmail's usrerr does. */
  private outcome(v: AccessValue | undefined, address: string | null, rejectWith: Reply): CheckOutcome {
    if (v === undefined || v.kind === 'ok' || v.kind === 'relay') return PASS;
    if (v.kind === 'discard') return { kind: 'discard' };
    if (v.kind === 'reject') return { kind: 'reject', reply: rejectWith };
    const r = errorReply(v);
    return { kind: 'reject', reply: addressReply(r.code, r.status, address, r.text) };
  }

  /** check_relay, at connection time. */
  checkConnect(client: ClientFacts): CheckOutcome {
    const byName = client.hostName === null ? undefined : this.map.domain('Connect', client.hostName);
    const v = byName ?? this.map.address('Connect', client.ip);
    return this.outcome(v, null, classReply(ERR.ACCESS_DENIED, 'Access denied'));
  }

  /** check_mail: the sender as written (`<a@b>`), its local part and domain ('' when unqualified). */
  checkSender(written: string, local: string, domain: string): CheckOutcome {
    if (local === '' && domain === '') return PASS; // <> is always accepted (RFC 1123)
    const v = (domain !== '' ? this.map.full('From', local, domain) : undefined) ?? this.map.full('From', local, '') ?? (domain !== '' ? this.map.domain('From', domain) : undefined);
    return this.outcome(v, written, classReply(ERR.ACCESS_DENIED, 'Access denied', written));
  }

  /** check_rcpt's To: look-ups (blocklist_recipients). */
  checkRecipient(written: string, local: string, domain: string, localDomain: boolean): CheckOutcome {
    let v: AccessValue | undefined;
    if (domain !== '') v = this.map.full('To', local, domain);
    if (v === undefined && (localDomain || domain === '')) v = this.map.full('To', local, '');
    if (v === undefined && domain !== '') v = this.map.domain('To', domain);
    return this.outcome(v, written, classReply(ERR.ACCESS_RECIPIENT_DISABLED, 'Mailbox disabled for this recipient', written));
  }

  /**
   * May this client relay to `domain`?  True, or the refusal.  `isLocalName`
   * says whether a host name is one of this host's (class w).
   */
  mayRelay(client: ClientFacts, domain: string, written: string, isLocalName: (name: string) => boolean): true | Reply {
    // Rcpt_ok: authenticated with a trusted mechanism (every one when TrustAuthMech is not defined)
    if (client.authType !== null && (this.trustAuthMech === undefined || this.trustAuthMech.size === 0 || this.trustAuthMech.has(client.authType))) return true;
    if (suffixIn(domain, this.relayClass)) return true;
    if (this.map.domain('To', domain)?.kind === 'relay') return true;
    // Relay_ok: the client's address
    if (client.loopback || prefixIn(client.ip, this.relayClass)) return true;
    if (this.map.address('Connect', client.ip)?.kind === 'relay') return true;
    // the client's name, when it resolves both ways
    const denied = (text: string) => classReply(ERR.SMTP_RELAYING_DENIED, text, written);
    if (client.hostName === null) return denied(`Relaying denied. IP name lookup failed [${client.ip}]`);
    if (client.mayBeForged) return denied(`Relaying denied. IP name possibly forged ${client.hostName}`);
    if (isLocalName(client.hostName) || suffixIn(client.hostName, this.relayClass)) return true;
    if (this.map.domain('Connect', client.hostName)?.kind === 'relay') return true;
    return denied('Relaying denied');
  }
}
