/**
 * The access map (FEATURE(access_db)): `/etc/mail/access`, built with
 * makemap, looked up as sendmail.cf's rulesets look it up:
 *
 *   LookUpAddress  Connect:1.2.3.4, 1.2.3.4, Connect:1.2.3, 1.2.3, ... 1
 *                  (IPv6: IPv6:a:b:c, IPv6:a:b, ...)
 *   LookUpDomain   Tag:a.b.c, a.b.c, Tag:b.c, b.c, Tag:c, c
 *   LookUpFull     Tag:u+d@dom, u+d@dom, Tag:u+*@dom, u+*@dom, Tag:u@dom, u@dom
 *   LookUpUser     the same for `u@` (the local part alone)
 *
 * each with its tag first, then untagged; a SKIP value ends a search with
 * "nothing found" (FEATURE(access_db,,skip)).  The values are OK, RELAY,
 * REJECT, DISCARD, SKIP, `ERROR:x.y.z:text`, `ERROR:text`, and anything
 * else is an error text of its own (proto.m4's "generic error from access
 * map").
 *
 * What the engine does with a value is in policy.ts.
 */
import { ERR, isPosternError } from '../../common/errors.js';
import { NOQID, type Logger } from '../../common/log.js';
import type { Config } from '../../config/index.js';
import { openMap, type MapReader } from '../../maps/index.js';
import type { Reply } from './replies.js';

export type AccessValue =
  | { readonly kind: 'ok' }
  | { readonly kind: 'relay' }
  | { readonly kind: 'reject' }
  | { readonly kind: 'discard' }
  /** ERROR:x.y.z:text, ERROR:text, or any other value (its text) */
  | { readonly kind: 'error'; readonly status: string | null; readonly text: string };

/** What the map answers for one key; a reader of the text form or a fake will do for tests. */
export interface AccessSource {
  get(key: string): string | undefined;
}

export function parseAccessValue(raw: string): AccessValue | 'skip' {
  const v = raw.trim();
  const word = v.toUpperCase();
  if (word === 'OK') return { kind: 'ok' };
  if (word === 'RELAY') return { kind: 'relay' };
  if (word === 'REJECT') return { kind: 'reject' };
  if (word === 'DISCARD') return { kind: 'discard' };
  if (word === 'SKIP') return 'skip';
  const m = /^ERROR:(?:(\d\.\d{1,3}\.\d{1,3}):)?(.*)$/is.exec(v);
  if (m !== null) return { kind: 'error', status: m[1] ?? null, text: m[2]!.replace(/^"(.*)"$/s, '$1') };
  return { kind: 'error', status: null, text: v.replace(/^"(.*)"$/s, '$1') };
}

/**
 * The reply an error value gives: its code (550 when the text has none),
 * then the enhanced code (from the value, else x.0.0 as sendmail's usrerr
 * supplies one), then the text.
 */
export function errorReply(value: { status: string | null; text: string }): Reply {
  const m = /^([245]\d\d)(?:[ -](.*))?$/s.exec(value.text);
  const code = m !== null ? Number(m[1]) : 553;
  let text = m !== null ? (m[2] ?? '') : value.text;
  let status = value.status;
  const inText = /^(\d\.\d{1,3}\.\d{1,3}) (.*)$/s.exec(text);
  if (status === null && inText !== null) {
    status = inText[1]!;
    text = inText[2]!;
  }
  return { code, status: status ?? `${String(code)[0]}.0.0`, text };
}

/** The keys LookUpDomain tries: the domain, then each parent domain. */
export function domainKeys(domain: string): string[] {
  const d = domain.replace(/\.$/, '');
  if (d === '') return [];
  const parts = d.split('.');
  return parts.map((_, i) => parts.slice(i).join('.')).filter((k) => k !== '');
}

/** The keys LookUpAddress tries: the address, then shorter prefixes (IPv4 by octet, IPv6 by group). */
export function addressKeys(ip: string): string[] {
  const keys: string[] = [];
  if (ip.startsWith('IPv6:')) {
    let k = ip;
    keys.push(k);
    for (;;) {
      const cut = k.lastIndexOf(':');
      if (cut <= 'IPv6'.length) break;
      k = k.slice(0, k.endsWith('::') ? cut - 1 : cut).replace(/:$/, '');
      if (k === 'IPv6') break;
      keys.push(k);
    }
  } else {
    const parts = ip.split('.');
    for (let n = parts.length; n > 0; n--) keys.push(parts.slice(0, n).join('.'));
  }
  return keys;
}

/** Lower-level look-ups of one map, as the rulesets D, A, F and U do them. */
export class AccessMap {
  constructor(private readonly source: () => AccessSource | null) {}

  private get(key: string): AccessValue | 'skip' | undefined {
    const raw = this.source()?.get(key);
    return raw === undefined ? undefined : parseAccessValue(raw);
  }

  /** Tagged, then (unless tagOnly) untagged; 'skip' stops the search. */
  private pair(tag: string, key: string, tagOnly: boolean): AccessValue | 'skip' | undefined {
    return this.get(`${tag}:${key}`) ?? (tagOnly ? undefined : this.get(key));
  }

  private search(tag: string, keys: readonly string[], tagOnly = false): AccessValue | undefined {
    for (const k of keys) {
      const v = this.pair(tag, k, tagOnly);
      if (v === 'skip') return undefined;
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** LookUpDomain: the domain, then each parent domain. */
  domain(tag: string, domain: string): AccessValue | undefined {
    return this.search(tag, domainKeys(domain));
  }

  /** LookUpAddress: the address, then shorter prefixes (IPv4 by octet, IPv6 by group). */
  address(tag: string, ip: string): AccessValue | undefined {
    return this.search(tag, addressKeys(ip));
  }

  /** LookUpFull (user@domain) or LookUpUser (user@, domain ''), with the +detail variants. */
  full(tag: string, local: string, domain: string): AccessValue | undefined {
    const at = `@${domain}`;
    const plus = local.indexOf('+');
    const keys = [`${local}${at}`];
    if (plus > 0) keys.push(`${local.slice(0, plus)}+*${at}`, `${local.slice(0, plus)}${at}`);
    return this.search(tag, keys);
  }
}

/**
 * The map a K line names (`access`, or another such as `authinfo`), opened on
 * first use and again when it appears later; missing while it is optional: empty.
 */
export function accessSourceFromConfig(config: Config, log?: Pick<Logger, 'err'>, mapName = 'access'): () => AccessSource | null {
  const def = config.maps.get(mapName);
  if (def === undefined || def.file === null) return () => null;
  const file = def.file;
  let reader: MapReader | null = null;
  let nextTry = 0;
  let reported = false;
  return () => {
    if (reader !== null) return reader;
    const now = Date.now();
    if (now < nextTry) return null;
    nextTry = now + 5000;
    try {
      reader = openMap(file);
      return reader;
    } catch (e) {
      const missing = isPosternError(e, ERR.MAP_CANNOT_OPEN) && def.flags.some((f) => f.flag === 'o');
      if (!missing && !reported) {
        reported = true;
        log?.err(0, NOQID, `${mapName} map ${file}: ${e instanceof Error ? e.message : String(e)}`);
      }
      return null;
    }
  };
}
