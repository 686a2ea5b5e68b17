/**
 * Reports stream the original: a 50 MB message goes back without being held
 * in memory, and a headers-only report stops reading at the blank line.
 */
process.env.TZ = 'UTC';

import assert from 'node:assert/strict';
import test from 'node:test';
import { makeNotices, type NoticeInput } from '../../src/queue/dsn/index.js';

const CHUNK = 64 * 1024;
const BODY_BYTES = 50 * 1024 * 1024;
const HEADER = 'From: alice@example.org\nTo: bob@remote.test\nSubject: big\n\n';

/** A 50 MB message made on the fly from one reused chunk; reports how far it was read and whether it was closed. */
function bigOriginal(stats: { read: number; closed: boolean }): () => AsyncGenerator<Buffer> {
  const line = Buffer.alloc(CHUNK, 'x');
  for (let i = 99; i < CHUNK; i += 100) line[i] = 0x0a;
  return async function* () {
    try {
      const head = Buffer.from(HEADER);
      stats.read += head.length;
      yield head;
      for (let sent = 0; sent < BODY_BYTES; sent += CHUNK) {
        stats.read += CHUNK;
        yield line;
      }
    } finally {
      stats.closed = true;
    }
  };
}

function input(ret: 'full' | 'hdrs'): NoticeInput {
  return {
    envelope: {
      id: '6AM5xx0A012345',
      sender: 'alice@example.org',
      recipients: [{ address: 'bob@remote.test', state: 'bounced' }],
      ret,
      hopCount: 0,
      relay: 'localhost',
      arrival: Date.UTC(2026, 10, 22, 5, 0, 0),
      size: BODY_BYTES + HEADER.length,
      attempts: 1,
      nextAttempt: 0,
    },
    event: { kind: 'failure' },
    outcomes: [{ index: 0, action: 'failed', status: '5.2.2', diagnostic: '552 5.2.2 <bob@remote.test>... Mailbox full' }],
  };
}

const settings = { hostName: 'mx.example.test' };
const opts = (original: () => AsyncGenerator<Buffer>) => ({ assignId: async () => '6AM6000A054321', now: Date.UTC(2026, 10, 22, 6, 0, 0), original });

test('a 50 MB original is returned whole while memory stays low', async () => {
  // warm up first: the first report loads ICU's time zone data (Intl) and compiles
  // the hot paths, a fixed cost of about 15 MB that has nothing to do with the size
  const [small] = await makeNotices(input('full'), settings, opts(async function* () {
    yield Buffer.from(HEADER + 'hello\n');
  }));
  for await (const chunk of small!.content) assert.ok(chunk.length > 0);
  const stats = { read: 0, closed: false };
  const [notice] = await makeNotices(input('full'), settings, opts(bigOriginal(stats)));
  const before = process.memoryUsage().rss;
  let peak = before;
  let total = 0;
  let xs = 0;
  let tail = Buffer.alloc(0);
  let n = 0;
  for await (const chunk of notice!.content) {
    total += chunk.length;
    if (chunk.length === CHUNK) xs += CHUNK - CHUNK / 100; // a full body chunk: 99 x's per 100 bytes
    tail = Buffer.concat([tail, chunk.subarray(-200)]).subarray(-200);
    if (++n % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  assert.equal(stats.read, BODY_BYTES + HEADER.length, 'the whole original was read');
  assert.ok(stats.closed);
  assert.ok(total > BODY_BYTES, `${total} bytes out`);
  assert.ok(xs >= BODY_BYTES * 0.98, 'the body passed through in its own chunks');
  assert.match(tail.toString('latin1'), /x\n\n--6AM6000A054321\.\d+\/mx\.example\.test--\n\n$/);
  const growth = (peak - before) / (1024 * 1024);
  assert.ok(growth < 20, `rss grew by ${growth.toFixed(1)} MB`);
});

test('a headers-only report stops reading the original at the blank line', async () => {
  const stats = { read: 0, closed: false };
  const [notice] = await makeNotices(input('hdrs'), settings, opts(bigOriginal(stats)));
  let out = '';
  for await (const chunk of notice!.content) out += chunk.toString('latin1');
  assert.ok(stats.read < 4 * CHUNK, `read ${stats.read} bytes of the original`);
  assert.ok(stats.closed, 'the original was released');
  assert.match(out, /\nContent-Type: text\/rfc822-headers\n\nFrom: alice@example\.org\nTo: bob@remote\.test\nSubject: big\n\n--6AM6000A054321\.\d+\/mx\.example\.test--\n\n$/);
  assert.ok(out.length < 4096);
});
