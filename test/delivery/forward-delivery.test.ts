/**
 * .forward, :include:, programs through smrsh and /file targets, end to end:
 * a daemon queues mail from alice, `sendmail -q` delivers it (runner as
 * smmta, broker as root, each piece as its user), and the test reads back
 * mailboxes, files, program output, the log and the bounces.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { putFile } from '../helpers/scripts.js';

const CONF = join(repoRoot, 'conf');

const LOGIT = '#!/bin/sh\n{ echo "user=$(id -un) cwd=$(pwd) args=$*"; env | sort | tr "\\n" " "; echo; cat; } >> "/run/out/logit.$1"\n';
const EXIT = (n: number) => `#!/bin/sh\ncat > /dev/null\necho "exiting ${n}"\nexit ${n}\n`;

const ALIASES = [
  'postmaster: root',
  'tofile: /run/out/alias-file',
  'later: "|exit75"',
  'nouser: "|exit67"',
  'meta: "|logit x; rm -rf /"',
  'notthere: "|rm -rf /tmp/x"',
  'staff: :include:/home/carol/staff',
  'ops: :include:/etc/mail/ops',
  '',
].join('\n');

const SCRIPT = `
set -u
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
W=$(mktemp -d /run/e2e.XXXX); chmod 755 "$W"
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmta
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin mailnull
for u in alice bob carol dave erin gina harry ivan kim lee; do useradd --create-home --user-group --shell /bin/bash "$u"; done
useradd --create-home --user-group --shell /usr/sbin/nologin frank
cp '${CONF}/sendmail.cf' '${CONF}/submit.cf' /etc/mail/
${putFile('aliases', ALIASES)}
cp "$W/aliases" /etc/mail/aliases
install -d -o smmsp -g smmsp -m 3733 /var/spool/clientmqueue
install -d -m 1777 /run/out
mkdir -p /etc/mail/smrsh
${putFile('logit', LOGIT)}
${putFile('exit75', EXIT(75))}
${putFile('exit67', EXIT(67))}
install -m 755 "$W/logit" /etc/mail/smrsh/logit
install -m 755 "$W/exit75" /etc/mail/smrsh/exit75
install -m 755 "$W/exit67" /etc/mail/smrsh/exit67
put() { u=$1; f=$2; mode=$3; shift 3; printf "$@" > "$f"; chown "$u:$u" "$f"; chmod "$mode" "$f"; }
put bob /home/bob/.forward 644 '# to carol, and a program\\ncarol, "|logit bob"\\n'
put dave /home/dave/.forward 664 'carol\\n'
put erin /home/erin/.forward 644 'carol\\n'; chmod 1777 /home/erin
put carol /home/carol/plan 644 'carol\\n'; ln -s /home/carol/plan /home/ivan/.forward
put frank /home/frank/.forward 644 '"|logit frank"\\n'
put gina /home/gina/.forward 644 ':include:/home/gina/list\\n'
put gina /home/gina/list 644 'harry, /home/gina/saved\\n'
put carol /home/carol/staff 644 '"|logit staff"\\n'
put root /etc/mail/ops 644 '"|logit ops"\\n'
put kim /home/kim/.forward 644 'lee\\n'
put lee /home/lee/.forward 644 'kim\\n'
export PATH='${join(repoRoot, 'bin')}':$PATH
as() { u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"; }
b64() { base64 -w0 < "$1"; }
newaliases > /dev/null 2>&1

sendmail -bd -O DeliveryMode=queue; echo "bd=$?"
for to in bob dave erin ivan frank gina tofile later nouser meta notthere staff ops kim; do
  printf 'To: %s\\nSubject: for %s\\n\\nFrom the start\\nhello %s\\n' "$to" "$to" "$to" | as alice sendmail -t -i; echo "sent-$to=$?"
done
kill -TERM "$(head -1 /var/run/sendmail.pid)"
for i in $(seq 200); do [ -e /var/run/sendmail.pid ] || break; sleep 0.05; done

sendmail -q > "$W/q" 2>&1; echo "q=$?"
echo "log=$(b64 "$W/q")"
echo "mailboxes=$(ls /var/mail | tr '\\n' ' ')"
for u in alice carol dave erin ivan harry kim lee; do echo "mbox-$u=$(b64 /var/mail/$u 2>/dev/null)"; done
echo "logit-bob=$(b64 /run/out/logit.bob 2>/dev/null)"
echo "logit-staff=$(head -1 /run/out/logit.staff 2>/dev/null)"
echo "logit-ops=$(head -1 /run/out/logit.ops 2>/dev/null)"
echo "logit-frank=$([ -e /run/out/logit.frank ] && echo exists || echo absent)"
echo "logit-x=$([ -e /run/out/logit.x ] && echo exists || echo absent)"
echo "saved=$(stat -c '%U %a' /home/gina/saved 2>/dev/null) $(b64 /home/gina/saved 2>/dev/null)"
echo "alias-file=$(stat -c '%U %a' /run/out/alias-file 2>/dev/null) $(b64 /run/out/alias-file 2>/dev/null)"
mailq > "$W/mailq" 2>&1; echo "mailq=$(b64 "$W/mailq")"
`;

test('.forward, :include:, programs via smrsh and files are delivered as sendmail delivers them, each as its user', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(SCRIPT, { hostname: 'mx.example.test', timeoutMs: 110_000, env: { TZ: 'UTC' } });
  assert.equal(r.code, 0, r.stderr);
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  const text = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString();
  assert.equal(line('bd'), '0');
  assert.equal(line('q'), '0');
  const log = text(line('log'));
  const mbox = (u: string) => text(line(`mbox-${u}`));

  // bob's .forward: carol gets it, the program runs as bob, bob keeps no copy
  assert.match(mbox('carol'), /\nSubject: for bob\n/, log);
  const logit = text(line('logit-bob'));
  assert.match(logit, /^user=bob cwd=\/home\/bob args=bob\n/, logit);
  assert.match(logit, /\nPATH=\/usr\/bin:\/bin PWD=\/home\/bob /, 'smrsh\'s environment');
  assert.match(logit, /\nSubject: for bob\n\nFrom the start\nhello bob\n/, 'the message as queued: no From_ line, no escaping');
  assert.doesNotMatch(line('mailboxes'), /\bbob\b/);
  assert.match(log, /to="\|logit bob", ctladdr=bob \(\d+\/\d+\), .*mailer=prog, .*stat=Sent/);

  // unsafe .forward files are ignored with sendmail's reason, and the mail goes to the mailbox
  assert.match(log, /forward \/home\/dave\/\.forward: Group writable file/);
  assert.match(log, /forward \/home\/erin\/\.forward: World writable directory/);
  assert.match(log, /forward \/home\/ivan\/\.forward: Permission denied/);
  for (const u of ['dave', 'erin', 'ivan']) {
    assert.match(mbox(u), new RegExp(`\\nSubject: for ${u}\\n`), u);
    assert.doesNotMatch(mbox('carol'), new RegExp(`Subject: for ${u}\\n`), `${u}'s unsafe .forward was not followed`);
  }

  // frank's shell is not in /etc/shells: no program for him
  assert.equal(line('logit-frank'), 'absent');
  const bounces = mbox('alice');
  assert.match(bounces, /User frank@mx\.example\.test doesn't have a valid shell for mailing to programs/);

  // gina's .forward includes a list: harry and a file, written as gina in sendmail's file format
  assert.match(mbox('harry'), /\nSubject: for gina\n/);
  const [owner, mode, saved] = line('saved').split(' ');
  assert.equal(`${owner} ${mode}`, 'gina 600');
  // the envelope sender as the queue has it (the mailbox's From_ line shows the same)
  assert.match(text(saved), /^From alice(@mx\.example\.test)? [A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\nReturn-Path: <alice(@mx\.example\.test)?>\n/);
  assert.match(text(saved), /\nSubject: for gina\n\n>From the start\nhello gina\n\n$/);

  // an alias to a file: written as DefaultUser (mailnull)
  const [aOwner, aMode, aliasFile] = line('alias-file').split(' ');
  assert.equal(`${aOwner} ${aMode}`, 'mailnull 600');
  assert.match(text(aliasFile), /\nSubject: for tofile\n/);

  // programs' exit statuses: 75 defers (still queued), 67 bounces as User unknown; smrsh refusals bounce
  const mailq = text(line('mailq'));
  assert.match(mailq, /Total requests: 1\n/, mailq);
  assert.match(mailq, /\(Deferred: Deferred/);
  assert.match(bounces, /Subject: for nouser\n/);
  assert.match(bounces, /Status: 5\.1\.1\n/);
  assert.match(bounces, /smrsh: cannot use ; in command/);
  assert.match(bounces, /smrsh: "rm" not available for sendmail programs \(stat failed\)/);
  assert.equal(line('logit-x'), 'absent', 'the refused command did not run at all');
  // :include: lists from the aliases file: their programs run as the list's owner; root's lists as DefaultUser
  assert.match(line('logit-staff'), /^user=carol cwd=\/home\/carol args=staff$/);
  assert.match(line('logit-ops'), /^user=mailnull cwd=\/ args=ops$/);

  // kim forwards to lee, lee to kim: as with the real sendmail 8.17 (measured, the same .forward files),
  // lee's list only loops back, so lee keeps the mail, and so does kim, the user the loop came back to
  assert.match(mbox('lee'), /\nSubject: for kim\n/, log);
  assert.equal(mbox('kim').match(/\nSubject: for kim\n/g)?.length, 1, log);

  assert.match(log, /to="\|exit67", ctladdr=mailnull \(\d+\/\d+\), .*mailer=prog, .*dsn=5\.1\.1, stat=User unknown/);
});

/**
 * kim and lee both on the envelope, forwarding to each other: the first run
 * finds the loop and ends it (kim's mailbox and lee's); when those
 * deliveries are deferred (here the spool is unsafe in the first run), a
 * later run must end the loop the same way.  It used to forget that lee was
 * first reached through kim, replace lee by its .forward, and lose lee's copy.
 */
