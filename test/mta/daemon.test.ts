/**
 * The daemon as an administrator runs it, in a sandbox with real users:
 * `sendmail -bd -q1h -L sm-mta` detaches and writes sendmail's pid file;
 * its workers run as smmta with no groups and no inherited files; alice's
 * `sendmail -t -i` reaches the queue through the submission socket; a second
 * daemon is refused; SIGHUP with a broken sendmail.cf keeps the old
 * configuration; SIGTERM removes the pid file and the socket; with the daemon
 * down alice's message waits in the client queue, where bob can neither read,
 * list nor remove it, until the sm-msp-queue runner hands it over.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { repoRoot } from '../helpers/peers.js';
import { daemonSandboxPreamble } from '../helpers/scripts.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';

const CONF = join(repoRoot, 'conf');

const SCRIPT = `
${daemonSandboxPreamble(repoRoot)}
SLOW_SESSION='
import os, smtplib, sys, time
s = smtplib.SMTP("127.0.0.1", 25, local_hostname="client.example.org")
s.ehlo()
s.mail("carol@example.org")
open(sys.argv[1] + ".ready", "w").close()
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
s.rcpt("bob@mx.example.test")
code, _ = s.data("Subject: across a reload\\r\\n\\r\\nstill here\\r\\n")
s.quit()
print(code)
' 
SMTP_CLIENT='
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example.org")
code, features = s.ehlo()
offers = ("pipelining" in s.esmtp_features, "etrn" in s.esmtp_features)
refused = s.sendmail("carol@example.org", ["bob@mx.example.test"], "Subject: by smtp\\r\\n\\r\\nhello\\r\\n")
s.quit()
print(code, *offers, refused == {})
' 
gone() { for i in $(seq 200); do [ -e /proc/$1 ] || return 0; sleep 0.05; done; return 1; }

# A: -bd detaches, once it listens
sendmail -bd -q1h -L sm-mta > "$W/bd" 2>&1; echo "bd=$? $(b64 "$W/bd")"
echo "pidfile=$(b64 /var/run/sendmail.pid)"
MASTER=$(head -1 /var/run/sendmail.pid)
echo "master=$(grep -E '^Uid:' /proc/$MASTER/status | awk '{print $2}')"
creds() { grep -E '^(Uid|Gid|Groups):' /proc/$1/status | tr -s '\\t ' ' ' | tr '\\n' ';'; }
echo "runner-creds=$(creds "$(pgrep -P "$MASTER" -f '^postern-runner')")"
echo "broker-creds=$(creds "$(pgrep -P "$MASTER" -f '^postern-broker')")"
for w in $(pgrep -P "$MASTER" -f '^postern-smtpd'); do
  echo "worker=$(creds "$w")"
  echo "worker-files=$(for f in /proc/$w/fd/*; do readlink "$f"; done | grep '^/' | grep -v -e '^/dev/null$' -e '^/var/spool/mqueue/' | tr '\\n' ' ')"
done
echo "socket=$(stat -c '%a %U' /run/postern/submit.sock)"
printf 'To: bob\\nSubject: one\\n\\nfirst\\n' | as alice sendmail -t -i; echo "submit1=$?"
# SMTP on 25 (MTA) and 587 (MSA), from Python's smtplib, as an unprivileged user
for port in 25 587; do
  echo "smtp$port=$(as bob /usr/bin/python3 -c "$SMTP_CLIENT" $port)"
done
sendmail -bd > "$W/bd2" 2>&1; echo "bd2=$? $(b64 "$W/bd2")"
kill -TERM "$MASTER"; gone "$MASTER"; echo "stopped=$?"
echo "left=$(ls /var/run/sendmail.pid /run/postern/submit.sock 2>/dev/null | wc -l)"

# B: -bD in the foreground; SIGHUP with a broken sendmail.cf keeps the old configuration
sendmail -bD -L sm-mta 2> "$W/daemon.log" & MASTER=$!
for i in $(seq 200); do [ -S /run/postern/submit.sock ] && [ -e /var/run/sendmail.pid ] && break; sleep 0.05; done
echo 'Zjunk' >> /etc/mail/sendmail.cf
kill -HUP "$MASTER"
for i in $(seq 200); do grep -q 'keeps the old one' "$W/daemon.log" && break; sleep 0.05; done
printf 'To: bob\\nSubject: two\\n\\nsecond\\n' | as alice sendmail -t -i; echo "submit2=$?"
cp '${CONF}/sendmail.cf' /etc/mail/sendmail.cf
# a good SIGHUP while a session is open: the session finishes on its old worker, new ones start
before=$(pgrep -P "$MASTER" -f '^postern-smtpd' | sort | tr '\\n' ' ')
/usr/bin/python3 -c "$SLOW_SESSION" /run/hup-go > "$W/slow" 2>&1 & SLOW=$!
for i in $(seq 100); do [ -e /run/hup-go.ready ] && break; sleep 0.05; done
kill -HUP "$MASTER"
for i in $(seq 200); do grep -q 'configuration reloaded' "$W/daemon.log" && break; sleep 0.05; done
touch /run/hup-go; wait $SLOW; echo "slow=$? $(cat "$W/slow")"
after=$(pgrep -P "$MASTER" -f '^postern-smtpd' | sort | tr '\\n' ' ')
echo "replaced=$([ "$before" != "$after" ] && echo yes)"
kill -TERM "$MASTER"; wait "$MASTER"; echo "bD=$?"
echo "log=$(b64 "$W/daemon.log")"

# C: no daemon: the client queue keeps alice's message, out of bob's reach
printf 'To: bob\\nSubject: three\\n\\nthird\\n' | as alice sendmail -t -i; echo "submit3=$?"
F=$(find /var/spool/clientmqueue -type f)
echo "cq=$(stat -c '%a %U %G' $F)"
as bob ls /var/spool/clientmqueue > /dev/null 2>&1; echo "bob-list=$?"
as bob cat "$F" > /dev/null 2>&1; echo "bob-read=$?"
as bob rm -f "$F" 2>/dev/null; echo "bob-remove=$? $(test -e "$F" && echo kept)"
as bob sh -c "echo x >> '$F'" 2>/dev/null; echo "bob-append=$?"
mailq -Ac > "$W/cq-list" 2>&1; echo "cq-list=$? $(b64 "$W/cq-list")"
as bob mailq -Ac > "$W/cq-list-bob" 2>&1; echo "cq-list-bob=$?"

# D: the daemon again; the sm-msp-queue runner hands the message over as alice's
sendmail -bd -L sm-mta; echo "bd3=$?"
sendmail -L sm-msp-queue -Ac -q; echo "runner=$?"
echo "cq-left=$(find /var/spool/clientmqueue -type f | wc -l)"
# the daemon's runner delivers at once (DeliveryMode=background): wait for the queue to empty
for i in $(seq 200); do mailq | grep -q 'is empty' && break; sleep 0.05; done
mailq > "$W/mailq"; echo "mailq=$(b64 "$W/mailq")"
echo "mailbox=$(stat -c '%U %a' /var/mail/bob) $(grep -c '^From ' /var/mail/bob) $(grep -c '^From carol@example.org ' /var/mail/bob)"
kill -TERM "$(head -1 /var/run/sendmail.pid)"
`;

test('sendmail -bd: workers without privilege, submissions through the socket or the client queue, SIGHUP and SIGTERM', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(SCRIPT, { hostname: 'mx.example.test', timeoutMs: 90_000 });
  assert.equal(r.code, 0, r.stderr);
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  const lines = (key: string) => r.stdout.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  const text = (b64: string) => Buffer.from(b64, 'base64').toString();

  assert.equal(line('bd'), '0 ', 'sendmail -bd returns 0 once the daemon listens, printing nothing');
  const [pid, commandLine] = text(line('pidfile')).split('\n');
  assert.match(pid!, /^\d+$/);
  assert.equal(commandLine, 'sendmail -bd -q1h -L sm-mta');
  assert.equal(line('master'), '0');
  const workers = lines('worker');
  assert.ok(workers.length >= 1, r.stdout);
  const smmta = /Uid: (\d+) \1 \1 \1;Gid: (\d+) \2 \2 \2;Groups: ;/;
  for (const w of workers) {
    assert.match(w, smmta, 'every worker runs as smmta, with no supplementary group');
    assert.notEqual(smmta.exec(w)![1], '0');
  }
  assert.match(line('runner-creds'), smmta, 'the queue runner too');
  assert.match(line('broker-creds'), /^Uid: 0 0 0 0;/, 'only the delivery broker keeps root');
  for (const files of lines('worker-files')) assert.equal(files, '', 'no worker holds a file it did not open for its own work');
  assert.equal(line('socket'), '666 root');
  assert.equal(line('submit1'), '0');
  assert.equal(line('smtp25'), '250 True True True', 'the MTA port offers ETRN');
  assert.equal(line('smtp587'), '250 True False True', 'the MSA port (M=E) does not');
  const [bd2Status, bd2Out] = line('bd2').split(' ');
  assert.equal(bd2Status, '71', 'a second daemon is refused');
  assert.equal(text(bd2Out ?? ''), '451 4.0.0 opendaemonsocket: daemon MTA: cannot bind: Address already in use\r\n', 'sendmail\'s words');
  assert.equal(line('stopped'), '0');
  assert.equal(line('left'), '0', 'SIGTERM removes the pid file and the submission socket');

  assert.equal(line('submit2'), '0', 'the daemon still accepts after a refused SIGHUP');
  assert.equal(line('slow'), '0 250', 'a session open across a good SIGHUP still delivers its message');
  assert.equal(line('replaced'), 'yes', 'the workers were replaced');
  assert.equal(line('bD'), '0');
  const log = text(line('log'));
  assert.match(log, /starting daemon \(Postern [\d.]+\): SMTP/);
  assert.match(log, /SIGHUP: .*line \d+: unknown configuration line "Zjunk"/);
  assert.match(log, /the new configuration was refused; the daemon keeps the old one/);
  assert.match(log, /stopping daemon, reason=signal \(SIGTERM\)/);
  assert.match(log, /configuration reloaded/);
  assert.match(log, /: to=<bob@mx\.example\.test>, ctladdr=alice \(\d+\/\d+\), delay=00:00:0\d, xdelay=00:00:0\d, mailer=local, pri=\d+, dsn=2\.1\.5, stat=Sent\n/);

  assert.equal(line('submit3'), '0', 'with the daemon down, the client queue takes the message');
  assert.equal(line('cq'), '640 alice smmsp');
  assert.notEqual(line('bob-list'), '0');
  assert.notEqual(line('bob-read'), '0');
  assert.equal(line('bob-remove').split(' ')[1], 'kept');
  assert.notEqual(line('bob-append'), '0');
  const [cqStatus, cqText] = line('cq-list').split(' ');
  assert.equal(cqStatus, '0');
  assert.match(text(cqText ?? ''), /^\t\t\/var\/spool\/clientmqueue \(1 request\)\n-----Q-ID----- [^\n]+\n[0-9A-Za-z]{8}\d{6} +6 \w{3} \w{3} [ \d]\d \d\d:\d\d alice\n\t+ bob\n\t\tTotal requests: 1\n$/);
  assert.equal(line('cq-list-bob'), '78', 'users cannot list the client queue');

  assert.equal(line('bd3'), '0');
  assert.equal(line('runner'), '0');
  assert.equal(line('cq-left'), '0');
  assert.equal(text(line('mailq')), '/var/spool/mqueue is empty\n\t\tTotal requests: 0\n');
  assert.equal(line('mailbox'), 'bob 600 6 3', 'three messages from alice, three from carol by SMTP, in bob\'s own mailbox');
});

const NPM_START = `
set -u
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
useradd --create-home --user-group alice
chown alice: '${join(repoRoot, 'var')}'
cd '${repoRoot}'
as() { u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"; }
as alice '${process.execPath}' scripts/start.mjs > /run/start.out 2>&1 & START=$!
for i in $(seq 200); do [ -S var/run/submit.sock ] && [ -e var/run/sendmail.pid ] && break; sleep 0.05; done
echo "owner=$(stat -c '%U %a' var/spool/mqueue)"
printf 'To: alice\\nSubject: try\\n\\nhello\\n' | as alice bin/sendmail -C var/etc/submit.cf -t -i; echo "submit=$?"
as alice bin/mailq -C var/etc/sendmail.cf > /run/mailq 2>&1; echo "mailq=$? $(base64 -w0 < /run/mailq)"
# Ctrl-C: the terminal sends SIGINT to the daemon (and to npm, which waits for it)
kill -INT "$(head -1 var/run/sendmail.pid)"; wait "$START"; echo "start=$?"
echo "pidfile=$(ls var/run/sendmail.pid 2>/dev/null | wc -l)"
echo "out=$(base64 -w0 < /run/start.out)"
`;

test('npm start as an ordinary user: a private daemon on 127.0.0.1 with its spool under var/, stopped by Ctrl-C', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(NPM_START, { hostname: 'mx.example.test', tmpfs: [join(repoRoot, 'var')], timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  assert.equal(line('owner'), 'alice 700');
  assert.equal(line('submit'), '0');
  const [mailqStatus, mailqText] = line('mailq').split(' ');
  assert.equal(mailqStatus, '0');
  // an ordinary user's daemon cannot write /var/mail: the message waits, saying why
  assert.match(Buffer.from(mailqText ?? '', 'base64').toString(), /\(1 request\)\n[\s\S]* <alice@mx\.example\.test>\n {17}\(Deferred: [^\n]*\)\n\t+ <alice@mx\.example\.test>\n\t\tTotal requests: 1\n$/);
  assert.equal(line('start'), '0', Buffer.from(line('out'), 'base64').toString());
  assert.equal(line('pidfile'), '0');
  assert.match(Buffer.from(line('out'), 'base64').toString(), /listening on 127\.0\.0\.1:2525 \(MTA\) and 127\.0\.0\.1:2587 \(MSA\)/);
});
