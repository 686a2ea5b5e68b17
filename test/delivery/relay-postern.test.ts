/**
 * Postern relaying to a second Postern on loopback, in one sandbox, each
 * daemon with its own sendmail.cf, addresses, queue, sockets and log label:
 *
 *   A  sendmail -bd, 127.0.0.1:25/587, $j mx.example.test (alice submits here)
 *   B  sendmail -C /etc/mail-b/sendmail.cf -bd, 127.0.0.2:25 (MTA, no AUTH) and
 *      127.0.0.2:587 (MSA, M=Ea: AUTH required, PLAIN/LOGIN only under TLS),
 *      $j second.test, a self-signed certificate, no DSN (PrivacyOptions noreceipts),
 *      its AUTH credentials made by `npm run passwd`.
 *
 * dnsmasq gives second.test an MX (mx.second.test, 127.0.0.2).  A's access
 * map requires encryption to it (TLS_Srv:mx.second.test ENCR:128); A's
 * mailertable sends viasubmit.test and badauth.test to B's MSA through the
 * relay mailer, whose A=TCP $h 587 names the port; A's authinfo map (made
 * with makemap) holds the credentials.  Three messages from alice:
 *
 *   1. bob@second.test by MX over STARTTLS, NOTIFY=SUCCESS: in B's mailbox
 *      for bob, byte for byte, and alice gets a "relayed" notice, B having no DSN;
 *   2. carol@viasubmit.test to B's MSA with AUTH PLAIN: in carol's mailbox;
 *   3. dave@badauth.test with a wrong password: B refuses AUTH, then MAIL
 *      (530), and alice gets the bounce;
 *   4. nosuchuser@second.test, whom B does not know: B refuses the RCPT (550
 *      5.1.1), and alice gets the bounce.
 *
 * Each bounce carries the session's transcript as sendmail writes it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import test from 'node:test';
import { repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { daemonSandboxPreamble, putFile, SYSLOG_RECEIVER } from '../helpers/scripts.js';
import { mboxMessages, transcriptOf } from '../helpers/reports.js';

const PASSWORD = 'b-relay-pw-7';

const LONG = 'x'.repeat(700) + ' end of a long line';
/** The body of message 1: dots, 8-bit text, trailing blanks and a long line must all arrive as they left. */
const BODY = ['first line', '.a line that starts with a dot', '..two dots', '.', 'Ünïcödé 8-bit text: àéîõü ß €', 'trailing blanks   ', LONG, 'last line'].join('\n') + '\n';
const MESSAGE_1 = `To: bob@second.test\nSubject: relay e2e\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n${BODY}`;
const MESSAGE_2 = 'To: carol@viasubmit.test\nSubject: via the MSA\n\nauthenticated relay\n';
const MESSAGE_3 = 'To: dave@badauth.test\nSubject: wrong password\n\nthis one comes back\n';
const MESSAGE_4 = 'To: nosuchuser@second.test\nSubject: nobody there\n\nthis one comes back too\n';

const DNS_RECORDS = ['--mx-host=second.test,mx.second.test,10', '--host-record=mx.second.test,127.0.0.2', '--host-record=mx-bad.second.test,127.0.0.2'];

const MAKE_CERT = `
const { ensureSelfSignedCertificate } = await import(${JSON.stringify(`${repoRoot}/dist/src/mta/tls/self-signed.js`)});
const [cert, key, uid, gid] = process.argv.slice(2);
ensureSelfSignedCertificate(cert, key, 'mx.second.test', { keyOwner: { uid: Number(uid), gid: Number(gid) } });
`;

