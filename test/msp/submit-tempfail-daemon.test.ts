/**
 * Never lose a message, with the real daemon in a sandbox and real users:
 *  - a filter (python3-milter) tempfails alice's `sendmail -t` at the end of
 *    the message: exit 0, nothing printed, the message waits in the client
 *    queue as alice's file, and the sm-msp-queue runner delivers it once the
 *    filter accepts;
 *  - the daemon's workers are killed (SIGKILL) while alice's message is on
 *    its way: exit 0, the whole message (what was sent and what came after)
 *    waits in the client queue, and is delivered later, once;
 *  - alice's standard input fails in the middle of the message (a socket
 *    reset by its peer): nothing is queued anywhere, neither by the daemon
 *    nor in the client queue (not even the copy of a big message the MSP
 *    keeps while sending), with the daemon up or down; exit 70, sendmail's
 *    status for a message it refuses for a read error (its -bs).  sendmail
 *    8.17's -t logs the error and delivers the part it read: Postern does not.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { daemonSandboxPreamble, putFile, SYSLOG_RECEIVER } from '../helpers/scripts.js';
import { pythonMilterMissing } from '../milter/helpers.js';

const PYTHON = '/usr/bin/python3';
const FIXTURE = join(repoRoot, 'test/milter/fixtures/all_actions_milter.py');

/** The daemon's users and files, a syslog on /dev/log, and helpers: waitfor SOCKET, mailbox-wait USER N. */
const PREAMBLE = `
${daemonSandboxPreamble(repoRoot)}
${putFile('syslog.py', SYSLOG_RECEIVER)}
${PYTHON} "$W/syslog.py" "$W/syslog" "$W/syslog.ready" &
for i in $(seq 100); do [ -e "$W/syslog.ready" ] && break; sleep 0.05; done
waitfor() { for i in $(seq 300); do [ -S "$1" ] && return 0; sleep 0.05; done; return 1; }
mailbox_has() { for i in $(seq 300); do [ "$(grep -c "^Subject: $2\\$" "/var/mail/$1" 2>/dev/null)" -ge 1 ] && return 0; sleep 0.05; done; return 1; }
cqfiles() { find /var/spool/clientmqueue -type f | wc -l; }
start_daemon() { sendmail -bd -L sm-mta && waitfor /run/postern/submit.sock; echo "daemon=$?"; MASTER=$(head -1 /var/run/sendmail.pid); }
`;

const MILTER_SCRIPT = `
${PREAMBLE}
install -d -m 755 /run/py
milter() { (umask 000; exec ${PYTHON} '${FIXTURE}' unix:/run/py/py.sock /run/py/events.jsonl "$@" >> "$W/py.out" 2>&1) & PY=$!; waitfor /run/py/py.sock; }
milter tempfail-eom
printf 'Xpy, S=local:/run/py/py.sock, F=T, T=C:10s;E:30s\\nO InputMailFilters=py\\n' >> /etc/mail/sendmail.cf
start_daemon
printf 'To: bob\\nSubject: from cron\\n\\nnightly report\\n' | as alice sendmail -t -i > "$W/out" 2>&1; echo "submit=$? $(b64 "$W/out")"
F=$(find /var/spool/clientmqueue -type f)
echo "cq=$(stat -c '%a %U %G' $F) $(basename $F)"
echo "cqfile=$(b64 $F)"
echo "eoms=$(grep -c '"ev": "eom"' /run/py/events.jsonl)"
echo "queued-at-once=$(queued | wc -l)"
# the filter accepts again; the client-queue runner hands the message over
kill $PY; wait $PY; rm -f /run/py/py.sock
milter
sendmail -L sm-msp-queue -Ac -q; echo "runner=$?"
echo "cq-left=$(cqfiles)"
mailbox_has bob 'from cron'; echo "delivered=$? $(grep -c '^Subject: from cron$' /var/mail/bob) $(grep -c '^nightly report$' /var/mail/bob)"
kill -TERM "$MASTER"; kill $PY
sleep 0.2; echo "log=$(b64 "$W/syslog")"
`;

