/**
 * Invariant 3, the crash test: a queue writer process is fed concurrent
 * submissions and killed with SIGKILL at a random moment, many times over the
 * same queue.  Afterwards every acknowledged message is in the queue exactly
 * once, intact; whatever was not acknowledged is whole or absent; no content
 * file is left without its envelope.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'node:test';
import { CONTENT_DIR, openQueue, type RecoveryReport } from '../../src/queue/index.js';
import { contentHash, testEnvelope } from './fixtures/content.js';

const writer = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'queue-writer.js');
const ROUNDS = 25;
const CONCURRENCY = 24;

interface Submission {
  tag: string;
  size: number;
  seed: number;
  arrival: number;
}
interface Ack {
  tag: string;
  id: string;
  hash: string;
}

/** One life of the writer: feed it until a random moment, SIGKILL it, return the ACK lines it printed. */
async function round(dir: string, r: number, submissions: Map<string, Submission>): Promise<{ acks: Ack[]; fails: string[]; recovery: RecoveryReport | undefined }> {
  const child = spawn(process.execPath, [writer, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.on('error', () => {});
  let out = '';
  let n = 0;
  let killed = false;
  const submit = (): void => {
    if (killed) return;
    const big = randomInt(20) === 0;
    const s: Submission = { tag: `r${r}m${n++}`, size: big ? randomInt(2_000_000) : randomInt(40_000), seed: randomInt(1 << 30), arrival: Date.now() };
    submissions.set(s.tag, s);
    child.stdin.write(JSON.stringify(s) + '\n');
  };
  child.stdout.on('data', (b: Buffer) => {
    const text = b.toString('latin1');
    out += text;
    // keep CONCURRENCY submissions in flight: a new one for each answer
    if (out.startsWith('READY') && !text.startsWith('READY')) for (const l of text.split('\n')) if (l.startsWith('ACK') || l.startsWith('FAIL')) submit();
    if (text.startsWith('READY')) for (let i = 0; i < CONCURRENCY; i++) submit();
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 150 + randomInt(700)));
  killed = true;
  child.kill('SIGKILL');
  await exited;
  const acks: Ack[] = [];
  const fails: string[] = [];
  let recovery: RecoveryReport | undefined;
  // only complete lines count: a torn last line was never an acknowledgement
  for (const line of out.split('\n').slice(0, -1)) {
    const [word, tag, id, hash] = line.split(' ');
    if (word === 'ACK') acks.push({ tag: tag!, id: id!, hash: hash! });
    else if (word === 'FAIL') fails.push(line);
    else if (word === 'READY') recovery = JSON.parse(line.slice(6)) as RecoveryReport;
  }
  return { acks, fails, recovery };
}

test('SIGKILL at random moments loses no acknowledged message and leaves nothing half-written', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const submissions = new Map<string, Submission>();
  const acks: Ack[] = [];
  let orphansRemoved = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const got = await round(dir, r, submissions);
    assert.deepEqual(got.fails, []);
    // a kill may land before the queue is open, during recovery: that is a crash too
    if (got.recovery !== undefined) {
      assert.deepEqual(got.recovery.missing, [], `round ${r}: envelopes without content`);
      orphansRemoved += got.recovery.removed.length;
    }
    acks.push(...got.acks);
  }
  // the kills did land in the middle of accepts: their content files were found and removed
  assert.ok(orphansRemoved > 0, 'no kill ever interrupted an accept');
  assert.ok(acks.length > ROUNDS, `only ${acks.length} acknowledgements in ${ROUNDS} rounds`);

  const q = await openQueue({ dir, orphanGraceMs: 0 });
  t.after(() => q.close());
  assert.deepEqual(q.recovery.missing, []);
  const list = q.list();
  const byId = new Map(list.map((e) => [e.id, e]));
  assert.equal(byId.size, list.length);

  // every acknowledgement: present, once, intact
  assert.equal(new Set(acks.map((a) => a.id)).size, acks.length, 'an id was acknowledged twice');
  assert.equal(new Set(acks.map((a) => a.tag)).size, acks.length, 'a submission was acknowledged twice');
  for (const a of acks) {
    const s = submissions.get(a.tag)!;
    const env = byId.get(a.id);
    assert.ok(env !== undefined, `acknowledged ${a.id} (${a.tag}) is not in the queue`);
    assert.equal(a.hash, contentHash(s.tag, s.size, s.seed));
    assert.deepEqual(env, { ...testEnvelope(s.tag, s.arrival), id: a.id, size: env.size, attempts: 0, nextAttempt: s.arrival });
  }

  // every message in the queue, acknowledged or not: whole, and its submission queued once
  const seenTags = new Set<string>();
  for (const env of list) {
    const tag = /^<(.*)@test>$/.exec(env.messageId ?? '')?.[1] ?? '';
    const s = submissions.get(tag);
    assert.ok(s !== undefined, `${env.id} holds an unknown message`);
    assert.ok(!seenTags.has(tag), `${tag} is queued twice`);
    seenTags.add(tag);
    const h = createHash('sha256');
    let size = 0;
    for await (const c of q.openContent(env.id)) {
      h.update(c as Buffer);
      size += (c as Buffer).length;
    }
    assert.equal(size, env.size, `${env.id} is not whole`);
    assert.equal(h.digest('hex'), contentHash(s.tag, s.size, s.seed), `${env.id} content differs`);
  }

  // no content file without its envelope; a content file exactly for the messages the database holds no content of
  const inFiles = list.filter((e) => q.storedBytes(e.id) === undefined).map((e) => e.id);
  assert.deepEqual(readdirSync(join(dir, CONTENT_DIR)).sort(), inFiles.sort());
  t.diagnostic(
    `${ROUNDS} kills, ${submissions.size} submissions, ${acks.length} acknowledged, ${list.length} queued (${list.length - inFiles.length} in the database), ${orphansRemoved} orphan content files removed by recovery`,
  );
});
