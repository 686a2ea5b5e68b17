/**
 * SMTP AUTH as a client, after STARTTLS, as sendmail 8.17's smtpauth() does
 * it with Cyrus SASL: the mechanisms are the AuthInfo entry's M: list (or
 * AuthMechanisms) that the server offers, strongest first (CRAM-MD5, then
 * PLAIN, then LOGIN); a mechanism the server refuses is dropped and the next
 * one tried.  When none is left: a 5xx means "go on without AUTH" (the
 * server will say whether it relays), anything else defers the delivery
 * ("Temporary AUTH failure") and the next host is tried.
 *
 * One difference, on purpose: sendmail's client sends PLAIN and LOGIN over
 * a connection without TLS when the server offers them there (its client
 * never sets SASL's "no plaintext" property).  Postern does not, since an
 * attacker who strips STARTTLS from the EHLO reply would get the password;
 * such a server is treated like one whose mechanisms "do not fulfill
 * requirements" (deferred), unless the access map says `Try_TLS:host NO`,
 * the administrator's own statement that the host is talked to in clear.
 */
import { createHmac } from 'node:crypto';
import type { AuthInfo } from './authinfo.js';

/** What Postern's client speaks, in the order it prefers them. */
export const CLIENT_MECHANISMS = ['CRAM-MD5', 'PLAIN', 'LOGIN'] as const;
const PLAINTEXT = new Set(['PLAIN', 'LOGIN']);

export interface ServerReply {
  readonly code: number;
  /** The reply's text after the code (a 334's base64 challenge). */
  readonly text: string;
  /** The last line as received. */
  readonly line: string;
}

/** Sends one line of the exchange and reads the reply; 'broken' when the connection is gone. */
export type SaslSend = (line: string) => Promise<ServerReply | 'broken'>;

export type AuthOutcome =
  | { readonly kind: 'ok'; readonly mechanism: string }
  /** Every mechanism was refused with a 5xx: the delivery goes on without AUTH, as sendmail's does. */
  | { readonly kind: 'refused'; readonly reply: string }
  /** A 4xx (or an odd reply) for the last mechanism: deferred, "Temporary AUTH failure". */
  | { readonly kind: 'tempfail'; readonly reply: string }
  | { readonly kind: 'broken' };

export interface MechanismChoice {
  /** The mechanisms to try, in order. */
  readonly list: readonly string[];
  /** PLAIN and LOGIN, wanted and offered, left out because the connection is not encrypted. */
  readonly withheld: readonly string[];
}

export function chooseMechanisms(wanted: readonly string[], offered: readonly string[], encrypted: boolean, clearAllowed: boolean): MechanismChoice {
  const want = new Set(wanted.map((m) => m.toUpperCase()));
  const has = new Set(offered.map((m) => m.toUpperCase()));
  const both = CLIENT_MECHANISMS.filter((m) => want.has(m) && has.has(m));
  if (encrypted || clearAllowed) return { list: both, withheld: [] };
  return { list: both.filter((m) => !PLAINTEXT.has(m)), withheld: both.filter((m) => PLAINTEXT.has(m)) };
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** One mechanism's dialogue; the reply that ended it. */
async function runMechanism(send: SaslSend, mechanism: string, info: AuthInfo): Promise<ServerReply | 'broken'> {
  switch (mechanism) {
    case 'PLAIN':
      return send(`AUTH PLAIN ${b64(`${info.user}\0${info.authid}\0${info.password}`)}`);
    case 'LOGIN': {
      let r = await send('AUTH LOGIN');
      if (r === 'broken' || r.code !== 334) return r;
      r = await send(b64(info.authid));
      if (r === 'broken' || r.code !== 334) return r;
      return send(b64(info.password));
    }
    default: {
      const r = await send('AUTH CRAM-MD5');
      if (r === 'broken' || r.code !== 334) return r;
      const challenge = Buffer.from(r.text.trim(), 'base64');
      const digest = createHmac('md5', info.password).update(challenge).digest('hex');
      return send(b64(`${info.authid} ${digest}`));
    }
  }
}

/** Tries `mechanisms` in turn until one succeeds. */
export async function authenticate(send: SaslSend, info: AuthInfo, mechanisms: readonly string[]): Promise<AuthOutcome> {
  let last: AuthOutcome = { kind: 'tempfail', reply: '' };
  for (const mechanism of mechanisms) {
    let reply = await runMechanism(send, mechanism, info);
    if (reply === 'broken') return { kind: 'broken' };
    if (reply.code === 334) {
      // the server wants more than the mechanism has to say: cancel, as RFC 4954 says
      reply = await send('*');
      if (reply === 'broken') return { kind: 'broken' };
      last = { kind: 'tempfail', reply: reply.line };
      continue;
    }
    if (reply.code === 235) return { kind: 'ok', mechanism };
    last = reply.code >= 500 && reply.code < 600 ? { kind: 'refused', reply: reply.line } : { kind: 'tempfail', reply: reply.line };
  }
  return last;
}
