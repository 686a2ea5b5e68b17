/**
 * The client queue with real users in a private sandbox: alice's message
 * waits there while no daemon runs; bob can neither list, read, change,
 * rename, link nor remove it; the runner, as smmsp, hands it to the daemon
 * on behalf of its owner (whatever the file says) and removes it.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { distImport, runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { putFile } from '../helpers/scripts.js';

const CQ = '/var/spool/clientmqueue';
const SOCKET = '/run/postern/submit.sock';

const WRITE_AS_ALICE = `
const { writeClientQueueFile } = await import(${JSON.stringify(distImport('src/msp/client-queue.js'))});
process.umask(0o077);
const file = await writeClientQueueFile('${CQ}', { version: 1, recipients: ['bob'], recipientsFromHeaders: false, ignoreDots: true, sender: 'ceo@example.com', senderFlag: 'f', onBehalfOf: 0 },
  [Buffer.from('Subject: queued\\n\\n'), Buffer.alloc(200000, 'q'), Buffer.from('\\nend\\n')]);
process.stdout.write(file);
`;

const STUB_DAEMON = `
const { serveSubmissions } = await import(${JSON.stringify(distImport('src/msp/submit-protocol.js'))});
const { createHash } = await import('node:crypto');
const { chmodSync, appendFileSync } = await import('node:fs');
const server = serveSubmissions('${SOCKET}', async (s) => {
  const h = createHash('sha256'); let n = 0;
  for await (const c of s.body) { h.update(c); n += c.length; }
  appendFileSync('/run/postern/received', JSON.stringify({ peer: s.peer.uid, onBehalfOf: s.request.onBehalfOf, sender: s.request.sender, bytes: n }) + '\\n');
  return { ok: true, id: 'QID1', lines: [] };
}, { queueRunnerUid: Number(process.argv[2]) });
server.on('listening', () => { chmodSync('${SOCKET}', 0o666); appendFileSync('/run/postern/ready', 'y'); });
`;

const RUN_AS_SMMSP = `
const { runClientQueue } = await import(${JSON.stringify(distImport('src/msp/client-queue.js'))});
process.stdout.write(JSON.stringify(await runClientQueue('${CQ}', '${SOCKET}')));
`;


test('the client queue keeps users apart and the runner submits for the file\'s owner', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(`
    set -u
    W=$(mktemp -d /run/cqtest.XXXX); chmod 755 "$W"
    ${putFile('alice.mjs', WRITE_AS_ALICE)}
    ${putFile('daemon.mjs', STUB_DAEMON)}
    ${putFile('runner.mjs', RUN_AS_SMMSP)}
    chmod 644 "$W"/*.mjs
    useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
    useradd --create-home --user-group alice
    useradd --create-home --user-group bob
    mkdir -p ${CQ} /run/postern; chown smmsp:smmsp ${CQ}; chmod 3733 ${CQ}
    as() { u=$1; shift; setpriv --reuid=$u --regid=$u --init-groups -- "$@"; }
    NODE='${process.execPath}'
    FILE=$(as alice "$NODE" "$W/alice.mjs") || { echo "alice could not queue" >&2; exit 1; }
    echo "file=$FILE"
    stat -c 'perm=owner:%U group:%G mode:%a links:%h' "$FILE"
    as bob ls ${CQ} >/dev/null 2>&1; echo "bob-list=$?"
    as bob cat "$FILE" >/dev/null 2>&1; echo "bob-read=$?"
    as bob sh -c "echo x >> '$FILE'" 2>/dev/null; echo "bob-append=$?"
    as bob rm -f "$FILE" 2>/dev/null; echo "bob-remove=$?"
    as bob mv "$FILE" ${CQ}/cqstolen 2>/dev/null; echo "bob-rename=$?"
    as bob ln "$FILE" ${CQ}/cqlinked 2>/dev/null; echo "bob-link=$?"
    [ -e "$FILE" ] && echo "still-there=yes"
    echo "runner-without-daemon=$(as smmsp "$NODE" "$W/runner.mjs")"
    "$NODE" "$W/daemon.mjs" "$(id -u smmsp)" &
    for i in $(seq 100); do [ -e /run/postern/ready ] && break; sleep 0.05; done
    echo "runner-with-daemon=$(as smmsp "$NODE" "$W/runner.mjs")"
    echo "received=$(cat /run/postern/received)"
    [ -e "$FILE" ] || echo "removed=yes"
    echo "alice=$(id -u alice)"
  `);
  assert.equal(r.code, 0, r.stderr);
  const out = Object.fromEntries(
    r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  assert.match(out['file'] ?? '', /^\/var\/spool\/clientmqueue\/cq[0-9A-Za-z]{8}\d{6}$/);
  assert.equal(out['perm'], 'owner:alice group:smmsp mode:640 links:1');
  for (const what of ['bob-list', 'bob-read', 'bob-append', 'bob-remove', 'bob-rename', 'bob-link']) {
    assert.notEqual(out[what], '0', `${what} must fail`);
  }
  assert.equal(out['still-there'], 'yes');
  const without = JSON.parse(out['runner-without-daemon'] ?? '[]');
  assert.equal(without.length, 1);
  assert.equal(without[0].outcome, 'kept');
  const withDaemon = JSON.parse(out['runner-with-daemon'] ?? '[]');
  assert.equal(withDaemon[0]?.outcome, 'delivered');
  const received = JSON.parse(out['received'] ?? '{}');
  assert.equal(received.onBehalfOf, Number(out['alice']), 'the owner of the file, not the uid written in it (0)');
  assert.notEqual(received.peer, 0, 'the runner is smmsp, not root');
  assert.equal(received.sender, 'ceo@example.com');
  assert.equal(received.bytes, 'Subject: queued\n\n'.length + 200000 + '\nend\n'.length);
  assert.equal(out['removed'], 'yes');
});
