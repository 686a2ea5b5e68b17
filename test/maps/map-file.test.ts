/**
 * Postern's map file: bytes in, bytes out; look-ups as sendmail does them;
 * and the rebuild is atomic: a reader during a rebuild sees the old map or
 * the new one, whole, and a builder killed half-way leaves the old map.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { pathToFileURL } from 'node:url';
import { isPosternError } from '../../src/common/errors.js';
import { buildMap, isMapFile, mapFilePath, openMap } from '../../src/maps/index.js';

const moduleUrl = pathToFileURL(join(import.meta.dirname, '../../src/maps/map-file.js')).href;

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-map-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('map names and files', () => {
  assert.equal(mapFilePath('/etc/mail/access'), '/etc/mail/access.db');
  assert.equal(mapFilePath('/etc/mail/access.db'), '/etc/mail/access.db');
});

test('look-ups fold case, try the key with and without a NUL, and keep bytes', (t) => {
  const dir = scratch(t);
  const name = join(dir, 'access');
  buildMap(name, { type: 'hash' }, (w) => {
    assert.equal(w.put('connect:10.1', 'REJECT', 'keep'), true);
    assert.equal(w.put('connect:10.1', 'OK', 'keep'), false);
    w.put(Buffer.from('nul\0'), Buffer.from('with nul\0'), 'keep');
    w.put('Mixed', 'Case', 'keep');
    w.put('dup', 'one', 'keep');
    w.put('dup', 'two', 'add');
    w.put('bin', Buffer.from([0xff, 0x00, 0x41]), 'keep');
  });
  assert.ok(isMapFile(join(dir, 'access.db')));
  const m = openMap(name);
  t.after(() => m.close());
  assert.equal(m.type, 'hash');
  assert.equal(m.get('Connect:10.1'), 'REJECT');
  assert.equal(m.get('nul'), 'with nul');
  assert.equal(m.get('mixed'), undefined, 'stored with capitals: only a -f reader finds it');
  assert.equal(openMap(name, { foldCase: false }).get('Mixed'), 'Case');
  assert.deepEqual(m.getAll('dup'), ['one', 'two']);
  assert.equal(m.get('nothing'), undefined);
  assert.deepEqual([...m.entries()].find((e) => e.key.toString() === 'bin')?.value, Buffer.from([0xff, 0x00, 0x41]));
});

test('btree maps list in key order, hash maps in the order built', (t) => {
  const dir = scratch(t);
  for (const type of ['hash', 'btree'] as const) {
    buildMap(join(dir, type), { type }, (w) => {
      for (const k of ['z', 'a', 'm', 'B']) w.put(k, k, 'keep');
    });
    const keys = [...openMap(join(dir, type)).entries()].map((e) => e.key.toString());
    assert.deepEqual(keys, type === 'btree' ? ['B', 'a', 'm', 'z'] : ['z', 'a', 'm', 'B']);
  }
});

test('missing files and files of another format are errors with a code', (t) => {
  const dir = scratch(t);
  assert.throws(() => openMap(join(dir, 'none')), (e) => isPosternError(e) && e.code === 'MAP_CANNOT_OPEN');
  // what sendmail's Berkeley DB hash file starts with is not ours
  writeFileSync(join(dir, 'old.db'), Buffer.concat([Buffer.from([0, 0, 0, 0, 0x61, 0x15, 0x06, 0]), Buffer.alloc(4088)]));
  assert.throws(() => openMap(join(dir, 'old')), (e) => isPosternError(e) && e.code === 'MAP_FORMAT');
  assert.equal(isMapFile(join(dir, 'old.db')), false);
});

test('a failed build replaces nothing and leaves no file behind', (t) => {
  const dir = scratch(t);
  const name = join(dir, 'm');
  buildMap(name, { type: 'hash' }, (w) => w.put('k', 'old', 'keep'));
  assert.throws(() =>
    buildMap(name, { type: 'hash' }, (w) => {
      w.put('k', 'new', 'keep');
      throw new Error('input went wrong');
    }),
  );
  assert.equal(openMap(name).get('k'), 'old');
  assert.deepEqual(readdirSync(dir), ['m.db']);
});

test('append (makemap -o) starts from the old entries', (t) => {
  const dir = scratch(t);
  const name = join(dir, 'm');
  buildMap(name, { type: 'btree' }, (w) => w.put('a', '1', 'keep'));
  buildMap(name, { type: 'btree', append: true }, (w) => {
    assert.equal(w.put('a', 'again', 'keep'), false);
    w.put('b', '2', 'keep');
  });
  assert.deepEqual([...openMap(name).entries()].map((e) => `${e.key}=${e.value}`), ['a=1', 'b=2']);
});

const BIG = 200_000;

/** A child that rebuilds `name` with BIG entries valued 'new'; with `die`, it kills itself half-way. */
function rebuildInChild(name: string, die: boolean): Promise<number | null> {
  const source = `
    const { buildMap } = await import(${JSON.stringify(moduleUrl)});
    buildMap(${JSON.stringify(name)}, { type: 'hash' }, (w) => {
      w.put('marker', 'new', 'replace');
      for (let i = 0; i < ${BIG}; i++) {
        w.put('k' + i, 'new', 'replace');
        if (${die} && i === ${BIG / 2}) process.kill(process.pid, 'SIGKILL');
      }
    });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

test('a reader during a rebuild sees the old map or the new one, whole', async (t) => {
  const dir = scratch(t);
  const name = join(dir, 'access');
  buildMap(name, { type: 'hash' }, (w) => {
    w.put('marker', 'old', 'keep');
    for (let i = 0; i < 1000; i++) w.put(`k${i}`, 'old', 'keep');
  });
  const early = openMap(name, { watch: false });
  const watching = openMap(name);
  let running = true;
  const done = rebuildInChild(name, false).finally(() => (running = false));
  const seen = { old: 0, new: 0 };
  let duringBuild = 0;
  while (running) {
    const m = openMap(name, { watch: false });
    const state = [m.get('marker'), m.get('k999'), m.get(`k${BIG - 1}`)];
    m.close();
    if (state[0] === 'old') assert.deepEqual(state, ['old', 'old', undefined]);
    else assert.deepEqual(state, ['new', 'new', 'new']);
    seen[state[0] as 'old' | 'new']++;
    if (running) duringBuild++;
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(await done, 0);
  assert.ok(seen.old > 0 && duringBuild > 0, `reads while the rebuild ran: ${JSON.stringify(seen)}`);
  // a reader opened before keeps its map; a watching reader moves to the new one
  assert.equal(early.get('marker'), 'old');
  assert.equal(watching.get('marker'), 'new');
  assert.equal(openMap(name).get(`k${BIG - 1}`), 'new');
  early.close();
  watching.close();
});

test('a builder killed half-way leaves the old map in place', async (t) => {
  const dir = scratch(t);
  const name = join(dir, 'access');
  buildMap(name, { type: 'hash' }, (w) => w.put('marker', 'old', 'keep'));
  assert.notEqual(await rebuildInChild(name, true), 0);
  const m = openMap(name);
  assert.equal(m.get('marker'), 'old');
  assert.equal(m.get('k1'), undefined);
  m.close();
  // the next build clears what the killed one left
  assert.equal(readdirSync(dir).length, 2);
  buildMap(name, { type: 'hash' }, (w) => w.put('marker', 'next', 'keep'));
  assert.deepEqual(readdirSync(dir), ['access.db']);
});
