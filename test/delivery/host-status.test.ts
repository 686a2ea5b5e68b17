/**
 * Persistent host status (HostStatusDirectory): sendmail 8.17's file format
 * and directory layout, the hoststat listing and purgestat, and remote
 * delivery keeping away from a host that failed less than Timeout.hoststatus
 * ago.  The sendmail-written files and listing lines below were taken from
 * a run of Debian's sendmail 8.17.1.9 (see host-status-peer.test.ts, which
 * repeats that comparison whenever the real sendmail can be had).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import type { Config } from '../../src/config/index.js';
import { ConnectionCache, deliverRemote, type RemoteOptions, type RemoteRequest } from '../../src/delivery/remote/index.js';
import { hostStatusDirectory } from '../../src/delivery/remote/options.js';
import { hostFromPath, hostStatusPath } from '../../src/delivery/remote/host-status/layout.js';
import { briefInterval, hostStatusLine, listHostStatus, purgeHostStatus, resultText } from '../../src/delivery/remote/host-status/listing.js';
import { cachedFailure } from '../../src/delivery/remote/host-status/outcomes.js';
import { formatRecord, parseRecord, type HostStatusRecord } from '../../src/delivery/remote/host-status/record.js';
import { HostStatusStore } from '../../src/delivery/remote/host-status/store.js';

/** Byte for byte what sendmail 8.17.1.9 wrote after `Connection refused by [127.0.0.2]`. */
const SENDMAIL_REFUSED = 'V0\nE111\nH0\nS75\nD4.4.1\nU1795344074\n.\n';
/** ... and after `Name server: down.example.net.: host name lookup failure`. */
const SENDMAIL_LOOKUP = 'V0\nE11\nH2\nS75\nD4.4.3\nU1795344074\n.\n';

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-hoststat-'));
  chmodSync(dir, 0o755);
  return dir;
}

test('the file format: sendmail\'s files read, and what is written reads back the same', () => {
  const refused = parseRecord(SENDMAIL_REFUSED);
  assert.ok(refused.ok);
  assert.deepEqual(refused.record, { errno: 111, herrno: 0, exitStatus: 75, dsn: '4.4.1', lastUse: 1795344074 });
  assert.equal(formatRecord(refused.record), SENDMAIL_REFUSED, 'written exactly as sendmail writes it');
  const lookup = parseRecord(SENDMAIL_LOOKUP);
  assert.ok(lookup.ok);
  assert.equal(formatRecord(lookup.record), SENDMAIL_LOOKUP);

  const withReply: HostStatusRecord = { errno: 0, herrno: 0, exitStatus: 0, dsn: '2.0.0', reply: '250 2.0.0 6AMAfEIQ000067 Message accepted for delivery', lastUse: 1795344080 };
  const text = formatRecord(withReply);
  assert.equal(text, 'V0\nE0\nH0\nS0\nD2.0.0\nR250 2.0.0 6AMAfEIQ000067 Message accepted for delivery\nU1795344080\n.\n');
  const back = parseRecord(text);
  assert.ok(back.ok);
  assert.deepEqual(back.record, withReply);
});

test('the file format: sendmail\'s limits and its idea of a corrupt file', () => {
  const long = formatRecord({ errno: 0, herrno: 0, exitStatus: 75, reply: `421 4.3.2 ${'x'.repeat(100)}\nsecond line`, lastUse: 1 });
  const r = /^R(.*)$/m.exec(long)?.[1];
  assert.equal(r?.length, 80, 'D and R keep 80 bytes');
  assert.ok(!long.includes('second line'));
  assert.match(formatRecord({ errno: 0, herrno: 0, exitStatus: 0, reply: 'a\nb', lastUse: 1 }), /^Ra b$/m, 'a newline becomes a space');
  assert.deepEqual(parseRecord('V0\nE1\nX what\n.\n'), { ok: false, line: 3, text: 'X what' }, 'an unknown line makes the file corrupt');
  assert.equal(parseRecord('').ok, false, 'an empty file (created, never written) says nothing');
  assert.equal(parseRecord('E111\nS75\n').ok, false, 'no version and no end: corrupt');
  const cut = parseRecord('V0\nE111\nS75\n');
  assert.ok(cut.ok, 'a version and no end is still read');
  assert.equal(cut.record.exitStatus, 75);
  const loose = parseRecord('V0\nE12x\nS 75\nU-5\n.\nE999\n');
  assert.ok(loose.ok);
  assert.deepEqual([loose.record.errno, loose.record.exitStatus, loose.record.lastUse], [12, 75, -5], 'numbers as atoi reads them; nothing after the dot');
});

