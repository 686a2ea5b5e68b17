/**
 * The access map (FEATURE(access_db)) in the SMTP engine: a map built with
 * makemap, named by sendmail.cf's Kaccess line, looked up as proto.m4 looks
 * it up (tags, IP prefixes, domain suffixes, +detail, SKIP), and what
 * Connect:, From: and To: entries do to a session, with sendmail's replies
 * and ruleset= log lines.  Relaying is judged with a client off loopback
 * (the host's own non-loopback address, as relay.test.ts does).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { after } from 'node:test';
import type { Config } from '../../../src/config/index.js';
import { makemapMain } from '../../../src/maps/makemap.js';
import { AccessMap, errorReply, parseAccessValue } from '../../../src/mta/smtpd/access.js';
import { RawClient, startSmtpd, type HarnessOptions } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-access-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let serial = 0;

/** makemap hash FILE < text: the map as an administrator builds it. */
async function makemap(text: string): Promise<string> {
  const file = join(dir, `access${serial++}`);
  const errors: string[] = [];
  const status = await makemapMain('makemap', ['hash', file], { stdin: async () => Buffer.from(text), stdout: () => {}, stderr: (l) => errors.push(l), euid: 1000 });
  assert.equal(status, 0, errors.join('\n'));
  return file;
}

/** sendmail.cf's Kaccess line pointed at `file`. */
function accessAt(file: string): (cf: Config) => void {
  return (cf) => {
    const def = cf.maps.get('access');
    assert.ok(def !== undefined, 'conf/sendmail.cf defines Kaccess');
    cf.maps.set('access', { ...def, file });
  };
}

function outsideAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
const outside = outsideAddress();
const noOutside = outside === undefined ? 'this host has no non-loopback IPv4 address' : false;

/** Greeting, EHLO, then each command's last reply line; the log. */
async function session(options: HarnessOptions, commands: string[], from?: string): Promise<{ greeting: string[]; ehlo: string[]; replies: string[]; log: string[]; stored: number }> {
  const h = await startSmtpd(options);
  const c = await RawClient.connect(h.port, h.host, from);
  try {
    const greeting = await c.reply();
    c.write('EHLO client.example.test\r\n');
    const ehlo = await c.reply();
    const replies: string[] = [];
    for (const cmd of commands) replies.push(await c.command(cmd));
    return { greeting, ehlo, replies, log: h.sink.messages(), stored: (await h.stored()).length };
  } finally {
    c.end();
    await h.stop();
  }
}

test('look-ups in proto.m4 order: tag then untagged, IP prefixes, domain suffixes, +detail, SKIP ends a search', () => {
  const asked: string[] = [];
  const entries: Record<string, string> = { 'Connect:192.0': 'RELAY', 'from:x.example': 'REJECT', 'Connect:10.1.2': 'SKIP', '10.1': 'REJECT' };
  const map = new AccessMap(() => ({ get: (k) => (asked.push(k), entries[k]) }));
  assert.deepEqual(map.address('Connect', '192.0.2.9'), { kind: 'relay' });
  assert.deepEqual(asked.splice(0), ['Connect:192.0.2.9', '192.0.2.9', 'Connect:192.0.2', '192.0.2', 'Connect:192.0']);
  assert.equal(map.address('Connect', '10.1.2.3'), undefined, 'SKIP at 10.1.2 hides the 10.1 entry');
  asked.splice(0);
  assert.equal(map.domain('from', 'a.b.example'), undefined);
  assert.deepEqual(asked.splice(0), ['from:a.b.example', 'a.b.example', 'from:b.example', 'b.example', 'from:example', 'example']);
  map.full('From', 'bob+lists', 'x.example');
  assert.deepEqual(asked.splice(0), ['From:bob+lists@x.example', 'bob+lists@x.example', 'From:bob+*@x.example', 'bob+*@x.example', 'From:bob@x.example', 'bob@x.example']);
  map.full('To', 'carol', '');
  assert.deepEqual(asked.splice(0), ['To:carol@', 'carol@']);
  map.address('Connect', 'IPv6:2001:db8:0:0:0:0:0:1');
  assert.deepEqual(asked.splice(0).filter((k) => k.startsWith('Connect:')).slice(0, 3), ['Connect:IPv6:2001:db8:0:0:0:0:0:1', 'Connect:IPv6:2001:db8:0:0:0:0:0', 'Connect:IPv6:2001:db8:0:0:0:0']);
});

test('values: OK RELAY REJECT DISCARD SKIP, ERROR:x.y.z:text, ERROR:text, and other text as the reply', () => {
  assert.deepEqual(parseAccessValue('relay'), { kind: 'relay' });
  assert.equal(parseAccessValue(' SKIP '), 'skip');
  assert.deepEqual(errorReply(parseAccessValue('ERROR:5.7.1:550 Go away') as { status: string; text: string }), { code: 550, status: '5.7.1', text: 'Go away' });
  assert.deepEqual(errorReply(parseAccessValue('ERROR:"450 Try later"') as { status: null; text: string }), { code: 450, status: '4.0.0', text: 'Try later' });
  assert.deepEqual(errorReply(parseAccessValue('550 5.7.2 No thanks') as { status: null; text: string }), { code: 550, status: '5.7.2', text: 'No thanks' });
});

