/**
 * The engine as the worker runs it: on a listening descriptor another
 * process opened (the master binds, the worker inherits the fd), and
 * closed with sessions still open (drain).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { distImport } from '../../helpers/sandbox.js';
import { RawClient, startSmtpd } from './harness.js';

const WORKER = `
const { createSmtpd } = await import(${JSON.stringify(distImport('src/mta/smtpd/index.js'))});
const { baseConfig, daemonEntry, IDENTITY } = await import(${JSON.stringify(distImport('test/mta/smtpd/harness.js'))});
const { openQueue } = await import(${JSON.stringify(distImport('src/queue/index.js'))});
const queue = await openQueue({ dir: process.argv[1] });
const config = baseConfig();
const server = createSmtpd({
  config, identity: IDENTITY, daemon: daemonEntry(config, 'MTA'),
  queue: { assignId: () => queue.assignId(), accept: ({ id, size, attempts, nextAttempt, ...rest }, c) => queue.accept(rest, c, { id }).then(() => undefined) },
  localUser: (n) => n === 'bob',
  lookupPeer: async () => ({ hostName: null, mayBeForged: false }),
});
server.listen({ fd: 3 }, () => process.stdout.write('listening\\n'));
process.on('SIGTERM', () => server.close(async () => { await queue.close(); process.exit(0); }));
`;

test('listens on an inherited descriptor (as the worker does) and serves a session', async () => {
  const listener = createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  const port = (listener.address() as AddressInfo).port;
  const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
  const dir = mkdtempSync(join(tmpdir(), 'postern-smtpd-fd-'));
  const child = spawn(process.execPath, ['--input-type=module', '-e', WORKER, dir], { stdio: ['ignore', 'pipe', 'pipe', fd] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`worker exited ${code}: ${stderr}`)));
    });
    // only the child accepts from now on
    listener.close();
    const c = await RawClient.connect(port);
    assert.match((await c.reply())[0]!, /^220 mx\.example\.test ESMTP /);
    c.write('HELO client\r\n');
    assert.deepEqual(await c.reply(), ['250 mx.example.test Hello [127.0.0.1], pleased to meet you']);
    assert.equal(await c.command('QUIT'), '221 2.0.0 mx.example.test closing connection');
    assert.ok(await c.closedByServer());
    child.kill('SIGTERM');
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 0, stderr);
  } finally {
    child.kill('SIGKILL');
    listener.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('close(): new connections refused, a session in progress is told 421 when the grace period ends', async () => {
  const h = await startSmtpd({ deps: { closeTimeoutMs: 300 } });
  const c = await RawClient.connect(h.port);
  try {
    await c.reply();
    assert.equal(await c.command('NOOP'), '250 2.0.0 OK');
    const closed = h.stop({ drain: true });
    // the session still works during the grace period
    assert.equal(await c.command('NOOP'), '250 2.0.0 OK');
    assert.deepEqual(await c.reply(2000), ['421 4.3.2 mx.example.test Server shutting down']);
    assert.ok(await c.closedByServer());
    await closed;
    await assert.rejects(RawClient.connect(h.port));
  } finally {
    c.end();
  }
});
