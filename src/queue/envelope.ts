/**
 * A queued message's envelope: everything that must be on disk, fsync'd,
 * before the message counts as accepted (sendmail's qf file holds the same).
 */

/** RFC 3461 NOTIFY: 'never', or any of success/failure/delay; undefined = not given (failure,delay by default). */
export interface Notify {
  readonly never: boolean;
  readonly success: boolean;
  readonly failure: boolean;
  readonly delay: boolean;
}

/**
 * `expanded`: an alias, replaced by its targets (recipients of their own, with `parent` set);
 * `duplicate`: the same recipient as another of the message (sendmail's QS_DUPLICATE), never delivered or reported
 */
export type RecipientState = 'pending' | 'deferred' | 'sent' | 'bounced' | 'expanded' | 'duplicate';

export interface Recipient {
  /** the address as it will be delivered to, without angle brackets */
  readonly address: string;
  /** RFC 3461 ORCPT (addr-type;xtext), when given */
  readonly orcpt?: string;
  readonly notify?: Notify;
  state: RecipientState;
  /** the last delivery attempt's status text ("Deferred: Connection refused by ..."), for mailq and DSNs */
  statusText?: string;
  /** the last enhanced status code (4.4.1, 5.1.1 ...) */
  dsnStatus?: string;
  /** the alias this address was expanded from (sendmail's q_alias), for logs and DSNs */
  readonly parent?: string;
  /** already the result of alias expansion: not looked up again */
  readonly aliased?: boolean;
  /** read from a .forward file or an :include: list: whose it is, which decides who runs its programs and files */
  readonly origin?: RecipientOrigin;
  /**
   * An envelope recipient first reached through another's .forward (that
   * one's address): the chain its own list's loops run through, kept so a
   * later queue run ends them as the first did (send-list.ts).
   */
  adoptedBy?: string;
  /**
   * A loop's `\user` copy: the recipient it keeps the mail for (its address
   * as the envelope or list gave it), which is what sendmail's log shows
   * (`to=<kim@$j>`), not the copy's own address.
   */
  readonly keptFor?: string;
}

/**
 * Where a .forward or :include: target came from, as the delivery broker
 * checks it again before running a program or writing a file: the
 * forwarding user's .forward (and the lists it includes), or an :include:
 * list reached from the aliases file (its owner's).  No origin: the aliases
 * file itself (DefaultUser).  `uid`: whom its programs and files ran as
 * when the list was read (sendmail's controlling address), by which two
 * identical programs are one recipient or two (sameaddr()); the broker
 * works out whom to run as afresh.
 */
export type RecipientOrigin =
  | { readonly kind: 'forward'; readonly user: string; readonly detail?: string; readonly uid?: number }
  | { readonly kind: 'include'; readonly file: string; readonly uid?: number };

/** Who handed the message over, as the kernel told the receiving side (SO_PEERCRED or file owner). */
export interface Submitter {
  readonly uid: number;
  readonly gid: number;
  /** login name at submission time, or "Unknown UID n" */
  readonly name: string;
}

export interface Envelope {
  readonly id: string;
  /** envelope sender without brackets; '' is the null sender <> */
  readonly sender: string;
  readonly recipients: Recipient[];
  /** RFC 3461 ENVID */
  readonly envid?: string;
  /** RFC 3461 RET */
  readonly ret?: 'full' | 'hdrs';
  /** RFC 6152 BODY */
  readonly bodyType?: '7BIT' | '8BITMIME';
  /**
   * RFC 4954 AUTH= of MAIL FROM as trusted (sendmail's qf `A` line): the
   * authenticated submitter (xtext), or `<>`; absent when the client gave none.
   * Relayed as AUTH= to peers that offer AUTH.
   */
  readonly auth?: string;
  /** Received: headers counted at arrival (plus -h) */
  readonly hopCount: number;
  /** local submissions: who submitted; SMTP: undefined */
  readonly submitter?: Submitter;
  /** protocol ($r: ESMTP, SMTP, ...) and the client ($_: "alice@localhost" or "host [ip]") */
  readonly protocol?: string;
  readonly relay: string;
  /** arrival time, ms since the epoch */
  readonly arrival: number;
  /** message size in bytes as stored (headers and body) */
  readonly size: number;
  /** the Message-Id header's value, for logging */
  readonly messageId?: string;
  /** quarantine reason, when held */
  quarantine?: string;
  /** a delivery status notification Postern made: what kind, so a failing one is never answered in kind */
  readonly notice?: 'sender' | 'postmaster' | 'postmaster-copy' | 'receipt';
  /** a delay warning has been sent (sendmail's qf flag w) */
  warned?: boolean;
  /** delivery attempts so far, and when the next may be made (ms since the epoch) */
  attempts: number;
  nextAttempt: number;
}
