/**
 * From host specifications to the hosts to try, in order: MX records by
 * preference (equal preferences shuffled), the host itself when it has no
 * MX, [literals] as they are.  The RFC 7505 null MX and an MX list that
 * starts with this host end the delivery with sendmail's words.
 */
import { lookup } from 'node:dns/promises';
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ERR } from '../../common/errors.js';
import { failed, type DeliveryStatus } from '../mailbox/status.js';
import type { HostSpec } from './routing.js';
import type { DnsResolver } from './types.js';

/** One host to connect to. */
export interface Target {
  /** relay= as sendmail prints it: `mx.example.net.` (from DNS) or `[192.0.2.1]`. */
  readonly relay: string;
  /** The address when the host is a literal; otherwise `name` is looked up when its turn comes. */
  readonly literal?: string;
  /** The name whose addresses to look up, and to check the certificate against. */
  readonly name?: string;
}

export type TargetList =
  | { readonly ok: true; readonly targets: readonly Target[] }
  | { readonly ok: false; readonly status: DeliveryStatus; readonly reply?: string; readonly relay?: string; readonly syserr?: string };

/** The literal inside `[...]`: an IPv4 address, `IPv6:...`, or undefined for a bracketed host name. */
export function literalAddress(bracketed: string): string | undefined {
  const inner = bracketed.slice(1, -1);
  const v6 = /^ipv6:/i.test(inner) ? inner.slice(5) : inner;
  return isIP(v6) !== 0 ? v6 : undefined;
}

const TEMPORARY_DNS = new Set(['ESERVFAIL', 'ETIMEOUT', 'ECONNREFUSED', 'EAI_AGAIN', 'EREFUSED', 'ECANCELLED', 'EBADRESP', 'ECONNRESET']);

export function dnsErrorCode(e: unknown): string {
  return String((e as { code?: unknown } | null)?.code ?? '');
}

export function isTemporaryDnsError(e: unknown): boolean {
  return TEMPORARY_DNS.has(dnsErrorCode(e));
}

/** `Name server: example.net: host name lookup failure`, deferred (as sendmail 8.17 printed it in the reference run). */
export function dnsTemporaryFailure(name: string): DeliveryStatus {
  return failed(ERR.REMOTE_DNS_TEMPFAIL, `Name server: ${name}: host name lookup failure`);
}

/** `Host unknown (Name server: example.net.: host not found)`, bounced. */
export function hostUnknown(name: string): DeliveryStatus {
  return failed(ERR.REMOTE_HOST_UNKNOWN, `Host unknown (Name server: ${name}.: host not found)`);
}

/** node:dns/promises as remote delivery uses it; /etc/resolv.conf is read when it is made. */
export function systemResolver(options: { timeoutMs?: number; tries?: number } = {}): DnsResolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 5000, tries: options.tries ?? 4 });
  return {
    resolveMx: (name) => resolver.resolveMx(name),
    // getaddrinfo, as sendmail's gethostbyname: /etc/hosts first, then DNS
    lookupAddresses: async (name) => (await lookup(name, { all: true, verbatim: true })).map((a) => a.address),
  };
}

function shuffleEqualPreferences<T extends { priority: number }>(records: T[], random: () => number): T[] {
  const byPref = new Map<number, T[]>();
  for (const r of records) byPref.set(r.priority, [...(byPref.get(r.priority) ?? []), r]);
  const out: T[] = [];
  for (const pref of [...byPref.keys()].sort((a, b) => a - b)) {
    const group = byPref.get(pref)!;
    for (let i = group.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [group[i], group[j]] = [group[j]!, group[i]!];
    }
    out.push(...group);
  }
  return out;
}

export interface MxOptions {
  readonly localNames: ReadonlySet<string>;
  readonly heloName: string;
  readonly tryNullMxList?: boolean;
  readonly random?: () => number;
}

/** The hosts for one MX-looked-up name. */
async function mxTargets(name: string, resolver: DnsResolver, options: MxOptions): Promise<TargetList> {
  let records: { exchange: string; priority: number }[];
  try {
    records = await resolver.resolveMx(name);
  } catch (e) {
    // no MX (or no such name): the host itself, whose own look-up says which
    if (isTemporaryDnsError(e)) return { ok: false, status: dnsTemporaryFailure(name), relay: `${name}.` };
    records = [];
  }
  if (records.length === 0) return { ok: true, targets: [{ relay: `${name}.`, name }] };
  const real = records.filter((r) => r.exchange !== '' && r.exchange !== '.');
  if (real.length === 0) {
    // RFC 7505: "0 ." says the domain takes no mail; sendmail answers 556 with 5.1.10
    return { ok: false, status: failed(ERR.REMOTE_NULL_MX, 'Host does not accept mail: MX 0 .'), reply: '556 5.1.10 Host does not accept mail: MX 0 .', relay: `${name}.` };
  }
  const ordered = shuffleEqualPreferences(
    real.map((r) => ({ ...r, exchange: r.exchange.replace(/\.$/, '').toLowerCase() })),
    options.random ?? Math.random,
  );
  // hosts no better than this one are not tried: they would hand the mail back to us
  const local = ordered.find((r) => options.localNames.has(r.exchange));
  const kept = local === undefined ? ordered : ordered.filter((r) => r.priority < local.priority);
  if (kept.length === 0) {
    if (options.tryNullMxList) return { ok: true, targets: [{ relay: `${name}.`, name }] };
    return {
      ok: false,
      status: failed(ERR.REMOTE_MX_LOOP, 'Local configuration error'),
      reply: '553 5.3.5 system config error',
      relay: `${name}.`,
      syserr: `MX list for ${name}. points back to ${options.heloName}`,
    };
  }
  return { ok: true, targets: kept.map((r) => ({ relay: `${r.exchange}.`, name: r.exchange })) };
}

/** All targets of a destination's host list, in the order to try them. */
export async function resolveTargets(hosts: readonly HostSpec[], resolver: DnsResolver, options: MxOptions): Promise<TargetList> {
  const targets: Target[] = [];
  let firstFailure: TargetList | undefined;
  for (const spec of hosts) {
    if (!spec.mx) {
      const literal = literalAddress(spec.name);
      // a [host name] loses its brackets and is named as getmxrr() canonifies it: `host.`
      const inner = spec.name.slice(1, -1).replace(/\.$/, '');
      targets.push(literal !== undefined ? { relay: spec.name, literal } : { relay: `${inner}.`, name: inner });
      continue;
    }
    const one = await mxTargets(spec.name, resolver, options);
    if (one.ok) targets.push(...one.targets);
    else firstFailure ??= one;
  }
  if (targets.length === 0) return firstFailure ?? { ok: false, status: failed(ERR.REMOTE_HOST_UNKNOWN, 'Host unknown (no host to try)') };
  return { ok: true, targets };
}