const KILL_SCRIPT = `
${PREAMBLE}
start_daemon
workers=$(pgrep -P "$MASTER" -f '^postern-smtpd' | tr '\\n' ' ')
# the message's first part now, the rest once the daemon's workers are dead
( printf 'To: bob\\nSubject: interrupted\\n\\nfirst part\\n'
  for i in $(seq 400); do [ -e /run/killed ] && break; sleep 0.05; done
  printf 'second part\\n' ) | as alice sendmail -t -i > "$W/out" 2>&1 & MSP=$!
# a worker has accepted alice's connection: the transaction is under way
accepted() { ss -xpH state connected 2>/dev/null | grep ' /run/postern/submit.sock ' | grep -qE "pid=($(echo $workers | tr ' ' '|')),"; }
for i in $(seq 200); do accepted && break; sleep 0.05; done; echo "accepted=$?"
kill -KILL $workers; touch /run/killed
wait $MSP; echo "submit=$? $(b64 "$W/out")"
echo "killed=$(for w in $workers; do [ -e /proc/$w ] && echo alive; done | wc -l)"
F=$(find /var/spool/clientmqueue -type f)
echo "cq=$(stat -c '%a %U %G' $F)"
echo "cqfile=$(b64 $F)"
echo "queued-at-once=$(queued | wc -l)"
# the master has started new workers: the runner hands the message over
for i in $(seq 100); do [ "$(pgrep -P "$MASTER" -f '^postern-smtpd' | wc -l)" -ge 1 ] && break; sleep 0.1; done
sendmail -L sm-msp-queue -Ac -q; echo "runner=$?"
echo "cq-left=$(cqfiles)"
mailbox_has bob interrupted; echo "delivered=$? $(grep -c '^Subject: interrupted$' /var/mail/bob) $(grep -c '^first part$' /var/mail/bob) $(grep -c '^second part$' /var/mail/bob)"
kill -TERM "$MASTER"
sleep 0.2; echo "log=$(b64 "$W/syslog")"
`;

/** Serves one connection on 127.0.0.1:PORT: the head of a message and SIZE bytes of body, then a reset while the reader waits. */
const RESET_FEEDER = `
import socket, struct, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
open(sys.argv[3], "w").close()
c, _ = s.accept()
c.sendall(b"To: bob\\nSubject: cut short\\n\\n" + b"x" * int(sys.argv[2]) + b"\\n")
time.sleep(1.0)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
`;

const RESET_SCRIPT = `
${PREAMBLE}
${putFile('feeder.py', RESET_FEEDER)}
# alice's sendmail reads a socket that is reset in the middle of the message (timeout: an MSP that waits for ever fails too)
cut() {
  rm -f /run/feeder.ready
  ${PYTHON} "$W/feeder.py" $1 $2 /run/feeder.ready & FEED=$!
  for i in $(seq 100); do [ -e /run/feeder.ready ] && break; sleep 0.05; done
  timeout 30 setpriv --reuid=alice --regid=alice --init-groups -- bash -c 'exec sendmail -t -i < /dev/tcp/127.0.0.1/'$1 > "$W/out" 2>&1
  echo "$? $(b64 "$W/out")"
  kill $FEED 2>/dev/null; wait $FEED 2>/dev/null
}
start_daemon
echo "small=$(cut 9001 100)"
# past what the MSP keeps in memory: its copy in the client queue must go too
echo "big=$(cut 9002 1000000)"
echo "daemon-cq=$(cqfiles)"
echo "queued=$(queued | wc -l)"
kill -TERM "$MASTER"; for i in $(seq 200); do [ -e /proc/$MASTER ] || break; sleep 0.05; done
echo "down=$(cut 9003 100)"
echo "down-cq=$(cqfiles)"
echo "mailbox=$(ls /var/mail/bob 2>/dev/null | wc -l)"
sleep 0.2; echo "log=$(b64 "$W/syslog")"
`;

function parse(stdout: string) {
  const lines = (key: string) => stdout.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  const line = (key: string) => lines(key)[0] ?? '';
  const text = (b64: string) => Buffer.from(b64, 'base64').toString('latin1');
  return { line, text };
}

