/**
 * Remote delivery's decisions that need no network: mailertable look-ups,
 * destinations, MX ordering and its refusals (null MX, MX back to us), the
 * 8-bit to 7-bit conversion, and how replies become recipient outcomes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { convertTo7bit, has8bit, quotedPrintable } from '../../src/delivery/remote/eight-bit.js';
import { resolveTargets } from '../../src/delivery/remote/mx.js';
import { connectionFailure, failureFromReply, parseReply, sentFromReply } from '../../src/delivery/remote/replies.js';
import { chooseDestination, mailertableEntry, parseRelaySpec } from '../../src/delivery/remote/routing.js';
import type { DnsResolver } from '../../src/delivery/remote/types.js';

const table = (entries: Record<string, string>) => ({ get: (k: string) => entries[k] });

test('mailertable: exact name first, then .parent wildcards nearest first, then the catch-all', () => {
  const t = table({ 'a.example.com': 'esmtp:exact', '.example.com': 'esmtp:parent', '.com': 'esmtp:tld', '.': 'relay:all' });
  assert.equal(mailertableEntry(t, 'a.example.com'), 'esmtp:exact');
  assert.equal(mailertableEntry(t, 'b.a.example.com'), 'esmtp:parent');
  assert.equal(mailertableEntry(t, 'example.com'), 'esmtp:tld', 'a .parent entry does not match the parent itself');
  assert.equal(mailertableEntry(t, 'other.org'), 'relay:all');
  assert.equal(mailertableEntry(table({}), 'x.org'), undefined);
});

test('mailertable values: mailer:host lists, [host] without MX, error: entries', () => {
  assert.deepEqual(parseRelaySpec('esmtp:mx.example.net', 'esmtp'), { kind: 'hosts', mailer: 'esmtp', hosts: [{ name: 'mx.example.net', mx: true }], via: 'mailertable' });
  const list = parseRelaySpec('smtp:[a.example.net]:[IPv6:2001:db8::1]:b.example.net.', 'esmtp');
  assert.equal(list.kind, 'hosts');
  assert.deepEqual(list.kind === 'hosts' && list.hosts, [
    { name: '[a.example.net]', mx: false },
    { name: '[IPv6:2001:db8::1]', mx: false },
    { name: 'b.example.net', mx: true },
  ]);
  const err = parseRelaySpec('error:5.7.1:550 We do not take mail for that domain', 'esmtp');
  assert.equal(err.kind, 'error');
  if (err.kind === 'error') {
    assert.equal(err.status.status, 'bounced');
    assert.equal(err.status.dsn, '5.7.1');
    assert.equal(err.status.text, 'We do not take mail for that domain');
    assert.equal(err.reply, '550 5.7.1 We do not take mail for that domain');
    assert.equal(err.status.code, 'REMOTE_MAILERTABLE_ERROR');
  }
  const temp = parseRelaySpec('error:4.3.2:451 Not now', 'esmtp');
  assert.equal(temp.kind === 'error' && temp.status.status, 'deferred');
  const local = parseRelaySpec('local:bob', 'esmtp');
  assert.equal(local.kind === 'error' && local.status.status, 'deferred', 'a non-SMTP mailer is not silently sent by SMTP');
});

test('destinations: mailertable before the smart host, the smart host before DNS, literals as they are', () => {
  const mt = table({ '.corp.test': 'esmtp:[10.1.1.1]' });
  assert.equal(chooseDestination('x.corp.test', { mailertable: mt, smartHost: '[relay.test]' }).kind === 'hosts' && (chooseDestination('x.corp.test', { mailertable: mt, smartHost: '[relay.test]' }) as { via: string }).via, 'mailertable');
  const smart = chooseDestination('example.org', { mailertable: mt, smartHost: '[relay.test]' });
  assert.deepEqual(smart, { kind: 'hosts', mailer: 'relay', hosts: [{ name: '[relay.test]', mx: false }], via: 'smarthost' });
  assert.deepEqual(chooseDestination('example.org', {}), { kind: 'hosts', mailer: 'esmtp', hosts: [{ name: 'example.org', mx: true }], via: 'dns' });
  assert.deepEqual(chooseDestination('[192.0.2.9]', { smartHost: 'relay.test' }), { kind: 'hosts', mailer: 'esmtp', hosts: [{ name: '[192.0.2.9]', mx: false }], via: 'dns' });
});

function fakeDns(mx: Record<string, { exchange: string; priority: number }[] | string>): DnsResolver {
  return {
    resolveMx: async (name) => {
      const v = mx[name];
      if (typeof v === 'string') throw Object.assign(new Error(v), { code: v });
      if (v === undefined) throw Object.assign(new Error('ENODATA'), { code: 'ENODATA' });
      return v;
    },
    lookupAddresses: async () => ['192.0.2.1'],
  };
}

const MX_OPTIONS = { localNames: new Set(['mx.example.test', 'localhost']), heloName: 'mx.example.test' };

test('MX: by preference; equal preferences in random order; no MX means the host itself', async () => {
  const dns = fakeDns({ 'd.test': [{ exchange: 'c.d.test', priority: 20 }, { exchange: 'a.d.test', priority: 10 }, { exchange: 'b.d.test', priority: 10 }] });
  const first = await resolveTargets([{ name: 'd.test', mx: true }], dns, { ...MX_OPTIONS, random: () => 0.99 });
  const second = await resolveTargets([{ name: 'd.test', mx: true }], dns, { ...MX_OPTIONS, random: () => 0 });
  assert.ok(first.ok && second.ok);
  assert.deepEqual(first.targets.map((t) => t.relay), ['a.d.test.', 'b.d.test.', 'c.d.test.']);
  assert.deepEqual(second.targets.map((t) => t.relay), ['b.d.test.', 'a.d.test.', 'c.d.test.']);
  const bare = await resolveTargets([{ name: 'plain.test', mx: true }], dns, MX_OPTIONS);
  assert.ok(bare.ok);
  assert.deepEqual(bare.targets, [{ relay: 'plain.test.', name: 'plain.test' }]);
  // [brackets]: no MX look-up; a host name is named as sendmail's getmxrr() leaves it (relay=smtp.test.), an address keeps them
  const bracketed = await resolveTargets([{ name: '[smtp.test]', mx: false }, { name: '[192.0.2.5]', mx: false }], dns, MX_OPTIONS);
  assert.ok(bracketed.ok);
  assert.deepEqual(bracketed.targets, [{ relay: 'smtp.test.', name: 'smtp.test' }, { relay: '[192.0.2.5]', literal: '192.0.2.5' }]);
});

test('MX: the null MX bounces with 5.1.10; a list led by this host is a configuration error; DNS trouble defers', async () => {
  const dns = fakeDns({
    'null.test': [{ exchange: '', priority: 0 }],
    'loop.test': [{ exchange: 'mx.example.test', priority: 10 }, { exchange: 'backup.test', priority: 20 }],
    'backup.test': [{ exchange: 'other.test', priority: 5 }, { exchange: 'mx.example.test', priority: 10 }, { exchange: 'worse.test', priority: 20 }],
    'broken.test': 'ESERVFAIL',
  });
  const nul = await resolveTargets([{ name: 'null.test', mx: true }], dns, MX_OPTIONS);
  assert.ok(!nul.ok);
  assert.equal(nul.status.status, 'bounced');
  assert.equal(nul.status.dsn, '5.1.10');
  assert.equal(nul.reply, '556 5.1.10 Host does not accept mail: MX 0 .');
  const loop = await resolveTargets([{ name: 'loop.test', mx: true }], dns, MX_OPTIONS);
  assert.ok(!loop.ok);
  assert.equal(loop.status.code, 'REMOTE_MX_LOOP');
  assert.equal(loop.status.dsn, '5.3.5');
  assert.equal(loop.syserr, 'MX list for loop.test. points back to mx.example.test');
  const tryA = await resolveTargets([{ name: 'loop.test', mx: true }], dns, { ...MX_OPTIONS, tryNullMxList: true });
  assert.ok(tryA.ok && tryA.targets[0]!.relay === 'loop.test.');
  const backup = await resolveTargets([{ name: 'backup.test', mx: true }], dns, MX_OPTIONS);
  assert.ok(backup.ok);
  assert.deepEqual(backup.targets.map((t) => t.relay), ['other.test.'], 'hosts no better than us are dropped');
  const broken = await resolveTargets([{ name: 'broken.test', mx: true }], dns, MX_OPTIONS);
  assert.ok(!broken.ok);
  assert.equal(broken.status.status, 'deferred');
  assert.equal(broken.status.text, 'Name server: broken.test: host name lookup failure');
});

test('replies: 4xx defers with the reply, 550 is User unknown, other 5xx Service unavailable, 250 is Sent (text)', () => {
  const d = failureFromReply(parseReply('450 4.2.0 <b@x>... Mailbox busy')!, 'rcpt');
  assert.deepEqual([d.status, d.dsn, d.text], ['deferred', '4.2.0', '450 4.2.0 <b@x>... Mailbox busy']);
  const u = failureFromReply(parseReply('550 5.1.1 <b@x>... User unknown')!, 'rcpt');
  assert.deepEqual([u.status, u.dsn, u.text, u.code], ['bounced', '5.1.1', 'User unknown', 'REMOTE_USER_UNKNOWN']);
  const plain550 = failureFromReply(parseReply('550 no such user')!, 'rcpt');
  assert.equal(plain550.dsn, '5.1.1', 'a 550 to RCPT without an enhanced code is 5.1.1, as sendmail has it');
  const s = failureFromReply(parseReply('554 5.7.1 Rejected for policy')!, 'eom');
  assert.deepEqual([s.status, s.dsn, s.text], ['bounced', '5.7.1', 'Service unavailable']);
  const multi = parseReply('421-mx.test busy\n421 4.7.0 try later');
  assert.equal(multi?.line, '421 4.7.0 try later');
  assert.equal(sentFromReply('250 2.0.0 Ok: queued as 4Bxyz').text, 'Sent (Ok: queued as 4Bxyz)');
  assert.equal(sentFromReply('250 2.0.0 Ok: queued as 4Bxyz').dsn, '2.0.0');
  assert.equal(connectionFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), '[127.0.0.1]').text, 'Connection refused by [127.0.0.1]');
});

test('8-bit to 7-bit: text parts become quoted-printable, others base64, and decode back to the same bytes', () => {
  const text = Buffer.from('Grüße aus Köln, une très longue ligne '.repeat(4) + '\n= sign and trailing space \n', 'utf8');
  const binary = Buffer.from([0x00, 0xff, 0x80, 0x41, 0x0a, 0xfe]);
  const message = Buffer.concat([
    Buffer.from('From: a@x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\n\npreamble\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n'),
    text,
    Buffer.from('--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n'),
    binary,
    Buffer.from('\n--b1\nContent-Type: text/plain\n\nplain ascii\n--b1--\nepilogue\n'),
  ]);
  const out = convertTo7bit(message, 'pass8');
  assert.equal(out.kind, 'converted');
  if (out.kind !== 'converted') return;
  assert.equal(has8bit(out.message), false);
  const s = out.message.toString('latin1');
  assert.ok(s.split(/\r?\n/).every((l) => l.length <= 998));
  assert.match(s, /Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe/);
  assert.match(s, /Content-Transfer-Encoding: base64\r\n\r\nAP\+AQQr\+\r\n/);
  assert.match(s, /\r\n--b1\r\nContent-Type: text\/plain\r\n\r\nplain ascii\r\n--b1--\r\nepilogue\r\n$/);
  assert.ok(!/[^\r]\n/.test(s), 'one line-end convention');
  // quoted-printable decodes back to the original text, line ends as CRLF
  const qp = /quoted-printable\r\n\r\n([\s\S]*?)\r\n--b1/.exec(s)![1]!;
  const decoded = Buffer.from(qp.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  assert.equal(decoded.toString('utf8'), text.toString('utf8').replace(/\n/g, '\r\n').replace(/\r\n$/, ''));
  assert.ok(quotedPrintable(Buffer.from('x'.repeat(200))).toString().split('\r\n').every((l) => l.length <= 76));
});

test('8-bit to 7-bit: a message without MIME passes under pass8, is refused under strict, becomes MIME under mimify', () => {
  const plain = Buffer.from('Subject: hi\n\nna\xefve\n', 'latin1');
  assert.equal(convertTo7bit(plain, 'pass8').kind, 'unchanged');
  assert.equal(convertTo7bit(plain, 'strict').kind, 'refused');
  const m = convertTo7bit(plain, 'mimify', 'iso-8859-1');
  assert.equal(m.kind, 'converted');
  assert.match(m.kind === 'converted' ? m.message.toString() : '', /MIME-Version: 1.0\r\nContent-Type: text\/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nna=EFve/);
  assert.equal(convertTo7bit(Buffer.from('Subject: ascii\n\nonly ascii\n'), 'strict').kind, 'unchanged');
});
