/**
 * The broker's mailbox agents are kept and reused: one agent per recipient
 * uid serves many deliveries, never another user's; idle agents go away; and
 * an agent that dies in the middle of a delivery, even after its fsync and
 * before its answer, leaves the message in the mailbox neither half nor
 * twice: the delivery is deferred and the retry puts it there once.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { distImport, runInSandbox, sandboxSkipReason, type SandboxResult } from '../helpers/sandbox.js';
import { putFile } from '../helpers/scripts.js';
import { defaultAgentPath } from '../../src/delivery/mailbox/index.js';

/** The real agent program (agent.c). */
const AGENT = defaultAgentPath();

/** The real agent behind a wrapper that notes its pid and uid, one line each start, and then becomes it. */
const NOTING_AGENT = `#!/bin/sh
echo "$$ $(id -u)" >> /run/agents/started
exec '${AGENT}'
`;

/**
 * The real agent, except that it dies (SIGKILL, with the wrapper) instead of
 * answering "sent": the worst moment, with the message appended and fsync'd
 * and the broker told nothing.
 */
const DYING_AGENT = `#!${process.execPath}
import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';
const agent = spawn(${JSON.stringify(AGENT)}, [], { stdio: ['inherit', 'pipe', 'inherit'] });
let appending = false;
let partial = '';
agent.stdout.setEncoding('utf8');
agent.stdout.on('data', (text) => {
  const lines = (partial + text).split('\\n');
  partial = lines.pop();
  for (const line of lines) {
    appending ||= line.startsWith('appending ');
    // the cut-back a fresh agent is asked for afterwards answers "sent" too, without appending
    if (appending && line.startsWith('status sent ')) {
      agent.kill('SIGKILL');
      process.kill(process.pid, 'SIGKILL');
    }
    writeSync(1, line + '\\n');
  }
});
agent.on('exit', (code) => process.exit(code ?? 1));
`;

/** many.mjs SPEC-JSON [AGENT]: deliveries in one broker process, 4 at a time; prints each status, in order. */
const MANY = `
const { deliverToMailbox, MailboxAgentPool } = await import(${JSON.stringify(distImport('src/delivery/mailbox/index.js'))});
const { lookupUser } = await import(${JSON.stringify(distImport('src/privsep/passwd.js'))});
const spec = JSON.parse(process.argv[2]);
const agent = process.argv[3];
const pool = new MailboxAgentPool(spec.pool ?? {});
const statuses = [];
let next = 0;
await Promise.all(Array.from({ length: 4 }, async () => {
  for (let i = next++; i < spec.to.length; i = next++) {
    statuses[i] = await deliverToMailbox({
      user: lookupUser(spec.to[i]), sender: 'alice@example.org', spoolDir: '/var/mail', agentPool: pool,
      content: ['Subject: m' + i + '\\n\\nFrom the start\\nbody ' + i + '\\n'], ...(agent ? { agentPath: agent } : {}), now: Date.UTC(2026, 10, 5, 6, 7, 8),
    });
  }
}));
for (const s of statuses) console.log('status=' + JSON.stringify(s));
if (spec.waitMs) await new Promise((r) => setTimeout(r, spec.waitMs));
`;

/** hang.mjs AGENT: one delivery whose message stops halfway; prints its status. */
const HALFWAY = `
const { deliverToMailbox } = await import(${JSON.stringify(distImport('src/delivery/mailbox/index.js'))});
const { lookupUser } = await import(${JSON.stringify(distImport('src/privsep/passwd.js'))});
async function* content() {
  yield Buffer.from('Subject: halfway\\n\\n');
  yield Buffer.alloc(100000, 'h');
  await new Promise(() => {});
}
const status = await deliverToMailbox({ user: lookupUser('bob'), sender: 'alice@example.org', spoolDir: '/var/mail', content: content(), agentPath: process.argv[2], timeoutMs: 60000 });
process.stdout.write('halfway=' + JSON.stringify(status) + '\\n');
`;

const SETUP = `
set -u
W=$(mktemp -d /run/agents-test.XXXX); chmod 755 "$W"
${putFile('noting', NOTING_AGENT)}
${putFile('dying', DYING_AGENT)}
${putFile('many.mjs', MANY)}
${putFile('halfway.mjs', HALFWAY)}
chmod 644 "$W"/*; chmod 755 "$W/noting" "$W/dying"
install -d -m 1777 /run/agents; install -m 666 /dev/null /run/agents/started
NODE='${process.execPath}'
for u in bob carol; do useradd --create-home --user-group $u; done
b64() { base64 -w0 "$1"; }
`;

