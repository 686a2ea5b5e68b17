/**
 * logwatch reads Postern's log as it reads sendmail's: a day of mail log made
 * by the logger (an SMTP reception, a local submission relayed out, an
 * unknown user, a relaying attempt, a deferral, a DSN) goes through
 * logwatch's own sendmail filters (MultiService sendmail,sm-mta and
 * RemoveHeaders, as its sendmail.conf asks) and its sendmail service script,
 * from Debian's logwatch package; the report must count the messages,
 * recipients and bytes, list the failures, and leave nothing unmatched.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Logger, MemorySink, localAuthinfo, remoteAuthinfo, type LogId } from '../../src/common/log.js';
import { debianPackage } from '../helpers/peers.js';

const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);
const at = (s: number): number => T0 + s * 1000;

/** One process's log, as syslog text lines `Nov 22 06:00:00 mx IDENT[PID]: message`. */
class ProcessLog {
  readonly sink = new MemorySink();
  readonly log: Logger;
  constructor(
    private readonly out: string[],
    label: string | undefined,
    private readonly pid: number,
  ) {
    this.log = new Logger({ sink: this.sink, label });
  }
  flush(): void {
    for (const m of this.sink.messages()) this.out.push(`Nov 22 06:00:00 mx ${this.log.ident}[${this.pid}]: ${m}`);
    this.sink.records.length = 0;
  }
}

