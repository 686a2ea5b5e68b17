/**
 * Two things a local submission shows that the real sendmail 8.17 was
 * measured doing, run the same way with Postern's daemon and (when it can
 * be had) with the real sendmail MSP relaying to the real MTA, both in the
 * sandbox as mx.example.test:
 *  - `sendmail -bs` by alice: `X-Authentication-Warning: HOST: alice owned
 *    process doing -bs` (and the same `Authentication-Warning:` log line)
 *    when MAIL FROM is not her own local address, never "set sender to";
 *    none for root;
 *  - `sendmail bob` by alice: the queued envelope is
 *    `<alice@mx.example.test>` → `<bob@mx.example.test>` (mailq), while the
 *    submission's log line keeps the MSP's `from=alice`;
 *  - `sendmail -t` by alice with `From: alice`, `To: bob`, `Cc: carol, Dave`
 *    and `sendmail bob` by root: envelope and address headers qualified
 *    with $j (`Dave@mx.example.test`: the case is kept);
 *  - every message's envelope, the -bs ones included, as the real MTA
 *    queued it.
 * Postern's side is checked against fixed expectations, so the test fails
 * without the real sendmail too; the real one's side is compared with them.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { daemonSandboxPreamble, realSendmailPreamble, putFile, SYSLOG_RECEIVER } from '../helpers/scripts.js';
import { runRealSendmail } from '../helpers/real-sendmail.js';
import { posternQueued, type QueuedMessage as Queued } from '../helpers/reports.js';

/** `sendmail -bs`, one command after each reply (as an MUA; sendmail refuses pipelined input after EHLO). */
const DRIVER = `
import os, subprocess, sys
sender, user = sys.argv[1], sys.argv[2]
p = subprocess.Popen([os.environ["SENDMAIL"], "-bs"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def reply():
    while True:
        l = p.stdout.readline().decode("latin1")
        if l == "" or len(l) < 4 or l[3] != "-":
            return l
def send(line):
    p.stdin.write((line + "\\r\\n").encode("latin1")); p.stdin.flush()
    return reply()
reply()
send("EHLO client.example.test")
send("MAIL FROM:<%s>" % sender)
send("RCPT TO:<bob@example.org>")
send("DATA")
p.stdin.write(("Subject: bs %s %s\\r\\n\\r\\nx\\r\\n" % (user, sender or "null")).encode())
send(".")
send("QUIT")
p.stdin.close()
sys.exit(p.wait())
`;

/** [user, MAIL FROM, warned] */
const BS_CASES: ReadonlyArray<readonly [string, string, boolean]> = [
  ['alice', 'alice', false],
  ['alice', 'alice@localhost', false],
  ['alice', 'alice@mx.example.test', false],
  ['alice', 'bob', true],
  ['alice', '', true],
  ['alice', 'boss@example.com', true],
  ['root', 'boss@example.com', false],
];

/** The part both runs share; $SENDMAIL is the binary, the daemon already up. */
const CASES = `
for u in carol dave; do useradd --create-home --user-group "$u"; done
printf 'Subject: local\\n\\nx\\n' | as alice "$SENDMAIL" bob; echo "local=$?"
"$SENDMAIL" -bp > "$W/mailq"; echo "mailq=$(b64 "$W/mailq")"
printf 'From: alice\\nTo: bob\\nCc: carol, Dave\\nSubject: t-flag\\n\\nx\\n' | as alice "$SENDMAIL" -t -i; echo "local=$?"
printf 'Subject: root-local\\n\\nx\\n' | as root "$SENDMAIL" bob; echo "local=$?"
${BS_CASES.map(([user, sender]) => `as ${user} env SENDMAIL="$SENDMAIL" /usr/bin/python3 "$W/driver.py" '${sender}' ${user}; echo "bs=$?"`).join('\n')}
sleep 0.5
echo "syslog=$(b64 "$W/syslog")"
`;

const SYSLOG = `
${putFile('syslog.py', SYSLOG_RECEIVER)}
${putFile('driver.py', DRIVER)}
chmod 644 "$W/driver.py"
/usr/bin/python3 "$W/syslog.py" "$W/syslog" "$W/syslog.ready" &
for i in $(seq 100); do [ -e "$W/syslog.ready" ] && break; sleep 0.05; done
`;