test('a filter tempfails alice\'s sendmail -t: exit 0, her file waits in the client queue, the runner delivers it once the filter accepts', { skip: pythonMilterMissing() }, async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(MILTER_SCRIPT, { hostname: 'mx.example.test', timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const { line, text } = parse(r.stdout);
  const log = text(line('log'));
  assert.equal(line('daemon'), '0', log);
  assert.equal(line('submit'), '0 ', 'exit 0 and nothing printed, as sendmail\'s MSP');
  assert.equal(line('eoms'), '1', 'the filter saw the whole message and refused it for now');
  assert.equal(line('queued-at-once'), '0', 'the daemon queued nothing');
  const [mode, owner, group, name] = line('cq').split(' ');
  assert.deepEqual([mode, owner, group], ['640', 'alice', 'smmsp'], 'alice\'s file, as with the daemon down');
  assert.match(name ?? '', /^cq[0-9A-Za-x]{8}\d{6}$/);
  const file = text(line('cqfile'));
  assert.equal(file.slice(file.indexOf('\n') + 1), 'To: bob\nSubject: from cron\n\nnightly report\n');
  assert.match(log, new RegExp(`sendmail\\[\\d+\\]: ${name!.slice(2)}: stat=Deferred: 451 4\\.3\\.2 Please try again later`));
  assert.equal(line('runner'), '0');
  assert.equal(line('cq-left'), '0');
  assert.equal(line('delivered'), '0 1 1', 'delivered once, whole');
});

test('the daemon killed while alice\'s message is on its way: exit 0, the whole message waits in the client queue and is delivered once', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  if (!existsSync('/usr/bin/ss') && !existsSync('/bin/ss')) return t.skip('ss (iproute2) is missing: it shows when a worker has the connection');
  const r = await runInSandbox(KILL_SCRIPT, { hostname: 'mx.example.test', timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const { line, text } = parse(r.stdout);
  const log = text(line('log'));
  assert.equal(line('daemon'), '0', log);
  assert.equal(line('accepted'), '0', 'a worker had the connection when it was killed');
  assert.equal(line('killed'), '0');
  assert.equal(line('submit'), '0 ', 'exit 0 and nothing printed');
  assert.equal(line('cq'), '640 alice smmsp');
  const file = text(line('cqfile'));
  assert.equal(file.slice(file.indexOf('\n') + 1), 'To: bob\nSubject: interrupted\n\nfirst part\nsecond part\n');
  assert.equal(line('queued-at-once'), '0', 'the dead worker queued nothing');
  assert.match(log, /sendmail\[\d+\]: [0-9A-Za-x]{8}\d{6}: stat=Deferred: (lost the daemon|the daemon gave no reply)/);
  assert.equal(line('runner'), '0');
  assert.equal(line('cq-left'), '0');
  assert.equal(line('delivered'), '0 1 1 1', 'delivered once, whole');
});

test('alice\'s standard input fails in the middle of the message: nothing is queued anywhere, exit 70', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(RESET_SCRIPT, { hostname: 'mx.example.test', timeoutMs: 150_000 });
  assert.equal(r.code, 0, r.stderr);
  const { line, text } = parse(r.stdout);
  const log = text(line('log'));
  assert.equal(line('daemon'), '0', log);
  for (const key of ['small', 'big', 'down']) {
    const [status, out] = line(key).split(' ');
    assert.equal(status, '70', `${key}: ${text(out ?? '')}`);
    assert.match(text(out ?? ''), /^collect: premature EOM: Connection reset by peer/);
  }
  assert.equal(line('daemon-cq'), '0', 'no client-queue file, and no copy of the big message left behind');
  assert.equal(line('queued'), '0', 'the daemon queued nothing');
  assert.equal(line('down-cq'), '0', 'with the daemon down, nothing in the client queue either');
  assert.equal(line('mailbox'), '0');
  assert.equal(log.match(/sendmail\[\d+\]: collect: premature EOM: Connection reset by peer/g)?.length, 3, log);
  assert.equal(log.match(/: collect: message abandoned by the submitter, from alice \(uid \d+\)/g)?.length, 2, log);
});
