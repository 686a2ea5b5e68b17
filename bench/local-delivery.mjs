// Local deliveries per second into /var/mail mailboxes, fsync on, in the test
// sandbox with users made by useradd.  Two ways in, each for 1 user and for 20:
//   broker  deliverToMailbox() called as the broker calls it for each request,
//           4 at a time (the queue runner's concurrency): spool check, dotlock,
//           the agent running as the recipient, fcntl+flock, append, fsync;
//           first from cold (agents started as needed), then with the agents kept;
//   queue   end to end: smtp-source queues the messages into a daemon that
//           does not deliver (DeliveryMode=queue), then `sendmail -q` is timed
//           (runner as smmta, broker as root, agents as the recipients).
// The sandbox's /var/mail is a tmpfs, where fsync costs nothing; so each figure
// is also taken with /var/mail bind-mounted from a directory of the repository's
// own disk (var/bench-mail.*, removed afterwards).  Figures only; nothing is asserted.
//   node bench/local-delivery.mjs [messages] [broker|queue|both]
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const messages = Number(process.argv[2] ?? 1000);
const modes = (process.argv[3] ?? 'both') === 'both' ? ['broker', 'queue'] : [process.argv[3]];
const { runInSandbox, sandboxSkipReason, distImport } = await import(join(root, 'dist/test/helpers/sandbox.js'));
const { debianPackage } = await import(join(root, 'dist/test/helpers/peers.js'));
const { putFile } = await import(join(root, 'dist/test/helpers/scripts.js'));

const skip = await sandboxSkipReason();
if (skip !== null) {
  console.log(`local delivery bench skipped: ${skip}`);
  process.exit(0);
}

/**
 * drive.mjs SPOOL MESSAGES USERS...: the broker's mailbox delivery, 4 at a time, twice: first with no
 * agent running (each user's first delivery starts one), then again while they are kept; prints
 * "rate=COLD warm=WARM failed=M".
 */
const DRIVE = `
const { deliverToMailbox } = await import(${JSON.stringify(distImport('src/delivery/mailbox/index.js'))});
const { lookupUser } = await import(${JSON.stringify(distImport('src/privsep/passwd.js'))});
const [spoolDir, count, ...names] = process.argv.slice(2);
const users = names.map((n) => lookupUser(n));
const body = 'From: bench@example.org\\nSubject: bench\\n\\n' + 'From the body, escaped\\n' + 'x'.repeat(72).concat('\\n').repeat(25);
let failed = 0;
async function pass() {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let i = next++; i < Number(count); i = next++) {
      const status = await deliverToMailbox({ user: users[i % users.length], sender: 'bench@example.org', spoolDir, content: [body] });
      if (status.status !== 'sent') { failed++; if (failed < 3) console.error(JSON.stringify(status)); }
    }
  }));
  return (Number(count) / ((performance.now() - started) / 1000)).toFixed(0);
}
const cold = await pass();
const warm = await pass();
console.log('rate=' + cold + ' warm=' + warm + ' failed=' + failed);
`;

const users = Array.from({ length: 20 }, (_, i) => `user${String(i + 1).padStart(2, '0')}`);
const postfix = modes.includes('queue') ? await debianPackage('postfix') : { skip: 'not asked for' };