const POSTERN = `
${daemonSandboxPreamble(repoRoot)}
${SYSLOG}
as() { u=$1; shift; if [ "$u" = root ]; then "$@"; else setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"; fi; }
SENDMAIL='${repoRoot}/bin/sendmail'
"$SENDMAIL" -bD -odq -L sm-mta 2> "$W/daemon.log" & MASTER=$!
for i in $(seq 300); do [ -S /run/postern/submit.sock ] && break; sleep 0.05; done
${CASES}
queued
kill -TERM "$MASTER"; wait "$MASTER"
`;

function realScript(work: string): string {
  return `${realSendmailPreamble(work)}
echo '127.0.0.2 example.com' >> /etc/hosts
${SYSLOG}
"$SENDMAIL" -bi > /dev/null 2>&1
"$SENDMAIL" -L sm-mta -bd -O DeliveryMode=queue
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null && break; sleep 0.05; done
${CASES}
for f in /var/spool/mqueue/qf*; do echo "qf=$(b64 "$f")"; done
`;
}

/** Subject → the envelope, recipients sorted, and the From:, To: and Cc: lines as queued. */
type Envelopes = Map<string, { sender: string; recipients: string[]; addressHeaders: string[] }>;

interface Observed {
  /** Subject → the X-Authentication-Warning lines of that message */
  readonly warnings: Map<string, string[]>;
  readonly envelopes: Envelopes;
  /** mailq after `sendmail bob`, id, size and date normalised */
  readonly mailq: string;
  /** Authentication-Warning log lines, text after the queue id */
  readonly loggedWarnings: string[];
  /** the from= field of each from= line whose relay is alice@localhost */
  readonly mspFrom: string[];
  readonly statuses: string[];
}

function observe(stdout: string, queued: readonly Queued[]): Observed {
  const lines = (key: string) => stdout.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  const text = (b64: string) => Buffer.from(b64, 'base64').toString('latin1');
  const warnings = new Map<string, string[]>();
  const envelopes: Envelopes = new Map();
  for (const { sender, recipients, message: m } of queued) {
    const head = m.slice(0, m.indexOf('\n\n') + 1).split('\n');
    const subject = head.find((l) => l.startsWith('Subject: '))?.slice(9) ?? '?';
    warnings.set(subject, head.filter((l) => l.startsWith('X-Authentication-Warning:')));
    envelopes.set(subject, { sender, recipients: [...recipients].sort(), addressHeaders: head.filter((l) => /^(From|To|Cc): /.test(l)) });
  }
  const syslog = text(lines('syslog')[0] ?? '').split('\n');
  return {
    warnings,
    envelopes,
    mailq: text(lines('mailq')[0] ?? '').replace(/^\w{14} +\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d /m, 'QID SIZE DATE '),
    loggedWarnings: syslog.map((l) => / \w{14}: (Authentication-Warning: .*)$/.exec(l)?.[1]).filter((l): l is string => l !== undefined),
    mspFrom: syslog.filter((l) => / from=.*relay=alice@localhost$/.test(l)).map((l) => /from=([^,]*),/.exec(l)![1]!),
    statuses: [...lines('local'), ...lines('bs')],
  };
}

/** A qf file: its envelope (S and R lines) and its header block as a message's (`H?flags?Name: value` → `Name: value`). */
function qfMessage(qf: string): Queued {
  const out: string[] = [];
  const recipients: string[] = [];
  let sender = '';
  let inHeader = false;
  for (const line of qf.split('\n')) {
    if (line.startsWith('S')) sender = line.slice(1).replace(/^<(.*)>$/, '$1');
    if (/^R[A-Z]*:/.test(line)) recipients.push(line.slice(line.indexOf(':') + 1).replace(/^<(.*)>$/, '$1'));
    if (line.startsWith('H')) {
      out.push(line.replace(/^H(\?[^?]*\?)?/, ''));
      inHeader = true;
    } else if (inHeader && /^[ \t]/.test(line)) out.push(line);
    else inHeader = false;
  }
  return { sender, recipients, message: out.join('\n') + '\n\n' };
}

