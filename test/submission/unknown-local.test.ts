/**
 * `sendmail` by an ordinary user naming a local user that does not exist
 * (no passwd entry, no alias), as sendmail 8.17 was measured doing it in
 * the sandbox (its MSP, submit.cf's DeliveryMode=i, relaying to its MTA):
 * the MTA refuses that recipient at RCPT (`550 5.1.1 <nosuch@$j>... User
 * unknown`), the MSP appends the message to ~/dead.letter, prints
 * `/home/alice/dead.letter... Saved message in /home/alice/dead.letter`
 * on standard output (nothing on standard error) and exits 67; the other
 * recipients get the message; no bounce is mailed.  The same for `-t` (To:
 * or Cc:), `-i`/`-oi`, and `user@$j`.  With -odq nothing is judged while
 * the caller waits: exit 0, silent.  An alias (even one naming an unknown
 * user) and a remote address are taken: exit 0.
 * A message the MSP left in its client queue (no daemon) is taken by
 * Postern's daemon from the client-queue runner and bounces on delivery.
 * Postern's side is checked against these expectations, so the test fails
 * without the real sendmail too; the real one's side is checked with the
 * same expectations when it can be run.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { daemonSandboxPreamble, realSendmailPreamble } from '../helpers/scripts.js';
import { runRealSendmail } from '../helpers/real-sendmail.js';
import { posternQueued } from '../helpers/reports.js';

const SAVED = '/home/alice/dead.letter... Saved message in /home/alice/dead.letter';

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  /** the headers before `Subject: NAME` */
  readonly headers: string;
  readonly exit: number;
  /** the recipients queued at the MTA (sorted), none when nothing is */
  readonly queued: readonly string[];
}

const CASES: readonly Case[] = [
  // (a) one unknown local recipient
  { name: 'a-operand', args: ['nosuch'], headers: '', exit: 67, queued: [] },
  { name: 'a-capital', args: ['Dave'], headers: '', exit: 67, queued: [] },
  { name: 'a-t', args: ['-t'], headers: 'To: nosuch\n', exit: 67, queued: [] },
  { name: 'a-qualified', args: ['nosuch@mx.example.test'], headers: '', exit: 67, queued: [] },
  // (b) one unknown, one valid: the valid one gets it
  { name: 'b-operands', args: ['nosuch', 'bob'], headers: '', exit: 67, queued: ['bob@mx.example.test'] },
  { name: 'b-t', args: ['-t'], headers: 'To: bob, nosuch\n', exit: 67, queued: ['bob@mx.example.test'] },
  // (c) -t, the unknown one only in Cc
  { name: 'c-cc', args: ['-t'], headers: 'To: bob\nCc: nosuch\n', exit: 67, queued: ['bob@mx.example.test'] },
  // (d) -i / -oi, DeliveryMode as submit.cf sets it (i); and -odq, which judges nobody while the caller waits
  { name: 'd-oi', args: ['-oi', 'nosuch'], headers: '', exit: 67, queued: [] },
  { name: 'd-t-i', args: ['-t', '-i'], headers: 'To: nosuch\n', exit: 67, queued: [] },
  { name: 'd-cc-t-i', args: ['-t', '-i'], headers: 'To: bob\nCc: nosuch\n', exit: 67, queued: ['bob@mx.example.test'] },
  { name: 'd-odq', args: ['-odq', 'nosuch'], headers: '', exit: 0, queued: [] },
  // unchanged: an alias (one of whose members is unknown) and a remote address are taken
  { name: 'alias', args: ['list'], headers: '', exit: 0, queued: ['list@mx.example.test'] },
  { name: 'remote', args: ['someone@example.com'], headers: '', exit: 0, queued: ['someone@example.com'] },
];

