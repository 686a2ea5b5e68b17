/**
 * The MSP's submission as a user would make it: the message piped into the
 * process reaches the daemon's socket with the caller's identity taken by
 * the kernel; with no daemon it is left, whole, in the client queue; a
 * refusal from the daemon becomes the exit status and its text.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { submissionRequest } from '../../src/msp/submit.js';
import { PROTOCOL_VERSION } from '../../src/msp/submit-wire.js';
import { parseCommandLine } from '../../src/msp/cmdline/parse.js';
import { checkOptionSetting } from '../../src/msp/command-options.js';
import { loadConfig } from '../../src/config/index.js';
import { repoRoot } from '../helpers/peers.js';
import { distImport, runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { MSP_SCRIPT, putFile } from '../helpers/scripts.js';
import { join } from 'node:path';

test('the request carries what the command line said, and nothing about who is asking', () => {
  const { invocation } = parseCommandLine('sendmail', ['-t', '-i', '-f', 'ceo@example.com', '-F', 'The CEO', '-N', 'success', '-R', 'hdrs', '-V', 'env1', '-h', '3', 'x@y'], checkOptionSetting);
  const { config } = loadConfig(join(repoRoot, 'conf', 'submit.cf'), { commandLineOptions: [{ name: 'i', value: 'T', form: 'letter' }] });
  const request = submissionRequest(invocation, config, { uid: 1000, gid: 1000, name: 'alice' });
  assert.deepEqual(request, {
    version: PROTOCOL_VERSION,
    recipients: ['x@y'],
    recipientsFromHeaders: true,
    ignoreDots: true,
    sender: 'ceo@example.com',
    senderFlag: 'f',
    fullName: 'The CEO',
    hopCount: 3,
    notify: { success: true, failure: false, delay: false, never: false },
    ret: 'hdrs',
    envid: 'env1',
  });
  assert.equal('onBehalfOf' in request, false);
  const withC = parseCommandLine('sendmail', ['-C', '/tmp/my.cf', 'x'], checkOptionSetting).invocation;
  assert.equal(submissionRequest(withC, config, { uid: 1000, gid: 1000, name: 'alice' }).untrustedConfig, '/tmp/my.cf');
  assert.equal(submissionRequest(withC, config, { uid: 0, gid: 0, name: 'root' }).untrustedConfig, undefined);
});


const DAEMON = `
const { serveSubmissions } = await import(${JSON.stringify(distImport('src/msp/submit-protocol.js'))});
const { chmodSync, appendFileSync } = await import('node:fs');
const server = serveSubmissions('/run/postern/submit.sock', async (s) => {
  const chunks = [];
  for await (const c of s.body) chunks.push(c);
  const text = Buffer.concat(chunks).toString();
  appendFileSync('/run/postern/received', JSON.stringify({ uid: s.peer.uid, request: s.request, text }) + '\\n');
  if (text.includes('refuse me')) return { ok: false, code: 'USAGE_NO_RECIPIENTS', exit: 64, lines: ['No recipient addresses found in header'] };
  return { ok: true, id: 'QID1', lines: [] };
});
server.on('listening', () => { chmodSync('/run/postern/submit.sock', 0o666); appendFileSync('/run/postern/ready', 'y'); });
`;


test('piped into the MSP as alice: to the daemon when it listens, to the client queue when it does not', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(`
    set -u
    W=$(mktemp -d /run/msptest.XXXX); chmod 755 "$W"
    ${putFile('msp.mjs', MSP_SCRIPT)}
    ${putFile('daemon.mjs', DAEMON)}
    chmod 644 "$W"/*.mjs
    cp '${join(repoRoot, 'conf', 'submit.cf')}' /etc/mail/submit.cf
    useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
    useradd --create-home --user-group alice
    mkdir -p /var/spool/clientmqueue /run/postern; chown smmsp:smmsp /var/spool/clientmqueue; chmod 3733 /var/spool/clientmqueue
    NODE='${process.execPath}'
    msp() { setpriv --reuid=alice --regid=alice --init-groups -- "$NODE" "$W/msp.mjs" "$@"; }
    out=$(printf 'To: bob\\nSubject: queued\\n\\nwaits\\n' | msp -t -i); echo "queued=$? $out"
    echo "cq=$(ls /var/spool/clientmqueue | wc -l) $(stat -c %U /var/spool/clientmqueue/cq*)"
    "$NODE" "$W/daemon.mjs" &
    for i in $(seq 100); do [ -e /run/postern/ready ] && break; sleep 0.05; done
    out=$(printf 'Subject: hi\\n\\nline one\\n.\\nafter\\n' | msp bob@example.org); echo "sent=$? $out"
    out=$(printf 'Subject: x\\n\\nrefuse me\\n' | msp -t); echo "refused=$? $out"
    echo "cq-after=$(ls /var/spool/clientmqueue | wc -l)"
    echo "alice=$(id -u alice)"
    cat /run/postern/received | sed 's/^/received=/'
  `);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const value = (key: string) => lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  assert.deepEqual(value('queued'), ['0 []'], 'no daemon: queued, exit 0');
  assert.deepEqual(value('cq'), ['1 alice']);
  assert.deepEqual(value('sent'), ['0 []']);
  assert.deepEqual(value('refused'), ['64 ["No recipient addresses found in header"]']);
  assert.deepEqual(value('cq-after'), ['1'], 'the queued file waits for the runner');
  const received = value('received').map((l) => JSON.parse(l));
  assert.equal(received.length, 2);
  assert.equal(received[0].uid, Number(value('alice')[0]));
  assert.deepEqual(received[0].request.recipients, ['bob@example.org']);
  assert.equal(received[0].request.ignoreDots, false);
  assert.equal(received[0].text, 'Subject: hi\n\nline one\n.\nafter\n', 'the message goes as given; the daemon applies the dot rule');
});
