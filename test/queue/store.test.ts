import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test from 'node:test';
import { isPosternError } from '../../src/common/errors.js';
import { QUEUE_ID_PATTERN, QueueIdGenerator } from '../../src/queue/qid.js';
import { CONTENT_DIR, INLINE_LIMIT, openQueue, type MessageQueue } from '../../src/queue/index.js';
import { contentHash, contentStream, testEnvelope } from './fixtures/content.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'postern-queue-'));
}

async function readAll(q: MessageQueue, id: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of q.openContent(id)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function hashOf(q: MessageQueue, id: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of q.openContent(id)) h.update(c as Buffer);
  return h.digest('hex');
}

test('accept, then list, read and content give back what was stored (CRLF, 8-bit)', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const q = await openQueue({ dir, fileMode: 0o640 });
  const body = Buffer.concat([Buffer.from('Subject: x\r\n\r\nline one\r\n.dot\r\n', 'latin1'), Buffer.from([0x00, 0xff, 0xe9, 0x0d, 0x0a, 0x0a, 0x0d, 0x80])]);
  const env = testEnvelope('one', 1_700_000_000_000);
  const { id, size } = await q.accept(env, Readable.from([body.subarray(0, 5), body.subarray(5)]));
  assert.match(id, QUEUE_ID_PATTERN);
  assert.equal(size, body.length);
  assert.deepEqual(await readAll(q, id), body);
  const back = q.read(id);
  assert.deepEqual(back, { ...env, id, size, attempts: 0, nextAttempt: env.arrival });
  assert.deepEqual(q.list(), [back]);
  // a small message lives in the database: no file of its own
  assert.deepEqual(readdirSync(join(dir, CONTENT_DIR)), []);
  assert.deepEqual(q.storedBytes(id), body);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(q.read('nosuchid000000'), undefined);

  assert.equal(await q.update(id, { attempts: 1, nextAttempt: 42, recipients: [{ index: 1, state: 'deferred', statusText: 'Deferred: Connection refused', dsnStatus: '4.4.1' }] }), true);
  const updated = q.read(id)!;
  assert.equal(updated.attempts, 1);
  assert.equal(updated.nextAttempt, 42);
  assert.equal(updated.recipients[0]!.state, 'pending');
  assert.deepEqual(updated.recipients[1], { address: 'second@example.com', state: 'deferred', statusText: 'Deferred: Connection refused', dsnStatus: '4.4.1' });
  assert.equal(await q.update('nosuchid000000', { attempts: 1 }), false);

  assert.equal(await q.remove(id), true);
  assert.deepEqual(q.list(), []);
  assert.deepEqual(readdirSync(join(dir, CONTENT_DIR)), []);
  assert.equal(await q.remove(id), false);
  await q.close();

  // reopening sees the same (empty) queue and nothing to recover
  const again = await openQueue({ dir });
  assert.deepEqual(again.recovery, { removed: [], missing: [], kept: [] });
  await again.close();
});

test('a message past INLINE_LIMIT gets a content file (TempFileMode), removed with the message', async (t) => {
  const dir = tempDir();
  const q = await openQueue({ dir, fileMode: 0o640 });
  t.after(() => q.close());
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const atLimit = await q.accept(testEnvelope('at'), contentStream('at', INLINE_LIMIT - 200, 3));
  const past = await q.accept(testEnvelope('past'), contentStream('past', INLINE_LIMIT + 1, 4));
  assert.equal(atLimit.size <= INLINE_LIMIT, true, `${atLimit.size}`);
  assert.equal(q.storedBytes(atLimit.id)?.length, atLimit.size);
  assert.equal(q.storedBytes(past.id), undefined);
  assert.deepEqual(readdirSync(join(dir, CONTENT_DIR)), [past.id]);
  assert.equal(statSync(join(dir, CONTENT_DIR, past.id)).mode & 0o777, 0o640);
  assert.equal(statSync(join(dir, CONTENT_DIR, past.id)).size, past.size);
  assert.equal(await hashOf(q, past.id), contentHash('past', INLINE_LIMIT + 1, 4));
  assert.equal(await hashOf(q, atLimit.id), contentHash('at', INLINE_LIMIT - 200, 3));
  assert.equal(await q.remove(past.id), true);
  assert.equal(await q.remove(atLimit.id), true);
  assert.deepEqual(readdirSync(join(dir, CONTENT_DIR)), []);
  assert.equal(q.storedBytes(atLimit.id), undefined);
});

