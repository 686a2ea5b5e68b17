/**
 * A local submission from end to end, in a sandbox with real users: alice
 * pipes a message into the MSP with -t and an untrusted -f; the daemon side
 * (submission socket, local-submission handler, queue store) takes her uid
 * from the kernel, makes the headers as sendmail's MSP does, and queues the
 * message durably; mailq lists it in sendmail's layout.  A program that
 * writes to the socket directly, claiming to be root, still gets the
 * X-Authentication-Warning.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { repoRoot } from '../helpers/peers.js';
import { distImport, runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { MSP_SCRIPT, putFile } from '../helpers/scripts.js';

const DAEMON = `
const { openQueue } = await import(${JSON.stringify(distImport('src/queue/index.js'))});
const { serveSubmissions } = await import(${JSON.stringify(distImport('src/msp/submit-protocol.js'))});
const { localSubmissionHandler } = await import(${JSON.stringify(distImport('src/mta/local-submission.js'))});
const { loadConfig } = await import(${JSON.stringify(distImport('src/config/index.js'))});
const { systemIdentity } = await import(${JSON.stringify(distImport('src/common/identity.js'))});
const { chmodSync, appendFileSync } = await import('node:fs');
const queue = await openQueue({ dir: '/var/spool/mqueue' });
const { config } = loadConfig('/etc/mail/submit.cf');
const server = serveSubmissions('/run/postern/submit.sock', localSubmissionHandler({
  submitConfig: config,
  identity: systemIdentity(),
  queue: { assignId: () => queue.assignId(), accept: ({ id, size, ...rest }, content) => queue.accept(rest, content, { id }).then(() => undefined) },
}), { queueRunnerUid: Number(process.argv[2]) });
server.on('listening', () => { chmodSync('/run/postern/submit.sock', 0o666); appendFileSync('/run/postern/ready', 'y'); });
process.on('SIGTERM', async () => { server.close(); await queue.close(); process.exit(0); });
`;


const FORGER = `
const { submitMessage } = await import(${JSON.stringify(distImport('src/msp/submit-protocol.js'))});
const reply = await submitMessage('/run/postern/submit.sock',
  { version: 2, recipients: ['bob'], recipientsFromHeaders: false, ignoreDots: true, sender: 'root', senderFlag: 'f' },
  [Buffer.from('Subject: from root, honest\\n\\nhi\\n')]);
process.stdout.write(JSON.stringify(reply));
`;

const DUMP = `
const { openQueue } = await import(${JSON.stringify(distImport('src/queue/index.js'))});
const { formatMailq, messagePriority, sortForListing } = await import(${JSON.stringify(distImport('src/queue/mailq.js'))});
const queue = await openQueue({ dir: '/var/spool/mqueue' });
const out = [];
const entries = [];
for (const e of queue.list()) {
  const chunks = [];
  for await (const c of queue.openContent(e.id)) chunks.push(c);
  const text = Buffer.concat(chunks).toString('latin1');
  const bodySize = text.length - text.indexOf('\\n\\n') - 2;
  out.push({ envelope: e, text });
  entries.push({ id: e.id, bodySize, priority: messagePriority(e.size, e.recipients.length, e.attempts), arrival: e.arrival, sender: e.sender, recipients: e.recipients.map((r) => r.address) });
}
await queue.close();
process.stdout.write(JSON.stringify({ messages: out, mailq: formatMailq([{ label: '/var/spool/mqueue', entries: sortForListing(entries) }], false) }));
`;


test('alice submits with -t and an untrusted -f; the daemon queues it with sendmail\'s headers', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(`
    set -u
    echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
    W=$(mktemp -d /run/e2e.XXXX); chmod 755 "$W"
    ${putFile('daemon.mjs', DAEMON)}
    ${putFile('msp.mjs', MSP_SCRIPT)}
    ${putFile('forger.mjs', FORGER)}
    ${putFile('dump.mjs', DUMP)}
    chmod 644 "$W"/*.mjs
    cp '${join(repoRoot, 'conf', 'submit.cf')}' /etc/mail/submit.cf
    useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
    useradd --create-home --user-group --comment 'Alice Liddell,Room 1' alice
    mkdir -p /var/spool/mqueue /run/postern; chmod 700 /var/spool/mqueue
    NODE='${process.execPath}'
    "$NODE" "$W/daemon.mjs" "$(id -u smmsp)" & DAEMON=$!
    for i in $(seq 200); do [ -e /run/postern/ready ] && break; sleep 0.05; done
    as_alice() { setpriv --reuid=alice --regid=alice --init-groups -- "$@"; }
    out=$(printf 'To: bob@example.org, Friends: carol@example.org, dave@example.org;\\nBcc: eve@example.net\\nSubject: hello\\n\\nline\\n.\\nafter the dot\\n' | as_alice "$NODE" "$W/msp.mjs" -t -f boss@example.com)
    echo "alice=$? $out"
    echo "forger=$(as_alice "$NODE" "$W/forger.mjs")"
    kill -TERM $DAEMON; wait $DAEMON
    echo "dump=$("$NODE" "$W/dump.mjs")"
    cp '${join(repoRoot, 'conf', 'sendmail.cf')}' /etc/mail/sendmail.cf
    '${join(repoRoot, 'bin', 'mailq')}' > "$W/mailq.out" 2>&1; echo "mailq=$?"
    echo "mailq-text=$(base64 -w0 < "$W/mailq.out")"
    as_alice '${join(repoRoot, 'bin', 'mailq')}' > "$W/mailq-alice.out" 2>&1; echo "mailq-alice=$?"
    echo "mailq-alice-text=$(base64 -w0 < "$W/mailq-alice.out")"
  `, { hostname: 'mx.example.test' });
  assert.equal(r.code, 0, r.stderr);
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  assert.equal(line('alice'), '0 []');
  assert.equal(JSON.parse(line('forger')).ok, true);
  const dump = JSON.parse(line('dump')) as { messages: Array<{ envelope: { id: string; sender: string; submitter: { name: string }; recipients: Array<{ address: string }> }; text: string }>; mailq: string };
  assert.equal(dump.messages.length, 2);
  const [first, second] = [...dump.messages].sort((a, b) => a.text.includes('hello') ? -1 : b.text.includes('hello') ? 1 : 0);
  const id = first!.envelope.id;
  assert.equal(first!.envelope.sender, 'boss@example.com');
  assert.equal(first!.envelope.submitter.name, 'alice');
  assert.deepEqual(first!.envelope.recipients.map((x) => x.address).sort(), ['bob@example.org', 'carol@example.org', 'dave@example.org', 'eve@example.net']);
  const headers = first!.text.slice(0, first!.text.indexOf('\n\n') + 1);
  assert.match(headers, new RegExp(`^Received: \\(from alice@localhost\\)\\n\\tby mx\\.example\\.test \\(Postern [^)]*/Submit\\) id ${id};\\n\\t.+\\n`));
  assert.match(headers, new RegExp(`\\nMessage-Id: <\\d{12}\\.${id}@mx\\.example\\.test>\\n`));
  assert.match(headers, /\nFrom: boss@example\.com\n/);
  assert.match(headers, /\nX-Authentication-Warning: mx\.example\.test: alice set sender to boss@example\.com using -f\n/);
  assert.doesNotMatch(headers, /^Bcc:/m);
  assert.equal(first!.text.slice(first!.text.indexOf('\n\n') + 2), 'line\n', 'without -i a lone dot ends the message');
  // the forger claimed nothing it could get away with: it is alice, and says -f root
  assert.equal(second!.envelope.submitter.name, 'alice');
  assert.match(second!.text, /\nX-Authentication-Warning: mx\.example\.test: alice set sender to root using -f\n/);
  // bare names reach the queue as sendmail's MTA gets them from its MSP: qualified with $j
  assert.equal(second!.envelope.sender, 'root@mx.example.test');
  assert.deepEqual(second!.envelope.recipients.map((x) => x.address), ['bob@mx.example.test']);
  assert.match(dump.mailq, new RegExp(`^\\t\\t/var/spool/mqueue \\(2 requests\\)\\n-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------\\n`));
  assert.match(dump.mailq, /\t\tTotal requests: 2\n$/);
  assert.match(dump.mailq, new RegExp(`${id}  +\\d+ \\w{3} \\w{3} [ \\d]\\d \\d\\d:\\d\\d boss@example\\.com\\n`));

  // bin/mailq reads the same queue, as root; a user may not enter it (sendmail's 0700 queue)
  assert.equal(line('mailq'), '0');
  const listing = Buffer.from(line('mailq-text'), 'base64').toString();
  assert.match(listing, /^\t\t\/var\/spool\/mqueue \(2 requests\)\n/);
  assert.match(listing, new RegExp(`\\n${id}  +5 \\w{3} \\w{3} [ \\d]\\d \\d\\d:\\d\\d <boss@example\\.com>\\n(\\t\\t\\t\\t\\t <[a-z]+@example\\.(org|net)>\\n){4}`));
  assert.match(listing, /\n\w{14} +3 \w{3} \w{3} [ \d]\d \d\d:\d\d <root@mx\.example\.test>\n\t{5} <bob@mx\.example\.test>\n/);
  assert.match(listing, /\t\tTotal requests: 2\n$/);
  assert.equal(line('mailq-alice'), '78');
  assert.equal(
    Buffer.from(line('mailq-alice-text'), 'base64').toString(),
    'can not chdir(/var/spool/mqueue/): Permission denied\nProgram mode requires special privileges, e.g., root or TrustedUser.\n',
  );
});
