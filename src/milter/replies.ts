/**
 * The SMTP replies a filter's verdict turns into, worded as sendmail
 * 8.17's srvrsmtp.c words them, and the checks milter.c makes on a
 * filter's own reply text (SMFIR_REPLYCODE) before it uses it.
 */
import { ERR } from '../common/errors.js';

/** An SMTP reply, in the shape the session's replies take (text lines joined by "\n"). */
export interface MilterReply {
  readonly code: number;
  /** enhanced status code; sendmail's usrerr() gives x.0.0 to a reply without one */
  readonly status: string;
  readonly text: string;
}

/** MSG_TEMPFAIL */
export const TEMPFAIL_TEXT = 'Please try again later';
export const REJECT_TEXT = 'Command rejected';

/**
 * MILTER_CHECK_REPLYCODE: the filter's text is used only when it is one
 * NUL-terminated string starting with 4xx or 5xx and has no lone `%`
 * (sendmail prints it with printf; `%%` stands for `%`); anything else is
 * replaced by the command's default rejection.
 */
export function checkReplyCode(data: Buffer, fallback: string): string {
  const nul = data.indexOf(0);
  if (nul !== data.length - 1 || data.length < 4) return fallback;
  const text = data.toString('latin1', 0, nul);
  if (!/^[45][0-9][0-9]/.test(text)) return fallback;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%') {
      if (text[i + 1] !== '%') return fallback;
      i++;
    }
  }
  return text;
}

/**
 * A checked reply text as the session writes it: the code, the enhanced
 * status of the first line (x.0.0 when it has none, as usrerr() adds), and
 * the lines' texts.  A multi-line reply (smfi_setmlreply) keeps its lines.
 */
export function parseReplyText(response: string): MilterReply {
  const lines = response.replace(/%%/g, '%').split(/\r?\n/).filter((l, i, all) => l !== '' || i < all.length - 1);
  const code = Number(response.slice(0, 3));
  let status = '';
  const texts = lines.map((line, i) => {
    let rest = /^[0-9]{3}[ -]?/.test(line) ? line.replace(/^[0-9]{3}[ -]?/, '') : line;
    const esc = /^([245]\.[0-9]{1,3}\.[0-9]{1,3})(?: |$)/.exec(rest);
    if (esc) {
      if (i === 0) status = esc[1]!;
      if (esc[1] === status) rest = rest.slice(esc[0].length);
    }
    return rest;
  });
  if (status === '') status = `${response[0]}.0.0`;
  return { code, status, text: texts.join('\n') };
}

export function tempfailReply(): MilterReply {
  return { code: ERR.MILTER_TEMPFAIL.smtp, status: ERR.MILTER_TEMPFAIL.status, text: TEMPFAIL_TEXT };
}

/** 550 5.7.1 Command rejected (MAIL, RCPT, DATA, unknown commands). */
export function rejectReply(): MilterReply {
  return { code: ERR.MILTER_REJECT.smtp, status: ERR.MILTER_REJECT.status, text: REJECT_TEXT };
}

/** 554 5.7.1 Command rejected (end of message). */
export function rejectMessageReply(): MilterReply {
  return { code: ERR.MILTER_REJECT_MESSAGE.smtp, status: ERR.MILTER_REJECT_MESSAGE.status, text: REJECT_TEXT };
}

/** 421 4.7.0 <host> closing connection (F=4, connect, DATA, end of message). */
export function shutdownReply(hostname: string): MilterReply {
  return { code: ERR.MILTER_SHUTDOWN.smtp, status: ERR.MILTER_SHUTDOWN.status, text: `${hostname} closing connection` };
}

/** MILTER_REPLY's shutdown for MAIL, RCPT and unknown commands: 421 4.3.0 closing connection. */
export function commandShutdownReply(): MilterReply {
  return { code: 421, status: '4.3.0', text: 'closing connection' };
}

/** The reply text as one line for logs ("550 5.7.1 Command rejected"). */
export function replyLine(r: MilterReply): string {
  return `${r.code} ${r.status} ${r.text.split('\n').join(' ')}`;
}
