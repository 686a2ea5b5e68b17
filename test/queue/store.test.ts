import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test from 'node:test';
import { isPosternError } from '../../src/common/errors.js';
import { QUEUE_ID_PATTERN } from '../../src/queue/qid.js';
import { CONTENT_DIR, openQueue, type MessageQueue } from '../../src/queue/index.js';
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
  assert.equal(statSync(join(dir, CONTENT_DIR, id)).mode & 0o777, 0o640);
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

test('a 50 MB message is streamed, not held in memory', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const q = await openQueue({ dir });
  t.after(() => q.close());
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
  assert.equal(q.stats.dirSyncs, q.stats.commits);
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
  assert.deepEqual(q.list(), []);
  assert.deepEqual(readdirSync(join(dir, CONTENT_DIR)), []);
  await q.close();
});

test('recovery removes content files without an envelope and reports envelopes without content', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const q = await openQueue({ dir });
  const kept = await q.accept(testEnvelope('kept'), contentStream('kept', 100, 1));
  const lost = await q.accept(testEnvelope('lost'), contentStream('lost', 100, 2));
  await q.close();
  // orphans of a dead writer: pid 999998 (and 1999998...) is not running here
  const orphanA = 'AAAAAAAA' + '999998';
  const orphanB = 'AAAAAAAB' + '999998';
  writeFileSync(join(dir, CONTENT_DIR, orphanA), 'half a mess');
  writeFileSync(join(dir, CONTENT_DIR, orphanB), '');
  rmSync(join(dir, CONTENT_DIR, lost.id));
  const again = await openQueue({ dir, orphanGraceMs: 0 });
  assert.deepEqual(again.recovery.removed, [orphanA, orphanB].sort());
  assert.deepEqual(again.recovery.missing, [lost.id]);
  assert.deepEqual(readdirSync(join(dir, CONTENT_DIR)).sort(), [kept.id]);
  assert.equal(again.list().length, 2);
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
