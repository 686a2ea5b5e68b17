// What a `sendmail -t -i` of a small message costs with the daemon running:
// the median wall time of N submissions, each a fresh process as cron and
// PHP start it, from exec to exit 0 (the message is then on disk, fsync'd).
// The daemon runs on a private configuration in a temporary directory (as
// `nobody` when this runs as root).  Beside it: Node's own start-up, and the
// real sendmail when one is installed.  Figures only; nothing is asserted.
//   node bench/submit.mjs [runs]
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writePrivateConfig } from '../scripts/private-config.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const runs = Number(process.argv[2] ?? 50);
const sendmail = join(root, 'bin', 'sendmail');
const env = { PATH: '/usr/bin:/bin', HOME: '/nonexistent', LANG: 'C' };
const message = 'To: root\nSubject: bench\n\nhello\n';

/** One run: wall time from spawn to exit, in ms, and whether it exited 0. */
function timed(command, args, input = '') {
  const start = process.hrtime.bigint();
  const r = spawnSync(command, args, { input, env, stdio: ['pipe', 'ignore', 'pipe'] });
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, ok: r.status === 0 };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];

const dir = mkdtempSync(join(tmpdir(), 'postern-bench-'));
const asRoot = process.getuid() === 0;
const conf = writePrivateConfig(dir, { mtaPort: 0, msaPort: 0, runAsUser: asRoot ? 'nobody' : null });
if (asRoot) {
  chmodSync(dir, 0o755);
  spawnSync('install', ['-d', '-o', 'nobody', '-m', '700', conf.queueDir]);
}
const daemon = spawn(sendmail, ['-C', conf.sendmailCf, '-bD'], { env, stdio: 'ignore' });
try {
  for (let i = 0; i < 200 && !existsSync(conf.pidFile); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(conf.pidFile)) throw new Error('the daemon did not start');

  const rows = [
    ['node -e ""  (Node alone)', process.execPath, ['-e', '']],
    ['sendmail -t -i, daemon running', sendmail, ['-C', conf.submitCf, '-t', '-i'], message],
  ];
  const real = ['/usr/sbin/sendmail', '/usr/lib/sendmail'].find((p) => existsSync(p) && !p.startsWith(root));
  if (real !== undefined) rows.push([`real ${real} -t -i`, real, ['-t', '-i'], message]);
  else console.log('(no real sendmail installed: its figure is not shown)');

  // interleaved: each round runs every row once, so that a busy spell of the
  // machine weighs on all of them alike and the differences stay meaningful
  const results = rows.map(() => ({ times: [], failures: 0 }));
  for (let i = 0; i < runs; i++) {
    rows.forEach(([, command, args, input], k) => {
      const r = timed(command, args, input);
      results[k].times.push(r.ms);
      if (!r.ok) results[k].failures++;
    });
  }
  console.log(`median and 90th percentile of ${runs} interleaved runs, ms`);
  const nodeMedian = quantile([...results[0].times].sort((a, b) => a - b), 0.5);
  rows.forEach(([label], k) => {
    const sorted = [...results[k].times].sort((a, b) => a - b);
    const median = quantile(sorted, 0.5);
    const beyond = k === 0 ? '' : `  (${(median - nodeMedian).toFixed(1)} beyond Node's)`;
    const failed = results[k].failures ? `  (${results[k].failures} failed)` : '';
    console.log(`${median.toFixed(1).padStart(8)} ${quantile(sorted, 0.9).toFixed(1).padStart(8)}  ${label}${beyond}${failed}`);
  });
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
