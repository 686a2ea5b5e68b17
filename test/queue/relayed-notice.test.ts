/**
 * "Relayed" notices from the queue runner, on a real queue with the real DSN
 * code and a scripted remote delivery: recipients with NOTIFY=SUCCESS taken
 * by a peer without DSN give the sender a "Return receipt" with Action:
 * relayed; when another recipient fails in the same attempt, one report
 * carries both, as sendmail's one report per attempt does; an alias
 * expansion's target, or NOTIFY without SUCCESS, gives none.
 */
process.env.TZ = 'UTC';

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import test from 'node:test';
import { createLogger, MemorySink } from '../../src/common/log.js';
import { loadConfig } from '../../src/config/index.js';
import type { RemoteRequest, RemoteResult } from '../../src/delivery/remote/types.js';
import { reportRelayed, returnToSender } from '../../src/queue/bounce.js';
import type { Notify } from '../../src/queue/envelope.js';
import { openQueue, type MessageQueue } from '../../src/queue/index.js';
import { QueueRunner } from '../../src/queue/runner.js';
import { repoRoot } from '../helpers/peers.js';

const IDENTITY = { shortName: 'mx', canonicalName: 'mx.example.test', domain: 'example.test', nodeName: 'mx', qualified: true };
const ORIGINAL = 'From: alice@example.org\nTo: bob@remote.test\nSubject: hello\n\nbody text\n';
const SUCCESS: Notify = { never: false, success: true, failure: true, delay: false };

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** A queue with one message from alice, a runner whose remote delivery answers from `answer`. */
async function setup(dir: string, recipients: { address: string; notify?: Notify; parent?: string }[], answer: (r: RemoteRequest) => RemoteResult) {
  const queue: MessageQueue = await openQueue({ dir });
  const config = loadConfig(join(repoRoot, 'conf/sendmail.cf')).config;
  const sink = new MemorySink();
  const log = createLogger({ sink, logLevel: 9 });
  const deps = { queue, config, identity: IDENTITY, log };
  const { id } = await queue.accept(
    { sender: 'alice@example.org', recipients: recipients.map((r) => ({ ...r, state: 'pending' as const })), hopCount: 0, relay: 'client.example.org [192.0.2.7]', arrival: Date.now() },
    Readable.from([Buffer.from(ORIGINAL)]),
  );
  const runner = new QueueRunner({
    ...deps,
    deliverLocal: async () => ({ status: 'sent', dsn: '2.1.5', text: 'Sent' }),
    deliverRemote: async (request) => answer(request),
    returnToSender: (envelope, failed, relayed) => returnToSender(deps, envelope, failed, relayed),
    reportRelayed: (envelope, relayed) => reportRelayed(deps, envelope, relayed),
  });
  return { queue, runner, id, sink };
}

const relay = { host: 'mx.remote.test.', address: '192.0.2.25' };
const sent = (index: number, relayed: boolean) => ({
  index,
  status: { status: 'sent' as const, dsn: '2.0.0', text: 'Sent (ok)' },
  relay,
  acceptedReply: '250 2.0.0 Ok: queued as ABC',
  ...(relayed ? { relayedWithoutDsn: true } : {}),
});

/** The notices the runner queued (null sender), with their content. */
async function notices(queue: MessageQueue): Promise<{ to: string; content: string }[]> {
  const out: { to: string; content: string }[] = [];
  for (const e of queue.list().filter((x) => x.sender === '')) out.push({ to: e.recipients[0]!.address, content: await text(queue.openContent(e.id)) });
  return out;
}

test('relayed to a peer without DSN: a return receipt with Action: relayed, headers only', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-relayed-'));
  const { queue, runner, id, sink } = await setup(dir, [{ address: 'bob@remote.test', notify: SUCCESS }, { address: 'carol@remote.test' }], (r) => ({
    mailer: 'esmtp',
    transcript: [],
    recipients: r.recipients.map((x) => sent(x.index, x.notify?.success === true)),
  }));
  try {
    assert.equal(await runner.deliver(queue.read(id)!), true);
    const [notice, ...more] = await notices(queue);
    assert.equal(more.length, 0);
    assert.equal(notice!.to, 'alice@example.org');
    const c = notice!.content;
    assert.match(c, /^Subject: Return receipt$/m);
    assert.match(c, /^   ----- The following addresses had successful delivery notifications -----\n<bob@remote\.test>  \(relayed to non-DSN-aware mailer\)\n/m);
    assert.match(c, /^   ----- Transcript of session follows -----\n<bob@remote\.test>\.\.\. relayed; expect no further notifications$/m);
    assert.match(c, /^Final-Recipient: rfc822; bob@remote\.test\nAction: relayed \(to non-DSN-aware mailer\)\nStatus: 2\.0\.0\nRemote-MTA: dns; mx\.remote\.test\nDiagnostic-Code: smtp; 250 2\.0\.0 Ok: queued as ABC\n/m);
    assert.ok(!c.includes('carol@remote.test'), 'carol asked for nothing');
    assert.match(c, /^Content-Type: text\/rfc822-headers$/m);
    assert.ok(!c.includes('body text'));
    assert.ok(sink.messages().some((l) => /^\w+: \w+: DSN: Return receipt$/.test(l)), sink.messages().join('\n'));
  } finally {
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a failure in the same attempt: one report with the failure and the relayed recipient', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-relayed-'));
  const { queue, runner, id } = await setup(dir, [{ address: 'bob@remote.test', notify: SUCCESS }, { address: 'dave@remote.test' }], (r) => ({
    mailer: 'esmtp',
    transcript: [],
    recipients: [
      sent(r.recipients[0]!.index, true),
      { index: r.recipients[1]!.index, status: { status: 'bounced', dsn: '5.1.1', text: 'User unknown' }, relay, reply: '550 5.1.1 <dave@remote.test>... No such user' },
    ],
  }));
  try {
    assert.equal(await runner.deliver(queue.read(id)!), true);
    const all = await notices(queue);
    assert.equal(all.length, 1, 'one report, no separate receipt');
    const c = all[0]!.content;
    assert.match(c, /^Subject: Returned mail: see transcript for details$/m);
    assert.match(c, /^<dave@remote\.test>\n    \(reason: 550 5\.1\.1 <dave@remote\.test>\.\.\. No such user\)$/m);
    assert.match(c, /^<bob@remote\.test>  \(relayed to non-DSN-aware mailer\)$/m);
    assert.match(c, /^Final-Recipient: rfc822; dave@remote\.test\nAction: failed\nStatus: 5\.1\.1\nRemote-MTA: dns; mx\.remote\.test\nDiagnostic-Code: smtp; 550 5\.1\.1 <dave@remote\.test>\.\.\. No such user\n/m);
    assert.match(c, /^Final-Recipient: rfc822; bob@remote\.test\nAction: relayed \(to non-DSN-aware mailer\)\n/m);
  } finally {
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no notice for an alias expansion\'s target, nor without the flag from remote delivery', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-relayed-'));
  const { queue, runner, id } = await setup(dir, [{ address: 'erin@remote.test', notify: SUCCESS, parent: 'team' }, { address: 'frank@remote.test', notify: SUCCESS }], (r) => ({
    mailer: 'esmtp',
    transcript: [],
    // erin's answer says relayed, but she is not a recipient the sender named; frank's peer spoke DSN
    recipients: r.recipients.map((x) => sent(x.index, x.address.startsWith('erin'))),
  }));
  try {
    assert.equal(await runner.deliver(queue.read(id)!), true);
    assert.deepEqual(await notices(queue), []);
  } finally {
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
