// Start-up cost of bin/sendmail, as cron and PHP pay it on every call
// (a whole submission with the daemon running: bench/submit.mjs).
// Prints the median wall time of N runs of each command line, beside Node's
// own start-up and, when found, the real sendmail's.  Figures only; nothing
// here asserts a target.
//   node bench/startup.mjs [runs]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const runs = Number(process.argv[2] ?? 30);
const sendmail = join(root, 'bin', 'sendmail');
const submitCf = join(root, 'conf', 'submit.cf');
const env = { PATH: '/usr/bin:/bin', HOME: '/nonexistent', LANG: 'C' };

function median(command, args, input = '') {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    spawnSync(command, args, { input, env, stdio: ['pipe', 'ignore', 'ignore'] });
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const rows = [
  ['node -e ""  (Node alone)', process.execPath, ['-e', '']],
  ['sendmail -bz  (command line only)', sendmail, ['-bz']],
  ['sendmail -C conf/submit.cf -bC  (reads submit.cf)', sendmail, ['-C', submitCf, '-bC']],
];
const real = [join(root, 'var/test-peers/sendmail-bin/usr/libexec/sendmail/sendmail'), '/usr/sbin/sendmail'].find(
  (p) => existsSync(p) && !p.startsWith(root + '/bin'),
);
if (real !== undefined) rows.push([`real sendmail -bz  (${real})`, real, ['-bz']]);

console.log(`median of ${runs} runs, ms`);
for (const [label, command, args, input] of rows) console.log(`${median(command, args, input).toFixed(1).padStart(8)}  ${label}`);