test('Connect: REJECT by address: greeted, EHLO offers nothing, every command but QUIT/HELO/EHLO/NOOP/RSET gets 550 5.7.1 Access denied', async () => {
  const file = await makemap('Connect:127.0.0\tREJECT\n');
  const r = await session({ configure: accessAt(file) }, ['MAIL FROM:<alice@client.example.test>', 'VRFY bob', 'NOOP', 'RSET', 'QUIT']);
  assert.match(r.greeting[0]!, /^220 mx\.example\.test ESMTP /);
  assert.deepEqual(r.ehlo, ['250-mx.example.test Hello client.example.test [127.0.0.1], pleased to meet you', '250 ENHANCEDSTATUSCODES']);
  assert.deepEqual(r.replies, ['550 5.7.1 Access denied', '550 5.7.1 Access denied', '250 2.0.0 OK', '250 2.0.0 Reset state', '221 2.0.0 mx.example.test closing connection']);
  assert.ok(r.log.includes('NOQUEUE: ruleset=check_relay, arg1=client.example.test, arg2=127.0.0.1, relay=client.example.test [127.0.0.1], reject=550 5.7.1 Access denied'), r.log.join('\n'));
});

test('Connect: by host name suffix, with ERROR:x.y.z:text', async () => {
  const file = await makemap('Connect:example.test\tERROR:4.7.1:451 Come back later\n');
  const r = await session({ configure: accessAt(file) }, ['MAIL FROM:<alice@client.example.test>']);
  assert.deepEqual(r.replies, ['451 4.7.1 Come back later']);
});

test('From: by domain (and parent domains), by user@, by full address; the full address wins over the domain', async () => {
  const file = await makemap(
    ['From:spam.example REJECT', 'From:fine@mail.spam.example OK', 'From:bad@client.example.test ERROR:5.7.1:550 We do not take mail from you', 'From:worse@ ERROR:550 Go away'].join('\n') + '\n',
  );
  const replies: string[] = [];
  let log: string[] = [];
  for (const sender of ['<x@mail.spam.example>', '<fine@mail.spam.example>', '<bad@client.example.test>', '<worse@anywhere.example>', '<>']) {
    const r = await session({ configure: accessAt(file) }, [`MAIL FROM:${sender}`]);
    replies.push(r.replies[0]!);
    log = log.concat(r.log);
  }
  assert.deepEqual(replies, [
    '550 5.7.1 <x@mail.spam.example>... Access denied',
    '250 2.1.0 <fine@mail.spam.example>... Sender ok',
    '550 5.7.1 <bad@client.example.test>... We do not take mail from you',
    '550 5.0.0 <worse@anywhere.example>... Go away',
    '250 2.1.0 <>... Sender ok',
  ]);
  assert.ok(log.includes('NOQUEUE: ruleset=check_mail, arg1=<x@mail.spam.example>, relay=client.example.test [127.0.0.1], reject=550 5.7.1 <x@mail.spam.example>... Access denied'), log.join('\n'));
});

test('To: REJECT and ERROR for an address and a domain (blocklist_recipients)', async () => {
  const file = await makemap('To:bob@mx.example.test\tREJECT\nTo:blocked.example\tERROR:5.1.2:550 We send nothing there\n');
  const r = await session({ configure: accessAt(file) }, ['MAIL FROM:<carol@client.example.test>', 'RCPT TO:<bob@mx.example.test>', 'RCPT TO:<x@mx.blocked.example>', 'RCPT TO:<alice@mx.example.test>']);
  assert.deepEqual(r.replies, [
    '250 2.1.0 <carol@client.example.test>... Sender ok',
    '550 5.2.1 <bob@mx.example.test>... Mailbox disabled for this recipient',
    '550 5.1.2 <x@mx.blocked.example>... We send nothing there',
    '250 2.1.5 <alice@mx.example.test>... Recipient ok',
  ]);
  assert.ok(r.log.some((l) => l.endsWith('ruleset=check_rcpt, arg1=<bob@mx.example.test>, relay=client.example.test [127.0.0.1], reject=550 5.2.1 <bob@mx.example.test>... Mailbox disabled for this recipient')), r.log.join('\n'));
});