const SCRIPT = `
${daemonSandboxPreamble(repoRoot)}
set -e
useradd --create-home --user-group carol
useradd --create-home --user-group dave
${putFile('message1', MESSAGE_1)}
${putFile('message2', MESSAGE_2)}
${putFile('message3', MESSAGE_3)}
${putFile('message4', MESSAGE_4)}
${putFile('syslog.py', SYSLOG_RECEIVER)}
${putFile('cert.mjs', MAKE_CERT)}
/usr/bin/python3 "$W/syslog.py" "$W/syslog" "$W/syslog.ready" &
for i in $(seq 100); do [ -e "$W/syslog.ready" ] && break; sleep 0.05; done

# DNS: second.test's MX, from dnsmasq on 127.0.0.1
rm -f /etc/resolv.conf; echo 'nameserver 127.0.0.1' > /etc/resolv.conf
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \\
  --user=nobody --group=nogroup --pid-file= --local=/test/ ${DNS_RECORDS.join(' ')} 2>"$W/dnsmasq.log" &

# B: its own configuration, addresses, queue and sockets
mkdir -p /etc/mail-b/tls
sed -e 's|^O DaemonPortOptions=Name=MTA$|O DaemonPortOptions=Name=MTA, Addr=127.0.0.2, Port=25, M=A|' \\
    -e 's|^O DaemonPortOptions=Port=587, Name=MSA, M=E$|O DaemonPortOptions=Name=MSA, Addr=127.0.0.2, Port=587, M=Ea|' \\
    -e 's|^O QueueDirectory=.*|O QueueDirectory=/var/spool/mqueue-b|' \\
    -e 's|^O PidFile=.*|O PidFile=/run/sendmail-b.pid|' \\
    -e 's|^O ServerCertFile=.*|O ServerCertFile=/etc/mail-b/tls/b.crt|' \\
    -e 's|^O ServerKeyFile=.*|O ServerKeyFile=/etc/mail-b/tls/b.key|' \\
    -e 's|^O PrivacyOptions=.*|O PrivacyOptions=authwarnings,noreceipts|' \\
    -e 's|^O LogLevel=9$|O LogLevel=10|' \\
    -e 's|^Kaccess .*|Kaccess hash -o /etc/mail-b/access|' \\
    -e 's|^Cw localhost$|Cw localhost second.test viasubmit.test badauth.test\\nDjsecond.test|' \\
    /etc/mail/sendmail.cf > /etc/mail-b/sendmail.cf
sed -e 's|^D{SubmitSocket}.*|D{SubmitSocket}/run/postern-b/submit.sock|' /etc/mail/submit.cf > /etc/mail-b/submit.cf
node "$W/cert.mjs" /etc/mail-b/tls/b.crt /etc/mail-b/tls/b.key "$(id -u smmta)" "$(id -g smmta)"
# the AUTH credential file, as an administrator makes it (B's RunAsUser may read it)
(cd '${repoRoot}' && printf '%s\\n' '${PASSWORD}' | HOME=/run/npm-home npm_config_update_notifier=false npm run --silent passwd -- -C /etc/mail-b/sendmail.cf add relayuser)
echo "authfile=$(stat -c '%U:%G %a' /etc/mail/postern-auth)"

# A: the shipped configuration on 127.0.0.1, with a mailertable, an authinfo map, and port 587 for the relay mailer
sed -i -e 's|^O DaemonPortOptions=Name=MTA$|O DaemonPortOptions=Name=MTA, Addr=127.0.0.1|' \\
    -e 's|^O DaemonPortOptions=Port=587, Name=MSA, M=E$|O DaemonPortOptions=Port=587, Name=MSA, M=E, Addr=127.0.0.1|' \\
    -e 's|^O LogLevel=9$|O LogLevel=10|' \\
    -e 's|^Kaccess \\(.*\\)|Kaccess \\1\\nKmailertable hash -o /etc/mail/mailertable\\nKauthinfo hash -o /etc/mail/authinfo|' \\
    /etc/mail/sendmail.cf
awk '/^Mrelay,/ { relay = 1 } relay && /A=TCP \\$h$/ { sub(/A=TCP \\$h$/, "A=TCP $h 587"); relay = 0 } { print }' /etc/mail/sendmail.cf > "$W/a.cf"
cp "$W/a.cf" /etc/mail/sendmail.cf
echo "relay-mailer=$(grep -c 'A=TCP \\$h 587' /etc/mail/sendmail.cf)"
printf 'TLS_Srv:mx.second.test\\tENCR:128\\n' | makemap hash /etc/mail/access
printf 'viasubmit.test\\trelay:[mx.second.test]\\nbadauth.test\\trelay:[mx-bad.second.test]\\n' | makemap hash /etc/mail/mailertable
printf 'AuthInfo:mx.second.test\\t"U:relayuser" "P:${PASSWORD}" "M:PLAIN LOGIN"\\nAuthInfo:mx-bad.second.test\\t"U:relayuser" "P:not-the-password" "M:PLAIN"\\n' | makemap hash /etc/mail/authinfo
chgrp smmta /etc/mail/authinfo.db; chmod 640 /etc/mail/authinfo.db

sendmail -C /etc/mail-b/sendmail.cf -bd -q1h -L sm-mta-b; echo "b-started=$?"
sendmail -bd -q1h -L sm-mta; echo "a-started=$?"
set +e

as alice sendmail -t -i -N success,failure < "$W/message1"; echo "submit1=$?"
as alice sendmail -t -i < "$W/message2"; echo "submit2=$?"
as alice sendmail -t -i < "$W/message3"; echo "submit3=$?"
as alice sendmail -t -i < "$W/message4"; echo "submit4=$?"

# done when both queues are empty and alice has her three notices
for i in $(seq 600); do
  mailq 2>/dev/null | grep -q 'is empty' && mailq -C /etc/mail-b/sendmail.cf 2>/dev/null | grep -q 'is empty' \\
    && [ "$(grep -c '^From MAILER-DAEMON' /var/mail/alice 2>/dev/null)" = 3 ] && break
  sleep 0.1
done
mailq > "$W/mailq-a" 2>&1; echo "mailq-a=$(b64 "$W/mailq-a")"
mailq -C /etc/mail-b/sendmail.cf > "$W/mailq-b" 2>&1; echo "mailq-b=$(b64 "$W/mailq-b")"
for u in bob carol dave alice; do echo "mbox-$u=$( [ -e /var/mail/$u ] && b64 /var/mail/$u)"; done
kill -TERM "$(head -1 /run/sendmail-b.pid)" "$(head -1 /var/run/sendmail.pid)"
for i in $(seq 100); do [ -e /run/sendmail-b.pid ] || [ -e /var/run/sendmail.pid ] || break; sleep 0.05; done
sleep 0.2
echo "syslog=$(b64 "$W/syslog")"
`;

