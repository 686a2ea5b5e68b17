/**
 * The mailbox agent program (agent.c) on its own, run as whoever runs the
 * tests on a mailbox of their own in a temporary spool: it writes exactly
 * the entry mbox-format.ts describes (which /file deliveries still use),
 * whatever the message and however it is cut into frames; it refuses what
 * the checks refuse; and it leaves the mailbox as it was when the message
 * cannot be read whole or the request is not one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { defaultAgentPath, encodeMbox, MailboxAgentPool } from '../../src/delivery/mailbox/index.js';
import type { AgentRequest } from '../../src/delivery/mailbox/agent-protocol.js';

process.env.TZ = 'UTC'; // the pool passes TZ on to the agent; Node re-reads the zone when TZ is assigned

const NOW = Date.UTC(2026, 10, 5, 6, 7, 8);
const uid = process.getuid!();
const gid = process.getgid!();

/** A small deterministic generator, so that a failure can be run again as it was. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const LINES = [
  'From alice Thu Nov  5 06:07:08 2026',
  'From',
  'From ',
  '>From x',
  ' From indented',
  'Return-Path: <forged@example.org>',
  'return-path   : <forged@example.org>',
  'Content-Length: 5',
  'CONTENT-LENGTH:0',
  '  continued',
  '\tcontinued',
  '',
  '\r',
  'Subject: s',
  'X-Long: ' + 'x'.repeat(70),
  'y'.repeat(63) + 'From ',
  'z'.repeat(64),
  'Return-Path' + ' '.repeat(60) + ':',
  'Content-Length' + ' '.repeat(60) + ': 1',
  '\u00e9t\u00e9 8-bit',
];

function randomMessage(next: () => number): string {
  const lines: string[] = [];
  const count = Math.floor(next() * 25);
  for (let i = 0; i < count; i++) lines.push(LINES[Math.floor(next() * LINES.length)]!);
  const eol = next() < 0.2 ? '\r\n' : '\n';
  const text = lines.join(eol);
  return next() < 0.2 ? text : text + eol;
}

function cut(bytes: Buffer, next: () => number): Buffer[] {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const size = 1 + Math.floor(next() * (next() < 0.5 ? 8 : 200));
    pieces.push(bytes.subarray(i, i + size));
    i += size;
  }
  return pieces;
}

async function expected(pieces: Buffer[], sender: string): Promise<Buffer> {
  const out: Buffer[] = [];
  async function* source(): AsyncGenerator<Buffer> {
    yield* pieces;
  }
  for await (const piece of encodeMbox(source(), sender, new Date(NOW))) out.push(piece);
  return Buffer.concat(out);
}

function spool(t: { after: (fn: () => void) => void }): { dir: string; mailbox: string } {
  const dir = mkdtempSync(join(tmpdir(), 'postern-agent-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const mailbox = join(dir, 'box');
  writeFileSync(mailbox, '', { mode: 0o600 });
  return { dir, mailbox };
}

const append = (dir: string, sender: string, user = { name: 'box', uid, gid }): AgentRequest => ({
  kind: 'append',
  spoolDir: dir,
  user,
  sender,
  now: NOW,
  lockTimeoutMs: 5000,
});

test('the agent writes the same entry as mbox-format.ts, however the message is framed', async (t) => {
  const { dir, mailbox } = spool(t);
  const pool = new MailboxAgentPool({ idleMs: 100 });
  const next = prng(20261122);
  const senders = ['alice@example.org', '', 'a b@example.org', 'ctl\x01\x7fx@example.org'];
  const want: Buffer[] = [];
  for (let i = 0; i < 300; i++) {
    const message = Buffer.from(randomMessage(next));
    const pieces = cut(message, next);
    const sender = senders[i % senders.length]!;
    const status = await pool.run(append(dir, sender), pieces, defaultAgentPath(), 10_000);
    assert.equal(status.status, 'sent', `message ${i}: ${status.text}`);
    want.push(await expected(pieces, sender));
  }
  const got = readFileSync(mailbox);
  const whole = Buffer.concat(want);
  if (!got.equals(whole)) {
    let at = 0;
    while (at < got.length && got[at] === whole[at]) at++;
    assert.fail(`the mailbox differs from mbox-format.ts at byte ${at}: ${JSON.stringify(got.subarray(at - 40, at + 40).toString('latin1'))} where ${JSON.stringify(whole.subarray(at - 40, at + 40).toString('latin1'))} was expected`);
  }
});

test('refusals come back with their codes, and the mailbox is left as it was', async (t) => {
  const { dir, mailbox } = spool(t);
  const pool = new MailboxAgentPool({ idleMs: 100 });
  const agent = defaultAgentPath();
  const first = await pool.run(append(dir, 'a@example.org'), [Buffer.from('Subject: one\n\nbody\n')], agent, 10_000);
  assert.equal(first.status, 'sent');
  const before = readFileSync(mailbox);

  async function* unreadable(): AsyncGenerator<Buffer> {
    yield Buffer.from('Subject: two\n\n');
    yield Buffer.alloc(100_000, 'b');
    throw Object.assign(new Error('queue file unreadable'), { code: 'EIO' });
  }
  const cutShort = await pool.run(append(dir, 'a@example.org'), unreadable(), agent, 10_000);
  assert.equal(cutShort.status, 'deferred');
  assert.equal(cutShort.code, 'MAILBOX_AGENT_FAILED');
  assert.ok(readFileSync(mailbox).equals(before), 'nothing of the message cut short is left');

  symlinkSync(mailbox, join(dir, 'link'));
  const link = await pool.run(append(dir, 'a@example.org', { name: 'link', uid, gid }), [Buffer.from('x\n')], agent, 10_000);
  assert.deepEqual([link.status, link.code, link.dsn], ['bounced', 'MAILBOX_UNSAFE', '5.2.0']);

  const missing = await pool.run(append(dir, 'a@example.org', { name: 'gone', uid, gid }), [Buffer.from('x\n')], agent, 10_000);
  assert.deepEqual([missing.status, missing.code], ['deferred', 'MAILBOX_CHANGED']);

  const after = await pool.run(append(dir, 'a@example.org'), [Buffer.from('Subject: three\n\nbody\n')], agent, 10_000);
  assert.equal(after.status, 'sent', 'the agents serve on after refusals');
  assert.ok(readFileSync(mailbox).subarray(0, before.length).equals(before));
  assert.ok(readFileSync(mailbox).includes('Subject: three'));
});

test('a request that is not one, or for another uid, is answered as such', (t) => {
  const { dir, mailbox } = spool(t);
  const hexDir = Buffer.from(dir).toString('hex');
  const box = Buffer.from('box').toString('hex');
  // the pool starts each agent as the request's uid; run by hand, the agent must see the difference
  const notMine = spawnSync(defaultAgentPath(), [], { input: `P3 append 1000 0 ${uid + 4242} ${gid} ${hexDir} ${box} -\n\0\0\0\x02x\n\0\0\0\0`, encoding: 'latin1' });
  assert.match(notMine.stdout, /^status identity - /, 'an agent never writes for another uid');

  for (const line of ['{"v":2,"kind":"append"}', 'P3 append 1000 0 0 0 zz 626f78 -', `P3 append 1000 0 ${uid} ${gid} ${hexDir} 2e2e -`]) {
    const run = spawnSync(defaultAgentPath(), [], { input: `${line}\n` + 'P3 append never read\n', encoding: 'utf8' });
    assert.equal(run.status, 0);
    assert.match(run.stdout, /^status protocol - malformed request[^\n]*\n$/, line);
  }
  assert.equal(readFileSync(mailbox).length, 0);
});