function mailLog(): string {
  const lines: string[] = [];
  const daemon = new ProcessLog(lines, 'sm-mta', 2201);
  const msp = new ProcessLog(lines, undefined, 3301);
  const runner = new ProcessLog(lines, 'sm-mta', 2202);
  const client3 = remoteAuthinfo({ hostName: 'client3.outside.test', address: '127.0.0.3' });
  const spammer = remoteAuthinfo({ hostName: null, address: '192.0.2.66' });

  // 1. SMTP reception for two local users, delivered
  const q1: LogId = '5AM6000a002201';
  daemon.log.logSender(q1, { from: '<sender@outside.test>', size: 1500, class: 0, nrcpts: 2, msgid: '<m1@outside.test>', bodytype: '8BITMIME', proto: 'ESMTP', daemon: 'MTA', relay: { kind: 'authinfo', authinfo: client3 } });
  daemon.flush();
  for (const rcpt of ['<carol@mx.example.test>', '<bob@mx.example.test>']) {
    runner.log.logDelivery(q1, { to: [rcpt], ctladdr: null, queuedAt: at(0), transactionStart: at(1), now: at(1), mailer: 'local', priority: 31500, relay: { host: 'local' }, dsn: '2.0.0', status: 'Sent' });
  }
  runner.flush();

  // 2. alice submits with sendmail -t: relayed to the daemon, which sends two out remotely and one locally
  const q2msp: LogId = '5AM6000b003301';
  msp.log.logSender(q2msp, { from: 'alice', size: 730, class: 0, nrcpts: 3, msgid: '<m2@mx.example.test>', relay: { kind: 'authinfo', authinfo: localAuthinfo('alice') } });
  msp.log.logDelivery(q2msp, { to: ['bob', 'erin@remote.test', 'dave@remote.test'], ctladdr: { paddr: 'alice', uid: 1001, gid: 1001 }, queuedAt: at(2), transactionStart: at(2), now: at(2), mailer: 'relay', priority: 120730, relay: { host: '[127.0.0.1]', address: '127.0.0.1' }, dsn: '2.0.0', status: 'Sent (5AM6000c002201 Message accepted for delivery)' });
  msp.flush();
  const q2: LogId = '5AM6000c002201';
  daemon.log.logSender(q2, { from: '<alice@mx.example.test>', size: 1010, class: 0, nrcpts: 3, msgid: '<m2@mx.example.test>', proto: 'ESMTP', daemon: 'MTA', relay: { kind: 'authinfo', authinfo: remoteAuthinfo({ hostName: 'localhost', address: '127.0.0.1' }) } });
  daemon.flush();
  runner.log.logDelivery(q2, { to: ['<erin@remote.test>', '<dave@remote.test>'], ctladdr: { paddr: '<alice@mx.example.test>' }, queuedAt: at(2), transactionStart: at(3), now: at(4), mailer: 'esmtp', priority: 121010, relay: { host: 'mx.remote.test.', address: '192.0.2.25' }, dsn: '2.0.0', status: 'Sent (Ok: queued as 4XyZ)' });
  runner.log.logDelivery(q2, { to: ['<bob@mx.example.test>'], queuedAt: at(2), transactionStart: at(3), now: at(3), mailer: 'local', priority: 121010, relay: { host: 'local' }, dsn: '2.0.0', status: 'Sent' });
  runner.flush();

  // 3. one recipient unknown at RCPT time, the other accepted and delivered
  const q3: LogId = '5AM6000d002201';
  daemon.log.logUserError(q3, '<nobody@mx.example.test>', 'User unknown');
  daemon.log.logSender(q3, { from: '<news@lists.outside.test>', size: 20480, class: 0, nrcpts: 1, msgid: '<m3@lists.outside.test>', proto: 'ESMTP', daemon: 'MTA', relay: { kind: 'authinfo', authinfo: client3 } });
  daemon.flush();
  runner.log.logDelivery(q3, { to: ['<carol@mx.example.test>'], queuedAt: at(5), transactionStart: at(5), now: at(6), mailer: 'local', priority: 50480, relay: { host: 'local' }, dsn: '2.0.0', status: 'Sent' });
  runner.flush();

  // 4. a relaying attempt: rejected, the envelope dropped with no recipient
  const q4: LogId = '5AM6000e002201';
  daemon.log.logRuleset(q4, { ruleset: 'check_rcpt', arg1: '<someone@remote.example>', relay: spammer, outcome: { kind: 'reject', reply: '550 5.7.1 <someone@remote.example>... Relaying denied' } });
  daemon.log.logSender(q4, { from: '<spam@bulk.example>', size: 0, class: 0, nrcpts: 0, proto: 'SMTP', daemon: 'MTA', relay: { kind: 'authinfo', authinfo: spammer } });
  daemon.flush();

  // 5. a deferral, then a bounce for a mailbox that does not exist remotely
  const q5: LogId = '5AM6000f002201';
  daemon.log.logSender(q5, { from: '<carol@mx.example.test>', size: 300, class: 0, nrcpts: 2, msgid: '<m5@mx.example.test>', proto: 'ESMTPSA', daemon: 'MSA', relay: { kind: 'authinfo', authinfo: client3 } });
  daemon.flush();
  runner.log.logDelivery(q5, { to: ['<x@down.test>'], queuedAt: at(7), transactionStart: at(7), now: at(9), mailer: 'esmtp', priority: 120300, relay: { host: 'mx.down.test.', address: '192.0.2.99' }, dsn: '4.0.0', rcode: 75, status: 'Deferred: Connection refused by mx.down.test.' });
  runner.log.logDelivery(q5, { to: ['<ghost@remote.test>'], queuedAt: at(7), transactionStart: at(9), now: at(10), mailer: 'esmtp', priority: 120300, relay: { host: 'mx.remote.test.', address: '192.0.2.25' }, dsn: '5.1.1', rcode: 67, reply: '550 5.1.1 <ghost@remote.test>... User unknown', status: 'User unknown' });
  runner.log.logReturn(q5, { newId: '5AM6000g002202', kind: 'DSN', message: 'User unknown' });
  runner.log.logSender('5AM6000g002202', { from: '<>', size: 2400, class: 0, nrcpts: 1, msgid: '<5AM6000g002202@mx.example.test>', bodytype: '8BITMIME', relay: { kind: 'response' } });
  runner.log.logDelivery('5AM6000g002202', { to: ['<carol@mx.example.test>'], queuedAt: at(10), transactionStart: at(10), now: at(10), mailer: 'local', priority: 32400, relay: { host: 'local' }, dsn: '2.0.0', status: 'Sent' });
  runner.flush();

  // housekeeping and another program's line, which the filters must drop
  const aliases = new ProcessLog(lines, undefined, 4401);
  aliases.log.logAliasRebuilt({ file: '/etc/mail/aliases', user: 'root' });
  aliases.log.logAliasStats({ file: '/etc/mail/aliases', aliases: 12, longest: 10, bytes: 144 });
  aliases.flush();
  lines.push('Nov 22 06:00:00 mx CRON[77]: (root) CMD (true)');
  return lines.join('\n') + '\n';
}

