// End-to-end relay messages per second: Postfix's smtp-source into Postern
// (127.0.0.1:25), Postern to Postfix's smtp-sink (127.0.0.2:25, the smart
// host), counted at the sink.  Everything runs in the test sandbox (a network
// namespace of its own, so port 25 is free and nothing leaves the machine);
// the daemon runs as root with workers, runner and broker as smmta/root, fsync
// on.  Figures only; nothing is asserted.
//   node bench/relay.mjs [messages] [sessions]
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const messages = Number(process.argv[2] ?? 2000);
const sessions = Number(process.argv[3] ?? 10);
const { runInSandbox, sandboxSkipReason } = await import(join(root, 'dist/test/helpers/sandbox.js'));
const { debianPackage } = await import(join(root, 'dist/test/helpers/peers.js'));

const skip = await sandboxSkipReason();
if (skip !== null) {
  console.log(`relay bench skipped: ${skip}`);
  process.exit(0);
}
const postfix = await debianPackage('postfix');
if ('skip' in postfix) {
  console.log(`relay bench skipped: ${postfix.skip}`);
  process.exit(0);
}
const pf = (bin) => `LD_LIBRARY_PATH=${join(postfix.root, 'usr/lib/postfix')} ${join(postfix.root, 'usr/sbin', bin)}`;

const script = `
set -u
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
ip addr add 127.0.0.2/8 dev lo 2>/dev/null || true
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmta
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
cp '${root}/conf/sendmail.cf' '${root}/conf/submit.cf' '${root}/conf/aliases' /etc/mail/
sed -i -e 's/^DS$/DS[127.0.0.2]/' -e 's/^O DaemonPortOptions=Name=MTA$/O DaemonPortOptions=Name=MTA, Addr=127.0.0.1/' /etc/mail/sendmail.cf
echo 'O LogLevel=0' >> /etc/mail/sendmail.cf
export PATH='${root}/bin':$PATH
cd /run
${pf('smtp-sink')} -u nobody -c 127.0.0.2:25 256 > /run/sink.out 2>&1 & SINK=$!
sendmail -bd -q1h
sleep 1
start=$(date +%s.%N)
${pf('smtp-source')} -s ${sessions} -m ${messages} -l 10240 -f bench@example.org -t sink@example.com 127.0.0.1:25 || { echo "smtp-source failed"; exit 1; }
accepted=$(date +%s.%N)
for i in $(seq 6000); do
  n=$(mailq 2>/dev/null | grep -c '^[0-9A-Za-z]\\{14\\} ')
  [ "$n" = 0 ] && break; sleep 0.05
done
done_at=$(date +%s.%N)
kill -TERM "$(head -1 /var/run/sendmail.pid)"; kill $SINK; wait $SINK 2>/dev/null
# smtp-sink -c counts the messages it received (its last count on the line)
echo "sink=$(tr '\\r' '\\n' < /run/sink.out | grep -o '[0-9]\\+' | tail -1)"
echo "accept=$(awk "BEGIN{print $accepted - $start}") relay=$(awk "BEGIN{print $done_at - $start}") left=$n"
`;

const r = await runInSandbox(script, { hostname: 'mx.example.test', timeoutMs: 600_000 });
const line = r.stdout.split('\n').find((l) => l.startsWith('accept='));
if (r.code !== 0 || line === undefined) {
  console.log(`relay bench failed (status ${r.code}):\n${r.stderr.slice(-2000)}`);
  process.exit(1);
}
const [, accept, relay, left] = /accept=([\d.]+) relay=([\d.]+) left=(\d+)/.exec(line) ?? [];
const sink = r.stdout.split('\n').find((l) => l.startsWith('sink='))?.slice(5) ?? '?';
console.log(`Postern relaying through smtp-sink as smart host, ${sessions} sessions, 10 KiB, fsync on`);
console.log(`  ${messages} messages: accepted in ${Number(accept).toFixed(2)} s (${(messages / Number(accept)).toFixed(0)}/s), relayed in ${Number(relay).toFixed(2)} s: ${(messages / Number(relay)).toFixed(0)} messages/s end to end; the sink counted ${sink}${left !== '0' ? ` (${left} still queued)` : ''}`);
console.log('  (Postfix is not installed here: its figure is not shown)');
