/**
 * Duplicates and loops whichever form an address arrives in.  A local
 * submission's envelope is qualified (`bob` is queued as bob@$j), while
 * .forward files and aliases name users bare, qualified or in capitals; as
 * sendmail's sameaddr() has it, `bob`, `bob@mx.example.test` and `Bob` are
 * one local recipient (`\bob` is not).  The same users, .forward files,
 * aliases and messages go through Postern (daemon, then `sendmail -q`) and,
 * when it can be had, through the real sendmail 8.17 (its MSP, its MTA,
 * then `sendmail -q`, with a local mailer that appends to /var/mail/USER);
 * both must leave in each mailbox the messages of the table below.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { m4Config } from '../helpers/m4cf.js';
import { repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { daemonSandboxPreamble, realSendmailPreamble } from '../helpers/scripts.js';
import { runRealSendmail } from '../helpers/real-sendmail.js';

const USERS = ['carol', 'dave', 'eve', 'fred', 'gus', 'hal', 'kim', 'lee', 'x1', 'x2', 'x3', 'dan', 'pam'];

/** [user, .forward] */
const FORWARDS: ReadonlyArray<readonly [string, string]> = [
  ['fred', 'fred'],
  ['gus', 'gus@mx.example.test'],
  ['eve', 'Eve, dave@mx.example.test'],
  ['hal', '\\\\hal, carol'],
  ['kim', 'lee'],
  ['lee', 'kim'],
  ['x1', 'x2'],
  ['x2', 'x3@mx.example.test'],
  ['x3', 'X1'],
  // one program in two lists of pam's: it runs as pam either way, so once (sameaddr() compares the uid)
  ['pam', ':include:/home/pam/list1, :include:/home/pam/list2'],
];

const ALIASES = [
  'team: bob, bob@mx.example.test, Bob',
  'dan: dan@mx.example.test, carol',
  'loopa: loopb',
  'loopb: loopa@mx.example.test',
  'ring1: ring2',
  'ring2: carol@mx.example.test, ring1@mx.example.test',
  'pamlists: :include:/home/pam/list1, :include:/home/pam/list2',
];

/** [Subject, recipients on alice's command line, the mailboxes it must be in (once each)] */
const MESSAGES: ReadonlyArray<readonly [string, string, readonly string[]]> = [
  ['dup', 'bob bob@mx.example.test Bob', ['bob']],
  ['fred', 'fred', ['fred']],
  ['gus', 'gus', ['gus']],
  ['eve', 'eve', ['dave', 'eve']],
  ['hal', 'hal', ['carol', 'hal']],
  ['kim', 'kim', ['kim', 'lee']],
  // both on the envelope: sendmail reaches the second through the first's .forward first
  ['kimlee', 'kim lee@mx.example.test', ['kim', 'lee']],
  ['x', 'x1', ['x1', 'x3']],
  ['team', 'team', ['bob']],
  ['dan', 'dan', ['carol', 'dan']],
  ['ring', 'ring1', ['carol']],
  ['mixed', 'team bob@mx.example.test dan@mx.example.test', ['bob', 'carol', 'dan']],
  ['loop', 'loopa', []],
  // "progruns" stands for the file the program appends the message to
  ['pam', 'pam', ['progruns']],
  ['pamlists', 'pamlists', ['progruns']],
  ['pamboth', 'pam pamlists', ['progruns']],
];

/** The part both runs share: users, lists, messages; $SM is the sendmail to run, the daemon is not up yet. */
const SETUP = `
for u in ${USERS.join(' ')}; do useradd --create-home --user-group --shell /bin/bash "$u"; done
put() { printf "$3" > "/home/$1/.forward"; chown "$1:$1" "/home/$1/.forward"; chmod 644 "/home/$1/.forward"; }
${FORWARDS.map(([u, f]) => `put ${u} '' '${f}\\n'`).join('\n')}
printf '${ALIASES.join('\\n')}\\n' >> /etc/mail/aliases
mkdir -p /etc/mail/smrsh; printf '#!/bin/sh\\ncat >> /var/mail/progruns\\n' > /etc/mail/smrsh/logrun; chmod 755 /etc/mail/smrsh/logrun
touch /var/mail/progruns; chmod 666 /var/mail/progruns
for l in list1 list2; do printf '"|/etc/mail/smrsh/logrun"\\n' > "/home/pam/$l"; chown pam:pam "/home/pam/$l"; chmod 644 "/home/pam/$l"; done
"$SM" -bi > /dev/null 2>&1; echo "bi=$?"
`;

const SEND = `
${MESSAGES.map(([subject, rcpts]) => `printf 'Subject: ${subject}\\n\\nx\\n' | as alice "$SM" ${rcpts}; echo "sent=$?"`).join('\n')}
`;

const DUMP = `
for u in alice bob ${USERS.join(' ')}; do echo "mbox-$u=$(grep -h '^Subject: ' /var/mail/$u 2>/dev/null | base64 -w0)"; done
echo "mbox-progruns=$(grep -h '^Subject: ' /var/mail/progruns | base64 -w0)"
echo "bounce=$(grep -q 'aliasing/forwarding loop broken' /var/mail/alice && grep -c '^Action: failed' /var/mail/alice)"
`;

const POSTERN = `
${daemonSandboxPreamble(repoRoot)}
SM=sendmail
${SETUP}
sendmail -bd -O DeliveryMode=queue; echo "bd=$?"
${SEND}
kill -TERM "$(head -1 /var/run/sendmail.pid)"
for i in $(seq 200); do [ -e /var/run/sendmail.pid ] || break; sleep 0.05; done
sendmail -q > "$W/q.log" 2>&1; echo "q=$?"
echo "log=$(b64 "$W/q.log")"
${DUMP}
`;