function runPipeline(root: string, input: string): Promise<string> {
  const scripts = join(root, 'usr/share/logwatch/scripts');
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    PERL5LIB: join(root, 'usr/share/logwatch/lib'),
    LOGWATCH_DETAIL_LEVEL: '10',
    LOGWATCH_DEBUG: '0',
    // what logwatch exports from default.conf/services/sendmail.conf
    sendmail_milterheaderstocount: 'X-SPF|X-Spam|X-Scanned-By: MIMEDefang|Received-SPF: fail|Received-SPF: softfail',
    sendmail_unknownusersthreshold: '1',
    sendmail_relaydeniedthreshold: '1',
    sendmail_tolistthreshold: '10',
  };
  const stage = (argv: string[], stdin: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const child = execFile('perl', argv, { env, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${argv[0]} failed: ${stderr || error.message}`));
        else resolve(stdout);
      });
      child.stdin!.end(stdin);
    });
  return stage([join(scripts, 'shared/multiservice'), 'sendmail,sm-mta'], input)
    .then((out) => stage([join(scripts, 'shared/removeheaders'), ''], out))
    .then((out) => stage([join(scripts, 'services/sendmail')], out));
}

describe('logwatch', () => {
  it("counts Postern's messages, recipients and bytes and recognizes every line", async (t) => {
    const peer = await debianPackage('logwatch');
    if ('skip' in peer) return t.skip(peer.skip);
    if (!existsSync(join(peer.root, 'usr/share/logwatch/scripts/services/sendmail'))) return t.skip('the logwatch package has no sendmail service script');
    const report = await runPipeline(peer.root, mailLog());

    // from= lines with recipients: q1 (2), q2 via the MSP (3), q2 in the daemon (3), q3 (1), q5 (2), the DSN (1)
    assert.match(report, /^Messages To Recipients: +6$/m, report);
    assert.match(report, /^Addressed Recipients: +12$/m, report);
    assert.match(report, new RegExp(`^Bytes Transferred: +${1500 + 730 + 1010 + 20480 + 300 + 2400}$`, 'm'), report);
    assert.match(report, /^Messages No Valid Rcpts: +1$/m, report);
    // one message of 20480 bytes, five below 10 KB
    assert.match(report, /^0 - 10k +5 +\d+$/m, report);
    assert.match(report, /^10k - 20k +1 +20$/m, report);
    // deliveries per mailer; the MSP's hand-over to [127.0.0.1] is counted apart
    assert.match(report, /^local +5$/m, report);
    assert.match(report, /^esmtp +1$/m, report);
    assert.match(report, /in addition to +1 relay\n +submission\(s\) from MSP/, report);
    assert.match(report, /^ +carol@mx\.example\.test +3 Times$/m, report);
    assert.match(report, /Unknown local users: \[Occurrences >= 1\]\n +<nobody@mx\.example\.test>:? +1 Time/, report);
    assert.match(report, /Relaying denied: \[Occurrences >= 1\]\n +From .*\[192\.0\.2\.66\]\s*\n +to <someone@remote\.example>:? +1 Time/, report);
    assert.match(report, /Mail Deferred:\n +Connection refused by mx\.down\.test\.\n +To: <x@down\.test>:? +1 Time/, report);
    assert.match(report, /Mail Rejected:\n +User unknown:\n +<ghost@remote\.test>:? +1 Time/, report);
    assert.doesNotMatch(report, /Unmatched/i, report);
  });
});
