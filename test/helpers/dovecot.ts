/**
 * Dovecot's LMTP server (Debian's dovecot-core and dovecot-lmtpd) as a test
 * peer, run inside the sandbox in the foreground with a configuration of
 * the test's own: no system service, no IMAP, an LMTP listener on a Unix
 * socket and on 127.0.0.1, mailboxes as maildirs under one directory, and
 * users from a passwd-file whose extra fields give some of them a quota of
 * one byte, so that their delivery fails after the message: 552 5.2.2 by
 * default, 452 4.2.2 with `tempfail` (quota_full_tempfail).  An address the
 * file lacks is refused at RCPT (550 5.1.1).
 */
import { existsSync } from 'node:fs';

export const DOVECOT = '/usr/sbin/dovecot';

export interface DovecotUser {
  readonly name: string;
  /** a one-byte quota: the message is refused after DATA */
  readonly full?: 'permanent' | 'tempfail';
}

export interface DovecotPeer {
  /** where the LMTP Unix socket will be */
  readonly socket: string;
  /** the TCP port on 127.0.0.1 */
  readonly port: number;
  /** the directory holding each user's maildir (`$dir/mail/<user>/new/...`) */
  readonly dir: string;
  /** bash lines that write the configuration, start dovecot in the background and wait for its socket */
  readonly start: string;
}

/** Why Dovecot's LMTP server cannot be a peer here, or null. */
export function dovecotSkipReason(): string | null {
  if (!existsSync(DOVECOT) || !existsSync('/usr/lib/dovecot/lmtp')) return 'Dovecot\'s LMTP server is not installed (Debian packages dovecot-core and dovecot-lmtpd; .ci/run installs them)';
  return null;
}

/** A Dovecot LMTP peer under `dir` (inside the sandbox), listening on `port`. */
export function dovecotPeer(dir: string, port: number, users: readonly DovecotUser[]): DovecotPeer {
  const conf = [
    'protocols = lmtp',
    `base_dir = ${dir}/run`,
    `state_dir = ${dir}/state`,
    `log_path = ${dir}/dovecot.log`,
    'ssl = no',
    'listen = 127.0.0.1',
    'default_internal_user = dovecot',
    'default_login_user = dovenull',
    `mail_location = maildir:${dir}/mail/%u`,
    'first_valid_uid = 1000',
    `passdb {\n  driver = passwd-file\n  args = ${dir}/users\n}`,
    `userdb {\n  driver = passwd-file\n  args = ${dir}/users\n}`,
    `service lmtp {\n  unix_listener lmtp {\n    mode = 0666\n  }\n  inet_listener lmtp {\n    address = 127.0.0.1\n    port = ${port}\n  }\n}`,
    'mail_plugins = quota',
    'plugin {\n  quota = maildir:User quota\n}',
    '',
  ].join('\n');
  // every mailbox belongs to one uid of no account: the LMTP server switches to it to write
  const lines = users.map((u) => {
    const extra = u.full === undefined ? '' : `userdb_quota_rule=*:storage=1B${u.full === 'tempfail' ? ' userdb_quota_full_tempfail=yes' : ''}`;
    return `${u.name}:{PLAIN}unused:2001:2001::${dir}/home::${extra}`;
  });
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const start = `
mkdir -p '${dir}/mail' '${dir}/home' && chmod 755 '${dir}' && chown 2001:2001 '${dir}/mail' '${dir}/home'
echo ${b64(conf)} | base64 -d > '${dir}/dovecot.conf'
echo ${b64(lines.join('\n') + '\n')} | base64 -d > '${dir}/users'
${DOVECOT} -F -c '${dir}/dovecot.conf' 2>> '${dir}/dovecot.err' &
for i in $(seq 100); do [ -S '${dir}/run/lmtp' ] && break; sleep 0.05; done
[ -S '${dir}/run/lmtp' ] || { echo 'dovecot did not start' >&2; cat '${dir}/dovecot.err' '${dir}/dovecot.log' >&2; exit 1; }
`;
  return { socket: `${dir}/run/lmtp`, port, dir, start };
}
