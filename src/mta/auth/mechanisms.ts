/**
 * Which SASL mechanisms a session offers, and the two Postern has: PLAIN
 * (RFC 4616) and LOGIN.  Cyrus SASL decides this for sendmail; the rules
 * kept here are the ones that matter for these two mechanisms:
 *
 *   - only what AuthMechanisms lists (sendmail's default list names neither,
 *     so a sendmail.cf must ask for them, as Debian's sasl.m4 does);
 *   - none on a daemon with M=A;
 *   - AuthOptions `p` (no plain-text password without a security layer):
 *     none before STARTTLS;
 *   - AuthOptions `a`, `d`, `f`, `m` ask for properties a password sent
 *     whole cannot have: none at all.
 *
 * The list is in Cyrus's order, LOGIN before PLAIN.
 */
import type { Config, PortOptions } from '../../config/index.js';

export const MECHANISMS = ['LOGIN', 'PLAIN'] as const;
export type Mechanism = (typeof MECHANISMS)[number];

export function offeredMechanisms(config: Config, daemon: PortOptions, tlsActive: boolean): Mechanism[] {
  if (daemon.Modifiers.includes('A')) return [];
  const opts = config.options.AuthOptions;
  if (['a', 'd', 'f', 'm'].some((f) => opts.has(f))) return [];
  if (opts.has('p') && !tlsActive) return [];
  const wanted = new Set(config.options.AuthMechanisms.map((m) => m.toUpperCase()));
  return MECHANISMS.filter((m) => wanted.has(m));
}

/** Base64 as sasl_decode64 accepts it: the alphabet, padding only at the end, whole quanta. */
export function decodeBase64(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  return Buffer.from(text, 'base64');
}

export interface PlainCredentials {
  /** authorization identity ('' when not given) */
  readonly authzid: string;
  readonly authcid: string;
  readonly password: string;
}

/** PLAIN's message: authzid NUL authcid NUL passwd. */
export function parsePlain(message: Buffer): PlainCredentials | null {
  const first = message.indexOf(0);
  const second = first < 0 ? -1 : message.indexOf(0, first + 1);
  if (first < 0 || second < 0 || message.indexOf(0, second + 1) >= 0) return null;
  const authcid = message.toString('utf8', first + 1, second);
  if (authcid === '') return null;
  return { authzid: message.toString('utf8', 0, first), authcid, password: message.toString('utf8', second + 1) };
}
