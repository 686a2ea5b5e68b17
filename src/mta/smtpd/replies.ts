/**
 * SMTP replies as sendmail words them.  usrerr() in sendmail puts the
 * address being worked on (e_to) in front of the text, `<a@b>... `, only for
 * replies 250, 252, 450, 550 and 553, and gives an error without an
 * enhanced status code x.0.0; both rules live here.
 */
import type { ErrorClass } from '../../common/errors.js';
import { MAXSHORTSTR, shortenString } from '../../common/log-format.js';

export interface Reply {
  readonly code: number;
  /** enhanced status code, or '' for none (greeting, HELO/EHLO, 354) */
  readonly status: string;
  readonly text: string;
}

const ADDRESS_PREFIXED = new Set([250, 252, 450, 550, 553]);

/** A reply about an address: `550 5.1.1 <x>... User unknown`. */
export function addressReply(code: number, status: string, address: string | null, text: string): Reply {
  const prefix = address !== null && address !== '' && ADDRESS_PREFIXED.has(code) ? `${shortenString(address, MAXSHORTSTR)}... ` : '';
  return { code, status, text: prefix + text };
}

/** A reply of a registered error class. */
export function classReply(cls: ErrorClass, text: string, address: string | null = null): Reply {
  return addressReply(cls.smtp, cls.status, address, text);
}

/** The lines written for a reply (several when the text has line breaks). */
export function formatReply(r: Reply): string {
  const lines = r.text.split('\n');
  const status = r.status === '' ? '' : `${r.status} `;
  return lines.map((line, i) => `${r.code}${i < lines.length - 1 ? '-' : ' '}${status}${line}\r\n`).join('');
}

/** A multi-line reply: every line but the last with `-`. */
export function formatMultiline(code: number, status: string, lines: readonly string[]): string {
  const s = status === '' ? '' : `${status} `;
  return lines.map((line, i) => `${code}${i < lines.length - 1 ? '-' : ' '}${s}${line}\r\n`).join('');
}

/** A client's words echoed in a reply: at most MAXSHORTSTR, "(suppressed)" under PrivacyOptions=noreflection. */
export function echo(text: string, noReflection: boolean): string {
  return noReflection ? '(suppressed)' : shortenString(text, MAXSHORTSTR);
}
