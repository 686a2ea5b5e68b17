/**
 * The per-server decisions of remote delivery that the access map and
 * FEATURE(authinfo)'s map make: whether to try STARTTLS (Try_TLS:), what
 * the connection must be (TLS_Srv:), and the credentials for AUTH
 * (AuthInfo:).  The maps are read through the map reader, which reopens a
 * map makemap has rebuilt.
 */
import { statSync } from 'node:fs';
import type { Config } from '../../config/index.js';
import { mapFilePath } from '../../maps/index.js';
import { accessSourceFromConfig, type AccessSource } from '../../mta/smtpd/access.js';
import { findAuthInfo } from './authinfo.js';
import { accessLookup, type ServerId } from './server-lookup.js';
import { mayTryTls, parseTlsRequirement } from './tls-policy.js';
import type { ServerPolicy } from './types.js';

export interface PolicyMaps {
  readonly access: () => AccessSource | null;
  /** FEATURE(authinfo)'s map; when the configuration has none, AuthInfo: entries are looked for in the access map. */
  readonly authinfo?: (() => AccessSource | null) | null;
}

export function serverPolicy(maps: PolicyMaps): ServerPolicy {
  return {
    mayTryTls: (server: ServerId) => mayTryTls(accessLookup(maps.access(), 'Try_TLS', server)),
    tlsRequirement: (server: ServerId) => {
      const value = accessLookup(maps.access(), 'TLS_Srv', server);
      return value === undefined ? null : parseTlsRequirement(value);
    },
    authInfo: (server: ServerId) =>
      findAuthInfo({ access: maps.access(), authinfo: maps.authinfo?.() ?? null, hasAuthinfoMap: maps.authinfo !== undefined && maps.authinfo !== null }, server),
  };
}

/** The policy of a loaded sendmail.cf: its `Kaccess` and `Kauthinfo` maps; null when it has neither. */
export function serverPolicyFromConfig(config: Config, onProblem?: (text: string) => void): ServerPolicy | null {
  const hasAccess = config.maps.has('access');
  const hasAuthinfo = config.maps.has('authinfo');
  if (!hasAccess && !hasAuthinfo) return null;
  const report = onProblem === undefined ? undefined : { err: (_level: number, _id: unknown, text: string) => onProblem(text) };
  const authinfoFile = config.maps.get('authinfo')?.file;
  if (authinfoFile !== undefined && authinfoFile !== null) warnIfReadable(mapFilePath(authinfoFile), onProblem);
  return serverPolicy({
    access: accessSourceFromConfig(config, report, 'access'),
    authinfo: hasAuthinfo ? accessSourceFromConfig(config, report, 'authinfo') : null,
  });
}

/**
 * sendmail leaves the authinfo map's permissions to the administrator; Postern
 * says so when everyone may read the passwords in it (makemap's default mode
 * suits the access map, not this one).
 */
function warnIfReadable(file: string, onProblem?: (text: string) => void): void {
  try {
    if ((statSync(file).mode & 0o004) !== 0) onProblem?.(`authinfo map ${file} is readable by everyone, and it holds passwords: make it mode 0640, group RunAsUser's`);
  } catch {
    // a missing map is the map reader's to report
  }
}