test('the layout: labels reversed, directories with a trailing dot, as sendmail lays them out', () => {
  const root = '/hs';
  assert.equal(hostStatusPath(root, 'mx.Example.NET.'), '/hs/net./example./mx');
  assert.equal(hostStatusPath(root, 'down.example.net'), '/hs/net./example./down');
  assert.equal(hostStatusPath(root, '[127.0.0.2]'), '/hs/2./0./0./127');
  assert.equal(hostStatusPath(root, 'localhost'), '/hs/localhost');
  assert.equal(hostStatusPath(root, 'a/b.example'), '/hs/example./a:b', '/ becomes :');
  assert.equal(hostStatusPath(root, '[IPv6:2001:db8::1]'), '/hs/ipv6:2001:db8::1');
  for (const bad of ['', '.example', 'a..example', '[mx.example.net]', '[999.1.1.1]', 'x'.repeat(300)]) {
    assert.equal(hostStatusPath(root, bad), undefined, `no status for ${JSON.stringify(bad)}`);
  }
  assert.equal(hostFromPath(root, '/hs/net./example./down'), 'down.example.net');
  assert.equal(hostFromPath(root, '/hs/2./0./0./127'), '127.0.0.2');
  assert.equal(hostFromPath(root, '/hs/localhost'), 'localhost');
  assert.equal(hostFromPath(root, '/hs/odd/net./x'), 'x.net', 'a directory without a dot ends the name');
});

test('the listing: sendmail\'s columns, truncation and wording', () => {
  const now = 1795344074;
  const refused = { errno: 111, herrno: 0, exitStatus: 75, dsn: '4.4.1', lastUse: now };
  const lookup = { errno: 11, herrno: 2, exitStatus: 75, dsn: '4.4.3', lastUse: now };
  // lines as sendmail 8.17.1.9 printed them for these two files
  assert.equal(hostStatusLine('127.0.0.2', refused, now), ' 127.0.0.2                                   00:00:00 Deferred: Connection refu');
  assert.equal(hostStatusLine('down.example.net', lookup, now), ' down.example.net                            00:00:00 Deferred: Resource tempor');
  assert.equal(hostStatusLine('127.0.0.2', refused, now, { verbose: true }), ' 127.0.0.2                                   00:00:00 Deferred: Connection refused');
  assert.equal(hostStatusLine('down.example.net', lookup, now, { verbose: true }), ' down.example.net                            00:00:00 Deferred: Resource temporarily unavailable');
  assert.equal(hostStatusLine('x', refused, now + 90061, { locked: true }).slice(0, 54), `*x${' '.repeat(41)}1+01:01:01 `, 'a locked file is starred; days before the time');
  assert.equal(briefInterval(3599), '00:59:59');
  assert.equal(briefInterval(86400 * 12 + 5), '12+00:00:05');
  assert.equal(resultText({ ...refused, reply: '421 4.3.2 Too busy, go away now' }, 25), '421 4.3.2 Too busy, go aw');
  assert.equal(resultText({ errno: 0, herrno: 0, exitStatus: 69, lastUse: now }, 25), '5.0.0 Service unavailable');
  assert.equal(resultText({ errno: 0, herrno: 0, exitStatus: 99, lastUse: now }, 78), 'Unknown mailer error 99');
  assert.equal(resultText({ errno: 0, herrno: 0, exitStatus: 0, lastUse: now }, 25), 'OK');
  assert.equal(resultText({ errno: 110, herrno: 0, exitStatus: 0, lastUse: now }, 25), 'OK: Connection timed out');
  assert.equal(resultText({ errno: 111, herrno: 0, exitStatus: 75, lastUse: now }, 20), 'Deferred: Connection');
});

