/**
 * What the broker's local mailers (.forward, :include:, programs, files)
 * take from sendmail.cf, resolved once when the broker starts: the broker
 * reads the configuration itself rather than take safety settings
 * (DontBlameSendmail above all) from the queue runner it serves.
 */
import type { SystemIdentity } from '../../common/identity.js';
import type { Config } from '../../config/index.js';
import { lookupGroup, lookupUser } from '../../privsep/passwd.js';
import { identityOf, type RunIdentity } from '../as-user/spawn.js';

export interface LocalMailerSettings {
  readonly forwardPath: string;
  readonly dbs: ReadonlySet<string>;
  readonly safeFileEnvironment: string | null;
  /** DefaultUser: who runs programs and writes files of the aliases file */
  readonly defaultUser: RunIdentity;
  readonly trustedUid: number | undefined;
  /** class t: their shells are never judged */
  readonly trustedUsers: ReadonlySet<string>;
  /** $j and $w */
  readonly hostName: string;
  readonly shortName: string;
  readonly maxDepth: number;
  /** mode of files made by file deliveries (sendmail's FileMode option is not in Postern's table; 0600 as sendmail's default) */
  readonly fileMode: number;
  /** MaxForwardEntries (0: no limit) */
  readonly maxForwardEntries: number;
  readonly smrshDir: string;
  /** PATH of programs (Debian's smrsh: /usr/bin:/bin) */
  readonly smrshPath: string;
  readonly programTimeoutMs: number;
  /** how long reading lists and opening files may take (Timeout.fileopen, 60 s) */
  readonly fileOpenTimeoutMs: number;
  readonly asUserAgentPath?: string;
}

/** sendmail's DefaultUser: the option, else mailnull, else uid/gid 1 ("daemon"'s on Debian). */
export function defaultUserOf(config: Config | undefined): RunIdentity {
  const spec = config?.options.DefaultUser ?? null;
  const named = spec?.user ?? null;
  const user = named !== null ? lookupUser(named) : (lookupUser('mailnull') ?? lookupUser('daemon'));
  const uid = user?.uid ?? (typeof named === 'number' ? named : 1);
  const groupSpec = spec?.group ?? null;
  const gid = groupSpec !== null ? (lookupGroup(groupSpec)?.gid ?? (typeof groupSpec === 'number' ? groupSpec : 1)) : (user?.gid ?? 1);
  if (user !== undefined) return identityOf(user, gid);
  return { name: String(uid), uid, gid, groups: [gid], home: '/' };
}

export function localMailerSettings(config: Config | undefined, identity: SystemIdentity, overrides: Partial<LocalMailerSettings> = {}): LocalMailerSettings {
  const o = config?.options;
  const trusted = o?.TrustedUser ?? null;
  const trustedUid = trusted === null ? undefined : typeof trusted === 'number' ? trusted : lookupUser(trusted)?.uid;
  const j = config?.macros.get('j');
  return {
    forwardPath: o?.ForwardPath ?? '$z/.forward',
    dbs: new Set<string>(o?.DontBlameSendmail ?? []),
    safeFileEnvironment: o?.SafeFileEnvironment ?? null,
    defaultUser: defaultUserOf(config),
    trustedUid,
    trustedUsers: new Set(config?.classes.get('t') ?? []),
    hostName: j !== undefined && !j.includes('$') ? j : identity.canonicalName,
    shortName: identity.shortName,
    maxDepth: o?.MaxAliasRecursion ?? 10,
    fileMode: 0o600,
    maxForwardEntries: 0,
    smrshDir: '/etc/mail/smrsh',
    smrshPath: '/usr/bin:/bin',
    programTimeoutMs: 10 * 60_000,
    fileOpenTimeoutMs: 60_000,
    ...overrides,
  };
}