test('a claimed message cannot be claimed again until released, even in the same process', async (t) => {
  const dir = tempDir();
  const q = await openQueue({ dir });
  t.after(() => q.close());
  const { id } = await q.accept(testEnvelope('claimed'), contentStream('claimed', 100, 5));
  const other = await openQueue({ dir });
  t.after(() => other.close());
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const claim = q.claim(id);
  assert.ok(claim !== undefined);
  assert.equal(q.claim(id), undefined, 'the same queue');
  assert.equal(other.claim(id), undefined, 'another opening of the queue');
  const second = await q.accept(testEnvelope('free'), contentStream('free', 100, 6));
  const free = other.claim(second.id);
  assert.ok(free !== undefined, 'another message is free');
  free.release();
  claim.release();
  const again = other.claim(id);
  assert.ok(again !== undefined, 'released');
  again.release();
});

test('a 50 MB message is streamed, not held in memory', async (t) => {
  const dir = tempDir();
  const q = await openQueue({ dir });
  t.after(() => q.close());
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const size = 50 * 1024 * 1024;
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const { id, size: stored } = await q.accept(testEnvelope('big'), contentStream('big', size, 7));
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  const growth = peak - before;
  assert.ok(stored > size);
  assert.ok(growth < 20 * 1024 * 1024, `RSS grew by ${(growth / 1048576).toFixed(1)} MB`);
  assert.equal(await hashOf(q, id), contentHash('big', size, 7));
});

test('group commit: concurrent accepts share transactions and directory fsyncs', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const q = await openQueue({ dir });
  const n = 100;
  const results = await Promise.all(Array.from({ length: n }, (_, i) => q.accept(testEnvelope(`g${i}`), contentStream(`g${i}`, 4096, i))));
  assert.equal(new Set(results.map((r) => r.id)).size, n);
  assert.equal(q.stats.messages, n);
  assert.ok(q.stats.commits < n, `${q.stats.commits} commits for ${n} messages`);
  assert.equal(q.stats.dirSyncs, 0, 'small messages have no files: no directory fsync');
  assert.ok(q.stats.largestBatch > 1);
  assert.equal(q.list().length, n);
  for (const [i, r] of results.entries()) assert.equal(await hashOf(q, r.id), contentHash(`g${i}`, 4096, i));
  await q.close();
});

test('a failing content source leaves nothing behind and the error passes through', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const q = await openQueue({ dir });
  async function* broken(): AsyncGenerator<Buffer> {
    yield Buffer.alloc(1000, 0x41);
    throw Object.assign(new Error('client went away'), { code: 'ECONNRESET' });
  }
  await assert.rejects(q.accept(testEnvelope('broken'), broken()), (e: unknown) => !isPosternError(e) && (e as { code?: string }).code === 'ECONNRESET');
  const stream = new Readable({ read() {} });
  stream.push(Buffer.alloc(5000, 0x42));
  setTimeout(() => stream.destroy(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), 20);
  await assert.rejects(q.accept(testEnvelope('broken2'), stream), (e: unknown) => !isPosternError(e) && (e as { code?: string }).code === 'ECONNRESET');
  const cut = new Readable({ read() {} });
  cut.push('partial');
  setTimeout(() => cut.destroy(), 20);
  await assert.rejects(q.accept(testEnvelope('cut'), cut), (e: unknown) => !isPosternError(e));
  // past the limit, so a content file was being written
  const big = new Readable({ read() {} });
  big.push(Buffer.alloc(INLINE_LIMIT + 5000, 0x43));
  setTimeout(() => big.destroy(Object.assign(new Error('reset'), { code: 'ECONNRESET' })), 20);
  await assert.rejects(q.accept(testEnvelope('big'), big), (e: unknown) => !isPosternError(e) && (e as { code?: string }).code === 'ECONNRESET');
  assert.deepEqual(q.list(), []);
  assert.deepEqual(readdirSync(join(dir, CONTENT_DIR)), []);
  await q.close();
});

test('recovery removes content files without an envelope and reports envelopes without content', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const q = await openQueue({ dir });
  // big enough for content files
  const kept = await q.accept(testEnvelope('kept'), contentStream('kept', INLINE_LIMIT + 100, 1));
  const lost = await q.accept(testEnvelope('lost'), contentStream('lost', INLINE_LIMIT + 100, 2));
  const small = await q.accept(testEnvelope('small'), contentStream('small', 100, 3));
  await q.close();
  // orphans of a dead writer: pid 999998 (and 1999998...) is not running here
  const orphanA = 'AAAAAAAA' + '999998';
  const orphanB = 'AAAAAAAB' + '999998';
  writeFileSync(join(dir, CONTENT_DIR, orphanA), 'half a mess');
  writeFileSync(join(dir, CONTENT_DIR, orphanB), '');
  rmSync(join(dir, CONTENT_DIR, lost.id));
  const again = await openQueue({ dir, orphanGraceMs: 0 });
  assert.deepEqual(again.recovery.removed, [orphanA, orphanB].sort());
  assert.deepEqual(again.recovery.missing, [lost.id], 'a small message has no file to miss');
  assert.deepEqual(readdirSync(join(dir, CONTENT_DIR)).sort(), [kept.id]);
  assert.equal(again.list().length, 3);
  assert.equal(await hashOf(again, small.id), contentHash('small', 100, 3));
  await again.close();
});

