/**
 * Remote delivery against real peers on loopback, in one sandbox: dnsmasq
 * serving the MX records, Postfix's smtp-sink (unpacked from Debian's
 * postfix package) as a plain receiving MTA with and without 8BITMIME, and
 * scripted smtp-server peers for TLS, 4xx, 5xx and greeting refusals.  The
 * scenarios run inside (test/helpers/remote-scenarios.ts); the judgements
 * are made here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSinkScenarios } from '../helpers/peer-scenarios.js';
import { distImport } from '../helpers/sandbox.js';
import { putFile } from '../helpers/scripts.js';

const MAIN = `
const { runRemoteScenarios } = await import(${JSON.stringify(distImport('test/helpers/remote-scenarios.js'))});
const out = await runRemoteScenarios({ sink8: '/var/spool/sink8', sink7: '/var/spool/sink7' });
// a large write to a pipe would be cut short by exit(): the file is printed by the script
(await import('node:fs')).writeFileSync(process.argv[2], JSON.stringify(out));
process.exit(0);
`;

const DNS_RECORDS = [
  '--mx-host=pref.test,mx1.pref.test,10',
  '--mx-host=pref.test,mx2.pref.test,20',
  '--host-record=mx1.pref.test,127.0.0.11', // nothing listens there: connection refused
  '--host-record=mx2.pref.test,127.0.0.12',
  '--mx-host=g421.test,mx1.g421.test,10',
  '--mx-host=g421.test,mx2.g421.test,20',
  '--host-record=mx1.g421.test,127.0.0.24',
  '--host-record=mx2.g421.test,127.0.0.12',
  '--mx-host=tls.test,mx.tls.test,10',
  '--host-record=mx.tls.test,127.0.0.21',
  '--dns-rr=nullmx.test,15,000000', // RFC 7505: preference 0, the root as exchange
  '--mx-host=loop.test,mx.example.test,10',
];

function script(postfixRoot: string): string {
  const sink = `LD_LIBRARY_PATH=${postfixRoot}/usr/lib/postfix ${postfixRoot}/usr/sbin/smtp-sink -u nobody`;
  return `set -e
W=$SANDBOX_WORK
${putFile('main.mjs', MAIN)}
rm -f /etc/resolv.conf
echo 'nameserver 127.0.0.1' > /etc/resolv.conf
dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \\
  --user=nobody --group=nogroup --pid-file= --local=/test/ ${DNS_RECORDS.join(' ')} 2>"$W/dnsmasq.log" &
mkdir -p /var/spool/sink8 /var/spool/sink7
chown nobody /var/spool/sink8 /var/spool/sink7
${sink} -d /var/spool/sink8/%H%M%S. 127.0.0.12:25 64 2>"$W/sink8.log" &
${sink} -8 -d /var/spool/sink7/%H%M%S. 127.0.0.13:25 64 2>"$W/sink7.log" &
node "$W/main.mjs" "$W/result.json" || { cat "$W/dnsmasq.log" "$W/sink8.log" >&2; exit 1; }
printf '\n@@RESULT@@'
cat "$W/result.json"
`;
}

type Recipient = { status: string; dsn: string; text: string; code?: string; relay: { host: string; address?: string } | null; reply: string | null; relayedWithoutDsn: boolean; log: { status: string; mailer: string } };
type Summary = { mailer: string; tls: { relay: string; version: string; verify: string; verifyError?: string; cipher: string; bits: number } | null; transcript: string[]; recipients: Recipient[] };

test('remote delivery to real peers on loopback', async (t) => {
  const out = await runSinkScenarios(t, script, 120_000);
  if (out === undefined) return;
  const s = (name: string) => out[name] as Summary;
  const only = (name: string) => s(name).recipients[0]!;
  const sink8 = out.sink8 as string[];
  const sink7 = out.sink7 as string[];

  await t.test('MX preference, and the next MX when the first refuses the connection', () => {
    const r = only('mxFallback');
    assert.equal(r.status, 'sent', r.text);
    assert.deepEqual(r.relay, { host: 'mx2.pref.test.', address: '127.0.0.12' });
    assert.equal(s('mxFallback').mailer, 'esmtp');
    assert.match(r.log.status, /^Sent \(.+\)$/);
    assert.ok(sink8.some((m) => m.includes('alice@pref.test')), 'smtp-sink got the message');
  });

  await t.test('a 421 greeting passes the message to the next MX', () => {
    assert.equal(out.greeting421Seen, 1);
    const r = only('greeting421');
    assert.equal(r.status, 'sent', r.text);
    assert.equal(r.relay?.host, 'mx2.g421.test.');
  });

  await t.test('STARTTLS to a self-signed server: delivered, and the failed verification reported', () => {
    const r = only('tls');
    assert.equal(r.status, 'sent', r.text);
    assert.deepEqual(out.tlsSeen, [true], 'the transaction ran inside TLS');
    const tls = s('tls').tls!;
    assert.equal(tls.verify, 'FAIL');
    assert.match(tls.verifyError ?? '', /SELF_SIGNED/);
    const line = (out.log as string[]).find((l) => l.includes('STARTTLS=client'));
    assert.match(line ?? '', /^STARTTLS=client, relay=mx\.tls\.test\., version=TLSv1\.[23], verify=FAIL, cipher=\S+, bits=\d+\/\d+$/);
  });

  await t.test('a 4xx defers with the reply; the next attempt succeeds', () => {
    const first = only('flakyFirst');
    assert.equal(first.status, 'deferred');
    assert.equal(first.dsn, '4.3.0');
    assert.equal(first.log.status, 'Deferred: 451 4.3.0 Temporary failure, try again');
    assert.equal(first.reply, '451 4.3.0 Temporary failure, try again');
    const second = only('flakySecond');
    assert.equal(second.status, 'sent');
    assert.equal(second.log.status, 'Sent (queued as T3ST)');
    assert.deepEqual(second.relay, { host: '[127.0.0.22]', address: '127.0.0.22' });
  });

  await t.test('a 550 for one of two recipients bounces only that one, with its DSN code; DSN parameters per recipient', () => {
    const [alice, nobody] = s('split').recipients;
    assert.equal(alice!.status, 'sent');
    assert.equal(nobody!.status, 'bounced');
    assert.equal(nobody!.dsn, '5.1.1');
    assert.equal(nobody!.log.status, 'User unknown');
    assert.equal(nobody!.reply, '550 5.1.1 <nobody@[127.0.0.23]>... User unknown');
    // the wire, as the client wrote it (xtext stays encoded), and as the server understood it
    const sent = s('split').transcript;
    assert.ok(sent.includes('>>> RCPT TO:<alice@[127.0.0.23]> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+2Bx@orig.test'), sent.join('\n'));
    assert.ok(sent.includes('>>> RCPT TO:<nobody@[127.0.0.23]> NOTIFY=NEVER'), sent.join('\n'));
    assert.ok(sent.some((l) => /^>>> MAIL FROM:<sender@outside\.test> .*RET=HDRS ENVID=ENV\+2B1/.test(l)), sent.join('\n'));
    const seen = out.splitSeen as { rcpts: { address: string; args: Record<string, string> }[]; mailArgs: Record<string, string>[] };
    const args = Object.fromEntries(seen.rcpts.slice(0, 2).map((r) => [r.address, r.args]));
    assert.equal(args['alice@[127.0.0.23]']!.ORCPT, 'rfc822;alice+x@orig.test');
    assert.equal(args['nobody@[127.0.0.23]']!.NOTIFY, 'NEVER');
    assert.equal(seen.mailArgs[0]!.ENVID, 'ENV+1');
    assert.equal(alice!.relayedWithoutDsn, false, 'the peer speaks DSN');
  });

  await t.test('1 MiB of 8-bit text to a peer without 8BITMIME goes as quoted-printable; with 8BITMIME as it is', () => {
    assert.equal(only('eightBitTo7').status, 'sent', only('eightBitTo7').text);
    assert.equal(only('eightBitTo8').status, 'sent', only('eightBitTo8').text);
    const seven = sink7.find((m) => m.includes('alice@[127.0.0.13]'));
    assert.ok(seven !== undefined, 'the 7-bit sink has the message');
    assert.doesNotMatch(seven, /[\x80-\xff]/, 'no 8-bit byte reached the 7-bit peer');
    assert.match(seven, /Content-Transfer-Encoding: quoted-printable/);
    assert.doesNotMatch(seven, /BODY=8BITMIME/);
    // smtp-sink writes its dump with bare line feeds
    const head = /\r?\n\r?\n/g;
    head.lastIndex = seven.indexOf('Subject: big');
    const body = seven.slice(head.exec(seven)!.index).replace(/^\r?\n\r?\n/, '');
    const decoded = Buffer.from(body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))).replace(/\r\n/g, '\n'), 'latin1');
    // SMTP ends every message with a line end: whether the last one is kept is the sink's business
    const original = Buffer.from(out.bigBody as string, 'base64').toString('utf8').replace(/\n+$/, '');
    assert.equal(decoded.toString('utf8').replace(/\n+$/, ''), original, 'the body decodes back to the original text');
    const eight = sink8.find((m) => m.includes('carol@[127.0.0.12]'));
    assert.ok(eight !== undefined);
    assert.match(eight, /BODY=8BITMIME/);
    assert.match(eight, /Content-Transfer-Encoding: 8bit/);
    assert.ok(Buffer.from(eight, 'latin1').includes(Buffer.from('Ünïcödé', 'utf8')), '8-bit bytes passed unchanged');
  });

  await t.test('the null MX bounces at once with 5.1.10', () => {
    const r = only('nullMx');
    assert.equal(r.status, 'bounced');
    assert.equal(r.dsn, '5.1.10');
    assert.equal(r.reply, '556 5.1.10 Host does not accept mail: MX 0 .');
    assert.equal(r.code, 'REMOTE_NULL_MX');
  });

  await t.test('an unknown domain bounces as Host unknown', () => {
    const r = only('hostUnknown');
    assert.equal(r.status, 'bounced');
    assert.equal(r.dsn, '5.1.2');
    assert.equal(r.text, 'Host unknown (Name server: nosuch.test.: host not found)');
  });

  await t.test('mailertable: an error: entry bounces with its code; a .parent entry routes to its [host]', () => {
    const e = only('mailertableError');
    assert.equal(e.status, 'bounced');
    assert.equal(e.dsn, '5.7.1');
    assert.equal(e.reply, '550 5.7.1 Mail to this domain is not accepted');
    assert.equal(s('mailertableError').mailer, 'error');
    const w = only('mailertableWildcard');
    assert.equal(w.status, 'sent', w.text);
    assert.deepEqual(w.relay, { host: '[127.0.0.12]', address: '127.0.0.12' });
  });

  await t.test('an [IP] literal goes to that address without DNS', () => {
    const r = only('literal');
    assert.equal(r.status, 'sent', r.text);
    assert.deepEqual(r.relay, { host: '[127.0.0.12]', address: '127.0.0.12' });
    assert.ok(sink8.some((m) => m.includes('erin@[127.0.0.12]')));
  });

  await t.test('mail that would come back to us: MX list led by our name, or a peer greeting with our name', () => {
    const mx = only('mxLoop');
    assert.equal(mx.status, 'bounced');
    assert.equal(mx.dsn, '5.3.5');
    assert.equal(mx.text, 'Local configuration error');
    const greet = only('greetsAsUs');
    assert.equal(greet.status, 'bounced');
    assert.equal(greet.dsn, '5.3.5');
    assert.equal(out.greetsAsUsSeen, 1);
    const log = out.log as string[];
    assert.ok(log.some((l) => /^TESTQID1: SYSERR\(\S+\): MX list for loop\.test\. points back to mx\.example\.test$/.test(l)), log.join('\n'));
    assert.ok(log.some((l) => l.endsWith('553 5.3.5 [127.0.0.25] config error: mail loops back to me (MX problem?)')), log.join('\n'));
  });

  await t.test('one connection carries two messages to the same host when the cache keeps it', () => {
    assert.deepEqual(out.reuse, { first: 'sent', second: 'sent', connections: 1, idle: 1 });
  });
});
