/**
 * The broker does not take the runner's word for whose a program or a list
 * is: requests made up by a runner (a program "from carol's .forward" that
 * is not in it, a private file asked for as an :include: list) are refused,
 * while the real ones are served.  The broker is started from the tsc
 * output, as root, with a queue directory of the test's own.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { distImport, runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { putFile } from '../helpers/scripts.js';

const QUEUE_ID = '6AMAVRMO000221';

/** broker.mjs QUEUE-DIR REQUESTS-JSON: serves on a socket, sends each request, prints each reply as a line. */
const BROKER = `
const { serveBroker } = await import(${JSON.stringify(distImport('src/delivery/broker/server.js'))});
const { localMailerSettings } = await import(${JSON.stringify(distImport('src/delivery/broker/local-settings.js'))});
const { requestLocalMailer } = await import(${JSON.stringify(distImport('src/delivery/broker/protocol.js'))});
const { openLogger } = await import(${JSON.stringify(distImport('src/common/log.js'))});
const { systemIdentity } = await import(${JSON.stringify(distImport('src/common/identity.js'))});
const [queueDir, requests] = process.argv.slice(2);
const server = serveBroker('/run/broker-test.sock', {
  queueDir, runnerUid: 0, spoolDir: '/var/mail', log: openLogger({ logLevel: 9 }),
  localMailers: localMailerSettings(undefined, systemIdentity(), { asUserAgentPath: ${JSON.stringify(distImport('src/delivery/as-user/agent.js').replace('file://', ''))} }),
});
await new Promise((resolve) => server.once('listening', resolve));
for (const r of JSON.parse(requests)) {
  const reply = await requestLocalMailer('/run/broker-test.sock', { version: 1, queueId: ${JSON.stringify(QUEUE_ID)}, ...r });
  console.log('reply=' + JSON.stringify(reply));
}
server.close();
`;

const REQUESTS = [
  { kind: 'forward', user: 'carol', address: 'carol' },
  { kind: 'program', sender: 'alice', command: 'logit carol', origin: { kind: 'forward', user: 'carol' } },
  { kind: 'program', sender: 'alice', command: 'logit forged', origin: { kind: 'forward', user: 'carol' } },
  { kind: 'include', path: '/home/carol/private' },
  { kind: 'include', path: '/home/carol/private', origin: { kind: 'forward', user: 'carol' } },
  { kind: 'file', sender: 'alice', path: '/home/carol/stolen', origin: { kind: 'forward', user: 'carol' } },
];

test('the broker serves what a user\'s .forward says and refuses what a runner makes up', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(
    `
set -u
W=$(mktemp -d /run/broker.XXXX); chmod 755 "$W"
${putFile('broker.mjs', BROKER)}
${putFile('logit', '#!/bin/sh\n{ echo "user=$(id -un) args=$*"; cat; } > "/run/out/logit.$1"\n')}
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin mailnull
useradd --create-home --user-group --shell /bin/bash carol
install -d -m 1777 /run/out
mkdir -p /etc/mail/smrsh "$W/q/df"; install -m 755 "$W/logit" /etc/mail/smrsh/logit
printf 'Subject: test\\n\\nbody\\n' > "$W/q/df/${QUEUE_ID}"; chmod 600 "$W/q/df/${QUEUE_ID}"
printf 'alice, "|logit carol"\\n' > /home/carol/.forward; chown carol:carol /home/carol/.forward
printf 'secret-line\\n' > /home/carol/private; chown carol:carol /home/carol/private; chmod 600 /home/carol/private
'${process.execPath}' "$W/broker.mjs" "$W/q" '${JSON.stringify(REQUESTS)}' 2>"$W/log"; echo "rc=$?"
echo "ran=$(ls /run/out | tr '\\n' ' ')"
echo "carol=$(head -1 /run/out/logit.carol 2>/dev/null)"
echo "stolen=$([ -e /home/carol/stolen ] && echo exists || echo absent)"
`,
    { timeoutMs: 60_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  assert.equal(line('rc'), '0', r.stdout);
  const replies = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('reply='))
    .map((l) => JSON.parse(l.slice('reply='.length)) as { status: string; code?: string; text?: string; targets?: Array<{ address: string }> });
  assert.equal(replies.length, REQUESTS.length, r.stdout);
  const [forward, listed, forged, privateList, privateViaForward, file] = replies;
  assert.equal(forward!.status, 'forwarded');
  assert.deepEqual(forward!.targets!.map((t) => t.address), ['alice', '|logit carol']);
  assert.equal(listed!.status, 'sent', JSON.stringify(listed));
  assert.equal(line('carol'), 'user=carol args=carol');
  assert.deepEqual([forged!.status, forged!.code], ['bounced', 'LOCAL_TARGET_NOT_LISTED']);
  assert.equal(line('ran'), 'logit.carol ', 'the forged program never ran');
  assert.deepEqual([privateList!.status, privateList!.code, privateList!.text], ['bounced', 'INCLUDE_CANNOT_OPEN', 'Cannot open /home/carol/private: Permission denied']);
  assert.deepEqual([privateViaForward!.status, privateViaForward!.code], ['bounced', 'LOCAL_TARGET_NOT_LISTED']);
  assert.doesNotMatch(r.stdout, /secret-line/);
  assert.deepEqual([file!.status, file!.code], ['bounced', 'LOCAL_TARGET_NOT_LISTED']);
  assert.equal(line('stolen'), 'absent');
});
