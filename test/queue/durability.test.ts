/**
 * Which queue writes wait for the disk: a new message's commit ends in an
 * fsync before accept() resolves (the 250 or exit 0 that follows promises
 * never to lose it), and so does a quarantine; a delivered message's removal
 * and a queue run's record of results do not (lost to a power cut, they make
 * the message go out again, never lose it).  Counted with strace on the
 * process that holds the queue.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const STRACE = ['/usr/bin/strace', '/bin/strace'].find((p) => spawnSync(p, ['-V']).status === 0);

/** Each step is preceded by an access() of a marker path, so that strace's log can be cut into steps. */
const SCRIPT = (queueIndex: string, fixtures: string) => `
import { accessSync } from 'node:fs';
const { openQueue } = await import(${JSON.stringify(queueIndex)});
const { testEnvelope } = await import(${JSON.stringify(fixtures)});
const mark = (name) => { try { accessSync('/postern-step/' + name); } catch {} };
const q = await openQueue({ dir: process.argv[2], fileMode: 0o600 });
mark('accept');
const { id } = await q.accept(testEnvelope('one', Date.now()), [Buffer.from('Subject: x\\r\\n\\r\\nbody\\r\\n')]);
mark('update');
await q.update(id, { attempts: 1, recipients: [{ index: 0, state: 'sent' }] });
mark('quarantine');
await q.update(id, { quarantine: 'held by the test' });
mark('remove');
await q.remove(id);
mark('end');
await q.close();
`;

test('a new message and a quarantine are fsync\'d before they are reported done; a removal and a run\'s results are not', { skip: STRACE === undefined ? 'strace is not installed (.ci/run installs it)' : false }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-durability-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'steps.mjs');
  const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
  writeFileSync(script, SCRIPT(here('../../src/queue/index.js'), here('./fixtures/content.js')));
  const log = join(dir, 'strace.log');
  const run = spawnSync(STRACE!, ['-f', '-qq', '-e', 'trace=access,fsync,fdatasync', '-o', log, process.execPath, script, join(dir, 'queue')], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);

  const syncs = new Map<string, number>();
  let step = 'open';
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const marker = /access\("\/postern-step\/([a-z]+)"/.exec(line);
    if (marker !== null) step = marker[1]!;
    else if (/\b(fsync|fdatasync)\(/.test(line)) syncs.set(step, (syncs.get(step) ?? 0) + 1);
  }
  assert.ok((syncs.get('accept') ?? 0) >= 1, `accept: ${JSON.stringify([...syncs])}`);
  assert.ok((syncs.get('quarantine') ?? 0) >= 1, `quarantine: ${JSON.stringify([...syncs])}`);
  assert.equal(syncs.get('update') ?? 0, 0, 'a run\'s results');
  assert.equal(syncs.get('remove') ?? 0, 0, 'a removal');
});
