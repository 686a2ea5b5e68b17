/**
 * LMTP delivery end to end, as an administrator sets it up: sendmail.cf's
 * local mailer is an [IPC] LMTP mailer on Dovecot's socket (what
 * FEATURE(`local_lmtp', `[IPC]', `FILE ...') makes) and the mailertable
 * sends a domain to an A=TCP $h LMTP mailer.  alice submits with
 * `sendmail -t`, the daemon queues, `sendmail -q` delivers: per recipient,
 * delivered into Dovecot's maildir, bounced back to alice (through LMTP
 * too) with the server's reply in the DSN, or kept in the queue.
 *
 * The same mail through the real sendmail 8.17 with the same Dovecot gives
 * the log lines Postern's to= lines must match, field for field from
 * mailer= on (the queue ids, pids, delays and priorities aside).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DOVECOT_DIR, LMTP_PORT, MAILERTABLE, lmtpSendmailCf } from '../helpers/lmtp-config.js';
import { dovecotPeer, dovecotSkipReason, type DovecotUser } from '../helpers/dovecot.js';
import { m4Config } from '../helpers/m4cf.js';
import { realSendmail, repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { daemonSandboxPreamble, putFile, SYSLOG_RECEIVER } from '../helpers/scripts.js';
import { transcriptOf } from '../helpers/reports.js';

const USERS: DovecotUser[] = [
  { name: 'alice' },
  { name: 'bob' },
  { name: 'dave', full: 'permanent' },
  { name: 'erin', full: 'tempfail' },
  { name: 'bob@lmtp.test' },
  { name: 'dave@lmtp.test', full: 'permanent' },
  { name: 'erin@lmtp.test', full: 'tempfail' },
];

const LOCAL_RCPTS = ['bob', 'carol', 'dave', 'erin'];
const TCP_RCPTS = LOCAL_RCPTS.map((u) => `${u}@lmtp.test`);

/** bash: each maildir's messages, as `maildir=<user> <count> <base64 of the first>` lines. */
const DUMP_MAILDIRS = `
for d in '${DOVECOT_DIR}'/mail/*; do
  n=$(ls "$d/new" 2>/dev/null | wc -l); f=$(ls "$d/new" 2>/dev/null | head -1)
  echo "maildir=$(basename "$d") $n $( [ -n "$f" ] && base64 -w0 < "$d/new/$f")"
done
`;

/** bash: every message in alice's maildir (the reports), as `alicemail=<base64>` lines. */
const DUMP_ALICE = `for f in '${DOVECOT_DIR}'/mail/alice/new/*; do [ -e "$f" ] && echo "alicemail=$(base64 -w0 < "$f")"; done
`;

/** The transcripts of the `alicemail=` reports in a script's output. */
function aliceTranscripts(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('alicemail='))
    .map((l) => transcriptOf(Buffer.from(l.slice(10), 'base64').toString()));
}

function posternScript(): string {
  const dovecot = dovecotPeer(DOVECOT_DIR, LMTP_PORT, USERS);
  return `${daemonSandboxPreamble(repoRoot)}
for u in carol dave erin; do useradd --create-home --user-group "$u"; done
${putFile('sendmail.cf', lmtpSendmailCf())}
${putFile('mailertable', MAILERTABLE)}
cp "$W/sendmail.cf" /etc/mail/sendmail.cf
makemap hash /etc/mail/mailertable < "$W/mailertable"
${dovecot.start}
sendmail -bd -O DeliveryMode=queue; echo "bd=$?"
printf 'To: ${LOCAL_RCPTS.join(', ')}\\nSubject: to the mailboxes\\n\\nhello\\n' | as alice sendmail -t -i; echo "s1=$?"
printf 'To: ${TCP_RCPTS.join(', ')}\\nSubject: over tcp\\n\\nhello\\n' | as alice sendmail -t -i; echo "s2=$?"
printf 'To: bob@sock.test\\nSubject: no socket\\n\\nhello\\n' | as alice sendmail -t -i; echo "s3=$?"
kill -TERM "$(head -1 /var/run/sendmail.pid)"
for i in $(seq 200); do [ -e /var/run/sendmail.pid ] || break; sleep 0.05; done
sendmail -q 2> "$W/q.log"; echo "q=$? $(b64 "$W/q.log")"
mailq > "$W/mailq"; echo "mailq=$(b64 "$W/mailq")"
${DUMP_MAILDIRS}
${DUMP_ALICE}
echo "dovecot=$(b64 '${DOVECOT_DIR}/dovecot.log')"
`;
}