const MUTUAL_LATER = `
set -u
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmta
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
for u in alice kim lee; do useradd --create-home --user-group --shell /bin/bash "$u"; done
cp '${CONF}/sendmail.cf' '${CONF}/submit.cf' '${CONF}/aliases' /etc/mail/
install -d -o smmsp -g smmsp -m 3733 /var/spool/clientmqueue
printf 'lee\\n' > /home/kim/.forward; chown kim:kim /home/kim/.forward
printf 'kim\\n' > /home/lee/.forward; chown lee:lee /home/lee/.forward
export PATH='${join(repoRoot, 'bin')}':$PATH
newaliases > /dev/null 2>&1
sendmail -bd -O DeliveryMode=queue; echo "bd=$?"
printf 'To: kim, lee\\nSubject: both\\n\\nhello\\n' | setpriv --reuid=alice --regid=alice --init-groups -- sendmail -t -i; echo "sent=$?"
kill -TERM "$(head -1 /var/run/sendmail.pid)"
for i in $(seq 200); do [ -e /var/run/sendmail.pid ] || break; sleep 0.05; done
mode=$(stat -c %a /var/mail); chmod 0777 /var/mail
sendmail -q > /dev/null 2>&1; echo "first=$?"
echo "after-first=$(cat /var/mail/kim /var/mail/lee 2>/dev/null | grep -c '^Subject: both')"
chmod "$mode" /var/mail
sendmail -qSalice > /dev/null 2>&1; echo "second=$?"
echo "kim=$(grep -c '^Subject: both' /var/mail/kim 2>/dev/null)"
echo "lee=$(grep -c '^Subject: both' /var/mail/lee 2>/dev/null)"
echo "queued=$(mailq | grep -c '^[0-9A-Za-z]\\{14\\}')"
`;

test('kim and lee forwarding to each other, deferred in the first run: a later run still delivers one copy to each', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(MUTUAL_LATER, { hostname: 'mx.example.test', timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  assert.deepEqual([line('bd'), line('sent'), line('first'), line('second')], ['0', '0', '0', '0'], r.stdout);
  assert.equal(line('after-first'), '0', 'the unsafe spool deferred every mailbox delivery of the first run');
  assert.equal(line('kim'), '1', r.stdout);
  assert.equal(line('lee'), '1', r.stdout);
  assert.equal(line('queued'), '0', r.stdout);
});
