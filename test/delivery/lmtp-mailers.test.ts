/**
 * LMTP mailers as sendmail.cf declares them, the routes to them, and how a
 * reply after the message becomes a recipient's outcome (the peers are in
 * lmtp-peers.test.ts and lmtp-delivery.test.ts).
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { loadConfig, type Config } from '../../src/config/index.js';
import { lmtpDestination, lmtpMailer, lmtpMailers, localLmtpRecipient, statusFromFinalReply, type LmtpMailer } from '../../src/delivery/lmtp/index.js';
import { cfWith } from '../config/cf-files.js';

function load(...lines: string[]): Config {
  return loadConfig(cfWith(...lines)).config;
}

function mailer(config: Config, name: string): LmtpMailer {
  const m = lmtpMailer(config.mailers.get(name)!);
  assert.ok(m !== undefined && !('problem' in m), JSON.stringify(m));
  return m;
}

test('an [IPC] mailer with F=z is an LMTP mailer: A=FILE a socket, A=TCP a host and port', () => {
  const c = load(
    'Mlocal, P=[IPC], F=lsDFMAw5:/|@qPSXmnz9, T=DNS/RFC822/SMTP, A=FILE /var/run/dovecot/lmtp',
    'Mlmtp, P=[IPC], F=PSXmnz9, T=DNS/RFC822/SMTP, A=TCP $h 24',
    'Mlmtp25, P=[IPC], F=PSXmnz90W, r=2, T=DNS/RFC822/SMTP, A=TCP $h',
    'Mnamed, P=[IPC], F=z, A=TCP mailstore.example lmtp',
    'Mesmtp, P=[IPC], F=mDFMuXa, T=DNS/RFC822/SMTP, A=TCP $h',
    'Mprog, P=/bin/sh, F=lsDFMoqeuz9, A=sh -c $u',
    'Mbadport, P=[IPC], F=z, A=TCP $h nosuchservice',
  );
  const local = mailer(c, 'local');
  assert.deepEqual(local.endpoint, { kind: 'unix', path: '/var/run/dovecot/lmtp' });
  assert.deepEqual([local.checksPasswd, local.local, local.maxRecipients], [true, true, 100]);
  assert.deepEqual(mailer(c, 'lmtp').endpoint, { kind: 'tcp', host: null, port: 24 });
  // no port: sendmail connects to the smtp service, 25
  const plain = mailer(c, 'lmtp25');
  assert.deepEqual(plain.endpoint, { kind: 'tcp', host: null, port: 25 });
  assert.deepEqual([plain.noMx, plain.ignoresHostStatus, plain.maxRecipients, plain.checksPasswd, plain.local], [true, true, 2, false, false]);
  assert.deepEqual(mailer(c, 'named').endpoint, { kind: 'tcp', host: 'mailstore.example', port: 24 });
  // not LMTP at all: SMTP over IPC, or F=z on a program (mail.local's case, the broker's)
  assert.equal(lmtpMailer(c.mailers.get('esmtp')!), undefined);
  assert.equal(lmtpMailer(c.mailers.get('prog')!), undefined);
  assert.deepEqual(lmtpMailer(c.mailers.get('badport')!), { problem: 'Mbadport: Service nosuchservice unknown' });
  const problems: string[] = [];
  const all = lmtpMailers(c, (p) => problems.push(p));
  assert.deepEqual([...all.keys()].sort(), ['lmtp', 'lmtp25', 'local', 'named']);
  assert.deepEqual(problems, ['Mbadport: Service nosuchservice unknown']);
});

test('the mailertable sends a domain to an LMTP mailer: exact names, .parent wildcards, hosts as written', () => {
  const c = load('Mlmtp, P=[IPC], F=PSXmnz9, A=TCP $h 24', 'Mnomx, P=[IPC], F=z0, A=TCP $h 24');
  const mailers = lmtpMailers(c);
  const table = new Map([
    ['example.com', 'lmtp:[10.0.0.5]'],
    ['.example.org', 'LMTP:store1.example.org:store2.example.org'],
    ['plain.test', 'nomx:store.plain.test'],
    ['smtp.test', 'esmtp:[192.0.2.1]'],
    ['literal.test', '[192.0.2.2]'],
    ['ip.test', 'lmtp:192.0.2.3'],
  ]);
  const lookup = { get: (k: string) => table.get(k) };
  assert.deepEqual(lmtpDestination('example.com', lookup, mailers)?.hosts, [{ name: '[10.0.0.5]', mx: false }]);
  const wild = lmtpDestination('mail.example.org', lookup, mailers);
  assert.equal(wild?.mailer.name, 'lmtp');
  assert.deepEqual(wild?.hosts, [
    { name: 'store1.example.org', mx: true },
    { name: 'store2.example.org', mx: true },
  ]);
  // F=0: no MX look-up; a bare address is never looked up
  assert.deepEqual(lmtpDestination('plain.test', lookup, mailers)?.hosts, [{ name: '[store.plain.test]', mx: false }]);
  assert.deepEqual(lmtpDestination('ip.test', lookup, mailers)?.hosts, [{ name: '[192.0.2.3]', mx: false }]);
  // what is not an LMTP mailer's stays remote delivery's
  assert.equal(lmtpDestination('smtp.test', lookup, mailers), undefined);
  assert.equal(lmtpDestination('literal.test', lookup, mailers), undefined);
  assert.equal(lmtpDestination('other.test', lookup, mailers), undefined);
  assert.equal(lmtpDestination('example.com', null, mailers), undefined);
});

test('the local LMTP mailer gets the local part, +detail kept; without F=w, users the passwd file lacks too', () => {
  const c = load('Mlocal, P=[IPC], F=lsDFMAw5:/|@qPSXmnz9, A=FILE /run/lmtp', 'Mvirtual, P=[IPC], F=lsDFMA5:/|@qPSXmnz9, A=FILE /run/lmtp');
  const withPasswd = mailer(c, 'local');
  const virtual = mailer(c, 'virtual');
  assert.equal(localLmtpRecipient('bob+box@mx.example.test', { kind: 'local', user: 'bob' }, withPasswd), 'bob+box');
  assert.equal(localLmtpRecipient('<"bob">', { kind: 'local', user: 'bob' }, withPasswd), 'bob');
  assert.equal(localLmtpRecipient('ghost', { kind: 'unknown-user', localPart: 'ghost' }, withPasswd), undefined);
  assert.equal(localLmtpRecipient('ghost@mx.example.test', { kind: 'unknown-user', localPart: 'ghost' }, virtual), 'ghost');
  assert.equal(localLmtpRecipient('x@remote.test', { kind: 'remote', domain: 'remote.test' }, virtual), undefined);
  assert.equal(localLmtpRecipient('|prog', { kind: 'program', command: 'prog' }, virtual), undefined);
});

test('a reply after the message, as sendmail reads an LMTP peer\'s', () => {
  assert.deepEqual(statusFromFinalReply('250 2.1.5 <bob> Ok'), { status: { status: 'sent', dsn: '2.1.5', text: 'Sent' } });
  assert.deepEqual(statusFromFinalReply('250 Ok'), { status: { status: 'sent', dsn: '2.0.0', text: 'Sent' } });
  const tempfail = statusFromFinalReply('451 4.3.0 <bob> Temporary internal failure');
  assert.deepEqual([tempfail.status.status, tempfail.status.dsn, tempfail.status.text, tempfail.reply], ['deferred', '4.3.0', '451 4.3.0 <bob> Temporary internal failure', '451 4.3.0 <bob> Temporary internal failure']);
  // a 550 after the message is no "User unknown": that is for RCPT
  const refused = statusFromFinalReply('550 5.1.1 <bob> Mailbox gone');
  assert.deepEqual([refused.status.status, refused.status.dsn, refused.status.text, refused.status.code], ['bounced', '5.1.1', 'Service unavailable (<bob> Mailbox gone)', 'REMOTE_PERMANENT_REPLY']);
  const bare = statusFromFinalReply('554 ');
  assert.deepEqual([bare.status.status, bare.status.dsn, bare.status.text], ['bounced', '5.0.0', 'Service unavailable']);
  assert.equal(statusFromFinalReply('garbage').status.code, 'REMOTE_PROTOCOL_ERROR');
});
