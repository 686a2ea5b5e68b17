/**
 * sendmail -bv against the real sendmail 8.17, in one sandbox, on the same
 * m4-generated sendmail.cf and aliases: users, aliases to users, programs,
 * files and error: entries, an unknown user, a remote address, duplicates;
 * and an ordinary user's notice and refusal.  Output and exit status must be
 * the same, line for line.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { stockConfigs } from '../helpers/m4cf.js';
import { realSendmail, repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';

const ALIASES = 'team: bob, carol\npostmaster: root\nprog: "|/bin/true"\nfile: /tmp/x\ngone: error:5.1.1:550 Gone away\n';
const ARGS = ['bob', 'team', 'nosuch', 'someone@remote.example', 'prog', 'file', 'gone', 'bob@mx.example.test', 'root'];

function script(bin: string, sendmailCf: string): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return `
set -u
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
echo ${b64(sendmailCf)} | base64 -d > /etc/mail/sendmail.cf
echo ${b64(ALIASES)} | base64 -d > /etc/mail/aliases
touch /etc/mail/local-host-names
for u in alice bob carol; do useradd -m "$u"; done
mkdir -p /var/spool/mqueue; chmod 700 /var/spool/mqueue
'${bin}' -bv ${ARGS.map((a) => `'${a}'`).join(' ')} > /run/root.out 2>&1; echo "root=$? $(base64 -w0 < /run/root.out)"
setpriv --reuid=alice --regid=alice --init-groups '${bin}' -bv bob > /run/alice.out 2>/run/alice.err; echo "alice=$? $(base64 -w0 < /run/alice.out) $(base64 -w0 < /run/alice.err)"
`;
}

test('sendmail -bv prints what the real sendmail 8.17 prints', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const configs = await stockConfigs();
  if ('skip' in configs) return t.skip(configs.skip);
  const real = await realSendmail();
  if (typeof real !== 'string') return t.skip(real.skip);
  const outcome = async (bin: string) => {
    const r = await runInSandbox(script(bin, configs.sendmailCf), { hostname: 'mx.example.test', timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const field = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1).split(' ') ?? [];
    const text = (b: string | undefined) => Buffer.from(b ?? '', 'base64').toString();
    const [rootStatus, rootOut] = field('root');
    const [aliceStatus, aliceOut, aliceErr] = field('alice');
    return { rootStatus, rootOut: text(rootOut), aliceStatus, aliceOut: text(aliceOut), aliceErr: text(aliceErr) };
  };
  const theirs = await outcome(real);
  const ours = await outcome(join(repoRoot, 'bin', 'sendmail'));
  // the table both must print (the real one is checked against it too)
  const expected = [
    'nosuch... User unknown',
    'error:5.1.1:550 Gone away... User unknown',
    'bob... deliverable: mailer local, user bob',
    'carol... deliverable: mailer local, user carol',
    '"|/bin/true"... deliverable: mailer prog, user |/bin/true',
    '/tmp/x... deliverable: mailer *file*, user /tmp/x',
    'root... deliverable: mailer local, user root',
    'someone@remote.example... deliverable: mailer esmtp, host remote.example, user someone@remote.example',
  ].join('\n') + '\n';
  assert.equal(theirs.rootOut, expected, 'the real sendmail');
  assert.equal(ours.rootOut, expected, 'Postern');
  assert.equal(ours.rootStatus, theirs.rootStatus);
  assert.equal(ours.rootStatus, '67');
  assert.equal(ours.aliceStatus, theirs.aliceStatus);
  assert.equal(ours.aliceOut, theirs.aliceOut);
  assert.equal(ours.aliceErr, theirs.aliceErr);
  assert.match(ours.aliceOut, /^Notice: -bv may give misleading output for non-privileged user\n/);
});
