// Accepted messages per second over SMTP: Postfix's smtp-source (unpacked
// from Debian's postfix package, never installed) against the daemon on a
// private configuration, fsync on, messages only queued (DeliveryMode=queue)
// so that delivery does not compete, with the daemon's CPU time per message
// (every process and thread of it; steadier than the rate on a shared
// machine).  Then the daemons' memory with 1,000 idle connections.  Figures
// only; nothing is asserted.  Postfix's own figure is printed when a Postfix
// is installed on the machine (it is not started here).
//   node bench/smtp-accept.mjs [messages]
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writePrivateConfig } from '../scripts/private-config.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const messages = Number(process.argv[2] ?? 2000);
const sendmail = join(root, 'bin', 'sendmail');
const env = { PATH: '/usr/bin:/bin', LANG: 'C' };

async function smtpSource() {
  const { debianPackage } = await import(join(root, 'dist/test/helpers/peers.js'));
  const peer = await debianPackage('postfix');
  if ('skip' in peer) throw new Error(peer.skip);
  return { bin: join(peer.root, 'usr/sbin/smtp-source'), libs: join(peer.root, 'usr/lib/postfix') };
}

function freePort() {
  return 20000 + Math.floor(Math.random() * 20000);
}

/** RSS in KiB of a process and its descendants. */
function treeRss(pid) {
  let total = 0;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) total += treeRss(Number(entry));
    } catch {
      // gone
    }
  }
  return total;
}

/** CPU time in ms (user + system, every thread) of a process and its descendants. */
function treeCpu(pid) {
  const ticks = 1000 / 100; // USER_HZ is 100 on Linux
  let total = 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += (Number(f[11]) + Number(f[12])) * ticks;
  } catch {
    return 0;
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) total += treeCpu(Number(entry));
    } catch {
      // gone
    }
  }
  return total;
}

const { bin, libs } = await smtpSource();
const dir = mkdtempSync(join(tmpdir(), 'postern-accept-'));
chmodSync(dir, 0o755);
const port = freePort();
const asRoot = process.getuid() === 0;
const conf = writePrivateConfig(dir, { mtaPort: port, msaPort: port + 1, runAsUser: asRoot ? 'nobody' : null });
if (asRoot) execFileSync('install', ['-d', '-o', 'nobody', '-m', '700', conf.queueDir]);
const daemon = spawn(sendmail, ['-C', conf.sendmailCf, '-bD', '-O', 'DeliveryMode=queue', '-O', 'LogLevel=0'], { env, stdio: 'ignore' });
try {
  for (let i = 0; i < 200 && !existsSync(conf.pidFile); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(conf.pidFile)) throw new Error('the daemon did not start');
  const masterPid = Number(readFileSync(conf.pidFile, 'utf8').split('\n')[0]);
  console.log(`Postern ${asRoot ? '(workers as nobody)' : ''}, smtp-source from Debian's postfix package, fsync on`);
  console.log('sessions  size      messages  seconds  messages/s  daemon CPU ms/message');
  for (const [sessions, size, count] of [
    [1, 10240, Math.min(messages, 500)],
    [10, 10240, messages],
    [50, 10240, messages],
    [10, 1 << 20, Math.max(50, Math.floor(messages / 20))],
  ]) {
    const cpuBefore = treeCpu(masterPid);
    const start = process.hrtime.bigint();
    execFileSync(bin, ['-c', '-s', String(sessions), '-m', String(count), '-l', String(size), '-f', 'bench@example.org', '-t', 'sink@example.com', `127.0.0.1:${port}`], {
      env: { ...env, LD_LIBRARY_PATH: libs },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const cpu = (treeCpu(masterPid) - cpuBefore) / count;
    console.log(`${String(sessions).padStart(8)}  ${(size >= 1 << 20 ? '1 MiB' : '10 KiB').padEnd(8)}  ${String(count).padStart(8)}  ${seconds.toFixed(2).padStart(7)}  ${(count / seconds).toFixed(0).padStart(10)}  ${cpu.toFixed(2).padStart(21)}`);
  }
  console.log(`daemon RSS (master and children), idle: ${(treeRss(masterPid) / 1024).toFixed(1)} MiB`);
  const sockets = [];
  for (let i = 0; i < 1000; i++) {
    sockets.push(
      await new Promise((resolve, reject) => {
        const s = createConnection({ port, host: '127.0.0.1' });
        s.once('data', () => resolve(s));
        s.once('error', reject);
      }),
    );
  }
  console.log(`daemon RSS with ${sockets.length} idle connections: ${(treeRss(masterPid) / 1024).toFixed(1)} MiB`);
  for (const s of sockets) s.destroy();
  const postfix = ['/usr/sbin/postfix'].find((p) => existsSync(p));
  console.log(postfix === undefined ? '(no Postfix installed here: its figure is not shown)' : `(Postfix is installed at ${postfix}; run smtp-source against it the same way for its figure)`);
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
