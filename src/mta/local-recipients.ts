/**
 * Which recipients of a local submission sendmail's MTA would refuse at RCPT
 * with `550 5.1.1 <addr>... User unknown`: an address that routes to the
 * local mailer, whose user has no passwd entry and whose name is no alias.
 * Measured with sendmail 8.17 (its MSP relaying to its MTA): such a
 * recipient is never queued, the others are, and the MSP exits 67 after
 * saving the message in the caller's dead.letter (no bounce is mailed).
 * Remote addresses, aliases (whatever they expand to), programs and files
 * are not judged here: they are taken and fail, if they fail, on delivery.
 */
import type { SystemIdentity } from '../common/identity.js';
import type { Config } from '../config/index.js';
import { openAliases } from '../delivery/aliases/index.js';
import { localDomains, route } from '../delivery/route.js';

export interface LocalNameLookups {
  /** whether the local part is an alias; undefined: the alias files could not be read (then nobody is refused) */
  readonly isAlias: (name: string) => boolean | undefined;
  readonly userExists?: (name: string) => boolean;
}

/**
 * The alias files of sendmail.cf for one look-up batch, opened at the first
 * look-up: most submissions name only known users and never need them, and
 * every `sendmail -t` waits for this.
 */
export function aliasLookups(config: Config): LocalNameLookups & { close(): void } {
  let db: ReturnType<typeof openAliases> | undefined;
  let usable = false;
  const opened = () => {
    if (db === undefined) {
      db = openAliases(config);
      usable = db.sources.some((s) => s.from === 'database' || s.from === 'text');
    }
    return db;
  };
  return {
    isAlias: (name) => {
      const aliases = opened();
      return usable ? aliases.lookup(name) !== undefined : undefined;
    },
    close: () => db?.close(),
  };
}

/** The addresses sendmail's MTA would refuse as unknown local users, in the order given. */
export function unknownLocalRecipients(addresses: readonly string[], config: Config, identity: SystemIdentity, lookups: LocalNameLookups): string[] {
  const local = localDomains(config, identity);
  return addresses.filter((address) => {
    const r = lookups.userExists === undefined ? route(address, local) : route(address, local, lookups.userExists);
    if (r.kind !== 'unknown-user') return false;
    const name = r.localPart.toLowerCase();
    // RFC 5321 4.5.1: postmaster is always taken, as the SMTP side does
    if (name === 'postmaster' || name === '') return false;
    return lookups.isAlias(name) === false && lookups.isAlias(name.replace(/\+.*$/, '')) === false;
  });
}
