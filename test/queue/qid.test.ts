import assert from 'node:assert/strict';
import test from 'node:test';
import { QUEUE_ID_PATTERN, QueueIdGenerator } from '../../src/queue/qid.js';

test('queue ids have sendmail\'s form and encode the UTC time', () => {
  // 2026-11-22 08:32:35 UTC, as in sendmail's 6AM8WZ..
  const at = Date.UTC(2026, 10, 22, 8, 32, 35);
  const gen = new QueueIdGenerator(114, () => at);
  const r = gen.next();
  assert.ok('id' in r);
  assert.match(r.id, QUEUE_ID_PATTERN);
  assert.equal(r.id.slice(0, 6), '6AM8WZ');
  assert.equal(r.id.slice(8), '000114');
});

test('ids are unique within a second, sort by time, and wait when a second is spent', () => {
  let now = Date.UTC(2026, 0, 1, 0, 0, 0, 500);
  const gen = new QueueIdGenerator(4242, () => now);
  const ids = new Set<string>();
  for (let i = 0; i < 3600; i++) {
    const r = gen.next();
    assert.ok('id' in r, `id ${i}`);
    ids.add(r.id);
  }
  assert.equal(ids.size, 3600);
  const spent = gen.next();
  assert.deepEqual(spent, { waitMs: 500 });
  now += 500;
  const later = gen.next();
  assert.ok('id' in later);
  assert.ok([...ids].every((id) => id.slice(0, 6) < later.id.slice(0, 6)));
});
