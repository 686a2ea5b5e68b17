/**
 * MaxDaemonChildren and ConnectionRateThrottle, as each worker applies its
 * share: a connection over the session limit is answered 421 4.3.2 before
 * any greeting and logged as sendmail logs the refusal; connections over the
 * rate wait for their turn; a session's end frees its place.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import test from 'node:test';
import { Logger, MemorySink } from '../../src/common/log.js';
import { admission, share, TOO_MANY } from '../../src/mta/admission.js';
import { startSmtpd } from './smtpd/harness.js';

function fakeSocket(): Socket & EventEmitter {
  return new EventEmitter() as unknown as Socket & EventEmitter;
}

test('a worker takes its share of a daemon-wide limit', () => {
  assert.equal(share(0, 2), 0, 'no limit stays no limit');
  assert.equal(share(10, 2), 5);
  assert.equal(share(3, 2), 2);
  assert.equal(share(1, 4), 1, 'never below one');
});

test('over the session limit: refused, logged; a closed session frees its place', async () => {
  const sink = new MemorySink();
  const admit = admission({ maxSessions: 2, perSecond: 0, daemonName: 'MTA', daemonMax: 4, log: new Logger({ sink, logLevel: 9 }) });
  const a = fakeSocket();
  const b = fakeSocket();
  assert.equal(await admit(a), true);
  assert.equal(await admit(b), true);
  assert.equal(await admit(fakeSocket()), TOO_MANY);
  assert.deepEqual(sink.messages(), ['rejecting connections on daemon MTA: 2 children, max 4']);
  a.emit('close');
  assert.equal(await admit(fakeSocket()), true, 'a place came free');
});

test('over the rate: connections wait their turn instead of being refused', async () => {
  const admit = admission({ maxSessions: 0, perSecond: 20, daemonName: 'MTA', daemonMax: 0 });
  const start = Date.now();
  const verdicts = await Promise.all(Array.from({ length: 5 }, () => admit(fakeSocket())));
  const took = Date.now() - start;
  assert.deepEqual(verdicts, [true, true, true, true, true]);
  assert.ok(took >= 180, `five at 20/s take at least 200 ms less the first: took ${took} ms`);
});

function greeting(port: number): Promise<{ socket: Socket; first: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('data', (d: Buffer) => resolve({ socket, first: String(d) }));
    socket.once('error', reject);
  });
}

test('the engine answers the connection over the limit 421 4.3.2 and greets the others', async () => {
  const h = await startSmtpd({ deps: { admit: admission({ maxSessions: 2, perSecond: 0, daemonName: 'MTA', daemonMax: 2 }) } });
  try {
    const one = await greeting(h.port);
    const two = await greeting(h.port);
    const three = await greeting(h.port);
    assert.match(one.first, /^220 /);
    assert.match(two.first, /^220 /);
    assert.equal(three.first, `${TOO_MANY}\r\n`);
    for (const c of [one, two, three]) c.socket.destroy();
  } finally {
    await h.stop();
  }
});
