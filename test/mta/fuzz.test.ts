/**
 * A short slice of the SMTP fuzz run (npm run fuzz runs 100,000 inputs):
 * the engine never crashes, never sends a malformed reply line, and never
 * leaves a session hanging without a reply.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { makeInput, runFuzz } from '../helpers/smtp-fuzz.js';

test('inputs are reproducible from their seed', () => {
  assert.deepEqual(makeInput(42), makeInput(42));
  assert.notDeepEqual(makeInput(42), makeInput(43));
});

test('2,000 random and mutated SMTP sessions: no crash, no malformed reply, no session left without a reply', { timeout: 240_000 }, async () => {
  const seed = Number(process.env['POSTERN_FUZZ_SEED'] ?? Date.now() % 1_000_000);
  const summary = await runFuzz({ count: 2000, seed, concurrency: 12 });
  assert.equal(summary.serverCrashed, false, `the engine crashed (seeds from ${seed})`);
  assert.deepEqual(summary.failures.slice(0, 5), [], `replay with POSTERN_FUZZ_SEED=${seed}`);
  assert.equal(summary.inputs, 2000);
});
