/**
 * The client's name, as sendmail finds RealHostName: the PTR name, and
 * "may be forged" when that name does not resolve back to the address.
 *
 * Answers are kept for a minute.  Why: a client that opens many connections
 * (a relay, a monitoring probe, smtp-source) would otherwise cost two
 * resolver round trips per connection; getaddrinfo() runs in libuv's thread
 * pool, which the queue's file writes share (measured: about 5% of a
 * worker's time accepting 10 KiB messages from loopback).  sendmail itself
 * leans on the system resolver's cache (nscd, systemd-resolved) for this.
 * A minute is short against DNS TTLs, and concurrent look-ups of one address
 * share a single query.
 */
import { lookup, reverse } from 'node:dns/promises';
import type { PeerName } from './session.js';

const KEEP_MS = 60_000;
const MAX_ENTRIES = 4096;

const cache = new Map<string, { at: number; name: Promise<PeerName> }>();

/** reverseLookup(), answered from the last minute's look-ups when it can be. */
export function cachedPeerName(address: string, now = Date.now()): Promise<PeerName> {
  const hit = cache.get(address);
  if (hit !== undefined && now - hit.at < KEEP_MS) return hit.name;
  cache.delete(address);
  if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value as string); // the oldest
  const name = reverseLookup(address);
  cache.set(address, { at: now, name });
  return name;
}

/** The PTR name of `address` and whether it resolves back; never rejects. */
export async function reverseLookup(address: string): Promise<PeerName> {
  const ip = address.replace(/^::ffff:/i, '');
  let names: string[];
  try {
    names = await reverse(ip);
  } catch {
    return { hostName: null, mayBeForged: false };
  }
  const name = names[0];
  if (name === undefined || !/^[A-Za-z0-9_.-]+$/.test(name)) return { hostName: null, mayBeForged: false };
  try {
    const back = await lookup(name, { all: true });
    return { hostName: name, mayBeForged: !back.some((a) => a.address === ip) };
  } catch {
    return { hostName: name, mayBeForged: true };
  }
}
