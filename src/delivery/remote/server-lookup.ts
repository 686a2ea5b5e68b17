/**
 * Look-ups about the server a delivery talks to, as sendmail.cf's client
 * rulesets make them (proto.m4's try_tls, tls_server and authinfo): by
 * ${server_name}, then ${server_addr}, then the bare tag.
 *
 * In the access map (FEATURE(access_db)) a tag is looked up alone (the `!`
 * mark: no untagged key), the name with each parent domain (`TLS_Srv:mx.b.c`,
 * `TLS_Srv:b.c`, `TLS_Srv:c`), the address with each shorter prefix
 * (`TLS_Srv:192.0.2.1`, `TLS_Srv:192.0.2` ...), then `TLS_Srv:` for a
 * default.  A SKIP value ends the search of that step.
 *
 * FEATURE(authinfo)'s own map is looked up exactly: `AuthInfo:name`,
 * `AuthInfo:address`, `AuthInfo:`.
 */
import { isIPv6 } from 'node:net';
import { addressKeys, domainKeys, type AccessSource } from '../../mta/smtpd/access.js';

/** The server as the rulesets see it: ${server_name} and ${server_addr}. */
export interface ServerId {
  /** The host name without a trailing dot, or the [literal] as written. */
  readonly name: string;
  /** The address connected to (`192.0.2.1`, or `2001:db8::1`). */
  readonly address: string;
}

/** ${server_addr} as sendmail writes it: IPv6 addresses get their `IPv6:` prefix. */
export function serverAddress(address: string): string {
  return isIPv6(address) ? `IPv6:${address}` : address;
}

/** The first of `keys` (each after `tag:`) the map has; SKIP ends the search with nothing. */
function firstTagged(source: AccessSource, tag: string, keys: readonly string[]): string | undefined {
  for (const k of keys) {
    const v = source.get(`${tag}:${k}`);
    if (v === undefined) continue;
    return v.trim().toUpperCase() === 'SKIP' ? undefined : v;
  }
  return undefined;
}

/** The keys ruleset D tries for ${server_name}; a [literal] is shortened inside its brackets. */
function nameKeys(name: string): string[] {
  if (name.startsWith('[') && name.endsWith(']')) return addressKeys(name.slice(1, -1)).map((k) => `[${k}]`);
  return domainKeys(name);
}

/** An access map look-up of `tag` for `server`; undefined when nothing applies. */
export function accessLookup(source: AccessSource | null, tag: string, server: ServerId): string | undefined {
  if (source === null) return undefined;
  return firstTagged(source, tag, nameKeys(server.name)) ?? firstTagged(source, tag, addressKeys(serverAddress(server.address))) ?? source.get(`${tag}:`);
}

/** FEATURE(authinfo)'s three exact look-ups. */
export function exactLookup(source: AccessSource | null, tag: string, server: ServerId): string | undefined {
  if (source === null) return undefined;
  return source.get(`${tag}:${server.name}`) ?? source.get(`${tag}:${serverAddress(server.address)}`) ?? source.get(`${tag}:`);
}