test('HostStatusDirectory: a relative name is in the queue directory, where sendmail has gone by then', () => {
  const config = (HostStatusDirectory: string | null, QueueDirectory: string | null) => ({ options: { HostStatusDirectory, QueueDirectory } }) as unknown as Config;
  assert.equal(hostStatusDirectory(config('.hoststat', '/var/spool/mqueue')), '/var/spool/mqueue/.hoststat');
  assert.equal(hostStatusDirectory(config('.hoststat', '/var/spool/mqueue/q*')), '/var/spool/mqueue/.hoststat');
  assert.equal(hostStatusDirectory(config('/var/lib/sendmail/host_status', '/var/spool/mqueue')), '/var/lib/sendmail/host_status');
  assert.equal(hostStatusDirectory(config(null, '/var/spool/mqueue')), null);
});

test('the store: written atomically in sendmail\'s layout, read back, kept away only while young', async () => {
  const root = scratch();
  try {
    const store = new HostStatusStore({ directory: root, timeout: 1800 });
    const now = Math.floor(Date.now() / 1000);
    await store.write('mx.Example.net.', { errno: 111, herrno: 0, exitStatus: 75, dsn: '4.4.1', lastUse: now });
    const file = join(root, 'net.', 'example.', 'mx');
    assert.equal(readFileSync(file, 'latin1'), `V0\nE111\nH0\nS75\nD4.4.1\nU${now}\n.\n`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(root, 'net.')).mode & 0o777, 0o755);
    assert.deepEqual(readdirSync(join(root, 'net.', 'example.')), ['mx'], 'no temporary file is left behind');
    assert.equal((await store.blocking('mx.example.net', now + 1799))?.errno, 111, 'younger than Timeout.hoststatus: keeps the host away');
    assert.equal(await store.blocking('mx.example.net', now + 1800), undefined, 'as old as Timeout.hoststatus: tried again');
    await store.write('mx.example.net', { errno: 0, herrno: 0, exitStatus: 0, dsn: '2.0.0', reply: '250 2.0.0 Ok', lastUse: now });
    assert.equal(await store.blocking('mx.example.net', now), undefined, 'a success keeps nobody away');
    assert.equal((await store.read('mx.example.net'))?.reply, '250 2.0.0 Ok');
    writeFileSync(file, 'garbage\n');
    assert.equal(await store.read('mx.example.net'), undefined, 'a corrupt file is nothing known');
    chmodSync(root, 0o775);
    await store.write('other.example.net', { errno: 111, herrno: 0, exitStatus: 75, lastUse: now });
    assert.equal(existsSync(join(root, 'net.', 'example.', 'other')), false, 'a group-writable directory is not used, as sendmail refuses it');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('purgestat removes what is older than Timeout.hoststatus, and leaves the rest as sendmail does', () => {
  const root = scratch();
  try {
    const now = Date.now() / 1000;
    mkdirSync(join(root, 'net.', 'example.'), { recursive: true });
    mkdirSync(join(root, 'org.'), { recursive: true });
    writeFileSync(join(root, 'net.', 'example.', 'old'), SENDMAIL_REFUSED);
    writeFileSync(join(root, 'net.', 'example.', 'new'), SENDMAIL_REFUSED);
    writeFileSync(join(root, 'org.', 'gone'), SENDMAIL_REFUSED);
    const past = new Date((now - 3600) * 1000);
    for (const p of ['net./example./old', 'org./gone', 'org.']) utimesSync(join(root, p), past, past);
    assert.deepEqual(purgeHostStatus(root, 1800, now), []);
    assert.equal(existsSync(join(root, 'net.', 'example.', 'old')), false);
    assert.equal(existsSync(join(root, 'net.', 'example.', 'new')), true, 'younger than Timeout.hoststatus: kept');
    assert.equal(existsSync(join(root, 'org.', 'gone')), false);
    assert.equal(existsSync(join(root, 'org.')), true, 'a directory emptied just now is new itself: it goes on a later run');
    assert.deepEqual(purgeHostStatus(root, 1800, now + 3600), []);
    assert.deepEqual(readdirSync(root), [], 'later, everything is old: all gone, the root stays');
    assert.ok(existsSync(root));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the listing walks the tree as sendmail does: hosts from paths, corrupt files named, dot-names skipped', () => {
  const root = scratch();
  try {
    const now = 1795344074;
    mkdirSync(join(root, 'net.', 'example.'), { recursive: true });
    writeFileSync(join(root, 'net.', 'example.', 'down'), SENDMAIL_LOOKUP);
    writeFileSync(join(root, 'net.', 'example.', '.down.123.tmp'), 'half');
    writeFileSync(join(root, 'net.', 'broken'), 'nonsense\n');
    const listing = listHostStatus(root, now);
    assert.equal(listing.lines[0], ' -------------- Hostname --------------- How long ago ---------Results---------');
    assert.ok(listing.lines.includes(' down.example.net                            00:00:00 Deferred: Resource tempor'));
    assert.deepEqual(listing.problems, [`${join(root, 'net.', 'broken')}: could not read status file`]);
    assert.equal(listing.lines.length, 3);
    const empty = scratch();
    assert.deepEqual(listHostStatus(empty, now).lines, [], 'no hosts: not even the header');
    rmSync(empty, { recursive: true });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a skipped host\'s recipients hear the failure on record, in its own words', () => {
  const refused = cachedFailure({ errno: 111, herrno: 0, exitStatus: 75, dsn: '4.4.1', lastUse: 0 }, { relay: '[127.0.0.2]' });
  assert.deepEqual(refused, { status: { status: 'deferred', dsn: '4.4.1', text: 'Connection refused by [127.0.0.2]', code: 'HOST_STATUS_CACHED' } });
  const lookup = cachedFailure({ errno: 11, herrno: 2, exitStatus: 75, dsn: '4.4.3', lastUse: 0 }, { relay: 'down.example.net.', name: 'down.example.net' });
  assert.equal(lookup.status.text, 'Name server: down.example.net: host name lookup failure');
  const busy = cachedFailure({ errno: 0, herrno: 0, exitStatus: 75, dsn: '4.3.2', reply: '421 4.3.2 Too busy', lastUse: 0 }, { relay: 'mx.example.net.' });
  assert.deepEqual(busy, { status: { status: 'deferred', dsn: '4.3.2', text: '421 4.3.2 Too busy', code: 'HOST_STATUS_CACHED' }, reply: '421 4.3.2 Too busy' });
  const gone = cachedFailure({ errno: 0, herrno: 0, exitStatus: 69, dsn: '5.5.0', reply: '554 5.7.1 Go away', lastUse: 0 }, { relay: 'mx.example.net.' });
  assert.equal(gone.status.status, 'bounced');
  assert.equal(gone.status.text, 'Service unavailable');
});

/** A peer on 127.0.0.1 that counts connections and refuses the first `refusals` with 421 at the greeting. */
async function countingPeer(refusals: number): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    name: 'peer.test',
    onConnect(_session, cb) {
      connections++;
      cb(connections <= refusals ? Object.assign(new Error('4.3.2 Too busy, go away'), { responseCode: 421 }) : undefined);
    },
    onData(stream, _session, cb) {
      stream.resume();
      stream.on('end', () => cb(null, 'queued as T3ST'));
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, connections: () => connections, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function remoteOptions(port: number, directory: string, timeout = 1800): RemoteOptions {
  return {
    heloName: 'client.test',
    localNames: new Set(['client.test']),
    port,
    timeouts: { connect: 5, initial: 10, helo: 10, mail: 10, rcpt: 10, datainit: 10, datablock: 30, datafinal: 30, rset: 10, quit: 5, starttls: 10 },
    eightBitMode: 'pass8',
    hostStatus: { directory, timeout },
  };
}

function request(): RemoteRequest {
  const data = Buffer.from('Subject: t\r\n\r\nhello\r\n');
  return { queueId: 'TESTQ1', sender: 'a@client.test', domain: '[127.0.0.1]', recipients: [{ index: 0, address: 'bob@[127.0.0.1]' }], content: () => Readable.from([data]), size: data.length };
}

test('remote delivery: a refusing host is on record, and not connected to again before Timeout.hoststatus', async () => {
  const root = scratch();
  const peer = await countingPeer(2);
  try {
    const cache = new ConnectionCache(0, 0);
    const deps = (timeout?: number) => ({ options: remoteOptions(peer.port, root, timeout), cache });
    const statusFile = join(root, '1.', '0.', '0.', '127');

    const first = await deliverRemote(request(), deps());
    assert.equal(peer.connections(), 1);
    assert.equal(first.recipients[0]!.status.status, 'deferred');
    const stored = parseRecord(readFileSync(statusFile, 'latin1'));
    assert.ok(stored.ok);
    assert.equal(stored.record.exitStatus, 75);
    assert.match(stored.record.reply ?? '', /^421 /);

    const second = await deliverRemote(request(), deps());
    assert.equal(peer.connections(), 1, 'no connection while the status is young');
    const r = second.recipients[0]!;
    assert.equal(r.status.status, 'deferred');
    assert.equal(r.status.code, 'HOST_STATUS_CACHED');
    assert.equal(r.status.text, first.recipients[0]!.status.text, 'the same words as the failure on record');
    assert.deepEqual(r.relay, { host: '[127.0.0.1]' }, 'relay= without an address: no connection was made');

    // a mailer with F=W ignores the stored status, as sendmail's does
    const options = remoteOptions(peer.port, root);
    const ignoring = await deliverRemote(request(), { options: { ...options, hostStatus: { ...options.hostStatus!, ignoredByMailers: new Set(['esmtp']) } }, cache });
    assert.equal(peer.connections(), 2, 'F=W: the host is tried');
    assert.equal(ignoring.recipients[0]!.status.code, 'REMOTE_TEMPORARY_REPLY');

    // Timeout.hoststatus 0: the record is old at once, the host is tried, takes the message, and the record says so
    const third = await deliverRemote(request(), deps(0));
    assert.equal(peer.connections(), 3);
    assert.equal(third.recipients[0]!.status.status, 'sent');
    const after = parseRecord(readFileSync(statusFile, 'latin1'));
    assert.ok(after.ok);
    assert.equal(after.record.exitStatus, 0);
    assert.match(after.record.reply ?? '', /^250 /);
    await deliverRemote(request(), deps());
    assert.equal(peer.connections(), 4, 'after a success the host is tried whatever the timeout');
  } finally {
    await peer.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('remote delivery: a connection refused is recorded with its errno, as sendmail records it', async () => {
  const root = scratch();
  // a port nobody listens on: take one, then let it go
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  try {
    const result = await deliverRemote(request(), { options: remoteOptions(port, root), cache: new ConnectionCache(0, 0) });
    assert.equal(result.recipients[0]!.status.text, 'Connection refused by [127.0.0.1]');
    const text = readFileSync(join(root, '1.', '0.', '0.', '127'), 'latin1');
    assert.match(text, /^V0\nE111\nH0\nS75\nD4\.4\.1\nU\d+\n\.\n$/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