/**
 * The real sendmail's local mailer, in place of procmail (OSTYPE(linux) makes
 * the local mailer FEATURE(local_procmail), here with its stock flags): the
 * message appended to the /var/mail file of each user after -d.
 */
const LOCAL_MAILER = [
  '#!/bin/sh',
  'umask 0',
  'while [ $# -gt 0 ]; do case "$1" in -d) shift; break;; *) shift;; esac; done',
  't=$(mktemp)',
  'cat > "$t"',
  'for u in "$@"; do { cat "$t"; echo; } >> "/var/mail/$u"; done',
  'rm -f "$t"',
  '',
].join('\n');

const REAL_MC = [
  "OSTYPE(`linux')dnl",
  "define(`confFORWARD_PATH', `$z/.forward')dnl",
  "FEATURE(`local_procmail', `/run/smbin/deliver', `deliver -a $h -d $u')dnl",
  "MAILER(`local')dnl",
  "MAILER(`smtp')dnl",
  '',
].join('\n');

function realScript(work: string): string {
  return `${realSendmailPreamble(work)}
chmod 1777 /var/mail
cp "$W/deliver" /run/smbin/; chmod 755 /run/smbin/deliver
SM=$SENDMAIL
${SETUP}
"$SM" -L sm-mta -bd -O DeliveryMode=queue; echo "bd=$?"
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null && break; sleep 0.05; done
${SEND}
sleep 1
# what the MSP could not hand over at once waits in its client queue: it goes on to the MTA first
"$SM" -L sm-msp-queue -Ac -q -v > "$W/cq.log" 2>&1; echo "cq=$?"
# -v: in the foreground, so everything is delivered when it returns
"$SM" -q -v > "$W/q.log" 2>&1; echo "q=$?"
${DUMP}
`;
}

interface Outcome {
  /** Subject → the mailboxes it is in, one entry per copy, sorted */
  readonly mailboxes: Map<string, string[]>;
  readonly bounces: string;
  readonly statuses: string[];
}

function outcome(stdout: string): Outcome {
  const lines = stdout.split('\n');
  const mailboxes = new Map<string, string[]>();
  for (const l of lines) {
    const m = /^mbox-([a-z0-9]+)=(.*)$/.exec(l);
    if (m === null) continue;
    for (const s of Buffer.from(m[2]!, 'base64').toString().split('\n')) {
      const subject = s.slice('Subject: '.length);
      if (subject === '') continue;
      mailboxes.set(subject, [...(mailboxes.get(subject) ?? []), m[1]!].sort());
    }
  }
  const field = (key: string) => lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  return { mailboxes, bounces: field('bounce')[0] ?? '', statuses: [...field('bi'), ...field('bd'), ...field('sent'), ...field('q')] };
}

function checkTable(o: Outcome, who: string): void {
  assert.deepEqual(o.statuses, Array(3 + MESSAGES.length).fill('0'), who);
  for (const [subject, , expected] of MESSAGES) {
    if (subject === 'loop') continue;
    assert.deepEqual(o.mailboxes.get(subject) ?? [], [...expected].sort(), `${who}: where "${subject}" went`);
  }
  // loopa → loopb → loopa@$j has no real user on it: the message comes back to alice, and is in no other mailbox
  assert.equal(o.bounces, '1', `${who}: the loop's bounce`);
  assert.deepEqual(o.mailboxes.get('loop'), ['alice'], `${who}: only the returned copy of "loop"`);
}

test('duplicates and .forward/alias loops in bare, qualified and capitalised forms end as with sendmail 8.17', { timeout: 400_000 }, async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const ours = await runInSandbox(POSTERN, { hostname: 'mx.example.test', timeoutMs: 150_000 });
  assert.equal(ours.code, 0, ours.stderr);
  const log = Buffer.from(ours.stdout.split('\n').find((l) => l.startsWith('log='))?.slice(4) ?? '', 'base64').toString();
  checkTable(outcome(ours.stdout), `Postern\n${log}`);
  // the user whose .forward names itself keeps the mail under its own address, as sendmail logs it
  assert.match(log, /: to=<fred@mx\.example\.test>, .*mailer=local, .*stat=Sent\n/, log);
  assert.match(log, /: to=<gus@mx\.example\.test>, .*mailer=local, .*stat=Sent\n/, log);
  // kim → lee → kim: kim keeps the mail, logged as the envelope has kim (sendmail 8.17's lines, measured:
  // `to=<kim@mx.example.test>, ... mailer=local, ... stat=Sent` and `to=lee, ...`), not as its `\kim` copy
  assert.match(log, /: to=<kim@mx\.example\.test>, .*mailer=local, .*stat=Sent\n/, log);
  assert.match(log, /: to=lee, .*mailer=local, .*stat=Sent\n/, log);
  assert.doesNotMatch(log, /to=\\+kim/, log);

  await t.test('the real sendmail 8.17 leaves the same mailboxes', async (t2) => {
    const configs = async () => {
      const sendmailCf = await m4Config({ text: REAL_MC });
      if (typeof sendmailCf !== 'string') return sendmailCf;
      const submitCf = await m4Config({ shipped: 'submit.mc' });
      return typeof submitCf === 'string' ? { sendmailCf, submitCf } : submitCf;
    };
    const theirs = await runRealSendmail(t2, realScript, { configs, files: { deliver: LOCAL_MAILER } });
    if (theirs === undefined) return;
    assert.equal(theirs.code, 0, theirs.stderr);
    checkTable(outcome(theirs.stdout), 'sendmail 8.17');
  });
});
