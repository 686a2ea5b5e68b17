/**
 * TLS required per destination (TLS_Srv:, Try_TLS:), SMTP AUTH as a client
 * (AuthInfo:), the mailer's port and the "relayed" flag, against real peers
 * on loopback in one sandbox: dnsmasq serving MX records, Postfix's
 * smtp-sink without STARTTLS, and smtp-server peers with STARTTLS and AUTH.
 * The scenarios run inside (test/helpers/remote-policy-scenarios.ts); the
 * judgements are made here.  The refusal texts are those the real sendmail
 * 8.17.1.9 gave for the same access map entries.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSinkScenarios } from '../helpers/peer-scenarios.js';
import { distImport } from '../helpers/sandbox.js';
import { putFile } from '../helpers/scripts.js';

const MAIN = `
const { runPolicyScenarios } = await import(${JSON.stringify(distImport('test/helpers/remote-policy-scenarios.js'))});
const out = await runPolicyScenarios({ sink: '/var/spool/sink' });
(await import('node:fs')).writeFileSync(process.argv[2], JSON.stringify(out));
process.exit(0);
`;

const MX: [string, string, string][] = [
  ['verified.test', 'mx.verified.test', '127.0.0.44'],
  ['unverified.test', 'mx.unverified.test', '127.0.0.41'],
  ['perm.test', 'mx.perm.test', '127.0.0.12'],
  ['notls.test', 'mx.notls.test', '127.0.0.44'],
  ['auth.test', 'mx.auth.test', '127.0.0.41'],
  ['login.test', 'mx.login.test', '127.0.0.41'],
  ['bad.test', 'mx.bad.test', '127.0.0.41'],
  ['malformed.test', 'mx.malformed.test', '127.0.0.41'],
  ['clear.test', 'mx.clear.test', '127.0.0.42'],
  ['lan.test', 'mx.lan.test', '127.0.0.42'],
  ['temp.test', 'mx.temp.test', '127.0.0.43'],
];
const DNS_RECORDS = [
  ...MX.flatMap(([domain, host, ip]) => [`--mx-host=${domain},${host},10`, `--host-record=${host},${ip}`]),
  '--mx-host=tlsfb.test,mx1.tlsfb.test,10',
  '--mx-host=tlsfb.test,mx2.tlsfb.test,20',
  '--host-record=mx1.tlsfb.test,127.0.0.12',
  '--host-record=mx2.tlsfb.test,127.0.0.44',
  '--mx-host=authfb.test,mx.temp.test,10',
  '--mx-host=authfb.test,mx.auth.test,20',
];

function script(postfixRoot: string): string {
  return `set -e
W=$SANDBOX_WORK
${putFile('main.mjs', MAIN)}
rm -f /etc/resolv.conf
echo 'nameserver 127.0.0.1' > /etc/resolv.conf
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \\
  --user=nobody --group=nogroup --pid-file= --local=/test/ ${DNS_RECORDS.join(' ')} 2>"$W/dnsmasq.log" &
mkdir -p /var/spool/sink && chown nobody /var/spool/sink
LD_LIBRARY_PATH=${postfixRoot}/usr/lib/postfix ${postfixRoot}/usr/sbin/smtp-sink -u nobody -d /var/spool/sink/%H%M%S. 127.0.0.12:25 64 2>"$W/sink.log" &
node "$W/main.mjs" "$W/result.json" || { cat "$W/dnsmasq.log" "$W/sink.log" >&2; exit 1; }
printf '\\n@@RESULT@@'
cat "$W/result.json"
`;
}

type Recipient = { status: string; dsn: string; text: string; code?: string; relay: { host: string; address?: string } | null; reply: string | null; relayedWithoutDsn: boolean; acceptedReply: string | null };
type Summary = { mailer: string; tls: { verify: string; bits: number } | null; transcript: string[]; recipients: Recipient[] };
type AuthSeen = { method: string; username: string; secure: boolean };

test('remote delivery: TLS_Srv, Try_TLS, AuthInfo and mailer ports against real peers', async (t) => {
  const out = await runSinkScenarios(t, script, 150_000);
  if (out === undefined) return;
  const s = (name: string) => out[name] as Summary;
  const only = (name: string) => s(name).recipients[0]!;
  const log = out.log as string[];
  const logged = (re: RegExp) => assert.ok(log.some((l) => re.test(l)), `no log line ${re}:\n${log.join('\n')}`);

  await t.test('TLS_Srv VERIFY, peer without STARTTLS: deferred with sendmail 8.17\'s reply, nothing sent', () => {
    const r = only('verifyNone');
    assert.equal(r.status, 'deferred');
    assert.equal(r.dsn, '4.7.0');
    assert.equal(r.text, '454 4.7.0 other side does not support STARTTLS');
    assert.equal(r.code, 'REMOTE_TLS_REQUIRED');
    assert.deepEqual(r.relay, { host: '[127.0.0.12]', address: '127.0.0.12' });
    logged(/^ruleset=tls_server, arg1=NONE, relay=\[127\.0\.0\.12\], reject=454 4\.7\.0 other side does not support STARTTLS$/);
    assert.equal((out.sink as string[]).length, 0, 'smtp-sink got no message at all');
  });

  await t.test('TLS_Srv VERIFY, self-signed certificate: "authentication failed", no MAIL sent', () => {
    const r = only('verifyFail');
    assert.equal(r.status, 'deferred');
    assert.equal(r.text, '454 4.7.0 authentication failed');
    assert.equal(out.verifyFailSeen, 0);
    assert.ok(!s('verifyFail').transcript.some((l) => l.startsWith('>>> MAIL')), s('verifyFail').transcript.join('\n'));
    logged(/^ruleset=tls_server, arg1=FAIL, relay=mx\.unverified\.test, reject=454 4\.7\.0 authentication failed$/);
  });

  await t.test('TLS_Srv VERIFY+CN with the certificate trusted through CACertFile: sent inside TLS', () => {
    const r = only('verified');
    assert.equal(r.status, 'sent', r.text);
    assert.equal(s('verified').tls?.verify, 'OK');
    assert.deepEqual(out.verifiedSeen, [true]);
  });

  await t.test('a refused MX passes the message to the next one that meets the requirement', () => {
    const r = only('tlsFallbackMx');
    assert.equal(r.status, 'sent', r.text);
    assert.equal(r.relay?.host, 'mx2.tlsfb.test.');
    logged(/^ruleset=tls_server, arg1=NONE, relay=mx1\.tlsfb\.test, reject=454 4\.7\.0 encryption too weak 0 less than 128$/);
  });

  await t.test('PERM+VERIFY bounces with 503 5.7.0', () => {
    const r = only('perm');
    assert.equal(r.status, 'bounced');
    assert.equal(r.dsn, '5.7.0');
    assert.equal(r.text, '503 5.7.0 other side does not support STARTTLS');
  });

  await t.test('Try_TLS:host NO: no STARTTLS with a host that offers it', () => {
    assert.equal(only('tryTlsNo').status, 'sent');
    assert.equal((out.tryTlsNoSeen as boolean[]).at(-1), false);
    assert.ok(!s('tryTlsNo').transcript.includes('>>> STARTTLS'));
  });

  await t.test('AUTH after STARTTLS with the AuthInfo: entry, strongest mechanism first', () => {
    const r = only('authCram');
    assert.equal(r.status, 'sent', r.text);
    assert.deepEqual(out.authCramSeen, [{ method: 'CRAM-MD5', username: 'relayuser', secure: true }]);
    logged(/^AUTH=client, relay=mx\.auth\.test\., mech=CRAM-MD5, bits=0$/);
    // the peer offers no DSN and the recipient asked NOTIFY=SUCCESS: the sender is owed a "relayed" notice
    assert.equal(r.relayedWithoutDsn, true);
    assert.match(r.acceptedReply ?? '', /^250 /);
    assert.deepEqual(out.authLoginSeen, [{ method: 'LOGIN', username: 'relayuser', secure: true }], 'M:LOGIN is used when the entry says so');
    assert.equal(only('authLogin').status, 'sent');
    assert.equal(only('authLogin').relayedWithoutDsn, false, 'no NOTIFY=SUCCESS, no notice');
  });

  await t.test('AUTH refused (535): on without it, as sendmail; the server then refuses the mail', () => {
    assert.deepEqual(out.authBadSeen, [{ method: 'PLAIN', username: 'relayuser', secure: true }]);
    const r = only('authBad');
    assert.equal(r.status, 'bounced');
    assert.match(r.reply ?? '', /^530 /);
    const m = only('authMalformed');
    assert.equal(m.status, 'bounced', 'a malformed entry means no AUTH');
    assert.deepEqual(out.authMalformedSeen, []);
    logged(/^AUTH=client, relay=mx\.malformed\.test \[127\.0\.0\.41\], authinfo failed$/);
  });

  await t.test('no password in clear text: PLAIN/LOGIN offered without STARTTLS defers, unless Try_TLS:host NO', () => {
    const r = only('clearRefused');
    assert.equal(r.status, 'deferred');
    assert.equal(r.text, 'Temporary AUTH failure');
    assert.equal(r.dsn, '4.3.0');
    assert.deepEqual(out.clearRefusedSeen, [], 'the peer never saw an AUTH command');
    logged(/^TESTQID1: AUTH=client, available mechanisms=PLAIN LOGIN do not fulfill requirements$/);
    logged(/^TESTQID1: AUTH=client, relay=mx\.clear\.test\.: PLAIN and LOGIN not sent without STARTTLS; an access map entry Try_TLS:mx\.clear\.test NO allows it$/);
    assert.equal(only('clearAllowed').status, 'sent', only('clearAllowed').text);
    assert.deepEqual(out.clearAllowedSeen, [{ method: 'PLAIN', username: 'relayuser', secure: false }]);
  });

  await t.test('AUTH answered 454: "Temporary AUTH failure" after every mechanism, and the next MX takes it', () => {
    const r = only('authTemp');
    assert.equal(r.status, 'deferred');
    assert.equal(r.text, 'Temporary AUTH failure');
    assert.equal(r.reply, '454 4.7.0 Temporary authentication failure');
    assert.deepEqual((out.authTempSeen as AuthSeen[]).map((a) => a.method), ['CRAM-MD5', 'PLAIN', 'LOGIN']);
    // the transcript (a bounce would quote it) shows the dialogue without what was said in it
    const transcript = s('authTemp').transcript;
    assert.ok(transcript.includes('>>> AUTH PLAIN /* secret */'), transcript.join('\n'));
    const password = 'pw-of-relayuser'; // remote-policy-scenarios.ts's
    const secrets = [password, Buffer.from('relayuser').toString('base64'), Buffer.from(password).toString('base64'), Buffer.from(`relayuser\0relayuser\0${password}`).toString('base64')];
    assert.ok(!secrets.some((x) => transcript.join('\n').includes(x)), transcript.join('\n'));
    logged(/^AUTH=client, relay=mx\.temp\.test\., temporary failure, connection abort$/);
    const next = only('authTempNextMx');
    assert.equal(next.status, 'sent', next.text);
    assert.equal(next.relay?.host, 'mx.auth.test.');
  });

  await t.test('A=TCP $h 2525 on the mailer: the mailertable\'s relay: entry goes to that port', () => {
    assert.equal(only('mailerPort').status, 'sent', only('mailerPort').text);
    assert.equal(s('mailerPort').mailer, 'relay');
    assert.deepEqual(out.mailerPortSeen, ['alice@port.test']);
  });
});