function fields(r: SandboxResult): Record<string, string[]> {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout}`);
  const out: Record<string, string[]> = {};
  for (const l of r.stdout.split('\n')) {
    const m = /^([A-Za-z0-9-]+)=(.*)$/.exec(l);
    if (m) (out[m[1]!] ??= []).push(m[2]!);
  }
  return out;
}

const one = (out: Record<string, string[]>, key: string) => out[key]?.[0] ?? '';
const status = (text: string | undefined) => JSON.parse(text ?? 'null') as { status: string; dsn: string; code?: string; text: string };

test('one agent per recipient uid serves many deliveries, as that user only, and goes when idle', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const to = ['bob', 'carol', 'bob', 'bob', 'carol', 'bob', 'carol', 'bob', 'bob', 'carol', 'bob', 'carol'];
  const spec = { to, pool: { idleMs: 300 } };
  const r = await runInSandbox(
    `${SETUP}
    "$NODE" "$W/many.mjs" '${JSON.stringify(spec)}' "$W/noting"
    echo "bob-id=$(id -u bob)"; echo "carol-id=$(id -u carol)"
    while read -r pid uid; do echo "agent=$pid $uid"; done < /run/agents/started
    echo "bob-count=$(grep -c '^From ' /var/mail/bob)"; echo "carol-count=$(grep -c '^From ' /var/mail/carol)"
    echo "bob-escaped=$(grep -c '^>From the start$' /var/mail/bob)"
    echo "bob-owner=$(stat -c '%U %a' /var/mail/bob)"
    sleep 0.5
    echo "left=$(pgrep -fc 'postern-mailbox-agen[t]')"
    echo "locks=$(ls -A /var/mail | grep -c '[.]lock$')"

    # a script that ends with agents idle is not held up by them, and they follow it out
    : > /run/agents/started
    start=$(date +%s%N)
    "$NODE" "$W/many.mjs" '${JSON.stringify({ to: ['bob', 'carol'] })}' "$W/noting" > /dev/null
    echo "quick-exit-ms=$(( ($(date +%s%N) - start) / 1000000 ))"
    sleep 0.5
    echo "left-after-exit=$(pgrep -fc 'postern-mailbox-agen[t]')"
    `,
    { env: { TZ: 'UTC' } },
  );
  const out = fields(r);
  assert.deepEqual(out['status']?.map((s) => status(s).status), to.map(() => 'sent'));
  const agents = (out['agent'] ?? []).map((l) => l.split(' '));
  assert.equal(agents.length, 2, `one agent each for bob and carol: ${JSON.stringify(agents)}`);
  assert.deepEqual(agents.map((a) => a[1]).sort(), [one(out, 'bob-id'), one(out, 'carol-id')].sort());
  assert.equal(one(out, 'bob-count'), String(to.filter((u) => u === 'bob').length));
  assert.equal(one(out, 'carol-count'), String(to.filter((u) => u === 'carol').length));
  assert.equal(one(out, 'bob-escaped'), one(out, 'bob-count'));
  assert.equal(one(out, 'bob-owner'), 'bob 600');
  assert.equal(one(out, 'left'), '0', 'idle agents are let go');
  assert.equal(one(out, 'locks'), '0');
  assert.ok(Number(one(out, 'quick-exit-ms')) < 5000, `the script ended in ${one(out, 'quick-exit-ms')} ms, not after the idle time`);
  assert.equal(one(out, 'left-after-exit'), '0', 'agents end with the broker');
});

test('an agent that dies mid-delivery or before answering leaves the mailbox as it was; the retry delivers once', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(
    `${SETUP}
    "$NODE" "$W/many.mjs" '${JSON.stringify({ to: ['bob'] })}' > /dev/null
    before="$(stat -c %s /var/mail/bob) $(sha256sum < /var/mail/bob)"

    # killed while the message is halfway in
    "$NODE" "$W/halfway.mjs" "$W/noting" > "$W/halfway.out" &
    H=$!
    for i in $(seq 200); do [ "$(stat -c %s /var/mail/bob)" -gt 50000 ] && break; sleep 0.05; done
    echo "grew=$(stat -c %s /var/mail/bob)"
    kill -KILL "$(head -1 /run/agents/started | cut -d' ' -f1)"
    wait $H; cat "$W/halfway.out"
    [ "$before" = "$(stat -c %s /var/mail/bob) $(sha256sum < /var/mail/bob)" ] && echo "halfway-unchanged=yes"

    # dies after the fsync, before saying so
    "$NODE" "$W/many.mjs" '${JSON.stringify({ to: ['bob'] })}' "$W/dying" | sed 's/^status=/dying=/'
    [ "$before" = "$(stat -c %s /var/mail/bob) $(sha256sum < /var/mail/bob)" ] && echo "dying-unchanged=yes"

    # the runner's retry
    "$NODE" "$W/many.mjs" '${JSON.stringify({ to: ['bob'] })}' | sed 's/^status=/retry=/'
    echo "count=$(grep -c '^From ' /var/mail/bob)"
    echo "locks=$(ls -A /var/mail | grep -c '[.]lock$')"
    `,
    { env: { TZ: 'UTC' } },
  );
  const out = fields(r);
  assert.ok(Number(one(out, 'grew')) > 50000, 'the agent was killed with the message partly written');
  const halfway = status(one(out, 'halfway'));
  assert.equal(halfway.status, 'deferred', halfway.text);
  assert.equal(halfway.code, 'MAILBOX_AGENT_FAILED');
  assert.match(halfway.text, /signal SIGKILL.*cut back/);
  assert.equal(one(out, 'halfway-unchanged'), 'yes');
  const dying = status(one(out, 'dying'));
  assert.equal(dying.status, 'deferred', dying.text);
  assert.match(dying.text, /cut back/);
  assert.equal(one(out, 'dying-unchanged'), 'yes', 'the whole, fsync\'d entry of the unanswered delivery is taken out again');
  assert.equal(status(one(out, 'retry')).status, 'sent');
  assert.equal(one(out, 'count'), '2', 'the first message and the retried one, each once');
  assert.equal(one(out, 'locks'), '0');
});
