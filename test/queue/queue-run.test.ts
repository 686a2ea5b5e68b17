/**
 * Queue runs from the command line, in a sandbox with real users: messages
 * queued by a daemon that does not deliver at once (DeliveryMode=queue) are
 * delivered by `sendmail -qR...` (only the selected ones) and `sendmail -q`,
 * into each recipient's own mailbox; a remote recipient stays queued with
 * its reason; ordinary users are refused as sendmail refuses them.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';

const CONF = join(repoRoot, 'conf');

const SCRIPT = `
set -u
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
W=$(mktemp -d /run/e2e.XXXX); chmod 755 "$W"
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmta
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
for u in alice bob carol; do useradd --create-home --user-group "$u"; done
cp '${CONF}/sendmail.cf' '${CONF}/submit.cf' /etc/mail/
printf 'postmaster: root\\nteam: bob,\\n  carol\\ngone: error:5.1.1:550 Gone away\\n' > /etc/mail/aliases
install -d -o smmsp -g smmsp -m 3733 /var/spool/clientmqueue
export PATH='${join(repoRoot, 'bin')}':$PATH
as() { u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"; }
b64() { base64 -w0 < "$1"; }

sendmail -bd -O DeliveryMode=queue; echo "bd=$?"
printf 'To: bob\\nSubject: for bob\\n\\nhi bob\\n' | as alice sendmail -t -i; echo "s1=$?"
printf 'To: carol\\nSubject: for carol\\n\\nhi carol\\n' | as alice sendmail -t -i; echo "s2=$?"
printf 'To: someone@remote.example\\nSubject: away\\n\\nfar\\n' | as alice sendmail -t -i; echo "s3=$?"
# -odq: an unknown local user is judged on delivery (without it the submission is refused at once, exit 67)
printf 'To: nosuchuser\\nSubject: lost\\n\\nnobody home\\n' | as alice sendmail -t -i -odq; echo "s4=$?"
printf 'To: team\\nSubject: to the team\\n\\nall of you\\n' | as alice sendmail -t -i; echo "s5=$?"
printf 'To: gone\\nSubject: to the departed\\n\\nhello?\\n' | as alice sendmail -t -i; echo "s6=$?"
newaliases > "$W/newaliases" 2>/dev/null; echo "newaliases=$? $(b64 "$W/newaliases")"
kill -TERM "$(head -1 /var/run/sendmail.pid)"
for i in $(seq 200); do [ -e /var/run/sendmail.pid ] || break; sleep 0.05; done

as alice sendmail -q > "$W/alice-q" 2>&1; echo "alice-q=$? $(b64 "$W/alice-q")"
as alice sendmail -Ac -q > "$W/alice-acq" 2>&1; echo "alice-acq=$? $(b64 "$W/alice-acq")"
echo "queued=$(mailq | grep -c '^[0-9A-Za-z]\\{14\\} ')"
sendmail -bP > "$W/bP" 2>&1; echo "bP=$? $(b64 "$W/bP")"
sendmail -qRcarol > "$W/qr" 2>&1; echo "qR=$? $(b64 "$W/qr")"
echo "after-qR=$(ls /var/mail | tr '\\n' ' ')"
sendmail -q > "$W/q" 2>&1; echo "q=$? $(b64 "$W/q")"
echo "after-q=$(ls /var/mail | tr '\\n' ' ')"
mailq > "$W/mailq"; echo "mailq=$(b64 "$W/mailq")"
# quarantine: a held message is left alone by -q and attempted by -qQ (still held afterwards)
sendmail -Qparked -qRsomeone > /dev/null 2>&1; echo "quarantine=$?"
sendmail -q > /dev/null 2> "$W/q-held"; echo "q-held=$? $(grep -c 'to=<someone@remote.example>' "$W/q-held")"
sendmail -qQparked > /dev/null 2> "$W/qq"; echo "qq=$? $(grep -c 'to=<someone@remote.example>' "$W/qq")"
mailq > "$W/mailq-held"; echo "mailq-held=$(b64 "$W/mailq-held")"
echo "bob=$(stat -c '%U %a' /var/mail/bob) $(grep -c '^Subject: for bob$' /var/mail/bob) $(grep -c '^Subject: for carol$' /var/mail/bob) $(grep -c '^Subject: to the team$' /var/mail/bob)"
echo "carol=$(stat -c '%U %a' /var/mail/carol) $(grep -c '^Subject: for carol$' /var/mail/carol) $(grep -c '^Subject: to the team$' /var/mail/carol)"
echo "alice=$(b64 /var/mail/alice)"
`;

test('sendmail -q and -qR deliver queued mail into each user\'s mailbox; users are refused', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(SCRIPT, { hostname: 'mx.example.test', timeoutMs: 90_000 });
  assert.equal(r.code, 0, r.stderr);
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  const text = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString();
  for (const key of ['bd', 's1', 's2', 's3', 's4', 's5', 's6']) assert.equal(line(key), '0', key);
  assert.match(text(line('newaliases').split(' ')[1]), /^\/etc\/mail\/aliases: 3 aliases, longest 25 bytes, \d+ bytes total\n$/);

  const [aliceStatus, aliceOut] = line('alice-q').split(' ');
  assert.equal(aliceStatus, '78', 'the 0700 MTA queue is not an ordinary user\'s');
  assert.equal(text(aliceOut), 'can not chdir(/var/spool/mqueue/): Permission denied\nProgram mode requires special privileges, e.g., root or TrustedUser.\n');
  const [acqStatus, acqOut] = line('alice-acq').split(' ');
  assert.equal(acqStatus, '77', 'submit.cf has restrictqrun');
  assert.equal(text(acqOut), 'You do not have permission to process the queue\n');

  assert.equal(line('queued'), '6');
  assert.equal(line('bP'), `0 ${Buffer.from('/var/spool/mqueue: entries=6\n\t\tTotal requests: 6\n').toString('base64')}`);
  assert.equal(line('qR').split(' ')[0], '0');
  assert.equal(line('after-qR'), 'carol ', '-qRcarol delivers only the message for carol');
  assert.equal(line('q').split(' ')[0], '0');
  assert.equal(line('after-q'), 'alice bob carol ', 'the bounce for nosuchuser went back to alice in the same run');
  const mailq = text(line('mailq'));
  assert.match(mailq, /\(1 request\)\n/);
  assert.match(mailq, /\n {17}\(Deferred: Name server: remote\.example: host name lookup fail\)\n\t+ <someone@remote\.example>\n/);
  assert.equal(line('quarantine'), '0');
  assert.equal(line('q-held'), '0 0', 'a quarantined message is not attempted by a normal run');
  assert.equal(line('qq'), '0 1', '-qQ attempts it');
  assert.match(text(line('mailq-held')), /\n {5}QUARANTINE: parked\n/);
  assert.equal(line('bob'), 'bob 600 1 0 1', 'the alias team reached bob');
  assert.equal(line('carol'), 'carol 600 1 1', 'and carol');
  const bounce = text(line('alice'));
  assert.match(bounce, /^From MAILER-DAEMON /);
  assert.match(bounce, /\nFrom: Mail Delivery Subsystem <MAILER-DAEMON@mx\.example\.test>\n/);
  assert.match(bounce, /\nSubject: Returned mail: see transcript for details\n/);
  assert.match(bounce, /\nContent-Type: multipart\/report; report-type=delivery-status;/);
  assert.match(bounce, /\nAction: failed\nStatus: 5\.1\.1\n/);
  assert.match(bounce, /\nSubject: lost\n/, 'the original comes back');
  assert.equal(bounce.split('\nFrom MAILER-DAEMON ').length, 2, 'two bounces: nosuchuser, and the alias gone');
  assert.match(bounce, /\nSubject: to the departed\n/);
  assert.match(bounce, /Gone away/);
});
