/**
 * Who may do what, decided as sendmail decides it after reading its
 * configuration: root and the TrustedUser may do anything; others may not
 * run the daemon, a queue-runner daemon, quarantine, purge host status, or
 * (unless in class t) rebuild the aliases.  The denial is logged at alert
 * as sendmail logs it.
 */
import { ERR, PosternError } from '../common/errors.js';
import type { Config } from '../config/index.js';
import { lookupUser } from '../privsep/passwd.js';
import type { Invocation } from './cmdline/invocation.js';

export interface Caller {
  readonly uid: number;
  readonly gid: number;
  /** the login name, or sendmail's "Unknown UID n" */
  readonly name: string;
}

/**
 * The caller, with the name looked up when first asked for: a submission
 * seldom needs it, and node:os, which looks it up, took 0.2 ms to load.
 */
export function callerIdentity(): Caller {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  let name: string | undefined;
  return {
    uid,
    gid,
    get name() {
      if (name === undefined) {
        try {
          name = process.getBuiltinModule('node:os').userInfo().username;
        } catch {
          name = `Unknown UID ${uid}`;
        }
      }
      return name;
    },
  };
}

export interface Denial extends PosternError {
  /** what sendmail logs: "user 1001 attempted to run daemon" */
  readonly logText: string;
}

function deny(caller: Caller, action: string, message = 'Permission denied (real uid not trusted)'): Denial {
  return Object.assign(new PosternError(ERR.PRIV_NOT_TRUSTED, message), { logText: `user ${caller.uid} attempted to ${action}` });
}

/** TrustedUser names a user or a uid; a name that does not resolve trusts no one. */
function trustedUid(trustedUser: string | number | null): number | undefined {
  if (trustedUser === null) return undefined;
  return typeof trustedUser === 'number' ? trustedUser : lookupUser(trustedUser)?.uid;
}

/** Root, the TrustedUser, or a member of class t (sendmail's test for who may relabel the log). */
export function isTrusted(config: Config, caller: Caller): boolean {
  return caller.uid === 0 || caller.uid === trustedUid(config.options.TrustedUser) || (config.classes.get('t')?.has(caller.name) ?? false);
}

export function checkPermissions(inv: Invocation, config: Config, caller: Caller): Denial | undefined {
  const denial = modeDenial(inv, config, caller);
  // the TrustedUser is looked up (a read of /etc/passwd) only for a mode it matters to
  if (denial === undefined || caller.uid === 0 || caller.uid === trustedUid(config.options.TrustedUser)) return undefined;
  return denial;
}

function modeDenial(inv: Invocation, config: Config, caller: Caller): Denial | undefined {
  switch (inv.mode) {
    case 'queuerun':
      if (inv.quarantineReason !== undefined) return deny(caller, 'quarantine jobs');
      if ((inv.queueRun?.interval ?? 0) === 0) return undefined;
      return deny(caller, 'start a queue runner daemon');
    case 'purgestat':
      return deny(caller, 'purge host status');
    case 'daemon':
    case 'fgdaemon':
      return deny(caller, 'run daemon');
    case 'initalias':
      if (!(config.classes.get('t')?.has(caller.name) ?? false)) return deny(caller, 'rebuild the alias map');
      if (config.options.UseMSP) {
        return deny(caller, 'rebuild the alias map', `User ${caller.uid} cannot rebuild aliases in mail submission program`);
      }
      return undefined;
    default:
      return undefined;
  }
}