function script(disk) {
  const pf = (bin) => ('skip' in postfix ? 'false' : `LD_LIBRARY_PATH=${join(postfix.root, 'usr/lib/postfix')} ${join(postfix.root, 'usr/sbin', bin)}`);
  const perUser20 = Math.ceil(messages / 20);
  return `
set -u
W=$(mktemp -d /run/bench.XXXX); chmod 755 "$W"
${putFile('drive.mjs', DRIVE)}
chmod 644 "$W"/*
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
${disk ? `mount --bind '${disk}' /var/mail && chown root:mail /var/mail && chmod 2775 /var/mail` : ''}
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmta
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
for u in ${users.join(' ')}; do useradd --create-home --user-group "$u"; done
count() { cat /var/mail/user* 2>/dev/null | grep -c '^From '; }
clear() { rm -f /var/mail/user*; }
${
  modes.includes('broker')
    ? `
echo "broker-1 $('${process.execPath}' "$W/drive.mjs" /var/mail ${messages} user01) count=$(count)"; clear
echo "broker-20 $('${process.execPath}' "$W/drive.mjs" /var/mail ${messages} ${users.join(' ')}) count=$(count)"; clear
`
    : ''
}
${
  modes.includes('queue') && !('skip' in postfix)
    ? `
cp '${root}/conf/sendmail.cf' '${root}/conf/submit.cf' '${root}/conf/aliases' /etc/mail/
echo 'O LogLevel=0' >> /etc/mail/sendmail.cf
export PATH='${root}/bin':$PATH
cd /run
queue_run() { # NAME PER-USER USERS...: queue, then time sendmail -q
  name=$1; per=$2; shift 2
  sendmail -bd -O DeliveryMode=queue || exit 1
  for u in "$@"; do ${pf('smtp-source')} -s 4 -m "$per" -l 2048 -f bench@example.org -t "$u@mx.example.test" 127.0.0.1:25 || exit 1; done
  kill -TERM "$(head -1 /var/run/sendmail.pid)"
  for i in $(seq 200); do [ -e /var/run/sendmail.pid ] || break; sleep 0.05; done
  queued=$(mailq | grep -c '^[0-9A-Za-z]\\{14\\} ')
  start=$(date +%s.%N); sendmail -q; end=$(date +%s.%N)
  echo "$name rate=$(awk "BEGIN{printf \\"%d\\", $queued / ($end - $start)}") queued=$queued left=$(mailq | grep -c '^[0-9A-Za-z]\\{14\\} ') count=$(count)"
  clear
}
queue_run queue-1 ${messages} user01
queue_run queue-20 ${perUser20} ${users.join(' ')}
`
    : ''
}
`;
}

const results = [];
for (const where of ['tmpfs', 'disk']) {
  let disk;
  if (where === 'disk') {
    disk = mkdtempSync(join(root, 'var', 'bench-mail.'));
    chmodSync(disk, 0o755);
  }
  try {
    const r = await runInSandbox(script(disk), { hostname: 'mx.example.test', timeoutMs: 900_000 });
    if (r.code !== 0) {
      console.log(`local delivery bench failed on ${where} (status ${r.code}):\n${r.stderr.slice(-2000)}\n${r.stdout.slice(-1000)}`);
      process.exit(1);
    }
    for (const line of r.stdout.split('\n')) {
      const m = /^(broker|queue)-(\d+) rate=(\d+)(?: warm=(\d+))?.*?count=(\d+)/.exec(line);
      if (m) results.push({ where, mode: m[1], users: Number(m[2]), rate: Number(m[3]), warm: m[4] === undefined ? undefined : Number(m[4]), delivered: Number(m[5]), line });
    }
    if (r.stderr.trim() !== '') console.error(r.stderr.trim().split('\n').slice(-5).join('\n'));
  } finally {
    if (disk) rmSync(disk, { recursive: true, force: true });
  }
}

console.log(`Postern local delivery into mailboxes, fsync on, about 2 KiB a message, ${messages} messages`);
for (const mode of modes) {
  const title = mode === 'broker' ? 'broker driven directly (deliverToMailbox, 4 at a time)' : 'end to end: sendmail -q over a queue filled by smtp-source';
  if (mode === 'queue' && 'skip' in postfix) {
    console.log(`  ${title}: skipped (${postfix.skip})`);
    continue;
  }
  console.log(`  ${title}`);
  for (const r of results.filter((x) => x.mode === mode)) {
    const where = r.where === 'tmpfs' ? '/var/mail on tmpfs (fsync free)' : '/var/mail on the disk (ext4)';
    const warm = r.warm === undefined ? '' : `, ${String(r.warm).padStart(5)}/s with the agents already running`;
    console.log(`    ${String(r.users).padStart(2)} user${r.users === 1 ? ' ' : 's'}, ${where.padEnd(32)} ${String(r.rate).padStart(5)} deliveries/s${warm} (${r.delivered} in the mailboxes)`);
  }
}
console.log("  Postfix's local(8) figure: not measured (Postfix is not installed here; about 250/s was measured before on this machine)");
