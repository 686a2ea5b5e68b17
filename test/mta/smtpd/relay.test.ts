/**
 * Relay control until the access map exists: local domains take known
 * users only; other domains only from loopback clients.  A client that is
 * not on loopback is a real one here: the test listens on, and connects
 * from, the host's own non-loopback address when it has one.
 */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import test from 'node:test';
import { isLoopback } from '../../../src/mta/smtpd/recipients.js';
import { RawClient, startSmtpd, type HarnessOptions } from './harness.js';

function outsideAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

async function rcptReplies(options: HarnessOptions, recipients: string[], from?: string) {
  const h = await startSmtpd(options);
  const c = await RawClient.connect(h.port, h.host, from);
  try {
    await c.reply();
    await c.command('EHLO client.example.test');
    assert.match(await c.command('MAIL FROM:<alice@client.example.test>'), /^250 /);
    const out: string[] = [];
    for (const r of recipients) out.push(await c.command(`RCPT TO:${r}`));
    return { replies: out, log: h.sink.messages() };
  } finally {
    c.end();
    await h.stop();
  }
}

test('isLoopback: 127.0.0.0/8, ::1 and mapped 127.x only', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) assert.ok(isLoopback(a), a);
  for (const a of ['192.0.2.2', '10.0.0.1', '::ffff:192.0.2.2', '128.0.0.1', '::2']) assert.ok(!isLoopback(a), a);
});

test('local domains ($j, $w, class w, localhost, [address]): known users accepted, others 550 5.1.1', async () => {
  const { replies } = await rcptReplies({ configure: (cf) => cf.classes.get('w')!.add('mail.example.test') }, [
    '<bob@mx.example.test>',
    '<bob@MX>',
    '<bob@localhost>',
    '<bob@mail.example.test>',
    '<bob@[127.0.0.1]>',
    '<bob+folder@mx.example.test>',
    '<postmaster>',
    '<nobody@mail.example.test>',
    '<nobody>',
  ]);
  assert.deepEqual(replies, [
    '250 2.1.5 <bob@mx.example.test>... Recipient ok',
    '250 2.1.5 <bob@MX>... Recipient ok',
    '250 2.1.5 <bob@localhost>... Recipient ok',
    '250 2.1.5 <bob@mail.example.test>... Recipient ok',
    '250 2.1.5 <bob@[127.0.0.1]>... Recipient ok',
    '250 2.1.5 <bob+folder@mx.example.test>... Recipient ok',
    '250 2.1.5 <postmaster>... Recipient ok',
    '550 5.1.1 <nobody@mail.example.test>... User unknown',
    '550 5.1.1 <nobody>... User unknown',
  ]);
});

test('a loopback client may relay to other domains', async () => {
  const { replies } = await rcptReplies({}, ['<someone@remote.example>', '<someone%remote.example@mx.example.test>', '<@relay.example:someone@remote.example>']);
  assert.deepEqual(replies.map((r) => r.slice(0, 9)), ['250 2.1.5', '250 2.1.5', '250 2.1.5']);
});

const outside = outsideAddress();
test('a client off loopback may not relay: 550 5.7.1 Relaying denied, logged as check_rcpt', { skip: outside === undefined ? 'this host has no non-loopback IPv4 address' : false }, async () => {
  const { replies, log } = await rcptReplies({ host: outside! }, [
    '<someone@remote.example>',
    '<someone%remote.example@mx.example.test>',
    '<remote.example!someone@mx.example.test>',
    '<@relay.example:bob@mx.example.test>',
    '<bob%localhost@mx.example.test>',
    '<bob@mx.example.test>',
  ], outside);
  assert.deepEqual(replies, [
    '550 5.7.1 <someone@remote.example>... Relaying denied',
    '550 5.7.1 <someone%remote.example@mx.example.test>... Relaying denied',
    '550 5.7.1 <remote.example!someone@mx.example.test>... Relaying denied',
    '550 5.7.1 <@relay.example:bob@mx.example.test>... Relaying denied',
    '250 2.1.5 <bob%localhost@mx.example.test>... Recipient ok',
    '250 2.1.5 <bob@mx.example.test>... Recipient ok',
  ]);
  assert.ok(
    log.includes(`NOQUEUE: ruleset=check_rcpt, arg1=<someone@remote.example>, relay=client.example.test [${outside}], reject=550 5.7.1 <someone@remote.example>... Relaying denied`),
    log.join('\n'),
  );
});

test('the relay seam: a RelayDecision overrides the loopback rule both ways', async () => {
  const denied = await rcptReplies({ deps: { relay: () => false } }, ['<someone@remote.example>', '<bob@mx.example.test>']);
  assert.deepEqual(denied.replies.map((r) => r.slice(0, 9)), ['550 5.7.1', '250 2.1.5']);
  if (outside !== undefined) {
    const allowed = await rcptReplies({ host: outside, deps: { relay: (client) => client.address === outside } }, ['<someone@remote.example>'], outside);
    assert.deepEqual(allowed.replies.map((r) => r.slice(0, 9)), ['250 2.1.5']);
  }
});
