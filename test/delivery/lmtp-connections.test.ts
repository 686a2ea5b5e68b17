/**
 * LMTP sessions kept between messages, as sendmail's connection cache keeps
 * an [IPC] mailer's: the local mailer is an LMTP client of Dovecot's socket
 * (FEATURE(`local_lmtp', `[IPC]', `FILE ...')), and Dovecot's own log counts
 * the connections it was given.
 *
 *   1. a queue run (`sendmail -q`) over 12 queued messages for bob: at most
 *      one connection per queue-run lane (four), where each message had one
 *      of its own before;
 *   2. the daemon delivering 5 messages as they come, one after the other:
 *      one connection for all of them, each transaction after the first
 *      begun with RSET, as sendmail checks a cached connection.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DOVECOT_DIR, LMTP_PORT, lmtpSendmailCf } from '../helpers/lmtp-config.js';
import { dovecotPeer, dovecotSkipReason } from '../helpers/dovecot.js';
import { repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { daemonSandboxPreamble, putFile } from '../helpers/scripts.js';
import { QUEUE_RUN_LANES } from '../../src/queue/runner.js';

const QUEUED = 12;
const ONE_BY_ONE = 5;

function script(): string {
  const dovecot = dovecotPeer(DOVECOT_DIR, LMTP_PORT, [{ name: 'alice' }, { name: 'bob' }, { name: 'carol' }]);
  const log = `'${DOVECOT_DIR}/dovecot.log'`;
  return `${daemonSandboxPreamble(repoRoot)}
useradd --create-home --user-group carol
${putFile('sendmail.cf', lmtpSendmailCf())}
cp "$W/sendmail.cf" /etc/mail/sendmail.cf
touch /etc/mail/mailertable && makemap hash /etc/mail/mailertable < /dev/null
${dovecot.start}
connections() { grep -c 'Connect from local' ${log}; }
count() { ls '${DOVECOT_DIR}'/mail/$1/new 2>/dev/null | wc -l; }

# 1. queued first, then one queue run
sendmail -bd -O DeliveryMode=queue; echo "bd1=$?"
for i in $(seq ${QUEUED}); do printf 'To: bob\\nSubject: queued %s\\n\\nhello\\n' "$i" | as alice sendmail -t -i; done
kill -TERM "$(head -1 /var/run/sendmail.pid)"
for i in $(seq 200); do [ -e /var/run/sendmail.pid ] || break; sleep 0.05; done
before=$(connections)
sendmail -q 2> "$W/q.log"; echo "q=$?"
echo "run=$(( $(connections) - before )) $(count bob)"

# 2. the daemon delivers each message as it comes
sendmail -bd; echo "bd2=$?"
before=$(connections)
for i in $(seq ${ONE_BY_ONE}); do
  printf 'To: carol\\nSubject: one by one %s\\n\\nhello\\n' "$i" | as alice sendmail -t -i
  for j in $(seq 200); do [ "$(count carol)" -ge "$i" ] && break; sleep 0.05; done
done
echo "daemon=$(( $(connections) - before )) $(count carol)"
kill -TERM "$(head -1 /var/run/sendmail.pid)"
for i in $(seq 200); do [ -e /var/run/sendmail.pid ] || break; sleep 0.05; done
echo "dovecot=$(b64 ${log})"
echo "qlog=$(b64 "$W/q.log")"
`;
}

test('LMTP connections are kept between messages (ConnectionCacheSize, ConnectionCacheTimeout)', async (t) => {
  const skip = (await sandboxSkipReason()) ?? dovecotSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(script(), { hostname: 'mx.example.test', timeoutMs: 120_000 });
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  const text = (key: string) => Buffer.from(line(key), 'base64').toString();
  const diag = `${r.stdout}\n${r.stderr}\n${text('dovecot')}\n${text('qlog')}`;
  assert.equal(r.code, 0, diag);
  for (const key of ['bd1', 'q', 'bd2']) assert.equal(line(key), '0', `${key}\n${diag}`);

  await t.test(`a queue run of ${QUEUED} messages: at most one connection per lane, not one per message`, () => {
    const [connections, delivered] = line('run').split(' ').map(Number) as [number, number];
    assert.equal(delivered, QUEUED, diag);
    assert.ok(connections >= 1 && connections <= QUEUE_RUN_LANES, `${connections} connections for ${QUEUED} messages\n${diag}`);
  });

  await t.test(`the daemon, ${ONE_BY_ONE} messages one after the other: one connection`, () => {
    const [connections, delivered] = line('daemon').split(' ').map(Number) as [number, number];
    assert.equal(delivered, ONE_BY_ONE, diag);
    assert.equal(connections, 1, diag);
  });
});