/** Runs each case as alice: `case=NAME exit=N out=B64 err=B64`; then `dead=B64` and `deadmode=MODE`. */
const CASES_SCRIPT = `
printf 'list: bob, ghost\\n' >> /etc/mail/aliases
"$SENDMAIL" -bi > /dev/null 2>&1
${CASES.map(
  (c) => `printf '${c.headers.replace(/\n/g, '\\n')}Subject: ${c.name}\\n\\nx\\n' | as alice "$SENDMAIL" ${c.args.map((a) => `'${a}'`).join(' ')} > "$W/out" 2> "$W/err"
echo "case=${c.name} exit=$? out=$(b64 "$W/out") err=$(b64 "$W/err")"`,
).join('\n')}
echo "dead=$(b64 /home/alice/dead.letter)"
echo "deadmode=$(stat -c %a /home/alice/dead.letter)"
`;

const POSTERN = `
${daemonSandboxPreamble(repoRoot)}
SENDMAIL='${repoRoot}/bin/sendmail'
# no daemon yet: the MSP keeps the message in its client queue
printf 'Subject: kept\\n\\nx\\n' | as alice "$SENDMAIL" nosuch; echo "kept=$?"
"$SENDMAIL" -bD -odq -L sm-mta 2> "$W/daemon.log" & MASTER=$!
for i in $(seq 300); do [ -S /run/postern/submit.sock ] && break; sleep 0.05; done
"$SENDMAIL" -L sm-msp-queue -Ac -q; echo "runner=$?"
${CASES_SCRIPT}
# past DEAD_LETTER_LIMIT (4 MiB) the daemon hands no copy back: the refusal is printed instead, dead.letter left as it was
head -c 5000000 /dev/zero | tr '\\0' x | fold -w 70 | { printf 'Subject: big\\n\\n'; cat; } | as alice "$SENDMAIL" nosuch bob > "$W/out"
echo "big=$? out=$(b64 "$W/out") deadsize=$(stat -c %s /home/alice/dead.letter)"
queued
kill -TERM "$MASTER"; wait "$MASTER"
`;

function realScript(work: string): string {
  return `${realSendmailPreamble(work)}
"$SENDMAIL" -L sm-mta -bd -O DeliveryMode=queue
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null && break; sleep 0.05; done
${CASES_SCRIPT}
for f in /var/spool/mqueue/qf*; do [ -e "$f" ] && echo "qf=$(b64 "$f")"; done
true
`;
}

interface Observed {
  /** case → [exit, stdout, stderr] */
  readonly runs: Map<string, [number, string, string]>;
  /** Subject → [sender, recipients sorted] of each message the MTA queued */
  readonly queued: Map<string, [string, string[]]>;
  readonly deadLetter: string;
  readonly deadMode: string;
}

function observe(stdout: string, queued: ReadonlyArray<{ sender: string; recipients: string[]; message: string }>): Observed {
  const text = (b64: string) => Buffer.from(b64, 'base64').toString('latin1');
  const runs = new Map<string, [number, string, string]>();
  for (const l of stdout.split('\n')) {
    const m = /^case=(\S+) exit=(\d+) out=(\S*) err=(\S*)$/.exec(l);
    if (m !== null) runs.set(m[1]!, [Number(m[2]), text(m[3]!), text(m[4]!)]);
  }
  const byKey = (key: string) => stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  const map = new Map<string, [string, string[]]>();
  for (const q of queued) {
    const subject = /^Subject: (.*)$/m.exec(q.message.slice(0, q.message.indexOf('\n\n') + 1))?.[1] ?? '?';
    map.set(subject, [q.sender, [...q.recipients].sort()]);
  }
  return { runs, queued: map, deadLetter: text(byKey('dead')), deadMode: byKey('deadmode') };
}

function realQueued(stdout: string): Array<{ sender: string; recipients: string[]; message: string }> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('qf='))
    .map((l) => {
      const qf = Buffer.from(l.slice(3), 'base64').toString('latin1');
      const lines = qf.split('\n');
      const sender = (lines.find((x) => x.startsWith('S')) ?? 'S').slice(1).replace(/^<(.*)>$/, '$1');
      const recipients = lines.filter((x) => /^R[A-Z]*:/.test(x)).map((x) => x.slice(x.indexOf(':') + 1).replace(/^<(.*)>$/, '$1'));
      const message = lines.filter((x) => x.startsWith('H')).map((x) => x.replace(/^H(\?[^?]*\?)?/, '')).join('\n') + '\n\n';
      return { sender, recipients, message };
    });
}