/** The body of a stored message: after the first blank line, without the blank line mbox adds at its end. */
function bodyOf(message: string): string {
  return message.slice(message.indexOf('\n\n') + 2).replace(/\n$/, '');
}

test('Postern relays to a second Postern: MX and STARTTLS, AUTH on the MSA, a relayed notice and a bounce', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  if (!existsSync('/usr/sbin/dnsmasq')) return t.skip('dnsmasq is not installed (Debian package dnsmasq-base; .ci/run installs it)');
  const r = await runInSandbox(SCRIPT, { hostname: 'mx.example.test', timeoutMs: 150_000 });
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  const text = (key: string) => Buffer.from(line(key), 'base64').toString('utf8');
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const syslog = text('syslog');
  const logOf = (label: string) => syslog.split('\n').filter((l) => new RegExp(` ${label}\\[\\d+\\]: `).test(l));
  const a = logOf('sm-mta');
  const b = logOf('sm-mta-b');
  const context = `A:\n${a.join('\n')}\nB:\n${b.join('\n')}\n${r.stderr}`;

  await t.test('both daemons start with their own configurations', () => {
    assert.equal(line('b-started'), '0', context);
    assert.equal(line('a-started'), '0', context);
    assert.equal(line('authfile'), 'root:smmta 640', 'npm run passwd made the file for B\'s workers');
    assert.equal(line('relay-mailer'), '1');
    for (const n of [1, 2, 3, 4]) assert.equal(line(`submit${n}`), '0');
    assert.equal(text('mailq-a'), '/var/spool/mqueue is empty\n\t\tTotal requests: 0\n', context);
    assert.equal(text('mailq-b'), '/var/spool/mqueue-b is empty\n\t\tTotal requests: 0\n', context);
  });

  await t.test('by MX over STARTTLS with B\'s self-signed certificate: in bob\'s mailbox, intact', () => {
    const [message] = mboxMessages(text('mbox-bob'));
    assert.ok(message !== undefined, `bob has no mail\n${context}`);
    assert.equal(bodyOf(message), BODY, 'the body arrived byte for byte');
    assert.match(message, /^Subject: relay e2e$/m);
    assert.match(message, /^Content-Transfer-Encoding: 8bit$/m);
    // B's Received line: from A, under TLS
    assert.match(message, /^Received: from mx\.example\.test \([^)]*\[127\.0\.0\.1\]\)\n\tby second\.test \([^)]*\) with ESMTPS id \w+\n\t\(version=TLSv1\.[23] cipher=\S+ bits=256 verify=NO\)\n\tfor <bob@second\.test>;/m);
    assert.ok(a.some((l) => /STARTTLS=client, relay=mx\.second\.test\., version=TLSv1\.[23], verify=FAIL, cipher=\S+, bits=256\/256$/.test(l)), context);
    assert.ok(a.some((l) => /: to=<bob@second\.test>, ctladdr=alice \(\d+\/\d+\), delay=\S+, xdelay=\S+, mailer=esmtp, pri=\d+, relay=mx\.second\.test\. \[127\.0\.0\.2\], dsn=2\.0\.0, stat=Sent \(/.test(l)), context);
  });

  await t.test('NOTIFY=SUCCESS to a peer without DSN: alice gets a "relayed" notice', () => {
    const notice = mboxMessages(text('mbox-alice')).find((m) => /^Subject: Return receipt$/m.test(m));
    assert.ok(notice !== undefined, `no return receipt for alice\n${text('mbox-alice')}\n${context}`);
    assert.match(notice, /^Auto-Submitted: auto-generated \(return-receipt\)$/m);
    assert.match(notice, /^   ----- The following addresses had successful delivery notifications -----\n<bob@second\.test>  \(relayed to non-DSN-aware mailer\)$/m);
    assert.match(notice, /^<bob@second\.test>\.\.\. relayed; expect no further notifications$/m);
    assert.match(notice, /^Final-Recipient: rfc822; bob@second\.test\nAction: relayed \(to non-DSN-aware mailer\)\nStatus: 2\.0\.0\nRemote-MTA: dns; mx\.second\.test\nDiagnostic-Code: smtp; 250 2\.0\.0 \S+ Message accepted for delivery\n/m);
    assert.match(notice, /^Content-Type: text\/rfc822-headers$/m, 'the headers only, as sendmail returns receipts');
    assert.ok(!notice.includes('first line'), 'no body in a receipt');
    assert.ok(a.some((l) => /: \S+: DSN: Return receipt$/.test(l)), context);
  });

  await t.test('to B\'s MSA on port 587 (A=TCP $h 587) with AUTH PLAIN after STARTTLS: in carol\'s mailbox', () => {
    const [message] = mboxMessages(text('mbox-carol'));
    assert.ok(message !== undefined, `carol has no mail\n${context}`);
    assert.equal(bodyOf(message), 'authenticated relay\n');
    assert.ok(a.some((l) => /AUTH=client, relay=mx\.second\.test\., mech=PLAIN, bits=0$/.test(l)), context);
    assert.ok(b.some((l) => /AUTH=server, relay=\S+ \[127\.0\.0\.1\], authid=relayuser, mech=PLAIN, bits=0$/.test(l)), context);
    assert.ok(a.some((l) => /: to=<carol@viasubmit\.test>, .*mailer=relay, pri=\d+, relay=mx\.second\.test\. \[127\.0\.0\.2\], dsn=2\.0\.0, stat=Sent/.test(l)), context);
    assert.match(message, /^Received: from mx\.example\.test \([^)]*\[127\.0\.0\.1\]\)\n\t\(authenticated bits=0\)\n\tby second\.test \([^)]*\) with ESMTPSA id \w+\n\t\(version=TLSv1\.[23] /m);
  });

  await t.test('a wrong password: B refuses AUTH, then MAIL; the message comes back to alice', () => {
    assert.equal(text('mbox-dave'), '', 'nothing for dave');
    assert.ok(b.some((l) => /AUTH failure \(PLAIN\): .*relay=\S+ \[127\.0\.0\.1\]$/.test(l)), context);
    assert.ok(a.some((l) => /: to=<dave@badauth\.test>, .*mailer=relay, .*relay=mx-bad\.second\.test\. \[127\.0\.0\.2\], dsn=5\.7\.0, reply=530 5\.7\.0 Authentication required, stat=Service unavailable$/.test(l)), context);
    const bounce = mboxMessages(text('mbox-alice')).find((m) => /^Subject: Returned mail: see transcript for details$/m.test(m) && m.includes('dave@badauth.test'));
    assert.ok(bounce !== undefined, `no bounce for alice\n${text('mbox-alice')}`);
    // the server's own words, and who said them
    assert.match(bounce, /^Final-Recipient: rfc822; dave@badauth\.test\nAction: failed\nStatus: 5\.7\.0\nRemote-MTA: dns; mx-bad\.second\.test\nDiagnostic-Code: smtp; 530 5\.7\.0 Authentication required\n/m);
    assert.match(bounce, /^<dave@badauth\.test>\n    \(reason: 530 5\.7\.0 Authentication required\)$/m);
    assert.ok(!bounce.includes('not-the-password'));
    // the transcript: the refused AUTH (never what was said in it), the refused MAIL, sendmail's verdict
    assert.deepEqual(transcriptOf(bounce).map((l) => l.replace(/ SIZE=\d+$/, ' SIZE=n')), [
      '... while talking to mx-bad.second.test.:',
      '>>> AUTH dialogue',
      '<<< 535 5.7.0 authentication failed',
      '>>> MAIL FROM:<alice@mx.example.test> SIZE=n',
      '<<< 530 5.7.0 Authentication required',
      '554 5.0.0 Service unavailable',
    ], bounce);
  });

  await t.test('a recipient B does not know: B refuses the RCPT, and the bounce carries the dialogue', () => {
    const bounce = mboxMessages(text('mbox-alice')).find((m) => /^Subject: Returned mail: see transcript for details$/m.test(m) && m.includes('nosuchuser@second.test'));
    assert.ok(bounce !== undefined, `no bounce for alice\n${text('mbox-alice')}\n${context}`);
    assert.match(bounce, /^Final-Recipient: rfc822; nosuchuser@second\.test\nAction: failed\nStatus: 5\.1\.1\nRemote-MTA: dns; mx\.second\.test\nDiagnostic-Code: smtp; 550 5\.1\.1 <nosuchuser@second\.test>\.\.\. User unknown\n/m);
    // sendmail's transcript of the same exchange: the RCPT, B's reply, the verdict, then DATA's refusal (PIPELINING sent it along)
    assert.deepEqual(transcriptOf(bounce), [
      '... while talking to mx.second.test.:',
      '>>> RCPT TO:<nosuchuser@second.test>',
      '<<< 550 5.1.1 <nosuchuser@second.test>... User unknown',
      '550 5.1.1 <nosuchuser@second.test>... User unknown',
      '>>> DATA',
      '<<< 503 5.0.0 Need RCPT (recipient)',
    ], bounce);
    assert.ok(bounce.indexOf('Transcript of session follows') < bounce.indexOf('Content-Type: message/delivery-status'), 'in the human-readable part');
  });
});
