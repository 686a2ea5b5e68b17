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

  // privileges and identities
  PRIV_NOT_TRUSTED: define('PRIV_NOT_TRUSTED', EX.USAGE, 550, '5.7.1'),
  PRIV_NO_PERMISSION: define('PRIV_NO_PERMISSION', EX.NOPERM, 550, '5.7.1'),
  PRIV_STILL_PRIVILEGED: define('PRIV_STILL_PRIVILEGED', EX.SOFTWARE, 421, '4.3.0'),

  // operating system
  OS_CALL_FAILED: define('OS_CALL_FAILED', EX.OSERR, 451, '4.3.0'),
  OS_NO_SPACE: define('OS_NO_SPACE', EX.TEMPFAIL, 452, '4.3.1'),
  INTERNAL: define('INTERNAL', EX.SOFTWARE, 451, '4.3.0'),
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
