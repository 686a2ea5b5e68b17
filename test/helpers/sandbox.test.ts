/**
 * The sandbox keeps what tests do away from the host: users, /etc, spools,
 * /dev and the network are private, and nothing is left running or lying
 * around afterwards.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { binDir, distImport, runInSandbox, runNodeInSandbox, sandboxSkipReason, SETUP_FAILED } from './sandbox.js';

/** Host processes whose command line contains `marker`. */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(join('/proc', entry, 'cmdline'), 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(marker)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe('sandbox', () => {
  it('runs as root under its own pid 1, with only loopback, up, and its own host name', async (t) => {
    const skip = await sandboxSkipReason();
    if (skip) return t.skip(skip);
    const r = await runInSandbox(`
      echo "pid=$$ uid=$(id -u)"
      tr '\\0' ' ' < /proc/1/cmdline | grep -q 'setup.sh' && echo pid1=setup
      echo "host=$(hostname)"
      ip -o link show | awk -F': ' '{print "link=" $2}'
      ip -o link show lo | grep -q 'UP' && echo lo=up
    `);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    // the script runs as a child of the setup shell, which is pid 1
    assert.match(lines[0]!, /^pid=\d+ uid=0$/);
    assert.ok(lines.includes('pid1=setup'), r.stdout);
    assert.ok(lines.includes('host=mx.example.test'), r.stdout);
    assert.deepEqual(lines.filter((l) => l.startsWith('link=')), ['link=lo']);
    assert.ok(lines.includes('lo=up'), r.stdout);
  });

  it('gives private /etc, users, spools and mail directories that vanish afterwards', async (t) => {
    const skip = await sandboxSkipReason();
    if (skip) return t.skip(skip);
    const user = 'pstsbx' + process.pid.toString(36);
    const r = await runInSandbox(`
      set -e
      useradd -m -s /bin/sh ${user}
      getent passwd ${user} | cut -d: -f1,6
      test -d /home/${user} && echo home=yes
      ls -A /etc/mail | wc -l | sed 's/^/etcmail=/'
      echo queued > /var/spool/probe-${user}
      echo mail > /var/mail/${user}
      stat -c 'varmail=%a %G' /var/mail
      mkdir -p /etc/mail && echo 'root: alice' > /etc/mail/aliases
    `);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${user}:/home/${user}$`, 'm'));
    assert.match(r.stdout, /^home=yes$/m);
    assert.match(r.stdout, /^etcmail=0$/m);
    assert.match(r.stdout, /^varmail=2775 mail$|^varmail=\d+ \S+$/m);
    // nothing reached the host
    assert.ok(!readFileSync('/etc/passwd', 'utf8').includes(`${user}:`));
    assert.equal(existsSync(`/home/${user}`), false);
    assert.equal(existsSync(`/var/spool/probe-${user}`), false);
    assert.equal(existsSync(`/var/mail/${user}`), false);
    assert.equal(existsSync(r.workDir), false, 'the work directory is removed');
  });

  it('provides a private /dev with the usual nodes, where /dev/log can be made', async (t) => {
    const skip = await sandboxSkipReason();
    if (skip) return t.skip(skip);
    const hostHadDevLog = existsSync('/dev/log');
    const r = await runInSandbox(`
      set -e
      echo discard > /dev/null
      head -c 4 /dev/zero | od -An -tx1 | tr -d ' \\n'; echo
      head -c 8 /dev/urandom | wc -c
      test -L /dev/fd && test -e /dev/stdin && test -e /dev/stdout && test -e /dev/stderr && echo links=ok
      test -c /dev/null && test -c /dev/random && test -c /dev/full && echo chars=ok
      ls /dev | sort | tr '\\n' ' '; echo
      /usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind("/dev/log"); print("devlog=bound")'
      test -S /dev/log && echo devlog=socket
    `);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], '00000000');
    assert.equal(lines[1], '8');
    assert.ok(lines.includes('links=ok'), r.stdout);
    assert.ok(lines.includes('chars=ok'), r.stdout);
    assert.ok(!lines[4]!.includes('vda') && !lines[4]!.includes('kmsg'), `host devices are not visible: ${lines[4]}`);
    assert.ok(lines.includes('devlog=bound') && lines.includes('devlog=socket'), r.stdout);
    assert.equal(existsSync('/dev/log'), hostHadDevLog, "the host's /dev is untouched");
  });

  it('lets a test bind ports 25 and 587 on loopback without touching the host', async (t) => {
    const skip = await sandboxSkipReason();
    if (skip) return t.skip(skip);
    const r = await runNodeInSandbox(`
      import net from 'node:net';
      const listen = (port) => new Promise((res, rej) => { const s = net.createServer((c) => c.end('220 hi\\r\\n')); s.on('error', rej); s.listen(port, '127.0.0.1', () => res(s)); });
      const servers = [await listen(25), await listen(587)];
      const greeting = await new Promise((res, rej) => { const c = net.connect(25, '127.0.0.1'); c.on('data', (d) => { res(String(d)); c.end(); }); c.on('error', rej); });
      process.stdout.write(JSON.stringify({ greeting, pid: process.pid, path: process.env.PATH }));
      for (const s of servers) s.close();
    `);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { greeting: string; pid: number; path: string };
    assert.equal(got.greeting, '220 hi\r\n');
    assert.ok(got.pid < 100, `pid ${got.pid} is from the sandbox's own pid namespace`);
    assert.ok(got.path.startsWith(binDir + ':'), 'bin/ comes first on PATH');
  });

  it('can run compiled project code', async (t) => {
    const skip = await sandboxSkipReason();
    if (skip) return t.skip(skip);
    const r = await runNodeInSandbox(`
      const { formatInterval } = await import(${JSON.stringify(distImport('src/common/log-format.js'))});
      console.log(formatInterval(93784));
    `);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '1+02:03:04\n');
  });

  it('passes standard input, exit status and environment', async (t) => {
    const skip = await sandboxSkipReason();
    if (skip) return t.skip(skip);
    const r = await runInSandbox(['/bin/sh', '-c', 'cat; echo "$GREETING"; exit 7'], { stdin: 'line\n', env: { GREETING: 'hello' } });
    assert.equal(r.code, 7);
    assert.equal(r.stdout, 'line\nhello\n');
  });

  it('leaves no process behind: background children die with pid 1', async (t) => {
    const skip = await sandboxSkipReason();
    if (skip) return t.skip(skip);
    const marker = `${4000 + (process.pid % 1000)}.25`;
    const r = await runInSandbox(`
      sleep ${marker} &
      setsid sleep ${marker} &
      ( sleep ${marker} & ) &
      sleep 0.2
      echo started
    `);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'started\n');
    await new Promise((res) => setTimeout(res, 200));
    assert.deepEqual(processesWith(`sleep ${marker}`), []);
  });

  it('kills everything on timeout', async (t) => {
    const skip = await sandboxSkipReason();
    if (skip) return t.skip(skip);
    const marker = `${5000 + (process.pid % 1000)}.75`;
    const started = Date.now();
    const r = await runInSandbox(`sleep ${marker} & sleep ${marker}`, { timeoutMs: 1500 });
    assert.equal(r.timedOut, true);
    assert.equal(r.code, null);
    assert.ok(Date.now() - started < 10_000);
    await new Promise((res) => setTimeout(res, 300));
    assert.deepEqual(processesWith(`sleep ${marker}`), []);
    assert.equal(existsSync(r.workDir), false);
  });

  it('reports a setup failure distinctly', async (t) => {
    const skip = await sandboxSkipReason();
    if (skip) return t.skip(skip);
    const r = await runInSandbox('true', { tmpfs: ['/nonexistent-postern-path'] });
    assert.equal(r.code, SETUP_FAILED);
    assert.match(r.stderr, /sandbox setup failed: \/nonexistent-postern-path is not a directory/);
  });
});
