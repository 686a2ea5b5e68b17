/**
 * What a delivery status notification is made from.  The queue runner
 * fills these in after a delivery attempt (or when a message's queue
 * lifetime runs out); planNotices() decides who is told, buildNotice()
 * writes each notice as sendmail 8.17's returntosender()/errbody() do.
 */
import type { HeaderDef } from '../../config/types.js';
import type { Envelope, Notify } from '../envelope.js';

/** RFC 3464 Action, as sendmail names the cases it reports. */
export type DsnAction = 'failed' | 'delayed' | 'delivered' | 'relayed' | 'expanded';

/** One recipient's part of the report. */
export interface RecipientOutcome {
  /** index into envelope.recipients */
  readonly index: number;
  readonly action: DsnAction;
  /** enhanced status code (5.1.1); default 5.0.0 failed, 4.0.0 delayed, 2.0.0 otherwise */
  readonly status?: string;
  /**
   * The reply or local reason (sendmail's q_rstatus): `550 5.1.1 <bob@x>... User unknown`,
   * or a sysexits number such as `67`, which the human-readable part spells out.
   */
  readonly diagnostic?: string;
  /** the mailer's T= diagnostic type (smtp, X-Unix); default smtp */
  readonly diagnosticType?: string;
  /** the host talked to, without a trailing dot */
  readonly remoteMta?: string;
  /** the mailer's T= MTA type; default dns */
  readonly mtaType?: string;
  /** when the recipient was last tried, ms since the epoch; default now */
  readonly lastAttempt?: number;
  /** the alias or list this address came from (sendmail's "expanded from:") */
  readonly expandedFrom?: string;
  /** the address as the report shows it (q_paddr); default `<address>` */
  readonly displayAddress?: string;
  /** Final-Recipient value; default `<addrType>; address`, qualified with $j */
  readonly finalRecipient?: string;
  /** X-Actual-Recipient value, when it differs from Final-Recipient (alias targets) */
  readonly actualRecipient?: string;
  /** delivered/expanded to a list rather than a mailbox */
  readonly toList?: boolean;
}

/** Why the notice is made. */
export type NoticeEvent =
  /** some recipients failed for good during this attempt */
  | { readonly kind: 'failure' }
  /** Timeout.queuereturn passed: the undelivered recipients fail with 4.4.7 */
  | { readonly kind: 'expired'; readonly returnAfter: number }
  /** Timeout.queuewarn passed (seconds), the message stays queued until returnAfter */
  | { readonly kind: 'warning'; readonly warnAfter: number; readonly returnAfter: number }
  /** every recipient that asked for NOTIFY=SUCCESS got it, nothing failed or waits */
  | { readonly kind: 'receipt' };

/** Fields a notice's own envelope carries on top of the queue's Envelope (kept in its JSON). */
export interface NoticeMarks {
  /** set on messages Postern generated: what they are, so that a failing one is never answered in kind */
  readonly notice?: NoticeKind;
  /** a delay warning was sent for this message (sendmail's qf flag `w`) */
  readonly warned?: boolean;
}

export type QueuedEnvelope = Envelope & NoticeMarks;

/**
 * sender:   returned mail or a warning, to the original sender
 * postmaster: the report could not go to a sender (null sender): to DoubleBounceAddress
 * postmaster-copy: PostmasterCopy's headers-only copy of a failure report
 * receipt:  a success notice ("Return receipt")
 */
export type NoticeKind = 'sender' | 'postmaster' | 'postmaster-copy' | 'receipt';

/** Site settings that shape notices (from sendmail.cf options and macros). */
export interface NoticeSettings {
  /** $j */
  readonly hostName: string;
  /** $n, the name the reports come from; default MAILER-DAEMON */
  readonly daemonName?: string;
  /** DoubleBounceAddress; '' drops reports nobody can take; default postmaster */
  readonly doubleBounceAddress?: string;
  /** PostmasterCopy; null or '' for none */
  readonly postmasterCopy?: string | null;
  /** SendMimeErrors; default true */
  readonly sendMimeErrors?: boolean;
  /** PrivacyOptions nobodyreturn, noactualrecipient, noreceipts */
  readonly noBodyReturn?: boolean;
  readonly noActualRecipient?: boolean;
  readonly noReceipts?: boolean;
  /** sendmail.cf's H lines and D macros; default the m4 Received/Date/From/Message-Id */
  readonly headerDefs?: readonly HeaderDef[];
  readonly macros?: ReadonlyMap<string, string>;
  /** $v / $Z in the Received line; default Postern's version */
  readonly version?: string;
  /** the sender's mailer's T= address type, for Final-Recipient; default rfc822 */
  readonly addrType?: string;
}

/** Everything about the original message a notice reports on. */
export interface NoticeInput {
  readonly envelope: QueuedEnvelope;
  readonly event: NoticeEvent;
  readonly outcomes: readonly RecipientOutcome[];
  /** this attempt's transcript lines (`... while talking to x.:`, `>>> RCPT To:<b>`, `<<< 550 ...`) */
  readonly transcript?: readonly string[];
  /** the short reason (sendmail's e_message) for the log line and the Subject; default derived */
  readonly message?: string;
  /** Received-From-MTA: the client's mailer type and name, when known to this process */
  readonly receivedFrom?: { readonly type?: string; readonly name: string };
  /** the original had 8-bit text (sendmail's EF_HAS8BIT); default bodyType 8BITMIME */
  readonly has8bit?: boolean;
  /** the body may not be returned: it was too big for a mailer or the remote SIZE (EF_NO_BODY_RETN) */
  readonly bodyRefused?: boolean;
  /** Precedence class of the original; below 0 (bulk, junk, list) means no body, no warning, no copy */
  readonly precedenceClass?: number;
}

export interface NoticePlan {
  readonly kind: NoticeKind;
  /** the notice's recipient, as the envelope holds it */
  readonly to: string;
  /** whether the original's body goes back (message/rfc822) or only its header (text/rfc822-headers) */
  readonly returnBody: boolean;
  /** the reason text: Subject source and log line */
  readonly message: string;
  /** in plain words, for logs and tests */
  readonly description: string;
}

export const DEFAULT_NOTIFY: Notify = Object.freeze({ never: false, success: false, failure: true, delay: true });
