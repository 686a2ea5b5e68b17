/**
 * The one registry of Postern's error classes.  Each class has a stable code
 * (tests assert it; log readers may key on it), the sysexits code a command
 * exits with, and the SMTP reply and enhanced status code a session answers
 * with.  Message text is free to change; codes are not.
 */
import { EX, type Sysexit } from './sysexits.js';

export interface ErrorClass {
  readonly code: string;
  readonly exit: Sysexit;
  readonly smtp: number;
  readonly status: string;
}

function define<const C extends string>(code: C, exit: Sysexit, smtp: number, status: string): ErrorClass & { code: C } {
  return Object.freeze({ code, exit, smtp, status });
}

export const ERR = {
  // command line (sendmail's main.c and its getopt loop)
  USAGE_ILLEGAL_OPTION: define('USAGE_ILLEGAL_OPTION', EX.USAGE, 501, '5.5.4'),
  USAGE_MISSING_ARGUMENT: define('USAGE_MISSING_ARGUMENT', EX.USAGE, 501, '5.5.4'),
  USAGE_INVALID_MODE: define('USAGE_INVALID_MODE', EX.USAGE, 501, '5.5.4'),
  USAGE_NO_RECIPIENTS: define('USAGE_NO_RECIPIENTS', EX.USAGE, 554, '5.5.1'),
  USAGE_SENDER_TWICE: define('USAGE_SENDER_TWICE', EX.USAGE, 503, '5.5.0'),
  USAGE_BAD_VALUE: define('USAGE_BAD_VALUE', EX.USAGE, 501, '5.5.4'),
  USAGE_BAD_TIME_UNIT: define('USAGE_BAD_TIME_UNIT', EX.USAGE, 501, '5.5.4'),
  USAGE_NOT_PERMITTED: define('USAGE_NOT_PERMITTED', EX.USAGE, 550, '5.7.1'),
  MODE_UNAVAILABLE: define('MODE_UNAVAILABLE', EX.UNAVAILABLE, 502, '5.5.1'),

  // configuration files
  CONFIG_CANNOT_OPEN: define('CONFIG_CANNOT_OPEN', EX.OSFILE, 451, '4.3.0'),
  CONFIG_SYNTAX: define('CONFIG_SYNTAX', EX.SOFTWARE, 451, '4.3.5'),
  CONFIG_UNKNOWN_OPTION: define('CONFIG_UNKNOWN_OPTION', EX.SOFTWARE, 451, '4.3.5'),
  CONFIG_BAD_VALUE: define('CONFIG_BAD_VALUE', EX.SOFTWARE, 451, '4.3.5'),
  CONFIG_UNSAFE: define('CONFIG_UNSAFE', EX.CONFIG, 451, '4.3.5'),
  CONFIG_MISSING: define('CONFIG_MISSING', EX.CONFIG, 451, '4.3.5'),

  // the submission channel between the MSP and the daemon
  SUBMIT_PROTOCOL: define('SUBMIT_PROTOCOL', EX.PROTOCOL, 554, '5.5.0'),
  // a submitted message: sendmail -t finding no recipient says so and exits 0 (Debian's 8.17, measured)
  SUBMIT_NO_RECIPIENTS: define('SUBMIT_NO_RECIPIENTS', EX.OK, 554, '5.5.1'),
  SUBMIT_TOO_MANY_HOPS: define('SUBMIT_TOO_MANY_HOPS', EX.UNAVAILABLE, 554, '5.4.6'),
  SUBMIT_HEADERS_TOO_LARGE: define('SUBMIT_HEADERS_TOO_LARGE', EX.DATAERR, 552, '5.6.0'),
  // the MSP could not read the whole message (a read error on standard input): it is refused, never
  // sent or queued cut short.  sendmail 8.17's -t logs the error and delivers what it read; its -bs,
  // the one mode where it refuses such a message, exits 70 (measured), and so does Postern's MSP
  SUBMIT_INPUT_ERROR: define('SUBMIT_INPUT_ERROR', EX.SOFTWARE, 421, '4.4.1'),
  // the daemon's side of the same: the submitter said it gives the message up, or went away before its end
  SUBMIT_ABANDONED: define('SUBMIT_ABANDONED', EX.SOFTWARE, 421, '4.4.1'),
  // no daemon answers and there is no client queue either: nothing can take the message
  CLIENT_QUEUE_MISSING: define('CLIENT_QUEUE_MISSING', EX.CONFIG, 451, '4.3.5'),

  // privileges and identities
  PRIV_NOT_TRUSTED: define('PRIV_NOT_TRUSTED', EX.USAGE, 550, '5.7.1'),
  PRIV_NO_PERMISSION: define('PRIV_NO_PERMISSION', EX.NOPERM, 550, '5.7.1'),
  PRIV_STILL_PRIVILEGED: define('PRIV_STILL_PRIVILEGED', EX.SOFTWARE, 421, '4.3.0'),

  // the daemon: master and workers
  DAEMON_RUN_AS: define('DAEMON_RUN_AS', EX.CONFIG, 421, '4.3.0'),
  DAEMON_SOCKET: define('DAEMON_SOCKET', EX.OSERR, 421, '4.3.0'),
  DAEMON_QUEUE_DIRECTORY: define('DAEMON_QUEUE_DIRECTORY', EX.CONFIG, 421, '4.3.0'),
  DAEMON_ALREADY_RUNNING: define('DAEMON_ALREADY_RUNNING', EX.OSERR, 421, '4.3.0'),

  // the delivery broker and the queue runner
  BROKER_UNAVAILABLE: define('BROKER_UNAVAILABLE', EX.TEMPFAIL, 451, '4.3.0'),
  BROKER_CONTENT: define('BROKER_CONTENT', EX.SOFTWARE, 451, '4.3.0'),
  LOCAL_USER_UNKNOWN: define('LOCAL_USER_UNKNOWN', EX.NOUSER, 550, '5.1.1'),
  REMOTE_DELIVERY_UNAVAILABLE: define('REMOTE_DELIVERY_UNAVAILABLE', EX.TEMPFAIL, 451, '4.4.0'),
  LOCAL_MAILER_UNAVAILABLE: define('LOCAL_MAILER_UNAVAILABLE', EX.TEMPFAIL, 451, '4.3.0'),
  QUEUE_LIFETIME_EXCEEDED: define('QUEUE_LIFETIME_EXCEEDED', EX.UNAVAILABLE, 554, '4.4.7'),

  // operating system
  OS_CALL_FAILED: define('OS_CALL_FAILED', EX.OSERR, 451, '4.3.0'),
  OS_NO_SPACE: define('OS_NO_SPACE', EX.TEMPFAIL, 452, '4.3.1'),
  INTERNAL: define('INTERNAL', EX.SOFTWARE, 451, '4.3.0'),

  // local delivery (mailboxes): 5.x.x bounces, 4.x.x defers; ENOSPC uses OS_NO_SPACE (4.3.1)
  MAILBOX_UNSAFE: define('MAILBOX_UNSAFE', EX.CANTCREAT, 550, '5.2.0'),
  MAILBOX_BAD_NAME: define('MAILBOX_BAD_NAME', EX.NOUSER, 550, '5.1.3'),
  MAILBOX_CHANGED: define('MAILBOX_CHANGED', EX.TEMPFAIL, 450, '4.2.0'),
  MAILBOX_CANNOT_OPEN: define('MAILBOX_CANNOT_OPEN', EX.TEMPFAIL, 450, '4.2.0'),
  MAILBOX_LOCK_TIMEOUT: define('MAILBOX_LOCK_TIMEOUT', EX.TEMPFAIL, 450, '4.2.0'),
  MAILBOX_FULL: define('MAILBOX_FULL', EX.TEMPFAIL, 452, '4.2.2'),
  MAILBOX_WRITE_FAILED: define('MAILBOX_WRITE_FAILED', EX.IOERR, 451, '4.3.0'),
  MAILBOX_SPOOL_UNSAFE: define('MAILBOX_SPOOL_UNSAFE', EX.CONFIG, 451, '4.3.5'),
  MAILBOX_AGENT_FAILED: define('MAILBOX_AGENT_FAILED', EX.SOFTWARE, 451, '4.3.0'),

  // local mailers: .forward, :include:, |program (smrsh) and /file, worded as sendmail words them
  FORWARD_TEMPFAIL: define('FORWARD_TEMPFAIL', EX.TEMPFAIL, 451, '4.3.0'),
  INCLUDE_CANNOT_OPEN: define('INCLUDE_CANNOT_OPEN', EX.NOINPUT, 550, '5.2.4'),
  INCLUDE_TEMPFAIL: define('INCLUDE_TEMPFAIL', EX.TEMPFAIL, 451, '4.2.4'),
  LOCAL_DIRECT_TARGET: define('LOCAL_DIRECT_TARGET', EX.UNAVAILABLE, 550, '5.7.1'),
  LOCAL_BAD_SHELL: define('LOCAL_BAD_SHELL', EX.USAGE, 550, '5.7.1'),
  LOCAL_UNSAFE_ADDRESS: define('LOCAL_UNSAFE_ADDRESS', EX.UNAVAILABLE, 550, '5.7.1'),
  LOCAL_TARGET_NOT_LISTED: define('LOCAL_TARGET_NOT_LISTED', EX.NOPERM, 550, '5.7.1'),
  LOCAL_AGENT_FAILED: define('LOCAL_AGENT_FAILED', EX.SOFTWARE, 451, '4.3.0'),
  SMRSH_REFUSED: define('SMRSH_REFUSED', EX.UNAVAILABLE, 554, '5.0.0'),
  PROGRAM_DEFERRED: define('PROGRAM_DEFERRED', EX.TEMPFAIL, 450, '4.0.0'),
  PROGRAM_FAILED: define('PROGRAM_FAILED', EX.UNAVAILABLE, 554, '5.3.0'),
  PROGRAM_TIMEOUT: define('PROGRAM_TIMEOUT', EX.TEMPFAIL, 451, '4.4.2'),
  PROGRAM_CANNOT_RUN: define('PROGRAM_CANNOT_RUN', EX.OSERR, 451, '4.3.0'),
  FILE_CANNOT_OPEN: define('FILE_CANNOT_OPEN', EX.CANTCREAT, 554, '5.3.0'),
  FILE_CANNOT_OPEN_TEMP: define('FILE_CANNOT_OPEN_TEMP', EX.TEMPFAIL, 454, '4.3.0'),
  FILE_CANT_CREATE: define('FILE_CANT_CREATE', EX.CANTCREAT, 550, '5.0.0'),
  FILE_WRITE_FAILED: define('FILE_WRITE_FAILED', EX.IOERR, 451, '4.0.0'),

  // smtpd: replies of the SMTP session engine (src/mta/smtpd), worded by sendmail 8.17
  SMTP_SYNTAX: define('SMTP_SYNTAX', EX.USAGE, 501, '5.5.2'),
  SMTP_BAD_PARAMETER: define('SMTP_BAD_PARAMETER', EX.USAGE, 501, '5.5.4'),
  SMTP_UNKNOWN_PARAMETER: define('SMTP_UNKNOWN_PARAMETER', EX.USAGE, 555, '5.5.4'),
  SMTP_UNRECOGNIZED: define('SMTP_UNRECOGNIZED', EX.PROTOCOL, 500, '5.5.1'),
  SMTP_NOT_IMPLEMENTED: define('SMTP_NOT_IMPLEMENTED', EX.PROTOCOL, 502, '5.5.1'),
  SMTP_BAD_SEQUENCE: define('SMTP_BAD_SEQUENCE', EX.PROTOCOL, 503, '5.0.0'),
  SMTP_SENDER_TWICE: define('SMTP_SENDER_TWICE', EX.PROTOCOL, 503, '5.5.0'),
  SMTP_NOT_ALLOWED: define('SMTP_NOT_ALLOWED', EX.NOPERM, 502, '5.7.0'),
  SMTP_AUTH_REQUIRED: define('SMTP_AUTH_REQUIRED', EX.NOPERM, 530, '5.7.0'),
  SMTP_BAD_ADDRESS: define('SMTP_BAD_ADDRESS', EX.DATAERR, 553, '5.0.0'),
  SMTP_HOSTNAME_REQUIRED: define('SMTP_HOSTNAME_REQUIRED', EX.DATAERR, 553, '5.1.3'),
  SMTP_USER_UNKNOWN: define('SMTP_USER_UNKNOWN', EX.NOUSER, 550, '5.1.1'),
  SMTP_RELAYING_DENIED: define('SMTP_RELAYING_DENIED', EX.NOPERM, 550, '5.7.1'),
  SMTP_TOO_MANY_RECIPIENTS: define('SMTP_TOO_MANY_RECIPIENTS', EX.TEMPFAIL, 452, '4.5.3'),
  SMTP_MESSAGE_TOO_BIG: define('SMTP_MESSAGE_TOO_BIG', EX.DATAERR, 552, '5.2.3'),
  SMTP_HEADERS_TOO_LARGE: define('SMTP_HEADERS_TOO_LARGE', EX.DATAERR, 552, '5.6.0'),
  SMTP_PROTOCOL_ERROR: define('SMTP_PROTOCOL_ERROR', EX.PROTOCOL, 554, '5.5.0'),
  SMTP_COMMAND_REJECTED: define('SMTP_COMMAND_REJECTED', EX.PROTOCOL, 550, '5.0.0'),
  SMTP_BARE_LINE_END: define('SMTP_BARE_LINE_END', EX.PROTOCOL, 421, '4.5.0'),
  SMTP_LINE_TOO_LONG: define('SMTP_LINE_TOO_LONG', EX.PROTOCOL, 421, '4.7.0'),
  SMTP_TOO_MANY_BAD_COMMANDS: define('SMTP_TOO_MANY_BAD_COMMANDS', EX.PROTOCOL, 421, '4.7.0'),
  SMTP_CONNECTION_LOST: define('SMTP_CONNECTION_LOST', EX.IOERR, 421, '4.4.1'),

  // aliases and maps
  ALIAS_SYNTAX: define('ALIAS_SYNTAX', EX.SOFTWARE, 554, '5.3.5'),
  ALIAS_BAD_NAME: define('ALIAS_BAD_NAME', EX.USAGE, 553, '5.3.5'),
  ALIAS_LOOP: define('ALIAS_LOOP', EX.UNAVAILABLE, 554, '5.4.6'),
  ALIAS_DATABASE_UNAVAILABLE: define('ALIAS_DATABASE_UNAVAILABLE', EX.TEMPFAIL, 451, '4.3.0'),
  ALIAS_CANNOT_REBUILD: define('ALIAS_CANNOT_REBUILD', EX.SOFTWARE, 451, '4.3.0'),
  MAP_CANNOT_OPEN: define('MAP_CANNOT_OPEN', EX.CANTCREAT, 451, '4.3.0'),
  MAP_FORMAT: define('MAP_FORMAT', EX.CANTCREAT, 451, '4.3.0'),
  MAP_UNSUPPORTED_TYPE: define('MAP_UNSUPPORTED_TYPE', EX.CANTCREAT, 451, '4.3.0'),
  MAP_INPUT: define('MAP_INPUT', EX.DATAERR, 451, '4.3.0'),

  // remote delivery (src/delivery/remote): the SMTP client's outcomes, as sendmail classes them;
  // a reply with its own enhanced code keeps that code in the recipient's status
  REMOTE_CONNECTION_FAILED: define('REMOTE_CONNECTION_FAILED', EX.TEMPFAIL, 451, '4.4.1'),
  REMOTE_TIMEOUT: define('REMOTE_TIMEOUT', EX.TEMPFAIL, 451, '4.4.2'),
  REMOTE_TEMPORARY_REPLY: define('REMOTE_TEMPORARY_REPLY', EX.TEMPFAIL, 451, '4.0.0'),
  REMOTE_PERMANENT_REPLY: define('REMOTE_PERMANENT_REPLY', EX.UNAVAILABLE, 554, '5.0.0'),
  REMOTE_USER_UNKNOWN: define('REMOTE_USER_UNKNOWN', EX.NOUSER, 550, '5.1.1'),
  REMOTE_HOST_UNKNOWN: define('REMOTE_HOST_UNKNOWN', EX.NOHOST, 550, '5.1.2'),
  REMOTE_NULL_MX: define('REMOTE_NULL_MX', EX.NOHOST, 556, '5.1.10'),
  REMOTE_DNS_TEMPFAIL: define('REMOTE_DNS_TEMPFAIL', EX.TEMPFAIL, 451, '4.4.3'),
  REMOTE_MX_LOOP: define('REMOTE_MX_LOOP', EX.CONFIG, 553, '5.3.5'),
  REMOTE_MAILERTABLE_ERROR: define('REMOTE_MAILERTABLE_ERROR', EX.UNAVAILABLE, 550, '5.1.2'),
  REMOTE_TLS_FAILED: define('REMOTE_TLS_FAILED', EX.TEMPFAIL, 454, '4.7.0'),
  /** TLS_Srv: asked for more than the connection gave (tls_server): 454 4.7.0, or 403 with TEMP+ */
  REMOTE_TLS_REQUIRED: define('REMOTE_TLS_REQUIRED', EX.TEMPFAIL, 454, '4.7.0'),
  /** the same with PERM+ */
  REMOTE_TLS_REQUIRED_PERM: define('REMOTE_TLS_REQUIRED_PERM', EX.UNAVAILABLE, 503, '5.7.0'),
  /** AUTH to the server could not be done now: "Temporary AUTH failure" */
  REMOTE_AUTH_TEMPFAIL: define('REMOTE_AUTH_TEMPFAIL', EX.TEMPFAIL, 454, '4.3.0'),
  REMOTE_8BIT_TO_7BIT: define('REMOTE_8BIT_TO_7BIT', EX.DATAERR, 554, '5.6.3'),
  REMOTE_MESSAGE_TOO_BIG: define('REMOTE_MESSAGE_TOO_BIG', EX.UNAVAILABLE, 552, '5.2.3'),
  REMOTE_PROTOCOL_ERROR: define('REMOTE_PROTOCOL_ERROR', EX.PROTOCOL, 554, '5.5.0'),

  // LMTP mailers (src/delivery/lmtp): the Unix socket of an A=FILE mailer, as makeconnection_ds() fails;
  // the replies themselves are classed as the SMTP client's (REMOTE_*)
  LMTP_SOCKET_UNSAFE: define('LMTP_SOCKET_UNSAFE', EX.TEMPFAIL, 451, '4.3.5'),
  LMTP_SOCKET_FAILED: define('LMTP_SOCKET_FAILED', EX.TEMPFAIL, 451, '4.4.1'),
  // A=TCP $h with no host to put there (the local mailer has none): sendmail's "null destination",
  // which sendmail bounces as a configuration error; Postern keeps the mail until the file is mended
  LMTP_NO_DESTINATION: define('LMTP_NO_DESTINATION', EX.CONFIG, 451, '4.3.5'),

  // host status (src/delivery/remote/host-status): HostStatusDirectory, hoststat, purgestat
  HOST_STATUS_CACHED: define('HOST_STATUS_CACHED', EX.TEMPFAIL, 451, '4.4.1'),
  HOST_STATUS_CORRUPT: define('HOST_STATUS_CORRUPT', EX.SOFTWARE, 451, '4.3.0'),
  HOST_STATUS_WRITE_FAILED: define('HOST_STATUS_WRITE_FAILED', EX.CANTCREAT, 451, '4.3.0'),

  // TLS, AUTH, access (src/mta/tls, src/mta/auth, the access map in src/mta/smtpd)
  TLS_NOT_AVAILABLE: define('TLS_NOT_AVAILABLE', EX.TEMPFAIL, 454, '4.3.3'),
  TLS_NOT_OFFERED: define('TLS_NOT_OFFERED', EX.PROTOCOL, 503, '5.5.0'),
  TLS_CONFIG: define('TLS_CONFIG', EX.CONFIG, 454, '4.3.3'),
  TLS_HANDSHAKE_FAILED: define('TLS_HANDSHAKE_FAILED', EX.PROTOCOL, 421, '4.7.0'),
  AUTH_NOT_AVAILABLE: define('AUTH_NOT_AVAILABLE', EX.PROTOCOL, 503, '5.3.3'),
  AUTH_MECHANISM_UNAVAILABLE: define('AUTH_MECHANISM_UNAVAILABLE', EX.PROTOCOL, 504, '5.3.3'),
  AUTH_ALREADY_DONE: define('AUTH_ALREADY_DONE', EX.PROTOCOL, 503, '5.5.0'),
  AUTH_FAILED: define('AUTH_FAILED', EX.NOPERM, 535, '5.7.0'),
  AUTH_ABORTED: define('AUTH_ABORTED', EX.PROTOCOL, 501, '5.0.0'),
  AUTH_BAD_BASE64: define('AUTH_BAD_BASE64', EX.PROTOCOL, 501, '5.5.4'),
  AUTH_STORE_UNAVAILABLE: define('AUTH_STORE_UNAVAILABLE', EX.CONFIG, 454, '4.7.0'),
  AUTH_USAGE: define('AUTH_USAGE', EX.USAGE, 501, '5.5.4'),
  ACCESS_DENIED: define('ACCESS_DENIED', EX.NOPERM, 550, '5.7.1'),
  ACCESS_RECIPIENT_DISABLED: define('ACCESS_RECIPIENT_DISABLED', EX.NOPERM, 550, '5.2.1'),

  // milter (src/milter): the replies sendmail gives for a filter's verdict or failure (F=T, F=R, F=4),
  // and the classes of a filter's I/O failures (they put the filter into its error state)
  MILTER_TEMPFAIL: define('MILTER_TEMPFAIL', EX.TEMPFAIL, 451, '4.3.2'),
  MILTER_REJECT: define('MILTER_REJECT', EX.UNAVAILABLE, 550, '5.7.1'),
  MILTER_REJECT_MESSAGE: define('MILTER_REJECT_MESSAGE', EX.UNAVAILABLE, 554, '5.7.1'),
  MILTER_SHUTDOWN: define('MILTER_SHUTDOWN', EX.TEMPFAIL, 421, '4.7.0'),
  MILTER_CONNECT_FAILED: define('MILTER_CONNECT_FAILED', EX.TEMPFAIL, 451, '4.3.2'),
  MILTER_TIMEOUT: define('MILTER_TIMEOUT', EX.TEMPFAIL, 451, '4.3.2'),
  MILTER_PROTOCOL: define('MILTER_PROTOCOL', EX.PROTOCOL, 451, '4.3.2'),
} as const;

export type ErrorCode = keyof typeof ERR;

/** An error of a registered class; `code`, `exit`, `smtp` and `status` come from the class. */
export class PosternError extends Error {
  readonly code: ErrorCode;
  readonly exit: Sysexit;
  readonly smtp: number;
  readonly status: string;

  constructor(cls: ErrorClass, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PosternError';
    this.code = cls.code as ErrorCode;
    this.exit = cls.exit;
    this.smtp = cls.smtp;
    this.status = cls.status;
  }

  /** The SMTP reply line for this error, as sendmail words its replies: "550 5.7.1 text". */
  smtpReply(): string {
    return `${this.smtp} ${this.status} ${this.message}`;
  }
}

export function isPosternError(e: unknown, cls?: ErrorClass): e is PosternError {
  return e instanceof PosternError && (cls === undefined || e.code === cls.code);
}