test('recovery keeps a fresh orphan of a live writer (its accept may still be running)', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const q = await openQueue({ dir });
  const ppid = String(process.ppid % 1_000_000).padStart(6, '0');
  const inFlight = 'AAAAAAAA' + ppid;
  writeFileSync(join(dir, CONTENT_DIR, inFlight), 'being written');
  const other = await openQueue({ dir });
  assert.deepEqual(other.recovery.kept, [inFlight]);
  assert.deepEqual(other.recovery.removed, []);
  await other.close();
  await q.close();
});

test('updates of one queue opening never fail while another opening commits (write lock taken first)', async (t) => {
  const dir = tempDir();
  const runner = await openQueue({ dir });
  t.after(() => runner.close());
  const worker = await openQueue({ dir });
  t.after(() => worker.close());
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { id } = await runner.accept(testEnvelope('updated'), contentStream('updated', 100, 7));
  let accepting = true;
  const accepts = (async () => {
    for (let i = 0; accepting; i++) await Promise.all(Array.from({ length: 4 }, (_, j) => worker.accept(testEnvelope(`w${i}-${j}`), contentStream(`w${i}-${j}`, 2000, i))));
  })();
  try {
    for (let n = 1; n <= 300; n++) assert.equal(await runner.update(id, { attempts: n }), true);
  } finally {
    accepting = false;
    await accepts;
  }
  assert.equal(runner.read(id)?.attempts, 300);
});

test('an id another process left in the queue is skipped at commit (no look-up per message); an id the caller chose is not swapped', async (t) => {
  const dir = tempDir();
  const first = await openQueue({ dir });
  const taken = await first.accept(testEnvelope('earlier'), contentStream('earlier', 100, 1));
  await first.close();
  // a generator that hands out the taken id first, as a process with the same pid in the same second would
  const ids = new QueueIdGenerator(999_997);
  const fresh = await ids.assign();
  const replay = Object.assign(Object.create(QueueIdGenerator.prototype) as QueueIdGenerator, {
    handed: [taken.id, fresh],
    assign(this: { handed: string[] }) {
      return Promise.resolve(this.handed.shift() ?? 'none');
    },
  });
  const q = await openQueue({ dir, ids: replay });
  t.after(() => q.close());
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const later = await q.accept(testEnvelope('later'), contentStream('later', 100, 2));
  assert.equal(later.id, fresh);
  assert.equal(await hashOf(q, taken.id), contentHash('earlier', 100, 1), 'the earlier message is untouched');
  assert.equal(await hashOf(q, later.id), contentHash('later', 100, 2));
  await assert.rejects(q.accept(testEnvelope('chosen'), contentStream('chosen', 100, 3), { id: taken.id }), (e: unknown) => isPosternError(e));
  assert.equal(q.list().length, 2);
});

test('an open queue with nothing to write does not keep its process alive; what it took is kept', async (t) => {
  const dir = tempDir();
  let q: MessageQueue | undefined;
  // the queue closed before its directory goes (after hooks run in the order they were added)
  t.after(async () => {
    await q?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const index = new URL('../../src/queue/index.js', import.meta.url).href;
  const fixtures = new URL('./fixtures/content.js', import.meta.url).href;
  const { spawnSync } = await import('node:child_process');
  // each child opens the queue and never closes it: it must end by itself
  const child = (work: string) => {
    const source = `
      import { openQueue } from ${JSON.stringify(index)};
      import { testEnvelope } from ${JSON.stringify(fixtures)};
      const q = await openQueue({ dir: ${JSON.stringify(dir)} });
      ${work}`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', source], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.signal, null, 'the child ended by itself, not by the timeout');
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  child('');
  const id = child("console.log((await q.accept(testEnvelope('left open'), [Buffer.from('Subject: x\\n\\nleft open\\n')])).id);");
  q = await openQueue({ dir });
  assert.deepEqual(
    q.list().map((m) => m.id),
    [id],
  );
});