/** What sendmail's MTA queues from its MSP: bare names qualified with $j in the envelope and the address headers. */
const EXPECTED_ENVELOPES: ReadonlyArray<readonly [string, string, readonly string[], readonly string[] | undefined]> = [
  // alice's own From: depends on her GECOS, which differs between the two sandboxes
  ['local', 'alice@mx.example.test', ['bob@mx.example.test'], undefined],
  [
    't-flag',
    'alice@mx.example.test',
    ['Dave@mx.example.test', 'bob@mx.example.test', 'carol@mx.example.test'],
    ['From: alice@mx.example.test', 'To: bob@mx.example.test', 'Cc: carol@mx.example.test, Dave@mx.example.test'],
  ],
  ['root-local', 'root@mx.example.test', ['bob@mx.example.test'], ['From: root <root@mx.example.test>']],
];

const WARNING = 'X-Authentication-Warning: mx.example.test: alice owned process doing -bs';
const EXPECTED_MAILQ = [
  '\t\t/var/spool/mqueue (1 request)',
  '-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------',
  'QID SIZE DATE <alice@mx.example.test>',
  '\t\t\t\t\t <bob@mx.example.test>',
  '\t\tTotal requests: 1',
  '',
].join('\n');

function checkExpected(o: Observed, who: string): void {
  assert.deepEqual(o.statuses, Array(3 + BS_CASES.length).fill('0'), who);
  assert.equal(o.mailq, EXPECTED_MAILQ, who);
  for (const [subject, sender, recipients, headers] of EXPECTED_ENVELOPES) {
    const e = o.envelopes.get(subject);
    assert.deepEqual([e?.sender, e?.recipients], [sender, recipients], `${who}: the envelope of "${subject}"`);
    if (headers !== undefined) assert.deepEqual(e?.addressHeaders, headers, `${who}: the address headers of "${subject}"`);
  }
  for (const [user, sender, warned] of BS_CASES) {
    assert.deepEqual(o.warnings.get(`bs ${user} ${sender || 'null'}`), warned ? [WARNING] : [], `${who}: ${user} MAIL FROM:<${sender}>`);
  }
  assert.deepEqual(o.warnings.get('local'), [], who);
  const warnedCount = BS_CASES.filter(([, , w]) => w).length;
  assert.deepEqual(o.loggedWarnings, Array(warnedCount).fill(WARNING.replace('X-', '')), who);
  assert.equal(o.mspFrom[0], 'alice', `${who}: the submission's own log line keeps the bare login name`);
}

test('local submissions: -bs authentication warning and qualified envelope, as sendmail 8.17 (Postern, and the real one when available)', { timeout: 400_000 }, async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);

  const ours = await runInSandbox(POSTERN, { hostname: 'mx.example.test', timeoutMs: 150_000 });
  assert.equal(ours.code, 0, ours.stderr);
  const postern = observe(ours.stdout, posternQueued(ours.stdout));
  checkExpected(postern, 'Postern');

  await t.test('the real sendmail 8.17 does the same', async (t2) => {
    const theirs = await runRealSendmail(t2, realScript);
    if (theirs === undefined) return;
    assert.equal(theirs.code, 0, theirs.stderr);
    const qfs = theirs.stdout.split('\n').filter((l) => l.startsWith('qf=')).map((l) => qfMessage(Buffer.from(l.slice(3), 'base64').toString('latin1')));
    const real = observe(theirs.stdout, qfs);
    checkExpected(real, 'sendmail 8.17');
    assert.deepEqual([...postern.warnings].sort(), [...real.warnings].sort());
    // the -bs envelopes too (MAIL FROM:<alice>, <alice@localhost>, <>...): the same as the real one queues them
    const envelopeOnly = (e: Envelopes) => [...e].map(([subject, { sender, recipients }]) => [subject, sender, recipients]).sort();
    assert.deepEqual(envelopeOnly(postern.envelopes), envelopeOnly(real.envelopes));
  });
});
