/**
 * Pieces of the sandboxed end-to-end tests: small programs run inside the
 * sandbox as a given user, and a way to hand them over without a
 * here-document (whose terminator could appear in the text).
 */
import { distImport } from './sandbox.js';

/** A bash line that writes `text` to "$W/name" (W: the test's work directory). */
export function putFile(name: string, text: string): string {
  return `echo ${Buffer.from(text).toString('base64')} | base64 -d > "$W/${name}"`;
}

/**
 * The MSP's deliver mode as bin/sendmail runs it, as a script: the command
 * line from argv, the configuration `submitCf`, the message on stdin, then
 * `finish`, which has `invocation`, `config`, `callerIdentity` and
 * `submitFromStandardInput` at hand.
 */
export function mspScript(submitCf: string, finish: string): string {
  return `
const { parseCommandLine } = await import(${JSON.stringify(distImport('src/msp/cmdline/parse.js'))});
const { checkOptionSetting, commandLineOptions } = await import(${JSON.stringify(distImport('src/msp/command-options.js'))});
const { loadConfig } = await import(${JSON.stringify(distImport('src/config/index.js'))});
const { callerIdentity } = await import(${JSON.stringify(distImport('src/msp/permissions.js'))});
const { submitFromStandardInput } = await import(${JSON.stringify(distImport('src/msp/submit.js'))});
const { invocation } = parseCommandLine('sendmail', process.argv.slice(2), checkOptionSetting);
const { config } = loadConfig(${JSON.stringify(submitCf)}, { commandLineOptions: commandLineOptions(invocation.options) });
${finish}`;
}

/** mspScript() with /etc/mail/submit.cf: prints the lines the MSP would print, as JSON, and exits with its status. */
export const MSP_SCRIPT = mspScript(
  '/etc/mail/submit.cf',
  `const lines = [];
process.exitCode = await submitFromStandardInput(invocation, config, callerIdentity(), { stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) });
process.stdout.write(JSON.stringify(lines));
`,
);

/**
 * The start of a sandboxed daemon test: the host's name, a work directory $W,
 * the daemon's users (smmta, smmsp), alice and bob, Postern's shipped
 * sendmail.cf, submit.cf and aliases in /etc/mail, the client queue as
 * install-system makes it, bin/ first on PATH, and the helpers `as USER CMD`
 * and `b64 FILE`.
 */
export function daemonSandboxPreamble(repoRoot: string): string {
  const conf = `${repoRoot}/conf`;
  return `
set -u
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
W=$(mktemp -d /run/e2e.XXXX); chmod 755 "$W"
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmta
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
useradd --create-home --user-group --comment 'Alice Liddell' alice
useradd --create-home --user-group bob
cp '${conf}/sendmail.cf' '${conf}/submit.cf' '${conf}/aliases' /etc/mail/
install -d -o smmsp -g smmsp -m 3733 /var/spool/clientmqueue
export PATH='${repoRoot}/bin':$PATH
as() { u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"; }
b64() { base64 -w0 < "$1"; }
queued() { node '${repoRoot}/dist/test/helpers/print-queued.js' /var/spool/mqueue; }
`;
}

/**
 * The start of the real sendmail's side of a comparison test, before its
 * MTA runs: the host's name, a work directory $W (`work`, holding the real
 * binary as `sendmail` with its submit.cf and sendmail.cf, which go to
 * /etc/mail), the users smmsp, alice and bob, both queues as Debian makes
 * them, the binary set-group-ID smmsp as $SENDMAIL under /run (the
 * sandbox's own: /usr/local/sbin is the host's), the helpers `as USER CMD`
 * and `b64 FILE`, and /tmp as the working directory.
 */
export function realSendmailPreamble(work: string): string {
  return `
set -u
W=${work}; chmod 755 "$W"
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
cp "$W/submit.cf" "$W/sendmail.cf" /etc/mail/
printf 'hosts files\\naliases files\\n' > /etc/mail/service.switch
touch /etc/mail/local-host-names /etc/mail/relay-domains /etc/mail/aliases
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
useradd --create-home --user-group alice
useradd --create-home --user-group bob
mkdir -p /var/spool/clientmqueue /var/spool/mqueue; chown smmsp:smmsp /var/spool/clientmqueue; chmod 2770 /var/spool/clientmqueue; chmod 700 /var/spool/mqueue
mkdir -p /run/smbin; cp "$W/sendmail" /run/smbin/sendmail; chgrp smmsp /run/smbin/sendmail; chmod 2755 /run/smbin/sendmail
SENDMAIL=/run/smbin/sendmail
as() { u=$1; shift; if [ "$u" = root ]; then "$@"; else setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"; fi; }
b64() { base64 -w0 < "$1"; }
cd /tmp
`;
}

/**
 * A /dev/log receiver (python3 receiver.py LOG READY): binds the datagram
 * socket, says it is ready by creating READY, and appends each message to
 * LOG as one line.
 */
export const SYSLOG_RECEIVER = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('/dev/log')
os.chmod('/dev/log', 0o666)
open(sys.argv[2], 'w').close()
with open(sys.argv[1], 'ab', buffering=0) as f:
    while True:
        data = s.recv(65536)
        f.write(data.replace(b'\\n', b' ').rstrip(b'\\0') + b'\\n')
`;
