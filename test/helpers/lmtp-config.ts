/**
 * The sendmail.cf of the LMTP tests: Postern's shipped one with the local
 * mailer made an LMTP client of Dovecot's socket, as
 * FEATURE(`local_lmtp', `[IPC]', `FILE /path') makes it, LMTP mailers for
 * the mailertable (TCP to the routed host, and sockets that are missing,
 * stale or in an unsafe place), and the mailertable map declared.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './peers.js';

export const LMTP_PORT = 2424;
export const DOVECOT_DIR = '/run/dovetest';
export const DOVECOT_SOCKET = `${DOVECOT_DIR}/run/lmtp`;

/** The mailertable's source lines (`makemap hash /etc/mail/mailertable < this`). */
export const MAILERTABLE = [
  'lmtp.test\tlmtp:[127.0.0.1]',
  'sock.test\tlmtpsock:localhost',
  'stale.test\tlmtpstale:localhost',
  'closed.test\tlmtp:[127.0.0.5]',
  'unsafe.test\tlmtpunsafe:localhost',
  'scripted.test\tlmtpscripted:localhost',
  'smtp.test\tesmtp:[127.0.0.9]',
  '',
].join('\n');

const FLAGS = 'F=PSXmnz9, E=\\r\\n, L=990, T=DNS/RFC822/SMTP';

export function lmtpSendmailCf(): string {
  const shipped = readFileSync(join(repoRoot, 'conf/sendmail.cf'), 'utf8');
  const local = `Mlocal, P=[IPC], F=lsDFMAw5:/|@qPSXmnz9, T=DNS/RFC822/SMTP, A=FILE ${DOVECOT_SOCKET}`;
  const replaced = shipped.replace(/^Mlocal,[^\n]*(\n[ \t][^\n]*)*/m, local);
  if (replaced === shipped) throw new Error('conf/sendmail.cf has no Mlocal line to replace');
  return `${replaced}
Mlmtp, P=[IPC], ${FLAGS}, A=TCP $h ${LMTP_PORT}
Mlmtpsock, P=[IPC], ${FLAGS}, A=FILE /run/nonexistent/lmtp
Mlmtpstale, P=[IPC], ${FLAGS}, A=FILE /run/stale/lmtp
Mlmtpunsafe, P=[IPC], ${FLAGS}, A=FILE /run/ww/lmtp
Mlmtpscripted, P=[IPC], ${FLAGS}, A=FILE /run/scripted/lmtp
Kmailertable hash -o /etc/mail/mailertable
`;
}
