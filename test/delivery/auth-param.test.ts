/**
 * AUTH= on MAIL FROM, end to end: what a client says at MAIL is judged as
 * sendmail's trust_auth ruleset judges it, kept with the queued message,
 * and passed on when the message is relayed to a peer that offers AUTH, as
 * sendmail's smtpmailfrom() does.  The peers are Postfix's smtp-sink, which
 * offers AUTH (127.0.0.12) or not (`-a`, 127.0.0.13), and writes each
 * transaction's MAIL FROM arguments into its dump (X-Mail-Args).
 *
 * Python's smtplib submits to the daemon (AUTH PLAIN as relayuser on port
 * 587, or no AUTH on port 25); alice also submits with `sendmail -t`:
 *
 *   one@sink.test    authenticated, AUTH=relayuser        → AUTH=relayuser
 *   two@sink.test    authenticated, AUTH=someone.else     → AUTH=<>
 *   three@sink.test  authenticated, no AUTH=              → none (no _FFR_AUTH_PASSING)
 *   four@noauth.test authenticated, AUTH=relayuser        → none: the peer offers no AUTH
 *   five@sink.test   not authenticated, AUTH=relayuser    → AUTH=<>
 *   six@sink.test    sendmail -t                          → none
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { runWithSmtpSink } from '../helpers/peer-scenarios.js';
import { repoRoot } from '../helpers/peers.js';
import { daemonSandboxPreamble, putFile } from '../helpers/scripts.js';

const PASSWORD = 'auth-param-pw-3';

const CLIENT = `
import smtplib, sys
password = sys.argv[1]
msg = 'From: alice@mx.example.test\\r\\nSubject: auth param\\r\\n\\r\\nhello\\r\\n'
s = smtplib.SMTP('127.0.0.1', 587, local_hostname='client.example.test')
s.login('relayuser', password)
s.sendmail('alice@mx.example.test', ['one@sink.test'], msg, mail_options=['AUTH=relayuser'])
s.sendmail('alice@mx.example.test', ['two@sink.test'], msg, mail_options=['AUTH=someone.else'])
s.sendmail('alice@mx.example.test', ['three@sink.test'], msg)
s.sendmail('alice@mx.example.test', ['four@noauth.test'], msg, mail_options=['AUTH=relayuser'])
s.quit()
s = smtplib.SMTP('127.0.0.1', 25, local_hostname='client.example.test')
s.sendmail('alice@mx.example.test', ['five@sink.test'], msg, mail_options=['AUTH=relayuser'])
s.quit()
print('client=ok')
`;

function script(postfixRoot: string): string {
  const sink = `LD_LIBRARY_PATH=${postfixRoot}/usr/lib/postfix ${postfixRoot}/usr/sbin/smtp-sink -u nobody`;
  return `${daemonSandboxPreamble(repoRoot)}
set -e
mkdir -p /var/spool/sink12 /var/spool/sink13 && chown nobody /var/spool/sink12 /var/spool/sink13
${sink} -d /var/spool/sink12/%H%M%S. 127.0.0.12:25 16 2>"$W/sink12.log" &
${sink} -a -d /var/spool/sink13/%H%M%S. 127.0.0.13:25 16 2>"$W/sink13.log" &
${putFile('client.py', CLIENT)}
# the daemon on 127.0.0.1 (the sinks have port 25 of theirs); PLAIN without TLS, and AUTH= to any peer that offers AUTH
sed -i -e 's|^O DaemonPortOptions=Name=MTA$|O DaemonPortOptions=Name=MTA, Addr=127.0.0.1|' \\
    -e 's|^O DaemonPortOptions=Port=587, Name=MSA, M=E$|O DaemonPortOptions=Port=587, Name=MSA, M=E, Addr=127.0.0.1|' \\
    -e 's|^O AuthOptions=.*|O AuthOptions=y|' /etc/mail/sendmail.cf
echo 'Kmailertable hash -o /etc/mail/mailertable' >> /etc/mail/sendmail.cf
printf 'sink.test\\tesmtp:[127.0.0.12]\\nnoauth.test\\tesmtp:[127.0.0.13]\\n' | makemap hash /etc/mail/mailertable
(cd '${repoRoot}' && printf '%s\\n' '${PASSWORD}' | HOME=/run/npm-home npm_config_update_notifier=false npm run --silent passwd -- add relayuser) > /dev/null
sendmail -bd; echo "bd=$?"
set +e
/usr/bin/python3 "$W/client.py" '${PASSWORD}' 2> "$W/client.err"; echo "client-exit=$? $(b64 "$W/client.err")"
printf 'To: six@sink.test\\nSubject: from sendmail -t\\n\\nhello\\n' | as alice sendmail -t -i; echo "submit=$?"
for i in $(seq 200); do
  [ "$(ls /var/spool/sink12 | wc -l)" -ge 5 ] && [ "$(ls /var/spool/sink13 | wc -l)" -ge 1 ] && mailq | grep -q 'is empty' && break
  sleep 0.05
done
for f in /var/spool/sink12/* /var/spool/sink13/*; do echo "dump=$(b64 "$f")"; done
mailq > "$W/mailq" 2>&1; echo "mailq=$(b64 "$W/mailq")"
kill -TERM "$(head -1 /var/run/sendmail.pid)"
for i in $(seq 200); do [ -e /var/run/sendmail.pid ] || break; sleep 0.05; done
`;
}

test('AUTH= on MAIL FROM: judged as sendmail trusts it, queued, and relayed to peers that offer AUTH', async (t) => {
  const r = await runWithSmtpSink(t, script, { hostname: 'mx.example.test', timeoutMs: 120_000 });
  if (r === undefined) return;
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  const text = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
  const context = `${r.stdout}\n${r.stderr}\n${text(line('mailq'))}`;
  assert.equal(r.code, 0, context);
  assert.equal(line('bd'), '0', context);
  const [clientExit, clientErr] = line('client-exit').split(' ');
  assert.equal(clientExit, '0', `${text(clientErr ?? '')}\n${context}`);
  assert.equal(line('submit'), '0', context);

  // each dump: its recipient and the MAIL FROM arguments the peer was given
  const mailArgs = new Map<string, string>();
  for (const l of r.stdout.split('\n').filter((x) => x.startsWith('dump='))) {
    const dump = text(l.slice(5));
    const rcpt = /^X-Rcpt-Args: <([^>]+)>/m.exec(dump)?.[1];
    const args = /^X-Mail-Args: (.*)$/m.exec(dump)?.[1];
    if (rcpt !== undefined && args !== undefined) mailArgs.set(rcpt, args);
  }
  const authOf = (rcpt: string) => {
    const args = mailArgs.get(rcpt);
    assert.ok(args !== undefined, `the peer got nothing for ${rcpt}\n${[...mailArgs].join('\n')}\n${context}`);
    return / AUTH=(\S+)/.exec(args)?.[1] ?? null;
  };

  await t.test('an authenticated submitter\'s own identity goes on: AUTH=relayuser', () => {
    assert.equal(authOf('one@sink.test'), 'relayuser');
  });
  await t.test('an identity the client has not proved: AUTH=<>', () => {
    assert.equal(authOf('two@sink.test'), '<>');
    assert.equal(authOf('five@sink.test'), '<>');
  });
  await t.test('no AUTH= given, or a peer that offers no AUTH, or a local submission: none sent', () => {
    assert.equal(authOf('three@sink.test'), null);
    assert.equal(authOf('four@noauth.test'), null);
    assert.equal(authOf('six@sink.test'), null);
  });
});