/** The same recipients through the real sendmail, its log caught on /dev/log. */
function realScript(real: string, cf: string): string {
  const dovecot = dovecotPeer(DOVECOT_DIR, LMTP_PORT, USERS);
  return `set -u
W=$(mktemp -d /run/real.XXXX)
${putFile('receiver.py', SYSLOG_RECEIVER)}
${putFile('sendmail.cf', cf)}
${putFile('mailertable', MAILERTABLE)}
python3 "$W/receiver.py" "$W/syslog" "$W/ready" &
for i in $(seq 100); do [ -e "$W/ready" ] && break; sleep 0.05; done
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
printf 'hosts files\\naliases files\\n' > /etc/mail/service.switch
for u in alice bob carol dave erin; do useradd -M "$u"; done
cp "$W/sendmail.cf" /etc/mail/sendmail.cf
touch /etc/mail/local-host-names /etc/mail/relay-domains /etc/mail/aliases
REAL=${real}
"$(dirname "$REAL")/makemap" hash /etc/mail/mailertable < "$W/mailertable"
"$REAL" -bi > /dev/null 2>&1
mkdir -p /var/spool/mqueue && chmod 700 /var/spool/mqueue
${dovecot.start}
printf 'Subject: t\\n\\nhello\\n' > "$W/msg"
# the local recipients as sendmail's MSP hands them to the MTA (Postern's sendmail -t above goes that way)
"$REAL" -odi -f alice@mx.example.test ${LOCAL_RCPTS.map((u) => `'<${u}@mx.example.test>'`).join(' ')} < "$W/msg"
"$REAL" -odi -f alice@mx.example.test ${TCP_RCPTS.join(' ')} < "$W/msg"
"$REAL" -odi -f alice@mx.example.test bob@sock.test < "$W/msg"
sleep 0.5
echo "syslog=$(base64 -w0 < "$W/syslog")"
${DUMP_ALICE}
`;
}

/** The .mc of the real sendmail: the local mailer and the mailertable's mailers as in lmtpSendmailCf(). */
function realMc(): string {
  const mailers = lmtpSendmailCf()
    .split('\n')
    .filter((l) => /^Mlmtp/.test(l))
    .join('\n');
  return `OSTYPE(\`linux')dnl
FEATURE(\`local_lmtp', \`[IPC]', \`FILE ${DOVECOT_DIR}/run/lmtp')dnl
FEATURE(\`mailertable', \`hash -o /etc/mail/mailertable')dnl
MAILER(\`local')dnl
MAILER(\`smtp')dnl
MAILER_DEFINITIONS
${mailers}
`;
}

/** to= lines by recipient (without brackets or domain-less forms told apart), each from mailer= on, pri= left out. */
function deliveries(lines: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const l of lines) {
    const m = /: to=<?([^,>]+)>?, .*?(mailer=.*)$/.exec(l);
    if (m === null || l.includes('stat=queued')) continue;
    // a local submission's `bob` is queued as <bob@mx.example.test>, as sendmail's MSP hands it to the MTA
    out.set(m[1]!.replace(/@mx\.example\.test$/, ''), m[2]!.replace(/ pri=\d+,/, ''));
  }
  return out;
}