test('DISCARD: the message is accepted as any other, logged as discarded, never queued', async () => {
  const file = await makemap('From:junk@client.example.test\tDISCARD\n');
  const r = await session({ configure: accessAt(file) }, ['MAIL FROM:<junk@client.example.test>', 'RCPT TO:<bob@mx.example.test>', 'DATA', 'Subject: x\r\n\r\nbody\r\n.']);
  assert.deepEqual(r.replies.slice(0, 3), ['250 2.1.0 <junk@client.example.test>... Sender ok', '250 2.1.5 <bob@mx.example.test>... Recipient ok', '354 End data with <CR><LF>.<CR><LF>']);
  const id = /^250 2\.0\.0 (\S+) Message accepted for delivery$/.exec(r.replies[3]!)?.[1];
  assert.ok(id !== undefined, r.replies[3]);
  assert.equal(r.stored, 0, 'nothing queued');
  assert.ok(r.log.includes(`${id}: discarded`), r.log.join('\n'));
  assert.ok(r.log.includes('NOQUEUE: ruleset=check_mail, arg1=<junk@client.example.test>, relay=client.example.test [127.0.0.1], discard'), r.log.join('\n'));
  const all = await makemap('Connect:127.0.0.1\tDISCARD\n');
  const c = await session({ configure: accessAt(all) }, ['MAIL FROM:<alice@client.example.test>', 'RCPT TO:<bob@mx.example.test>', 'DATA', 'Subject: y\r\n\r\nbody\r\n.']);
  assert.match(c.replies[3]!, /^250 2\.0\.0 \S+ Message accepted for delivery$/);
  assert.equal(c.stored, 0);
});

test('relaying from a client off loopback: Connect: RELAY for its network, To: RELAY for a domain, class R; SKIP stops the search', { skip: noOutside }, async () => {
  const net = outside!.split('.').slice(0, 3).join('.');
  const cmds = ['MAIL FROM:<alice@client.example.test>', 'RCPT TO:<someone@remote.example>', 'RCPT TO:<someone@partner.example>', 'RCPT TO:<someone@mx.friends.example>'];
  const none = await session({ host: outside! }, cmds, outside);
  assert.deepEqual(none.replies.slice(1), [
    '550 5.7.1 <someone@remote.example>... Relaying denied',
    '550 5.7.1 <someone@partner.example>... Relaying denied',
    '550 5.7.1 <someone@mx.friends.example>... Relaying denied',
  ]);
  const file = await makemap(`To:partner.example\tRELAY\n`);
  const byDomain = await session({ host: outside!, configure: (cf) => (accessAt(file)(cf), cf.classes.set('R', new Set(['friends.example']))) }, cmds, outside);
  assert.deepEqual(byDomain.replies.slice(1).map((l) => l.slice(0, 9)), ['550 5.7.1', '250 2.1.5', '250 2.1.5']);
  const network = await makemap(`Connect:${net}\tRELAY\n`);
  const byNet = await session({ host: outside!, configure: accessAt(network) }, cmds, outside);
  assert.deepEqual(byNet.replies.slice(1).map((l) => l.slice(0, 9)), ['250 2.1.5', '250 2.1.5', '250 2.1.5']);
  const skipped = await makemap(`Connect:${outside}\tSKIP\nConnect:${net}\tRELAY\n`);
  const bySkip = await session({ host: outside!, configure: accessAt(skipped) }, cmds.slice(0, 2), outside);
  assert.equal(bySkip.replies[1], '550 5.7.1 <someone@remote.example>... Relaying denied');
});

test('relay refusals for clients whose name does not resolve, or resolves elsewhere', { skip: noOutside }, async () => {
  const cmds = ['MAIL FROM:<alice@client.example.test>', 'RCPT TO:<someone@remote.example>'];
  const unnamed = await session({ host: outside!, deps: { lookupPeer: async () => ({ hostName: null, mayBeForged: false }) } }, cmds, outside);
  assert.equal(unnamed.replies[1], `550 5.7.1 <someone@remote.example>... Relaying denied. IP name lookup failed [${outside}]`);
  const forged = await session({ host: outside!, deps: { lookupPeer: async () => ({ hostName: 'client.example.test', mayBeForged: true }) } }, cmds, outside);
  assert.equal(forged.replies[1], '550 5.7.1 <someone@remote.example>... Relaying denied. IP name possibly forged client.example.test');
});

test('a rebuilt map is used by the next session without a restart', async () => {
  const file = await makemap('From:one.example\tREJECT\n');
  const h = await startSmtpd({ configure: accessAt(file) });
  try {
    const ask = async (sender: string) => {
      const c = await RawClient.connect(h.port);
      try {
        await c.reply();
        await c.command('EHLO client.example.test');
        return await c.command(`MAIL FROM:<${sender}>`);
      } finally {
        c.end();
      }
    };
    assert.match(await ask('a@one.example'), /^550 5\.7\.1 /);
    assert.match(await ask('a@two.example'), /^250 /);
    const errors: string[] = [];
    assert.equal(await makemapMain('makemap', ['hash', file], { stdin: async () => Buffer.from('From:two.example\tREJECT\n'), stdout: () => {}, stderr: (l) => errors.push(l), euid: 1000 }), 0, errors.join('\n'));
    assert.match(await ask('a@two.example'), /^550 5\.7\.1 /);
    assert.match(await ask('a@one.example'), /^250 /);
  } finally {
    await h.stop();
  }
});
