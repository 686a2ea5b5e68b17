/**
 * The transcript in reports about remote recipients, end to end: alice
 * submits with `sendmail -t`, the daemon queues, `sendmail -q` delivers to
 * Postfix's smtp-sink through the mailertable and returns what failed:
 *
 *   carol@hard.test  smtp-sink -f rcpt (500 5.3.0 to every RCPT): a bounce
 *   bob@soft.test    smtp-sink -r rcpt (450 4.3.0): stays queued; past
 *                    Timeout.queuewarn (1s here) alice gets a delay warning
 *
 * Each report's "Transcript of session follows" part must carry the
 * dialogue lines sendmail writes there: `... while talking to HOST:`, the
 * command, the server's reply, and what became of the recipient.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { runWithSmtpSink } from '../helpers/peer-scenarios.js';
import { repoRoot } from '../helpers/peers.js';
import { daemonSandboxPreamble } from '../helpers/scripts.js';
import { mboxMessages, transcriptOf } from '../helpers/reports.js';

function script(postfixRoot: string): string {
  const sink = `LD_LIBRARY_PATH=${postfixRoot}/usr/lib/postfix ${postfixRoot}/usr/sbin/smtp-sink -u nobody`;
  return `${daemonSandboxPreamble(repoRoot)}
set -e
${sink} -f rcpt 127.0.0.12:25 16 2>"$W/hard.log" &
${sink} -r rcpt 127.0.0.13:25 16 2>"$W/soft.log" &
# the daemon on 127.0.0.1 only: the sinks have port 25 of their addresses
sed -i -e 's|^O Timeout.queuewarn=.*|O Timeout.queuewarn=1s|' \\
    -e 's|^O DaemonPortOptions=Name=MTA$|O DaemonPortOptions=Name=MTA, Addr=127.0.0.1|' \\
    -e 's|^O DaemonPortOptions=Port=587, Name=MSA, M=E$|O DaemonPortOptions=Port=587, Name=MSA, M=E, Addr=127.0.0.1|' /etc/mail/sendmail.cf
echo 'Kmailertable hash -o /etc/mail/mailertable' >> /etc/mail/sendmail.cf
printf 'hard.test\\tesmtp:[127.0.0.12]\\nsoft.test\\tesmtp:[127.0.0.13]\\n' | makemap hash /etc/mail/mailertable
sendmail -bd -O DeliveryMode=queue; echo "bd=$?"
set +e
printf 'To: carol@hard.test\\nSubject: to be refused\\n\\nhello\\n' | as alice sendmail -t -i; echo "s1=$?"
printf 'To: bob@soft.test\\nSubject: to wait\\n\\nhello\\n' | as alice sendmail -t -i; echo "s2=$?"
kill -TERM "$(head -1 /var/run/sendmail.pid)"
for i in $(seq 200); do [ -e /var/run/sendmail.pid ] || break; sleep 0.05; done
# older than Timeout.queuewarn when the queue run looks at it
sleep 1.5
sendmail -q 2> "$W/q.log"; echo "q=$? $(b64 "$W/q.log")"
echo "mbox=$( [ -e /var/mail/alice ] && b64 /var/mail/alice)"
mailq > "$W/mailq" 2>&1; echo "mailq=$(b64 "$W/mailq")"
`;
}

test('reports about remote recipients carry the session transcript, as sendmail writes it', async (t) => {
  const r = await runWithSmtpSink(t, script, { hostname: 'mx.example.test', timeoutMs: 120_000 });
  if (r === undefined) return;
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  const text = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  for (const key of ['bd', 's1', 's2']) assert.equal(line(key), '0', `${key}: ${r.stdout}\n${r.stderr}`);
  const [q, qLog] = line('q').split(' ');
  const context = `${text(qLog ?? '')}\n${text(line('mailq'))}\n${r.stderr}`;
  assert.equal(q, '0', context);
  const mail = mboxMessages(text(line('mbox')));

  await t.test('a bounce: the refused RCPT, the server\'s words and sendmail\'s verdict', () => {
    const bounce = mail.find((m) => /^Subject: Returned mail: see transcript for details$/m.test(m));
    assert.ok(bounce !== undefined, `no bounce for alice\n${mail.join('\n')}\n${context}`);
    assert.deepEqual(transcriptOf(bounce), ['... while talking to [127.0.0.12]:', '>>> RCPT TO:<carol@hard.test>', '<<< 500 5.3.0 Error: command failed', '554 5.0.0 Service unavailable'], bounce);
    // in the human-readable part, before the machine-readable one
    assert.ok(bounce.indexOf('Transcript of session follows') < bounce.indexOf('Content-Type: message/delivery-status'), bounce);
    assert.match(bounce, /^Final-Recipient: rfc822; carol@hard\.test\nAction: failed\nStatus: 5\.3\.0\nRemote-MTA: dns; \[127\.0\.0\.12\]\nDiagnostic-Code: smtp; 500 5\.3\.0 Error: command failed\n/m);
  });

  await t.test('a delay warning: the deferring RCPT and its reply, then the warning\'s own lines', () => {
    const warning = mail.find((m) => /^Subject: Warning: could not send message for past 1 second$/m.test(m));
    assert.ok(warning !== undefined, `no warning for alice\n${mail.join('\n')}\n${context}`);
    assert.match(warning, /\*\*      THIS IS A WARNING MESSAGE ONLY      \*\*/);
    assert.deepEqual(transcriptOf(warning), [
      '... while talking to [127.0.0.13]:',
      '>>> RCPT TO:<bob@soft.test>',
      '<<< 450 4.3.0 Error: command failed',
      '<bob@soft.test>... Deferred: 450 4.3.0 Error: command failed',
      'Warning: message still undelivered after 1 second',
      'Will keep trying until message is 5 days old',
    ], warning);
    assert.match(text(line('mailq')), /\(Deferred: 450 4\.3\.0 Error: command failed\)\n\t+ <bob@soft\.test>\n/, context);
  });
});
