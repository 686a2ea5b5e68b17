/**
 * LMTP delivery against a real LMTP server, in one sandbox: Dovecot's
 * (Debian's dovecot-lmtpd) on a Unix socket and on 127.0.0.1, with users
 * whose deliveries succeed, are refused at RCPT, and fail after the message
 * for good (552) or for now (452), all in one transaction.  The scenarios
 * run inside (test/helpers/lmtp-scenarios.ts) through the setup the queue
 * runner makes from sendmail.cf; the judgements are made here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DOVECOT_DIR, LMTP_PORT, MAILERTABLE, lmtpSendmailCf } from '../helpers/lmtp-config.js';
import { dovecotPeer, dovecotSkipReason } from '../helpers/dovecot.js';
import { binDir, distImport, runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { putFile } from '../helpers/scripts.js';

const MAIN = `
const { runLmtpScenarios } = await import(${JSON.stringify(distImport('test/helpers/lmtp-scenarios.js'))});
const out = await runLmtpScenarios(process.argv[3]);
(await import('node:fs')).writeFileSync(process.argv[2], JSON.stringify(out));
process.exit(0);
`;

function script(): string {
  const dovecot = dovecotPeer(DOVECOT_DIR, LMTP_PORT, [
    { name: 'bob' },
    { name: 'dave', full: 'permanent' },
    { name: 'erin', full: 'tempfail' },
    { name: 'bob@lmtp.test' },
    { name: 'dave@lmtp.test', full: 'permanent' },
    { name: 'erin@lmtp.test', full: 'tempfail' },
  ]);
  return `set -e
W=$SANDBOX_WORK
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
for u in bob carol dave erin; do useradd -M "$u"; done
${putFile('main.mjs', MAIN)}
${putFile('sendmail.cf', lmtpSendmailCf())}
${putFile('mailertable', MAILERTABLE)}
cp "$W/sendmail.cf" /etc/mail/sendmail.cf
'${binDir}/makemap' hash /etc/mail/mailertable < "$W/mailertable"
# a socket file nobody listens on any more, and a directory anyone may write in
mkdir -p /run/stale && python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('/run/stale/lmtp')"
mkdir -p /run/ww && chmod 777 /run/ww
mkdir -p /run/scripted
${dovecot.start}
node "$W/main.mjs" "$W/result.json" '${dovecot.dir}/mail' || { cat '${dovecot.dir}/dovecot.log' >&2; exit 1; }
printf '\\n@@RESULT@@'
cat "$W/result.json"
`;
}

type Recipient = { index: number; status: string; dsn: string; text: string; code?: string; relay: { host: string; address?: string } | null; reply: string | null; log: { status: string; mailer: string; dsn: string; reply: string | null; relay: { host: string; address: string | null } | null } };
type Summary = { mailer: string; transcript: string[]; recipients: Recipient[] };

test('LMTP delivery to Dovecot over a Unix socket and over TCP', async (t) => {
  const skip = (await sandboxSkipReason()) ?? dovecotSkipReason();
  if (skip !== null) return t.skip(skip);

  const run = await runInSandbox(script(), { timeoutMs: 120_000 });
  const marker = run.stdout.indexOf('@@RESULT@@');
  assert.ok(marker >= 0, `the scenarios did not finish (code ${run.code}):\n${run.stdout}\n${run.stderr}`);
  const out = JSON.parse(run.stdout.slice(marker + '@@RESULT@@'.length)) as Record<string, unknown>;
  const s = (name: string) => out[name] as Summary;
  const log = out.log as string[];
  const maildirs = out.maildirs as Record<string, string[]>;

  await t.test('the mailers and routes sendmail.cf and the mailertable declare', () => {
    const routing = out.routing as Record<string, unknown>;
    assert.deepEqual((routing.local as { endpoint: unknown }).endpoint, { kind: 'unix', path: `${DOVECOT_DIR}/run/lmtp` });
    const tcp = routing.tcp as { mailer: { name: string; endpoint: unknown }; hosts: unknown };
    assert.equal(tcp.mailer.name, 'lmtp');
    assert.deepEqual(tcp.mailer.endpoint, { kind: 'tcp', host: null, port: LMTP_PORT });
    assert.deepEqual(tcp.hosts, [{ name: '[127.0.0.1]', mx: false }]);
    assert.equal(routing.smtpDomain, null, 'an esmtp: entry stays remote delivery\'s');
    assert.equal(routing.unrouted, null);
    // the local part as the local mailer's R=EnvToL leaves it; no passwd entry, not the mailer's (F=w)
    assert.deepEqual(routing.mailboxes, ['bob', 'bob+folder', 'dave', null, null]);
  });

  const judgeTransaction = (name: string, users: string[], relay: { host: string; address?: string }, mailer: string) => {
    const r = s(name).recipients;
    assert.equal(s(name).mailer, mailer);
    assert.equal(r.length, 4);
    const [bob, carol, dave, erin] = r as [Recipient, Recipient, Recipient, Recipient];
    const [b, c, d, e] = users as [string, string, string, string];
    for (const x of r) assert.deepEqual(x.relay, relay);
    assert.deepEqual([bob.status, bob.dsn, bob.text, bob.reply], ['sent', '2.0.0', 'Sent', null]);
    assert.equal(bob.log.status, 'Sent');
    assert.equal(bob.log.mailer, mailer);
    // refused at RCPT: User unknown, as an SMTP peer's 550 is
    assert.deepEqual([carol.status, carol.dsn, carol.text, carol.code], ['bounced', '5.1.1', 'User unknown', 'REMOTE_USER_UNKNOWN']);
    assert.equal(carol.reply, `550 5.1.1 <${c}> User doesn't exist: ${c}`);
    // refused after the message, for good: sendmail's "Service unavailable (text)" and the reply's own code
    assert.deepEqual([dave.status, dave.dsn, dave.code], ['bounced', '5.2.2', 'REMOTE_PERMANENT_REPLY']);
    assert.equal(dave.text, `Service unavailable (<${d}> Quota exceeded (mailbox for user is full))`);
    assert.equal(dave.reply, `552 5.2.2 <${d}> Quota exceeded (mailbox for user is full)`);
    // for now: deferred with the whole reply
    assert.deepEqual([erin.status, erin.dsn, erin.code], ['deferred', '4.2.2', 'REMOTE_TEMPORARY_REPLY']);
    assert.equal(erin.log.status, `Deferred: 452 4.2.2 <${e}> Quota exceeded (mailbox for user is full)`);
    assert.equal(erin.log.reply, `452 4.2.2 <${e}> Quota exceeded (mailbox for user is full)`);

    const transcript = s(name).transcript;
    assert.ok(transcript.includes('>>> LHLO mx.example.test'), transcript.join('\n'));
    assert.ok(!transcript.some((l) => /^>>> (EHLO|HELO)/.test(l)), transcript.join('\n'));
    // one transaction: one MAIL, one DATA, then the three replies in the order of the accepted recipients
    assert.equal(transcript.filter((l) => l.startsWith('>>> MAIL FROM:')).length, 1, transcript.join('\n'));
    const afterData = transcript.slice(transcript.findIndex((l) => l.startsWith('<<< 354')) + 1).filter((l) => l.startsWith('<<< ')).slice(0, 3);
    assert.deepEqual(afterData.map((l) => l.slice(4, 7)), ['250', '552', '452'], transcript.join('\n'));
    assert.ok(afterData[0]!.includes(`<${b}>`), afterData[0]);

    assert.equal(maildirs[b]?.length, 1, `${b} got the message once: ${JSON.stringify(Object.keys(maildirs))}`);
    assert.match(maildirs[b]![0]!, /^Subject: lmtp test$/m);
    assert.match(maildirs[b]![0]!, /^hello over LMTP$/m);
    assert.equal(maildirs[d]?.length ?? 0, 0);
    assert.equal(maildirs[e]?.length ?? 0, 0);
  };

  await t.test('the local mailer on a Unix socket: one reply per recipient, each kept apart; relay=localhost', () => {
    judgeTransaction('local', ['bob', 'carol', 'dave', 'erin'], { host: 'localhost' }, 'local');
  });

  await t.test('a mailertable entry to an A=TCP $h mailer: the same, relay=[127.0.0.1] [127.0.0.1]', () => {
    judgeTransaction('tcp', ['bob@lmtp.test', 'carol@lmtp.test', 'dave@lmtp.test', 'erin@lmtp.test'], { host: '[127.0.0.1]', address: '127.0.0.1' }, 'lmtp');
  });

  await t.test('a missing socket defers, with sendmail\'s SYSERR', () => {
    const [r] = s('missing').recipients as [Recipient];
    assert.deepEqual([r.status, r.dsn, r.text, r.code], ['deferred', '4.3.5', 'No such file or directory', 'LMTP_SOCKET_UNSAFE']);
    assert.deepEqual(r.relay, { host: 'localhost' });
    assert.equal(r.log.status, 'Deferred: No such file or directory');
    assert.equal(r.log.mailer, 'lmtpsock');
    assert.ok(log.includes('TESTQID1: SYSERR(root): makeconnection_ds: unsafe domain socket /run/nonexistent/lmtp: No such file or directory'), log.join('\n'));
  });

  await t.test('a socket nobody listens on defers as a refused connection', () => {
    const [r] = s('stale').recipients as [Recipient];
    assert.deepEqual([r.status, r.dsn, r.text, r.code], ['deferred', '4.4.1', 'Connection refused by localhost', 'LMTP_SOCKET_FAILED']);
    assert.ok(log.includes('TESTQID1: SYSERR(root): Could not connect to socket /run/stale/lmtp: Connection refused'), log.join('\n'));
  });

  await t.test('a TCP LMTP peer that is not there defers', () => {
    const [r] = s('closed').recipients as [Recipient];
    assert.deepEqual([r.status, r.dsn, r.text], ['deferred', '4.4.1', 'Connection refused by [127.0.0.5]']);
    assert.deepEqual(r.relay, { host: '[127.0.0.5]', address: '127.0.0.5' });
  });

  await t.test('a connection lost between the replies: the recipient answered is done, the other waits', () => {
    const [first, second] = s('abrupt').recipients as [Recipient, Recipient];
    assert.deepEqual([first.status, first.dsn, first.text], ['sent', '2.0.0', 'Sent']);
    assert.deepEqual([second.status, second.dsn, second.log.status], ['deferred', '4.4.2', 'Deferred: Connection closed unexpectedly (localhost)']);
  });

  await t.test('a 421 greeting defers with the reply', () => {
    const [r] = s('busy').recipients as [Recipient];
    assert.deepEqual([r.status, r.dsn, r.reply], ['deferred', '4.3.2', '421 4.3.2 Too busy, go away']);
    assert.equal(r.log.status, 'Deferred: 421 4.3.2 Too busy, go away');
  });

  await t.test('a socket in a world-writable directory is never connected to', () => {
    const [r] = s('unsafe').recipients as [Recipient];
    assert.deepEqual([r.status, r.dsn, r.text, r.code], ['deferred', '4.3.5', 'World writable directory', 'LMTP_SOCKET_UNSAFE']);
    assert.equal(out.unsafeConnections, 0);
  });
});