/** What differs from the measured behaviour, case by case (every case is checked, so a failure names them all). */
function differences(o: Observed): string[] {
  const found: string[] = [];
  const expect = (name: string, what: string, actual: unknown, expected: unknown) => {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) found.push(`${name}: ${what}: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  };
  for (const c of CASES) {
    const [exit, out, err] = o.runs.get(c.name) ?? [-1, '', ''];
    expect(c.name, `sendmail ${c.args.join(' ')}`, { exit, out, err }, { exit: c.exit, out: c.exit === 67 ? `${SAVED}\n` : '', err: '' });
    // -odq: sendmail keeps it in its client queue, Postern's daemon queues it; either way it bounces later
    if (c.name !== 'd-odq') expect(c.name, 'queued at the MTA', o.queued.get(c.name), c.queued.length > 0 ? ['alice@mx.example.test', c.queued] : undefined);
  }
  // no bounce was mailed: the refused recipients are the caller's, who was told
  expect('all', 'bounces queued', [...o.queued].filter(([, [sender]]) => sender === '' || sender === 'MAILER-DAEMON'), []);
  // dead.letter: one entry per refused message, in order: `From alice <ctime>`, Return-Path, the MSP's headers, the body, an empty line
  const entries = o.deadLetter === '' ? [] : o.deadLetter.split(/^(?=From alice )/m);
  const refused = CASES.filter((c) => c.exit === 67);
  expect('all', 'dead.letter entries', entries.length, refused.length);
  entries.forEach((entry, n) => {
    const c = refused[n];
    if (c === undefined) return;
    const shape = /^From alice \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\nReturn-Path: <alice>\nReceived: \(from alice@localhost\)\n/.test(entry);
    expect(c.name, 'dead.letter entry', shape && entry.endsWith(`\n${c.headers}Subject: ${c.name}\n\nx\n\n`) ? 'ok' : entry, 'ok');
  });
  if (entries.length > 0) expect('all', 'dead.letter mode', o.deadMode, '600');
  return found;
}

test('an unknown local recipient: refused while the caller waits, dead.letter, exit 67, as sendmail 8.17 (Postern, and the real one when available)', { timeout: 400_000 }, async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);

  const ours = await runInSandbox(POSTERN, { hostname: 'mx.example.test', timeoutMs: 150_000 });
  assert.equal(ours.code, 0, ours.stderr);
  const postern = observe(ours.stdout, posternQueued(ours.stdout));
  assert.deepEqual(differences(postern), [], 'Postern');
  // the client-queue runner's submission is no caller waiting: taken as it is, to bounce on delivery (never kept for ever)
  assert.match(ours.stdout, /^kept=0\nrunner=0$/m);
  assert.deepEqual(postern.queued.get('kept'), ['alice@mx.example.test', ['nosuch@mx.example.test']]);
  const big = /^big=(\d+) out=(\S*) deadsize=(\d+)$/m.exec(ours.stdout);
  assert.deepEqual(
    [big?.[1], Buffer.from(big?.[2] ?? '', 'base64').toString(), Number(big?.[3])],
    ['67', 'nosuch@mx.example.test... User unknown\n', Buffer.byteLength(postern.deadLetter, 'latin1')],
  );
  assert.deepEqual(postern.queued.get('big'), ['alice@mx.example.test', ['bob@mx.example.test']]);

  await t.test('the real sendmail 8.17 does the same', async (t2) => {
    const theirs = await runRealSendmail(t2, realScript);
    if (theirs === undefined) return;
    assert.equal(theirs.code, 0, theirs.stderr);
    assert.deepEqual(differences(observe(theirs.stdout, realQueued(theirs.stdout))), [], 'sendmail 8.17');
  });
});
