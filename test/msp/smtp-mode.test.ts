/**
 * `sendmail -bs` as a real user in the sandbox, fed line by line by a
 * program that waits for each reply, as an MUA does: the MSP's greeting
 * and EHLO, the message handed to the running daemon with alice as the
 * submitter and sendmail's `owned process doing -bs` warning for the
 * sender she may not claim; `sendmail -bs < file` refused by the
 * anti-smuggling check; with no daemon, the message waits in the client
 * queue as alice's.  The daemon leaves /etc/mail/submit.fc at start.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { putFile, daemonSandboxPreamble } from '../helpers/scripts.js';


/** Speaks SMTP to `sendmail -bs`, one command after each reply; prints the replies as JSON. */
const DRIVER = `
import json, subprocess, sys
p = subprocess.Popen(["sendmail", "-bs"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def reply():
    lines = []
    while True:
        l = p.stdout.readline().decode("latin1")
        if l == "":
            return lines
        lines.append(l.rstrip("\\r\\n"))
        if len(l) < 4 or l[3] != "-":
            return lines
def send(line):
    p.stdin.write((line + "\\r\\n").encode("latin1")); p.stdin.flush()
    return reply()
out = {"greeting": reply()}
out["ehlo"] = send("EHLO client.example.test")
out["mail"] = send("MAIL FROM:<boss@example.com>")
out["rcpt"] = send("RCPT TO:<bob>")
out["data"] = send("DATA")
for line in ["Subject: by -bs", "", "first line", "..a dot line", "last"]:
    p.stdin.write((line + "\\r\\n").encode()); 
out["dot"] = send(".")
out["quit"] = send("QUIT")
p.stdin.close()
out["status"] = p.wait()
print(json.dumps(out))
`;

const SCRIPT = `
${daemonSandboxPreamble(repoRoot)}
${putFile('driver.py', DRIVER)}
chmod 644 "$W/driver.py"

sendmail -bD -odq -L sm-mta 2> "$W/daemon.log" & MASTER=$!
for i in $(seq 300); do [ -S /run/postern/submit.sock ] && break; sleep 0.05; done
echo "frozen=$(stat -c '%U %a' /etc/mail/submit.fc 2>&1)"
echo "up=$(as alice /usr/bin/python3 "$W/driver.py" | base64 -w0)"
queued
mailq -v > "$W/mailq"; echo "mailq=$(b64 "$W/mailq")"
printf 'EHLO x\\r\\nMAIL FROM:<alice>\\r\\nRCPT TO:<bob>\\r\\nDATA\\r\\nSubject: smuggled\\r\\n\\r\\nx\\r\\n.\\r\\nQUIT\\r\\n' > "$W/batch"
as alice sendmail -bs < "$W/batch" > "$W/batch.out" 2>&1; echo "batch=$? $(b64 "$W/batch.out")"
kill -TERM "$MASTER"; wait "$MASTER"; echo "stopped=$?"

echo "down=$(as alice /usr/bin/python3 "$W/driver.py" | base64 -w0)"
echo "cq=$(find /var/spool/clientmqueue -type f -printf '%u %m\\n' | sort | uniq -c | tr -s ' ')"
echo "log=$(b64 "$W/daemon.log")"
`;

test('sendmail -bs as alice, line by line: to the daemon, refused from a file, into the client queue with the daemon down', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(SCRIPT, { hostname: 'mx.example.test', timeoutMs: 90_000 });
  assert.equal(r.code, 0, r.stderr);
  const lines = (key: string) => r.stdout.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  const line = (key: string) => lines(key)[0] ?? '';
  const text = (b64: string) => Buffer.from(b64, 'base64').toString('latin1');
  const log = text(line('log'));
  type Session = Record<'greeting' | 'ehlo' | 'mail' | 'rcpt' | 'data' | 'dot' | 'quit', string[]> & { status: number };
  const up = JSON.parse(text(line('up')) || '{}') as Session;

  assert.match(up.greeting[0] ?? '', /^220 mx\.example\.test ESMTP Postern [\d.]+\/8\.17\/Postern-1\/Submit; \w{3}, /, r.stdout + log);
  assert.deepEqual(up.ehlo, [
    '250-mx.example.test Hello alice@localhost, pleased to meet you',
    '250-ENHANCEDSTATUSCODES',
    '250-PIPELINING',
    '250-8BITMIME',
    '250-SIZE',
    '250-DSN',
    '250-DELIVERBY',
    '250 HELP',
  ]);
  assert.deepEqual(up.mail, ['250 2.1.0 <boss@example.com>... Sender ok']);
  assert.deepEqual(up.rcpt, ['250 2.1.5 <bob>... Recipient ok']);
  assert.deepEqual(up.data, ['354 End data with <CR><LF>.<CR><LF>']);
  assert.match(up.dot[0] ?? '', /^250 2\.0\.0 (\w{14}) Message accepted for delivery$/, log);
  const id = /(\w{14}) Message/.exec(up.dot[0]!)![1]!;
  assert.deepEqual(up.quit, ['221 2.0.0 mx.example.test closing connection']);
  assert.equal(up.status, 0);

  const queued = lines('df').map(text);
  assert.equal(queued.length, 1, 'only the interactive session queued a message');
  const msg = queued[0]!;
  assert.match(msg, new RegExp(`^Received: \\(from alice@localhost\\)\\n\\tby mx\\.example\\.test \\(Postern [^)]*/Submit\\) id ${id};`));
  assert.match(msg, /\nX-Authentication-Warning: mx\.example\.test: alice owned process doing -bs\n/);
  assert.match(msg, /\nSubject: by -bs\n/);
  assert.ok(msg.endsWith('\n\nfirst line\n.a dot line\nlast\n'), JSON.stringify(msg));
  const mailq = text(line('mailq'));
  assert.match(mailq, new RegExp(`\\n${id} .* <boss@example\\.com>\\n\\t+\\(---alice---\\)\\n\\t+<bob@mx\\.example\\.test>\\n`), mailq);

  // the whole session at once: the anti-smuggling check stops it after EHLO, nothing is queued
  const [batchStatus, batchOut] = line('batch').split(' ');
  assert.equal(batchStatus, '0');
  const batch = text(batchOut ?? '').split('\r\n');
  assert.match(batch[0]!, /^220 /);
  assert.equal(batch[1], '554 5.5.0 SMTP protocol error');
  assert.deepEqual(batch.slice(2, 5), ['550 5.0.0 Command rejected', '550 5.0.0 Command rejected', '550 5.0.0 Command rejected']);

  // the daemon, started as root on the system's configuration, froze submit.cf for the submissions
  assert.equal(line('frozen'), 'root 644');

  const down = JSON.parse(text(line('down')) || '{}') as Session;
  assert.match(down.dot[0] ?? '', /^250 2\.0\.0 \w+ Message accepted for delivery$/, JSON.stringify(down));
  assert.equal(line('cq'), ' 1 alice 640', 'with the daemon down the message waits in the client queue, alice\'s');
});
