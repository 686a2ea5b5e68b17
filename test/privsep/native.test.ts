/**
 * The N-API addon (src/privsep/native) against the real kernel: other users,
 * other processes holding locks, and process-wide state changed in children
 * so the test runner itself keeps its identity and limits.
 */
import assert from 'node:assert/strict';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';

import { native, socketFd, type PeerCredentials, type RlimitResource } from '../../src/privsep/native.js';
import { ATTEMPT, NATIVE, NodeChild, needsRoot, runJson, tempDir } from './children.js';

const NOBODY = 65534;
const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../..'); // from dist/test/privsep
const ADDON = 'src/privsep/native/build/Release/postern_native.node';

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
}

/** The credentials of the first connection's peer, read on the server side. */
function firstPeer(server: Server): Promise<PeerCredentials> {
  return new Promise((resolve, reject) => {
    server.once('connection', (socket: Socket) => {
      try {
        resolve(native().peerCredentials(socketFd(socket)));
      } catch (error) {
        reject(error);
      } finally {
        socket.end();
      }
    });
  });
}

/** `promise`, or a failure if the child exits first. */
async function beforeExit<T>(child: NodeChild, promise: Promise<T>): Promise<T> {
  const exited = child.done.then((r) => {
    throw new Error(`child exited (${r.code ?? r.signal}) too early\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  });
  return Promise.race([promise, exited]);
}

function assertSystemError(fn: () => unknown, code: string, syscall: string): void {
  assert.throws(fn, (error: any) => {
    assert.equal(error.constructor, Error);
    assert.equal(error.code, code);
    assert.equal(error.errno, -(constants.errno as Record<string, number>)[code]!);
    assert.equal(getSystemErrorName(error.errno), code);
    assert.equal(error.syscall, syscall);
    assert.match(error.message, new RegExp(`^${code}: .+, ${syscall}$`));
    return true;
  });
}

function assertTypeError(fn: () => unknown, argument: string): void {
  assert.throws(fn, (error: any) => {
    assert.equal(error.constructor, TypeError, `expected a TypeError, got ${error}`);
    assert.equal(error.code, 'ERR_INVALID_ARG_TYPE');
    assert.match(error.message, new RegExp(`"${argument.replace(/[[\]]/g, '\\$&')}"`));
    return true;
  });
}

test('peerCredentials: the uid, gid and pid of a peer running as another user', { skip: needsRoot('spawns a child as nobody'), timeout: 20_000 }, async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const path = join(dir, 'peer.sock');
  const server = createServer();
  t.after(() => server.close());
  await listen(server, path);
  chmodSync(path, 0o666);
  const peer = firstPeer(server);

  const child = new NodeChild(
    t,
    `import { connect } from 'node:net';
     const socket = connect(${JSON.stringify(path)});
     socket.on('error', (e) => { console.error(e); process.exit(2); });
     socket.resume();
     socket.on('end', () => socket.end());
     socket.on('close', () => console.log(JSON.stringify([process.getuid(), process.getgid()])));`,
    { uid: NOBODY, gid: NOBODY },
  );
  const credentials = await beforeExit(child, peer);
  const result = await child.finish();
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), [NOBODY, NOBODY], 'the child really ran as nobody');
  assert.deepEqual({ ...credentials }, { pid: child.pid, uid: NOBODY, gid: NOBODY });
});

test('peerCredentials: a same-user peer, seen from both ends', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'peer.sock');
  const server = createServer();
  t.after(() => server.close());
  await listen(server, path);
  const peer = firstPeer(server);
  const client = createConnection(path);
  t.after(() => client.destroy());
  await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
  const self = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
  assert.deepEqual({ ...native().peerCredentials(socketFd(client)) }, self);
  assert.deepEqual({ ...(await peer) }, self);
});

test('socketFd refuses a socket without a descriptor', () => {
  const socket = createConnection({ path: '/nonexistent/postern.sock' });
  socket.on('error', () => {});
  socket.destroy();
  assert.throws(() => socketFd(socket), /socketFd: the socket has no open file descriptor/);
});

test('setresuid and setresgid drop a child to nobody for good', { skip: needsRoot('starts as root to drop to nobody') }, async (t) => {
  const report = await runJson(
    t,
    `${ATTEMPT}
     import { readFileSync } from 'node:fs';
     const n = (await import(${JSON.stringify(NATIVE)})).native();
     const groups = () => /^Groups:(.*)$/m.exec(readFileSync('/proc/self/status', 'utf8'))[1].trim();
     n.setgroups([${NOBODY}, 100]);
     const someGroups = groups();
     n.setgroups([]);
     n.setresgid(${NOBODY}, ${NOBODY}, ${NOBODY});
     n.setresuid(${NOBODY}, ${NOBODY}, ${NOBODY});
     console.log(JSON.stringify({
       someGroups, uids: n.getresuid(), gids: n.getresgid(), groups: groups(), nodeGroups: process.getgroups(),
       regainUid: attempt(() => n.setresuid(0, 0, 0)), regainGid: attempt(() => n.setresgid(0, 0, 0)),
       uidsAfter: n.getresuid(),
     }));`,
  );
  assert.deepEqual(report.someGroups.split(/\s+/).sort(), ['100', String(NOBODY)].sort());
  assert.deepEqual(report.uids, [NOBODY, NOBODY, NOBODY]);
  assert.deepEqual(report.gids, [NOBODY, NOBODY, NOBODY]);
  assert.equal(report.groups, '', 'no supplementary groups left in /proc/self/status');
  // Node's process.getgroups() always adds the effective gid; root's 0 must be gone.
  assert.deepEqual(report.nodeGroups, [NOBODY]);
  const eperm = { name: 'Error', code: 'EPERM', errno: -constants.errno.EPERM };
  assert.deepEqual(report.regainUid, { ...eperm, syscall: 'setresuid', message: 'EPERM: Operation not permitted, setresuid' });
  assert.deepEqual(report.regainGid, { ...eperm, syscall: 'setresgid', message: 'EPERM: Operation not permitted, setresgid' });
  assert.deepEqual(report.uidsAfter, [NOBODY, NOBODY, NOBODY]);
});

test('setresuid with -1 keeps ids, and a saved uid of 0 can be returned to', { skip: needsRoot('changes uids') }, async (t) => {
  const report = await runJson(
    t,
    `const n = (await import(${JSON.stringify(NATIVE)})).native();
     n.setresuid(-1, ${NOBODY}, -1);
     const dropped = n.getresuid();
     n.setresuid(-1, 0, -1);
     console.log(JSON.stringify({ dropped, back: n.getresuid() }));`,
  );
  assert.deepEqual(report, { dropped: [0, NOBODY, 0], back: [0, 0, 0] });
});

/**
 * A child process that takes a lock on `file` (`lock`: a call on the addon
 * `n` and the descriptor `fd`, true when taken), says "locked", and when told
 * "unlock-soon" creates `marker` and 300 ms later lets go (`unlock`).
 */
function lockHolder(t: TestContext, file: string, marker: string, lock: string, unlock: string): NodeChild {
  return new NodeChild(
    t,
    `import { openSync, writeFileSync } from 'node:fs';
     import { createInterface } from 'node:readline';
     const n = (await import(${JSON.stringify(NATIVE)})).native();
     const fd = openSync(${JSON.stringify(file)}, 'r+');
     if (!${lock}) throw new Error('child could not lock');
     console.log('locked');
     for await (const line of createInterface({ input: process.stdin })) {
       if (line === 'unlock-soon') setTimeout(() => {
         writeFileSync(${JSON.stringify(marker)}, '');
         ${unlock};
       }, 300);
     }`,
  );
}

test('fcntl record lock held by another process', { timeout: 20_000 }, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'locked');
  const marker = join(dir, 'child-unlocked');
  writeFileSync(file, 'x'.repeat(200));
  const child = lockHolder(t, file, marker, "n.recordLock(fd, 'write', false, 0, 100)", "n.recordLock(fd, 'unlock', false)");
  assert.equal(await child.line(), 'locked');

  const n = native();
  const fd = openSync(file, 'r+');
  t.after(() => closeSync(fd));
  assert.equal(n.recordLock(fd, 'write', false), false, 'the whole file overlaps the child’s lock');
  assert.equal(n.recordLock(fd, 'read', false, 99, 1), false, 'a read lock conflicts with a write lock');
  assert.deepEqual(n.recordLockHolder(fd, 'write'), { pid: child.pid, type: 'write' });
  assert.deepEqual(n.recordLockHolder(fd, 'read', 50, 10), { pid: child.pid, type: 'write' });
  assert.equal(n.recordLockHolder(fd, 'write', 100, 50), null, 'bytes past the child’s range are free');
  assert.equal(n.recordLock(fd, 'write', false, 100, 50), true);
  assert.equal(n.recordLock(fd, 'unlock', false, 100, 50), true);

  // A waiting lock returns only once the child has let go.
  child.send('unlock-soon\n');
  assert.equal(n.recordLock(fd, 'write', true), true);
  assert.ok(existsSync(marker), 'F_SETLKW returned before the child unlocked');
  assert.equal(n.recordLockHolder(fd, 'write'), null, 'our own lock never conflicts with us');
  assert.equal(n.recordLock(fd, 'unlock', false), true);

  const result = await child.finish();
  assert.equal(result.code, 0, result.stderr);
});

test('open-file-description locks: two descriptors of one process conflict, closing another releases nothing', (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'claims');
  writeFileSync(file, '');
  const n = native();
  const first = openSync(file, 'r+');
  const second = openSync(file, 'r+');
  t.after(() => closeSync(second));
  // far past the end of an empty file, as the queue's claims are
  const at = 2 ** 52 + 12345;
  assert.equal(n.descriptionLock(first, 'write', at, 1), true);
  assert.equal(n.descriptionLock(second, 'write', at, 1), false, 'the same process, another description');
  assert.equal(n.descriptionLock(second, 'write', at + 1, 1), true, 'the next byte is free');
  const third = openSync(file, 'r');
  closeSync(third); // a process-associated lock would be dropped here
  assert.equal(n.descriptionLock(second, 'write', at, 1), false, 'closing an unrelated descriptor released the lock');
  closeSync(first);
  assert.equal(n.descriptionLock(second, 'write', at, 1), true, 'closing the holder releases it');
  assert.throws(() => n.descriptionLock(second, 'write', -1, 1), TypeError);
});

test('an open-file-description lock with wait blocks until the holder lets go', { timeout: 20_000 }, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'claims');
  const marker = join(dir, 'child-unlocked');
  writeFileSync(file, '');
  const at = 2 ** 52;
  const child = lockHolder(t, file, marker, `n.descriptionLock(fd, 'write', ${at}, 1)`, `n.descriptionLock(fd, 'unlock', ${at}, 1)`);
  assert.equal(await child.line(), 'locked');
  const n = native();
  const fd = openSync(file, 'r+');
  t.after(() => closeSync(fd));
  assert.equal(n.descriptionLock(fd, 'write', at, 1), false);
  child.send('unlock-soon\n');
  assert.equal(n.descriptionLock(fd, 'write', at, 1, true), true);
  assert.ok(existsSync(marker), 'F_OFD_SETLKW returned before the child unlocked');
  assert.equal(n.descriptionLock(fd, 'unlock', at, 1), true);
  const result = await child.finish();
  assert.equal(result.code, 0, result.stderr);
});

test('flock held by another process, released when it exits', { timeout: 20_000 }, async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'locked');
  const marker = join(dir, 'child-exiting');
  writeFileSync(file, '');
  const child = new NodeChild(
    t,
    `import { openSync, writeFileSync } from 'node:fs';
     import { createInterface } from 'node:readline';
     const n = (await import(${JSON.stringify(NATIVE)})).native();
     const fd = openSync(${JSON.stringify(file)}, 'r');
     if (!n.flock(fd, 'exclusive', true)) throw new Error('child could not lock');
     console.log('locked');
     for await (const line of createInterface({ input: process.stdin })) {
       if (line === 'exit-soon') setTimeout(() => {
         writeFileSync(${JSON.stringify(marker)}, '');
         process.exit(0);
       }, 300);
     }`,
  );
  assert.equal(await child.line(), 'locked');

  const n = native();
  const fd = openSync(file, 'r');
  t.after(() => closeSync(fd));
  assert.equal(n.flock(fd, 'exclusive', true), false);
  assert.equal(n.flock(fd, 'shared', true), false);

  child.send('exit-soon\n');
  assert.equal(n.flock(fd, 'exclusive', false), true, 'a blocking flock waits for the holder');
  assert.ok(existsSync(marker), 'flock returned before the child exited');
  const result = await child.done;
  assert.equal(result.code, 0, result.stderr);
  assert.equal(n.flock(fd, 'shared', true), true, 'converting our own lock');
  assert.equal(n.flock(fd, 'unlock', false), true);
});

test('setrlimit nofile: opening past the lowered limit fails with EMFILE', async (t) => {
  const report = await runJson(
    t,
    `import { openSync, readdirSync, readFileSync } from 'node:fs';
     const n = (await import(${JSON.stringify(NATIVE)})).native();
     // The listing includes the descriptor that read it, closed since; fds
     // need not be contiguous, and new ones take the lowest free numbers.
     const open = readdirSync('/proc/self/fd').map(Number);
     const limit = open.length + 8;
     const free = limit - (open.filter((fd) => fd < limit).length - 1);
     n.setrlimit('nofile', limit, limit);
     const proc = /^Max open files +(\\S+) +(\\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8')).slice(1);
     let opened = 0, error = null;
     try { while (opened < 1000) { openSync('/dev/null', 'r'); opened++; } } catch (e) { error = e.code; }
     console.log(JSON.stringify({ limit, free, got: n.getrlimit('nofile'), proc, opened, error }));`,
  );
  assert.deepEqual(report.got, { soft: report.limit, hard: report.limit });
  assert.deepEqual(report.proc, [String(report.limit), String(report.limit)]);
  assert.equal(report.error, 'EMFILE');
  // Exactly the free slots below the limit, give or take a descriptor Node itself may hold.
  assert.ok(report.opened <= report.free && report.opened >= report.free - 2, `opened ${report.opened}, free ${report.free}`);
});

test('getrlimit agrees with /proc/self/limits, unlimited as Infinity', () => {
  const rows: Record<RlimitResource, string> = {
    core: 'Max core file size', cpu: 'Max cpu time', data: 'Max data size', fsize: 'Max file size',
    nofile: 'Max open files', nproc: 'Max processes', as: 'Max address space', stack: 'Max stack size',
    memlock: 'Max locked memory',
  };
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const value = (s: string): number => (s === 'unlimited' ? Infinity : Number(s));
  for (const [resource, row] of Object.entries(rows) as [RlimitResource, string][]) {
    const match = new RegExp(`^${row} +(\\S+) +(\\S+)`, 'm').exec(limits);
    assert.ok(match, row);
    assert.deepEqual(native().getrlimit(resource), { soft: value(match[1]!), hard: value(match[2]!) }, resource);
  }
});

test('setrlimit maps Infinity to RLIM_INFINITY, and only root raises a hard limit', { skip: needsRoot('raises a hard limit') }, async (t) => {
  const report = await runJson(
    t,
    `${ATTEMPT}
     import { readFileSync } from 'node:fs';
     const n = (await import(${JSON.stringify(NATIVE)})).native();
     const proc = () => /^Max core file size +(\\S+) +(\\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8')).slice(1);
     n.setrlimit('core', Infinity, Infinity);
     const unlimited = { got: n.getrlimit('core'), proc: proc() };
     n.setrlimit('core', 1024, 4096);
     const finite = { got: n.getrlimit('core'), proc: proc() };
     n.setgroups([]);
     n.setresgid(${NOBODY}, ${NOBODY}, ${NOBODY});
     n.setresuid(${NOBODY}, ${NOBODY}, ${NOBODY});
     const raise = attempt(() => n.setrlimit('core', 0, Infinity));
     console.log(JSON.stringify({ unlimited, finite, raise, after: proc() }, (k, v) => v === Infinity ? 'Infinity' : v));`,
  );
  assert.deepEqual(report.unlimited, { got: { soft: 'Infinity', hard: 'Infinity' }, proc: ['unlimited', 'unlimited'] });
  assert.deepEqual(report.finite, { got: { soft: 1024, hard: 4096 }, proc: ['1024', '4096'] });
  assert.equal(report.raise.code, 'EPERM');
  assert.equal(report.raise.syscall, 'setrlimit');
  assert.deepEqual(report.after, ['1024', '4096']);
});

test('setNoNewPrivs sets NoNewPrivs in /proc/self/status', async (t) => {
  const status = (): string | undefined => /^NoNewPrivs:\t(\d)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  if (status() === undefined) return t.skip('this kernel shows no NoNewPrivs in /proc/self/status');
  if (status() === '1') return t.skip('no_new_privs is already set on the test runner, so a child cannot show the change');
  const report = await runJson(
    t,
    `import { readFileSync } from 'node:fs';
     const n = (await import(${JSON.stringify(NATIVE)})).native();
     const status = () => /^NoNewPrivs:\\t(\\d)$/m.exec(readFileSync('/proc/self/status', 'utf8'))[1];
     const before = status();
     n.setNoNewPrivs();
     n.setNoNewPrivs();
     console.log(JSON.stringify({ before, after: status() }));`,
  );
  assert.deepEqual(report, { before: '0', after: '1' });
  assert.equal(status(), '0', 'the test runner itself is untouched');
});

test('system errors carry code, errno and syscall like Node’s', (t) => {
  const n = native();
  const closedFd = 1_000_000; // above any RLIMIT_NOFILE here, so never open
  assertSystemError(() => n.peerCredentials(closedFd), 'EBADF', 'getsockopt');
  assertSystemError(() => n.flock(closedFd, 'exclusive', true), 'EBADF', 'flock');
  assertSystemError(() => n.recordLock(closedFd, 'read', false), 'EBADF', 'fcntl');
  assertSystemError(() => n.recordLockHolder(closedFd, 'read'), 'EBADF', 'fcntl');

  const file = join(tempDir(t), 'plain');
  writeFileSync(file, '');
  const fd = openSync(file, 'r');
  t.after(() => closeSync(fd));
  assertSystemError(() => n.peerCredentials(fd), 'ENOTSOCK', 'getsockopt');
  assertSystemError(() => n.shutdownWrite(fd), 'ENOTSOCK', 'shutdown');
  assertSystemError(() => n.shutdownWrite(closedFd), 'EBADF', 'shutdown');
  assertSystemError(() => n.waitReadable(closedFd, 0), 'EBADF', 'poll');
  assertSystemError(() => n.connectUnix(join(tempDir(t), 'none.sock')), 'ENOENT', 'connect');
  // A write lock needs a descriptor open for writing.
  assertSystemError(() => n.recordLock(fd, 'write', false), 'EBADF', 'fcntl');
});

test('bad arguments are TypeErrors, thrown before any system call', async (t) => {
  const n: any = native(); // deliberately untyped: these calls break the contract
  for (const fd of ['0', 1.5, -1, NaN, Infinity, 2 ** 31, null, undefined, 0n]) {
    assertTypeError(() => n.peerCredentials(fd), 'fd');
  }
  assertTypeError(() => n.flock(0, 'exclusive ', true), 'operation');
  assertTypeError(() => n.flock(0, 'EXCLUSIVE', true), 'operation');
  assertTypeError(() => n.flock(0, 'exclusive', 1), 'nonBlocking');
  assertTypeError(() => n.flock(0, 'exclusive', undefined), 'nonBlocking');
  assertTypeError(() => n.recordLock(0, 'write', false, -1), 'start');
  assertTypeError(() => n.recordLock(0, 'write', false, 0, 0.5), 'length');
  assertTypeError(() => n.recordLock(0, 'write', false, 2 ** 53), 'start');
  assertTypeError(() => n.recordLock(0, 'lock', false), 'type');
  assertTypeError(() => n.recordLock(0, 'write', 'no'), 'wait');
  assertTypeError(() => n.recordLockHolder(0, 'unlock'), 'type');
  assertTypeError(() => n.getrlimit('files'), 'resource');
  assertTypeError(() => n.setrlimit('nofile', -1, 10), 'soft');
  assertTypeError(() => n.setrlimit('nofile', 10, NaN), 'hard');
  assertTypeError(() => n.setrlimit('nofile', 10, -Infinity), 'hard');
  assertTypeError(() => n.setrlimit('nofile', '10', 10), 'soft');
  assertTypeError(() => n.openlog(7, 0, 0), 'ident');
  assertTypeError(() => n.openlog('x', -1, 0), 'option');
  assertTypeError(() => n.openlog('x', 0, 1.5), 'facility');
  assertTypeError(() => n.syslog(6, { toString: () => 'x' }), 'message');
  assertTypeError(() => n.syslog('6', 'x'), 'priority');
  assertTypeError(() => n.connectUnix(7), 'path');
  assertTypeError(() => n.shutdownWrite('0'), 'fd');
  assertTypeError(() => n.waitReadable(0, -2), 'timeoutMs');
  assertTypeError(() => n.waitReadable(0, 1.5), 'timeoutMs');
  assertTypeError(() => n.waitReadable(-1, 0), 'fd');

  // Identity calls are checked in a child: were validation to let one
  // through, the runner's own ids would change.
  const report = await runJson(
    t,
    `${ATTEMPT}
     const n = (await import(${JSON.stringify(NATIVE)})).native();
     console.log(JSON.stringify([
       attempt(() => n.setresuid(1.5, -1, -1)),
       attempt(() => n.setresuid(-2, -1, -1)),
       attempt(() => n.setresuid(-1, 4294967295, -1)),
       attempt(() => n.setresuid(-1, -1)),
       attempt(() => n.setresgid('0', -1, -1)),
       attempt(() => n.setgroups('0')),
       attempt(() => n.setgroups([0, -1])),
       attempt(() => n.setgroups([0, '1'])),
       attempt(() => n.setgroups({ length: 1, 0: 0 })),
       n.getresuid(), n.getresgid(),
     ]));`,
  );
  const ids = report.splice(-2);
  const expected = ['ruid', 'ruid', 'euid', 'suid', 'rgid', 'gids', 'gids[]', 'gids[]', 'gids'];
  assert.equal(report.length, expected.length);
  report.forEach((outcome: any, i: number) => {
    assert.equal(outcome.name, 'TypeError', JSON.stringify(outcome));
    assert.equal(outcome.code, 'ERR_INVALID_ARG_TYPE');
    assert.match(outcome.message, new RegExp(`^The "${expected[i]!.replace(/[[\]]/g, '\\$&')}" argument must be`));
  });
  const me = [process.getuid!(), process.getuid!(), process.getuid!()];
  assert.deepEqual(ids[0], me, 'uids unchanged');
});

test('syslog passes the message as data and survives openlog twice and closelog', { timeout: 20_000 }, async (t) => {
  // LOG_PERROR makes libc copy each message to stderr, so the exact text
  // syslog() received is visible whether or not /dev/log exists.
  const child = new NodeChild(
    t,
    `const m = await import(${JSON.stringify(NATIVE)});
     const n = m.native();
     n.openlog('postern-test', m.LOG_PID | m.LOG_NDELAY | m.LOG_PERROR, m.LOG_MAIL);
     n.syslog(m.LOG_INFO, 'one %s %n %d %%');
     n.openlog('second-' + 'ident'.repeat(2), m.LOG_PERROR, m.LOG_MAIL);
     n.syslog(m.LOG_ERR | m.LOG_MAIL, 'two');
     n.closelog();
     n.syslog(m.LOG_WARNING, 'three, after closelog');
     n.closelog();
     console.log('done');`,
  );
  const result = await child.finish();
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'done\n');
  const lines = result.stderr.split('\n');
  assert.equal(lines[0], `postern-test[${child.pid}]: one %s %n %d %%`);
  assert.equal(lines[1], 'second-identident: two');
  assert.match(lines[2]!, /: three, after closelog$/);
  if (!existsSync('/dev/log')) t.diagnostic('/dev/log is absent here: the calls above ran without a syslog daemon');
});

test('the addon is loaded once', () => {
  assert.equal(native(), native());
});

test('native() finds the addon from esbuild output, in dist/bundle/ and dist/bundle/chunks/', async (t) => {
  const { build } = await import('esbuild');
  const root = tempDir(t);
  writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
  mkdirSync(dirname(join(root, ADDON)), { recursive: true });
  symlinkSync(join(REPO, ADDON), join(root, ADDON));
  const source = join(REPO, 'src/privsep/native.ts');
  for (const name of ['a', 'b']) {
    writeFileSync(join(root, `${name}.ts`), `import { native } from ${JSON.stringify(source)};\n` +
      `console.log(JSON.stringify(native().getresuid()));\n`);
  }
  const common = { bundle: true, format: 'esm', platform: 'node', outExtension: { '.js': '.mjs' }, logLevel: 'silent' } as const;
  // Two entry points sharing the wrapper put it in a chunk one level deeper.
  await build({ ...common, entryPoints: [join(root, 'a.ts'), join(root, 'b.ts')], outdir: join(root, 'dist/bundle'),
    splitting: true, chunkNames: 'chunks/[name]-[hash]' });
  assert.match(readFileSync(join(root, 'dist/bundle/a.mjs'), 'utf8'), /from "\.\/chunks\/[^"]+\.mjs"/);
  await build({ ...common, entryPoints: { postern: join(root, 'a.ts') }, outdir: join(root, 'dist/single') });
  for (const bundle of ['dist/bundle/a.mjs', 'dist/single/postern.mjs']) {
    const result = await new NodeChild(t, `await import(${JSON.stringify(join(root, bundle))});`).finish();
    assert.equal(result.code, 0, `${bundle}: ${result.stderr}`);
    assert.deepEqual(JSON.parse(result.stdout), [process.getuid!(), process.getuid!(), process.getuid!()], bundle);
  }
});

test('listenSocket binds and listens without accepting; a Node server given the fd accepts', async (t) => {
  const n = native();
  const fd = n.listenSocket('inet', '127.0.0.1', 0, 16);
  const server = createServer((socket) => socket.end('accepted\n'));
  await new Promise<void>((resolve) => server.listen({ fd }, resolve));
  const { port } = server.address() as { port: number };
  const answer = await new Promise<string>((resolve, reject) => {
    const c = createConnection({ port, host: '127.0.0.1' });
    let text = '';
    c.on('data', (d) => (text += String(d)));
    c.on('end', () => resolve(text));
    c.on('error', reject);
  });
  assert.equal(answer, 'accepted\n');
  // close-on-exec: a child spawned without the fd in its stdio does not get it
  const flags = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
  assert.ok(flags !== undefined && (parseInt(flags, 8) & 0o2000000) !== 0, `O_CLOEXEC in ${flags}`);
  await new Promise((resolve) => server.close(resolve));

  const dir = tempDir(t);
  const path = join(dir, 'sock');
  const ufd = n.listenSocket('unix', path, 0, 4);
  assert.ok(existsSync(path));
  closeSync(ufd);
  // the port is taken: EADDRINUSE, as a Node-style system error
  const held = n.listenSocket('inet', '127.0.0.1', 0, 1);
  const heldServer = createServer();
  await new Promise<void>((resolve) => heldServer.listen({ fd: held }, resolve));
  const heldPort = (heldServer.address() as { port: number }).port;
  assert.throws(() => n.listenSocket('inet', '127.0.0.1', heldPort, 1), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE' && e.syscall === 'bind');
  await new Promise((resolve) => heldServer.close(resolve));
  assert.throws(() => n.listenSocket('inet', '::1', 0, 1), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => n.listenSocket('unix', 'x'.repeat(200), 0, 1), { code: 'ENAMETOOLONG' });
  assert.throws(() => n.listenSocket('ipx' as 'inet', '127.0.0.1', 0, 1), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('connectUnix: a blocking client; shutdownWrite ends what it sends, waitReadable waits for the answer', async (t) => {
  const n = native();
  const path = join(tempDir(t), 'sock');
  let received = '';
  let ended!: (socket: Socket) => void;
  const end = new Promise<Socket>((resolve) => (ended = resolve));
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('data', (d: Buffer) => (received += String(d)));
    socket.on('end', () => ended(socket));
  });
  t.after(() => server.close());
  await listen(server, path);
  const fd = n.connectUnix(path);
  t.after(() => closeSync(fd));
  // close-on-exec, and blocking (no O_NONBLOCK): plain readSync/writeSync work on it
  const flags = parseInt(/flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8);
  assert.ok((flags & 0o2000000) !== 0, `O_CLOEXEC in ${flags.toString(8)}`);
  assert.equal(flags & 0o4000, 0, 'not O_NONBLOCK');
  writeSync(fd, 'request\n');
  assert.equal(n.waitReadable(fd, 0), false, 'nothing to read before the server answers');
  n.shutdownWrite(fd);
  const socket = await end;
  assert.equal(received, 'request\n');
  socket.end('answer\n');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(n.waitReadable(fd, 5000), true);
  const buffer = Buffer.alloc(64);
  assert.equal(buffer.subarray(0, readSync(fd, buffer)).toString(), 'answer\n');
  assert.equal(n.waitReadable(fd, 0), true, 'the end of the stream counts as readable');
  assert.equal(readSync(fd, buffer), 0);
});

test('connectUnix: no listener is ECONNREFUSED, a path too long ENAMETOOLONG', (t) => {
  const n = native();
  const path = join(tempDir(t), 'sock');
  closeSync(n.listenSocket('unix', path, 0, 1)); // the socket file stays, nobody listens
  assertSystemError(() => n.connectUnix(path), 'ECONNREFUSED', 'connect');
  assert.throws(() => n.connectUnix('x'.repeat(200)), { code: 'ENAMETOOLONG', syscall: 'connect' });
});

test('waitReadable: a timeout runs out, and -1 waits for input from another process', { timeout: 20_000 }, async (t) => {
  const path = join(tempDir(t), 'sock');
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy()); // the child may close before reading the answer
    setTimeout(() => socket.end('late\n'), 300);
  });
  t.after(() => server.close());
  await listen(server, path);
  // the wait blocks this thread, so the server must be another process's
  const child = new NodeChild(
    t,
    `const n = (await import(${JSON.stringify(NATIVE)})).native();
     const fd = n.connectUnix(${JSON.stringify(path)});
     const started = Date.now();
     const short = n.waitReadable(fd, 50);
     const waited = Date.now() - started;
     const long = n.waitReadable(fd, -1);
     console.log(JSON.stringify({ short, waited, long }));`,
  );
  const result = await child.finish();
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.short, false);
  assert.ok(report.waited >= 45, `waited ${report.waited} ms`);
  assert.equal(report.long, true);
});

test('exitNow ends the process at once with its status: what was written is out, no exit handler runs', async () => {
  const { spawnSync } = await import('node:child_process');
  const source = `
    import { native } from ${JSON.stringify(NATIVE)};
    import { writeSync } from 'node:fs';
    process.on('exit', () => writeSync(1, 'exit handler ran\\n'));
    process.stdout.write('written before\\n');
    native().exitNow(7);
    writeSync(1, 'after exitNow\\n');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', source], { encoding: 'utf8' });
  assert.equal(r.status, 7, r.stderr);
  assert.equal(r.stdout, 'written before\n');
  assert.throws(() => native().exitNow(256), TypeError);
});