test('LMTP mailers end to end: sendmail -t, the queue, Dovecot; the log as sendmail 8.17 writes it', async (t) => {
  const skip = (await sandboxSkipReason()) ?? dovecotSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(posternScript(), { hostname: 'mx.example.test', timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  const text = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString();
  for (const key of ['bd', 's1', 's2', 's3']) assert.equal(line(key), '0', `${key}: ${r.stdout}\n${r.stderr}`);
  const [qStatus, qLog] = line('q').split(' ');
  assert.equal(qStatus, '0');
  const log = text(qLog).split('\n');
  const postern = deliveries(log);
  const mail = new Map(
    r.stdout
      .split('\n')
      .filter((l) => l.startsWith('maildir='))
      .map((l) => {
        const [user, count, first] = l.slice(8).split(' ');
        return [user!, { count: Number(count), first: text(first) }] as const;
      }),
  );
  const diag = `${log.join('\n')}\n${text(line('dovecot'))}`;

  await t.test('each recipient of one LMTP transaction is logged with its own outcome', () => {
    assert.equal(postern.get('bob'), 'mailer=local, relay=localhost, dsn=2.0.0, stat=Sent', diag);
    assert.equal(postern.get('carol'), "mailer=local, relay=localhost, dsn=5.1.1, reply=550 5.1.1 <carol> User doesn't exist: carol, stat=User unknown", diag);
    assert.equal(postern.get('dave'), 'mailer=local, relay=localhost, dsn=5.2.2, reply=552 5.2.2 <dave> Quota exceeded (mailbox for user is full), stat=Service unavailable (<dave> Quota exceeded (mailbox for user is full))', diag);
    assert.equal(postern.get('erin'), 'mailer=local, relay=localhost, dsn=4.2.2, reply=452 4.2.2 <erin> Quota exceeded (mailbox for user is full), stat=Deferred: 452 4.2.2 <erin> Quota exceeded (mailbox for user is full)', diag);
    assert.equal(postern.get('bob@lmtp.test'), 'mailer=lmtp, relay=[127.0.0.1] [127.0.0.1], dsn=2.0.0, stat=Sent', diag);
    assert.match(postern.get('erin@lmtp.test') ?? '', /^mailer=lmtp, relay=\[127\.0\.0\.1\] \[127\.0\.0\.1\], dsn=4\.2\.2, .*stat=Deferred: 452 /, diag);
    assert.equal(postern.get('bob@sock.test'), 'mailer=lmtpsock, relay=localhost, dsn=4.3.5, stat=Deferred: No such file or directory', diag);
    assert.ok(log.some((l) => / SYSERR\(smmta\): makeconnection_ds: unsafe domain socket \/run\/nonexistent\/lmtp: No such file or directory$/.test(l)), diag);
  });

  await t.test('delivered into the LMTP server\'s mailboxes, nothing where it failed', () => {
    assert.equal(mail.get('bob')?.count, 1, diag);
    assert.match(mail.get('bob')!.first, /^Subject: to the mailboxes$/m);
    assert.equal(mail.get('bob@lmtp.test')?.count, 1, diag);
    assert.match(mail.get('bob@lmtp.test')!.first, /^Subject: over tcp$/m);
    for (const u of ['dave', 'erin', 'dave@lmtp.test', 'erin@lmtp.test']) assert.equal(mail.get(u)?.count ?? 0, 0, u);
  });

  await t.test('the bounces reach alice through LMTP, each failure with the server\'s reply', () => {
    assert.equal(mail.get('alice')?.count, 2, diag);
    const dsn = mail.get('alice')!.first;
    assert.match(dsn, /^Subject: Returned mail: see transcript for details$/m);
    assert.match(dsn, /Content-Type: multipart\/report; report-type=delivery-status;/);
    const parts = dsn.split(/\n\n(?=Final-Recipient:)/).slice(1);
    const byRecipient = (who: RegExp) => parts.find((p) => who.test(p.split('\n')[0]!)) ?? '';
    const local = /Subject: to the mailboxes/.test(dsn);
    const [carol, dave] = local ? ['carol', 'dave'] : ['carol@lmtp.test', 'dave@lmtp.test'];
    assert.match(byRecipient(new RegExp(`^Final-Recipient: rfc822; ${carol}\\b`, 'i')), /\nAction: failed\nStatus: 5\.1\.1\n/);
    assert.match(byRecipient(new RegExp(`^Final-Recipient: rfc822; ${carol}\\b`, 'i')), new RegExp(`\\nDiagnostic-Code: smtp; 550 5\\.1\\.1 <${carol}> User doesn't exist: ${carol}\\n`, 'i'));
    assert.match(byRecipient(new RegExp(`^Final-Recipient: rfc822; ${dave}\\b`, 'i')), /\nAction: failed\nStatus: 5\.2\.2\n/);
    assert.match(byRecipient(new RegExp(`^Final-Recipient: rfc822; ${dave}\\b`, 'i')), new RegExp(`\\nDiagnostic-Code: smtp; 552 5\\.2\\.2 <${dave}> Quota exceeded \\(mailbox for user is full\\)\\n`, 'i'));
    assert.equal(parts.length, 2, `only the two that failed for good: ${dsn}`);
    // the transcript: the LMTP server's refusals, each followed by what became of its recipient, as sendmail writes them
    // a local submission's recipients reach the queue qualified and in brackets, as sendmail's MSP hands them to its MTA
    const [host, name] = local ? ['localhost', (u: string) => `<${u}@mx.example.test>`] : ['[127.0.0.1]', (u: string) => `<${u}@lmtp.test>`];
    const [c, d, e] = local ? ['carol', 'dave', 'erin'] : ['carol@lmtp.test', 'dave@lmtp.test', 'erin@lmtp.test'];
    assert.deepEqual(transcriptOf(dsn), [
      `... while talking to ${host}:`,
      `>>> RCPT TO:<${c}>`,
      `<<< 550 5.1.1 <${c}> User doesn't exist: ${c}`,
      `550 5.1.1 ${name('carol')}... User unknown`,
      '>>> DATA',
      `<<< 552 5.2.2 <${d}> Quota exceeded (mailbox for user is full)`,
      `554 5.0.0 Service unavailable (<${d}> Quota exceeded (mailbox for user is full))`,
      `<<< 452 4.2.2 <${e}> Quota exceeded (mailbox for user is full)`,
      `${name('erin')}... Deferred: 452 4.2.2 <${e}> Quota exceeded (mailbox for user is full)`,
    ], dsn);
  });

  await t.test('what is deferred stays queued, and only that', () => {
    const mailq = text(line('mailq'));
    assert.match(mailq, /\(3 requests\)/, mailq);
    assert.match(mailq, /\n\t+ <erin@mx\.example\.test>\n/, mailq);
    assert.match(mailq, /\n\t+ <erin@lmtp\.test>\n/, mailq);
    // the reason shown is the waiting recipient's, not that of one delivered in the same transaction
    assert.match(mailq, /\n {17}\(Deferred: 452 4\.2\.2 <erin> Quota exceeded \(mailbox for user \)\n\t+ <erin@mx\.example\.test>\n/, mailq);
    assert.match(mailq, /\n\t+ <bob@sock\.test>\n/, mailq);
    assert.doesNotMatch(mailq, /\b(bob|carol|dave)(@mx\.example\.test|@lmtp\.test)?>?\n/, mailq);
  });

  await t.test('the real sendmail 8.17 logs the same per-recipient fields and reports the same transcript lines', async (t2) => {
    const real = await realSendmail();
    if (typeof real !== 'string') return t2.skip(real.skip);
    const cf = await m4Config({ text: realMc() });
    if (typeof cf !== 'string') return t2.skip(cf.skip);
    const rr = await runInSandbox(realScript(real, cf), { hostname: 'mx.example.test', timeoutMs: 120_000 });
    assert.equal(rr.code, 0, rr.stderr);
    const syslog = text(rr.stdout.split('\n').find((l) => l.startsWith('syslog='))?.slice(7)).split('\n');
    const theirs = deliveries(syslog);
    for (const who of [...LOCAL_RCPTS, 'bob@lmtp.test', 'dave@lmtp.test', 'erin@lmtp.test', 'bob@sock.test']) {
      assert.equal(postern.get(who), theirs.get(who), `${who}\nsendmail: ${syslog.join('\n')}`);
    }
    assert.ok(syslog.some((l) => /SYSERR\(root\): makeconnection_ds: unsafe domain socket \/run\/nonexistent\/lmtp: No such file or directory$/.test(l)), syslog.join('\n'));
    // the report on the local mailer's transaction: sendmail's transcript lines, the same but for the one
    // deliberate difference (the command shown before a reply: sendmail's last written, under PIPELINING
    // its DATA; Postern's the one answered) and the order in which sendmail sent the RCPTs
    const localReport = (stdout: string) => aliceTranscripts(stdout).find((x) => x[0] === '... while talking to localhost:') ?? [];
    const comparable = (lines: string[]) => lines.filter((l) => !l.startsWith('>>> ')).sort();
    const ours = localReport(r.stdout);
    const theirReport = localReport(rr.stdout);
    assert.ok(theirReport.length > 0, `sendmail sent alice no report on the local transaction\n${rr.stdout}`);
    assert.deepEqual(comparable(ours), comparable(theirReport), `Postern:\n${ours.join('\n')}\nsendmail:\n${theirReport.join('\n')}`);
  });
});
