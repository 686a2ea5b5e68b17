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
import type { Config } from '../config/index.js';
import { openAliases } from '../delivery/aliases/index.js';
import { route } from '../delivery/route.js';

/**
 * The addresses sendmail's MTA would refuse as unknown local users, in the
 * order given; `local` is sendmail.cf's local names (localDomains()).  The
 * alias files are opened only when a recipient has no passwd entry: most
 * submissions name only known users, and every `sendmail -t` waits for this.
 * When they cannot be read, nobody is refused.
 */
export function unknownLocalRecipients(addresses: readonly string[], config: Config, local: ReadonlySet<string>): string[] {
  let aliases: ReturnType<typeof openAliases> | undefined;
  let readable = false;
  const isAlias = (name: string): boolean | undefined => {
    if (aliases === undefined) {
      aliases = openAliases(config);
      readable = aliases.sources.some((s) => s.from === 'database' || s.from === 'text');
    }
    return readable ? aliases.lookup(name) !== undefined : undefined;
  };
  try {
    return addresses.filter((address) => {
      const r = route(address, local);
      if (r.kind !== 'unknown-user') return false;
      const name = r.localPart.toLowerCase();
      // RFC 5321 4.5.1: postmaster is always taken, as the SMTP side does
      if (name === 'postmaster' || name === '') return false;
      return isAlias(name) === false && isAlias(name.replace(/\+.*$/, '')) === false;
    });
  } finally {
    aliases?.close();
  }
}
