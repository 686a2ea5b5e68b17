/**
 * When two recipients are one, as sendmail's sameaddr() (parseaddr.c)
 * decides it: the same mailer, the same user as that mailer is handed it,
 * and, for a mailer with hosts, the same host.  What follows from
 * sendmail.cf:
 *   - the local mailer (Mlocal has no F=u) gets the user lower-cased and
 *     without a domain, so `bob`, `bob@$j`, `bob@localhost` and `Bob` are one
 *     mailbox, as a local submission's qualified envelope needs;
 *   - `\bob` keeps its backslash in the user, so it is another recipient
 *     (sendmail logs `to=\\bob` beside the user's own forwarding); so is
 *     `bob+detail`;
 *   - programs (Mprog has F=u) keep their case, and two are one only when
 *     they run as the same user (sendmail compares the controlling
 *     addresses' uids): the uid the list was read as, else the list;
 *   - files and :include: lists are one by path;
 *   - remote users keep their case (the SMTP mailers have F=u), host names
 *     do not.
 */
import type { Recipient } from '../queue/envelope.js';
import { bareAddress, route } from './route.js';

/** Who a program runs as, as far as the recipient says: the uid its list was read as, else that list (none: the aliases file's DefaultUser). */
function controllingUser(origin: Recipient['origin']): string {
  if (origin === undefined) return 'aliases';
  if (origin.uid !== undefined) return `uid:${origin.uid}`;
  return origin.kind === 'forward' ? `forward:${origin.user}` : `include:${origin.file}`;
}

/** A key equal for two recipients exactly when sendmail's sameaddr() holds for them. */
export function recipientIdentity(recipient: Pick<Recipient, 'address' | 'origin'>, local: ReadonlySet<string>): string {
  const where = route(recipient.address, local, () => true);
  switch (where.kind) {
    case 'program':
      return `prog\0${where.command}\0${controllingUser(recipient.origin)}`;
    case 'file':
      return `file\0${where.path}`;
    case 'include':
      return `include\0${where.path}`;
    case 'local':
      return `local\0${where.user.toLowerCase()}`;
    case 'unknown-user':
      return `local\0${where.localPart.toLowerCase()}`;
    case 'remote': {
      const bare = bareAddress(recipient.address);
      return `remote\0${bare.slice(0, bare.lastIndexOf('@'))}\0${where.domain}`;
    }
  }
}
