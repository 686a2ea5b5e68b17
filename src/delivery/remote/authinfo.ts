/**
 * Credentials for SMTP AUTH as a client, from FEATURE(authinfo)'s map
 * (`Kauthinfo hash /etc/mail/authinfo`) or, without it, the access map's
 * AuthInfo: entries, as sendmail 8.17's getauth() reads them:
 *
 *   AuthInfo:smtp.example.net  "U:alice" "I:alice@example.net" "P:secret" "M:PLAIN LOGIN"
 *   AuthInfo:192.0.2.7         "U:bob" "P=c2VjcmV0"
 *   AuthInfo:                  "U:default" "P:secret"
 *
 * Each item is `"TDstring"`: T is U (authorization id), I (authentication
 * id), P (password), R (realm) or M (mechanisms, space separated); D is `:`
 * for text or `=` for base64.  U or I, and P, must be there; the one of U
 * and I that is missing is the other.  The map holds passwords: it must be
 * readable by RunAsUser (the queue runner reads it) and by nobody else.
 */
import { exactLookup, accessLookup, type ServerId } from './server-lookup.js';
import type { AccessSource } from '../../mta/smtpd/access.js';

export interface AuthInfo {
  /** Authorization id (U). */
  readonly user: string;
  /** Authentication id (I). */
  readonly authid: string;
  readonly password: string;
  readonly realm?: string;
  /** M: the mechanisms to use, upper case; absent: AuthMechanisms. */
  readonly mechanisms?: readonly string[];
}

const TAGS: Record<string, keyof AuthInfo> = { U: 'user', I: 'authid', P: 'password', R: 'realm', M: 'mechanisms' };

function decodeBase64(text: string): string | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  return Buffer.from(text, 'base64').toString('utf8');
}

/** An AuthInfo value; null when it is malformed (sendmail logs "authinfo failed" and does not authenticate). */
export function parseAuthInfo(value: string): AuthInfo | null {
  const got: Partial<Record<keyof AuthInfo, string>> = {};
  let rest = value.trim();
  // items until the first word that is not a quoted string, as getauth() stops there
  for (let m = /^"([^"]*)"\s*/.exec(rest); m !== null; m = /^"([^"]*)"\s*/.exec(rest)) {
    rest = rest.slice(m[0].length);
    const item = m[1]!;
    const tag = TAGS[item[0]?.toUpperCase() ?? ''];
    if (tag === undefined || item.length < 2) return null;
    const text = item[1] === ':' ? item.slice(2) : item[1] === '=' ? decodeBase64(item.slice(2)) : null;
    if (text === null) return null;
    got[tag] = text;
  }
  const user = got.user ?? got.authid;
  const authid = got.authid ?? got.user;
  if (user === undefined || authid === undefined || got.password === undefined) return null;
  const mechanisms = got.mechanisms?.split(/\s+/).filter((x) => x !== '').map((x) => x.toUpperCase());
  return {
    user,
    authid,
    password: got.password,
    ...(got.realm !== undefined ? { realm: got.realm } : {}),
    ...(mechanisms !== undefined && mechanisms.length > 0 ? { mechanisms } : {}),
  };
}

export type AuthInfoLookup = { readonly found: false } | { readonly found: true; readonly info: AuthInfo | null };

/**
 * The entry for `server`: the authinfo map when the configuration has one
 * (exact keys), else the access map (domain and address searches).
 */
export function findAuthInfo(maps: { authinfo: AccessSource | null; access: AccessSource | null; hasAuthinfoMap: boolean }, server: ServerId): AuthInfoLookup {
  const value = maps.hasAuthinfoMap ? exactLookup(maps.authinfo, 'AuthInfo', server) : accessLookup(maps.access, 'AuthInfo', server);
  return value === undefined ? { found: false } : { found: true, info: parseAuthInfo(value) };
}
