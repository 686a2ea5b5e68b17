/**
 * A full or read-only queue: accept() rejects with OS_NO_SPACE (452 4.3.1 /
 * exit 75), the queue holds only whole messages, and accepts work again once
 * space is freed or the file system is writable again.  Runs in the sandbox
 * (root, a private mount namespace) on a 2 MB tmpfs.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { distImport, runNodeInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';

interface Check {
  ids: number;
  /** content files in df/ */
  files: number;
  /** messages whose content is not in the database */
  inFiles: number;
  whole: boolean;
}
interface Result {
  filledAccepted: number;
  fillCodes: string[];
  afterFill: Check;
  smallAccepted: number;
  smallCodes: string[];
  afterSmall: Check;
  afterFree: string;
  readOnlyCode: string;
  readOnlyList: number;
  afterRw: string;
  reopened: { removed: number; missing: number; ids: number; files: number; inFiles: number };
}

const SCRIPT = String.raw`
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
const { openQueue } = await import(process.env.QUEUE_MODULE);
const dir = '/var/spool/mqueue';
mkdirSync(dir, { recursive: true });
const sh = (...a) => { const r = spawnSync(a[0], a.slice(1), { encoding: 'utf8' }); if (r.status !== 0) throw new Error(a.join(' ') + ': ' + r.stderr); };
sh('mount', '-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', dir);
const env = (tag) => ({ sender: 'a@example.org', recipients: [{ address: 'b@example.net', state: 'pending' }], hopCount: 0, relay: 'localhost', arrival: Date.now(), messageId: tag });
const content = (tag, n) => { const b = Buffer.alloc(n, 0x41); b.write(tag + '\r\n'); return b; };
const q = await openQueue({ dir });
const why = new Set();
const code = (e) => { why.add(String(e?.message).replace(/[0-9A-Za-z]{14}/g, 'ID').replace(/big\S*|s\d+-\d+/g, 'TAG')); return e && typeof e === 'object' && 'code' in e ? String(e.code) : String(e); };
const check = async () => {
  const list = q.list();
  const files = readdirSync(dir + '/df');
  const inFiles = list.filter((e) => q.storedBytes(e.id) === undefined).length;
  let whole = true;
  for (const e of list) {
    const chunks = [];
    for await (const c of q.openContent(e.id)) chunks.push(c);
    const data = Buffer.concat(chunks);
    if (data.length !== e.size || !data.toString('latin1').startsWith(e.messageId + '\r\n')) whole = false;
  }
  return { ids: list.length, files: files.length, inFiles, whole };
};
const out = {};
// big messages, eight at a time, until the file system is full
let n = 0; const fillCodes = [];
for (let round = 0; round < 10 && fillCodes.length === 0; round++) {
  const rs = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => q.accept(env('big' + round + '-' + i), [content('big' + round + '-' + i, 150_000)])));
  for (const r of rs) r.status === 'fulfilled' ? n++ : fillCodes.push(code(r.reason));
}
out.filledAccepted = n; out.fillCodes = fillCodes; out.afterFill = await check();
// then small ones until even those fail (the database may be the one to run out)
let small = 0; const smallCodes = [];
for (let i = 0; i < 2000 && smallCodes.length < 20; i++) {
  const rs = await Promise.allSettled(Array.from({ length: 4 }, (_, j) => q.accept(env('s' + i + '-' + j), [content('s' + i + '-' + j, 2_000)])));
  for (const r of rs) r.status === 'fulfilled' ? small++ : smallCodes.push(code(r.reason));
}
out.smallAccepted = small; out.smallCodes = smallCodes; out.afterSmall = await check();
// free space: remove half of the big ones
for (const e of q.list().filter((e) => e.messageId.startsWith('big')).slice(0, 6)) await q.remove(e.id);
out.afterFree = await q.accept(env('again'), [content('again', 150_000)]).then(() => 'ok', code);
// read-only: a read-only bind mount over the queue (a remount of the tmpfs
// itself is refused while the database is open for writing)
sh('mount', '--bind', dir, dir);
sh('mount', '-o', 'remount,bind,ro', dir);
// a message big enough for a content file: the database's files were opened
// before the remount and stay writable through it, which is no test of EROFS
out.readOnlyCode = await q.accept(env('ro'), [content('ro', 150_000)]).then(() => 'ok', code);
out.readOnlyList = q.list().length;
sh('umount', '-l', dir);
out.afterRw = await q.accept(env('rw'), [content('rw', 1000)]).then(() => 'ok', code);
await q.close();
const q2 = await openQueue({ dir });
out.reopened = { removed: q2.recovery.removed.length, missing: q2.recovery.missing.length, ids: q2.list().length, files: readdirSync(dir + '/df').length, inFiles: q2.list().filter((e) => q2.storedBytes(e.id) === undefined).length };
await q2.close();
out.why = [...why];
console.log('RESULT ' + JSON.stringify(out));
`;

test('a full or read-only queue rejects with OS_NO_SPACE and keeps only whole messages', { timeout: 120_000 }, async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) {
    t.skip(skip);
    return;
  }
  const r = await runNodeInSandbox(SCRIPT, { env: { QUEUE_MODULE: distImport('src/queue/index.js') }, timeoutMs: 100_000 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line !== undefined, `no result: code ${r.code}\n${r.stdout}\n${r.stderr}`);
  const res = JSON.parse(line.slice(7)) as Result;
  t.diagnostic(JSON.stringify(res));
  assert.ok(res.filledAccepted > 0);
  assert.ok(res.fillCodes.length > 0, 'the 2 MB queue never filled up');
  assert.ok(res.fillCodes.every((c) => c === 'OS_NO_SPACE'), res.fillCodes.join(' '));
  // big messages: every one in a file
  assert.deepEqual(res.afterFill, { ids: res.afterFill.ids, files: res.afterFill.ids, inFiles: res.afterFill.ids, whole: true });
  assert.ok(res.smallCodes.length > 0);
  assert.ok(res.smallCodes.every((c) => c === 'OS_NO_SPACE'), res.smallCodes.join(' '));
  // small ones in the database, no file left by a refused one
  assert.deepEqual(res.afterSmall, { ids: res.afterSmall.ids, files: res.afterFill.ids, inFiles: res.afterFill.ids, whole: true });
  assert.equal(res.afterFree, 'ok');
  assert.equal(res.readOnlyCode, 'OS_NO_SPACE');
  assert.equal(res.afterRw, 'ok');
  assert.equal(res.reopened.ids, res.readOnlyList + 1);
  assert.deepEqual(res.reopened, { removed: 0, missing: 0, ids: res.reopened.ids, files: res.reopened.inFiles, inFiles: res.reopened.inFiles });
});
