// Accepted messages per second over SMTP with opendkim attached, beside the
// same run without a filter: Postfix's smtp-source (from Debian's postfix
// package, unpacked, never installed) against a daemon on a private
// configuration, fsync on, messages only queued (DeliveryMode=queue).
// opendkim (Debian's) runs in the foreground with a key made by
// opendkim-genkey in a root-owned directory under /run (opendkim refuses a
// key others could write), and signs every message (InternalHosts is
// 127.0.0.1 by default).  Figures only; nothing is asserted.
//   node bench/smtp-accept-opendkim.mjs [messages]
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writePrivateConfig } from '../scripts/private-config.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const messages = Number(process.argv[2] ?? 1000);
const sendmail = join(root, 'bin', 'sendmail');
const env = { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', LANG: 'C' };
const OPENDKIM = '/usr/sbin/opendkim';
const GENKEY = '/usr/sbin/opendkim-genkey';

if (!existsSync(OPENDKIM) || !existsSync(GENKEY)) {
  console.log('opendkim is not installed (apt-get install opendkim opendkim-tools): no figure');
  process.exit(0);
}
const asRoot = process.getuid() === 0;

async function smtpSource() {
  const { debianPackage } = await import(join(root, 'dist/test/helpers/peers.js'));
  const peer = await debianPackage('postfix');
  if ('skip' in peer) throw new Error(peer.skip);
  return { bin: join(peer.root, 'usr/sbin/smtp-source'), libs: join(peer.root, 'usr/lib/postfix') };
}

async function until(test, what, ms = 15000) {
  for (const start = Date.now(); !test(); ) {
    if (Date.now() - start > ms) throw new Error(`${what} did not come up`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}

/** opendkim in the foreground on a socket any worker can reach; its key in a root-owned directory under /run. */
async function startOpendkim() {
  const keyDir = mkdtempSync(join(asRoot ? '/run' : tmpdir(), 'postern-bench-dkim-'));
  chmodSync(keyDir, 0o755);
  execFileSync(GENKEY, ['-D', keyDir, '-d', 'example.com', '-s', 'bench', '-b', '2048'], { env });
  const conf = join(keyDir, 'opendkim.conf');
  const socket = join(keyDir, 'opendkim.sock');
  writeFileSync(
    conf,
    [`Socket local:${socket}`, 'UMask 000', 'Background no', 'Syslog no', 'Mode s', 'Domain example.com', 'SubDomains yes', 'Selector bench', `KeyFile ${join(keyDir, 'bench.private')}`, 'Canonicalization relaxed/simple', ''].join('\n'),
  );
  const child = spawn(OPENDKIM, ['-f', '-x', conf], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  await until(() => existsSync(socket) || child.exitCode !== null, 'opendkim');
  if (child.exitCode !== null) throw new Error(`opendkim exited ${child.exitCode}`);
  return { child, socket, keyDir };
}

/** One daemon, one smtp-source run per load; returns messages/s per load. */
async function measure(bin, libs, loads, milterSocket) {
  const dir = mkdtempSync(join(tmpdir(), 'postern-accept-dkim-'));
  chmodSync(dir, 0o755);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const conf = writePrivateConfig(dir, { mtaPort: port, msaPort: port + 1, runAsUser: asRoot ? 'nobody' : null });
  if (asRoot) execFileSync('install', ['-d', '-o', 'nobody', '-m', '700', conf.queueDir]);
  if (milterSocket !== undefined) {
    appendFileSync(conf.sendmailCf, `\nXopendkim, S=local:${milterSocket}, F=T, T=C:10s;S:10s;R:10s;E:30s\nO InputMailFilters=opendkim\n`);
  }
  const daemon = spawn(sendmail, ['-C', conf.sendmailCf, '-bD', '-O', 'DeliveryMode=queue', '-O', 'LogLevel=0'], { env, stdio: 'ignore' });
  const figures = [];
  try {
    await until(() => existsSync(conf.pidFile), 'the daemon');
    for (const [sessions, size, count] of loads) {
      const start = process.hrtime.bigint();
      execFileSync(bin, ['-c', '-s', String(sessions), '-m', String(count), '-l', String(size), '-f', 'bench@example.com', '-t', 'sink@example.org', `127.0.0.1:${port}`], {
        env: { ...env, LD_LIBRARY_PATH: libs },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      figures.push(count / (Number(process.hrtime.bigint() - start) / 1e9));
    }
    if (milterSocket !== undefined) {
      // one signed message, to show the figure is for signed mail
      const { readEnvelopes } = await import(join(root, 'dist/src/queue/listing.js'));
      const first = readEnvelopes(conf.queueDir)[0];
      const head = first === undefined ? '' : readFileSync(join(conf.queueDir, 'df', first.id), 'latin1').slice(0, 200);
      if (!head.startsWith('DKIM-Signature:')) console.log(`warning: the queued messages are not signed: ${JSON.stringify(head.slice(0, 80))}`);
    }
  } finally {
    await stop(daemon);
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

const { bin, libs } = await smtpSource();
const loads = [
  [1, 10240, Math.min(messages, 300)],
  [10, 10240, messages],
  [50, 10240, messages],
];
const plain = await measure(bin, libs, loads, undefined);
const dkim = await startOpendkim();
let signed;
try {
  signed = await measure(bin, libs, loads, dkim.socket);
} finally {
  await stop(dkim.child);
  rmSync(dkim.keyDir, { recursive: true, force: true });
}
console.log(`Postern ${asRoot ? '(workers as nobody)' : ''}, smtp-source from Debian's postfix package, fsync on, 10 KiB messages`);
console.log('sessions  messages  plain msg/s  opendkim msg/s  ratio');
loads.forEach(([sessions, , count], i) => {
  console.log(`${String(sessions).padStart(8)}  ${String(count).padStart(8)}  ${plain[i].toFixed(0).padStart(11)}  ${signed[i].toFixed(0).padStart(14)}  ${(signed[i] / plain[i]).toFixed(2).padStart(5)}`);
});
