/**
 * The logger's line builders against literal sendmail 8.17 log lines (the
 * shapes of reference section 8 and of deliver.c/headers.c/parseaddr.c), the
 * LogLevel gates, sm_syslog's splitting, and the standard-error fallback.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  LOG_INFO,
  LOG_NOTICE,
  LOG_ERR,
  Logger,
  MemorySink,
  NOQID,
  NOQUEUE,
  anynetNtoa,
  aliasRebuiltLine,
  aliasStatsLine,
  cloneLine,
  createLogger,
  deliveryLines,
  formatInterval,
  localAuthinfo,
  noTransactionLine,
  openLogger,
  remoteAuthinfo,
  returnLine,
  rulesetLine,
  senderLine,
  shortenString,
  smtpAttackLine,
  stderrSink,
  userErrorLine,
  str2prt,
  syslogMessages,
  syslogPrefixLength,
  syslogSink,
  type DeliveryLogInput,
} from '../../src/common/log.js';

const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);
const sec = (n: number): number => T0 + n * 1000;

describe('formatInterval (pintvl)', () => {
  it('prints HH:MM:SS, with days as D+', () => {
    assert.equal(formatInterval(0), '00:00:00');
    assert.equal(formatInterval(59), '00:00:59');
    assert.equal(formatInterval(3600 + 2 * 60 + 3), '01:02:03');
    assert.equal(formatInterval(86400 + 2 * 3600 + 3 * 60 + 4), '1+02:03:04');
    assert.equal(formatInterval(12 * 86400 + 5), '12+00:00:05');
    assert.equal(formatInterval(-1), 'too long');
  });
  it('has a verbose form for DSN texts', () => {
    assert.equal(formatInterval(0, false), 'zero seconds');
    assert.equal(formatInterval(4 * 3600, false), '4 hours');
    assert.equal(formatInterval(8 * 86400 + 3600 + 61, false), '1 week, 1 day, 1 hour, 1 minute, 1 second');
    assert.equal(formatInterval(5 * 86400, false), '5 days');
  });
});

describe('shortenString and str2prt', () => {
  it('keeps a short string and shortens a long one to head...tail', () => {
    assert.equal(shortenString('abc', 10), 'abc');
    // length equal to the limit is shortened too, as in sendmail
    assert.equal(shortenString('0123456789', 10), '012...789');
    assert.equal(shortenString('abcdefghijklmnopqrstuvwxyz', 13), 'abcde...vwxyz');
    assert.equal(shortenString('abcdefgh', 7), 'abcd...');
    assert.equal(shortenString('abcdefgh', 4), 'abcd');
    assert.equal(shortenString('x'.repeat(500), 1000).length, 500);
    assert.equal(shortenString('x'.repeat(500), 300).length, 203);
  });
  it('escapes what is not printable ASCII', () => {
    assert.equal(str2prt('plain text, <a@b>'), 'plain text, <a@b>');
    assert.equal(str2prt('a\tb\nc\rd\\e'), 'a\\tb\\nc\\rd\\\\e');
    assert.equal(str2prt('bell\x07'), 'bell\\007');
    assert.equal(str2prt('caf\u00e9'), 'caf\\303\\251');
  });
});

describe('addresses and $_', () => {
  it('prints peers as anynet_ntoa does', () => {
    assert.equal(anynetNtoa('127.0.0.3'), '127.0.0.3');
    assert.equal(anynetNtoa('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(anynetNtoa('::1'), 'IPv6:::1');
    assert.equal(anynetNtoa('2001:DB8:0:0:0:0:0:1'), 'IPv6:2001:db8::1');
    assert.equal(anynetNtoa('2001:db8::1', { compressedIPv6: false }), 'IPv6:2001:db8:0:0:0:0:0:1');
  });
  it('builds $_ for local and remote clients', () => {
    assert.equal(localAuthinfo('alice'), 'alice@localhost');
    assert.equal(remoteAuthinfo({ hostName: 'client3.outside.test', address: '127.0.0.3' }), 'client3.outside.test [127.0.0.3]');
    assert.equal(remoteAuthinfo({ hostName: null, address: '192.0.2.7' }), '[192.0.2.7]');
    assert.equal(remoteAuthinfo({ hostName: 'h.test', address: '192.0.2.7', mayBeForged: true }), 'h.test [192.0.2.7] (may be forged)');
    assert.equal(remoteAuthinfo({ hostName: 'h.test', address: '192.0.2.7', identUser: 'joe' }), 'joe@h.test [192.0.2.7]');
    assert.equal(remoteAuthinfo({ hostName: 'localhost', address: '::1' }), 'localhost [IPv6:::1]');
  });
});

describe('the sender line (logsender)', () => {
  it('matches an SMTP reception', () => {
    assert.equal(
      senderLine({
        from: '<sender@outside.test>',
        size: 5,
        class: 0,
        nrcpts: 1,
        msgid: '<202611220600.5AM60000012345@mx.example.test>',
        bodytype: '8BITMIME',
        proto: 'ESMTP',
        daemon: 'MTA',
        relay: { kind: 'authinfo', authinfo: remoteAuthinfo({ hostName: 'client3.outside.test', address: '127.0.0.3' }) },
      }),
      'from=<sender@outside.test>, size=5, class=0, nrcpts=1, msgid=<202611220600.5AM60000012345@mx.example.test>, bodytype=8BITMIME, proto=ESMTP, daemon=MTA, relay=client3.outside.test [127.0.0.3]',
    );
  });
  it('matches a local submission: bare sender, no bodytype/proto/daemon', () => {
    assert.equal(
      senderLine({ from: 'alice', size: 73, class: 0, nrcpts: 3, msgid: '<x@mx.example.test>', relay: { kind: 'authinfo', authinfo: localAuthinfo('alice') } }),
      'from=alice, size=73, class=0, nrcpts=3, msgid=<x@mx.example.test>, relay=alice@localhost',
    );
  });
  it('omits msgid= when there is no Message-Id and says <NONE> without a sender', () => {
    assert.equal(
      senderLine({ from: null, size: 0, class: 0, nrcpts: 0, proto: 'SMTP', relay: { kind: 'peer', hostName: null } }),
      'from=<NONE>, size=0, class=0, nrcpts=0, proto=SMTP, relay=localhost',
    );
  });
  it('prints the peer without $_ and [RESPONSE] for its own DSNs', () => {
    assert.equal(
      senderLine({ from: '<>', size: 2210, class: 0, nrcpts: 1, relay: { kind: 'peer', hostName: 'h.test', address: '192.0.2.1' } }),
      'from=<>, size=2210, class=0, nrcpts=1, relay=h.test (192.0.2.1)',
    );
    assert.equal(
      senderLine({ from: '<>', size: 2210, class: 0, nrcpts: 1, msgid: '<a@b>', relay: { kind: 'response' } }),
      'from=<>, size=2210, class=0, nrcpts=1, msgid=<a@b>, relay=[RESPONSE]',
    );
  });
  it('cuts the sender at 200, the msgid at 100 and bodytype/proto/daemon at 20 bytes', () => {
    const line = senderLine({
      from: '<' + 'f'.repeat(300) + '>',
      size: -1,
      class: -60,
      nrcpts: 1,
      msgid: '<' + 'm'.repeat(200) + '>',
      bodytype: 'B'.repeat(30),
      proto: 'P'.repeat(30),
      daemon: 'D'.repeat(30),
      relay: { kind: 'authinfo', authinfo: 'r' },
    });
    assert.equal(
      line,
      `from=<${'f'.repeat(199)}, size=9223372036854775807, class=-60, nrcpts=1, msgid=<${'m'.repeat(99)}, bodytype=${'B'.repeat(20)}, proto=${'P'.repeat(20)}, daemon=${'D'.repeat(20)}, relay=r`,
    );
  });
});

describe('the delivery line (logdelivery)', () => {
  const base: DeliveryLogInput = { to: ['<bob>'], queuedAt: sec(0), transactionStart: sec(0), now: sec(0), priority: 30347, status: 'Sent' };

  it('matches a local delivery with ctladdr and uid/gid', () => {
    assert.deepEqual(
      deliveryLines({
        ...base,
        ctladdr: { paddr: '<alice@mx.example.test>', uid: 1001, gid: 1001 },
        mailer: 'local',
        relay: { host: 'local' },
        dsn: '2.1.5',
      }),
      ['to=<bob>, ctladdr=<alice@mx.example.test> (1001/1001), delay=00:00:00, xdelay=00:00:00, mailer=local, pri=30347, relay=local, dsn=2.1.5, stat=Sent'],
    );
  });
  it('matches a deferred multi-recipient relay attempt', () => {
    assert.deepEqual(
      deliveryLines({
        to: ['dave', 'carol', 'bob@mx.example.test'],
        ctladdr: { paddr: 'alice', uid: 1001, gid: 1001 },
        queuedAt: sec(0),
        transactionStart: sec(95),
        now: sec(86400 + 2 * 3600 + 3 * 60 + 4),
        mailer: 'relay',
        priority: 90073,
        relay: { host: '[127.0.0.1]', address: '127.0.0.1' },
        dsn: '4.4.1',
        rcode: 75,
        status: 'Deferred: Connection refused by [127.0.0.1]',
      }),
      [
        'to=dave,carol,bob@mx.example.test, ctladdr=alice (1001/1001), delay=1+02:03:04, xdelay=1+02:01:29, mailer=relay, pri=90073, relay=[127.0.0.1] [127.0.0.1], dsn=4.4.1, stat=Deferred: Connection refused by [127.0.0.1]',
      ],
    );
  });
  it('omits relay= for prog and xdelay= without a transaction start', () => {
    assert.deepEqual(
      deliveryLines({ to: ['"|logit fwd"'], ctladdr: { paddr: 'bob', uid: 1002, gid: 1002 }, queuedAt: sec(0), now: sec(3), mailer: 'prog', priority: 30106, dsn: '2.0.0', status: 'Sent' }),
      ['to="|logit fwd", ctladdr=bob (1002/1002), delay=00:00:03, mailer=prog, pri=30106, dsn=2.0.0, stat=Sent'],
    );
  });
  it('prints ctladdr without uid/gid when they are not known, and no ctladdr when none', () => {
    assert.deepEqual(
      deliveryLines({ ...base, ctladdr: { paddr: '<root@mx.example.test>' }, mailer: 'esmtp', relay: { host: 'mx.remote.test.', address: '192.0.2.25' }, dsn: '2.0.0', status: 'Sent (Ok: queued as 4Xyz)' }),
      ['to=<bob>, ctladdr=<root@mx.example.test>, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=30347, relay=mx.remote.test. [192.0.2.25], dsn=2.0.0, stat=Sent (Ok: queued as 4Xyz)'],
    );
    assert.deepEqual(deliveryLines({ ...base, to: null, mailer: 'local', status: 'queued' }), [
      'to=NO-TO-LIST, delay=00:00:00, xdelay=00:00:00, mailer=local, pri=30347, stat=queued',
    ]);
  });
  it('prints reply= on failure only, from the recipient status or the envelope reply', () => {
    const failed = { ...base, to: ['<nobody@remote.test>'], mailer: 'esmtp', relay: { host: 'mx.remote.test.', address: '192.0.2.25' }, dsn: '5.1.1', rcode: 67, status: 'User unknown' };
    assert.deepEqual(deliveryLines({ ...failed, reply: '550 5.1.1 <nobody@remote.test>... User unknown' }), [
      'to=<nobody@remote.test>, delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=30347, relay=mx.remote.test. [192.0.2.25], dsn=5.1.1, reply=550 5.1.1 <nobody@remote.test>... User unknown, stat=User unknown',
    ]);
    assert.deepEqual(deliveryLines({ ...failed, reply: { code: 554, enhanced: '5.7.1', text: 'rejected' } })[0]!.includes(', reply=554 5.7.1 rejected, stat=User unknown'), true);
    assert.deepEqual(deliveryLines({ ...failed, reply: { code: 554, text: 'rejected' } })[0]!.includes(', reply=554 rejected, stat='), true);
    assert.equal(deliveryLines({ ...failed, rcode: 0, reply: '250 ok' })[0]!.includes('reply='), false);
  });
  it('prints quarantine= instead of relay= for a quarantined message', () => {
    assert.deepEqual(deliveryLines({ ...base, mailer: 'local', status: 'quarantined', quarantine: 'suspicious attachment' }), [
      'to=<bob>, delay=00:00:00, xdelay=00:00:00, mailer=local, pri=30347, quarantine=suspicious attachment, stat=quarantined',
    ]);
  });
  it('shortens long hosts, dsn and status as sendmail does', () => {
    const [line] = deliveryLines({ ...base, mailer: 'esmtp', relay: { host: 'h'.repeat(60) + '.test.' }, status: 'Deferred: ' + 'x'.repeat(400) });
    assert.match(line!, new RegExp(`relay=${'h'.repeat(18)}\\.\\.\\.h{12}\\.test\\., stat=Deferred: x{90}\\.\\.\\.x{100}$`));
  });
  it('continues a long recipient list over several lines with [more]', () => {
    const to = Array.from({ length: 60 }, (_, i) => `<user${String(i).padStart(2, '0')}@example.test>`);
    const lines = deliveryLines({ ...base, to, mailer: 'esmtp', relay: { host: 'mx.example.test.', address: '192.0.2.1' }, dsn: '2.0.0' });
    const tail = ', delay=00:00:00, xdelay=00:00:00, mailer=esmtp, pri=30347, relay=mx.example.test. [192.0.2.1], dsn=2.0.0, stat=Sent';
    assert.ok(lines.length > 1);
    for (const l of lines.slice(0, -1)) {
      assert.ok(l.endsWith(`, [more]${tail}`), l);
      // the list part is cut at a comma before 1024 - 100 - len(tail) bytes
      assert.ok(l.length - tail.length - ' [more]'.length - 'to='.length <= 1024 - 100 - tail.length + 1);
    }
    assert.ok(lines.at(-1)!.endsWith(`>${tail}`));
    const rejoined = lines.map((l) => l.slice(3, l.indexOf(l.includes(' [more]') ? ' [more]' : tail))).join('');
    assert.equal(rejoined, to.join(','));
  });
});

describe('other lines', () => {
  it('ruleset verdicts', () => {
    assert.equal(
      rulesetLine({
        ruleset: 'check_rcpt',
        arg1: '<someone@remote.example>',
        relay: 'client3.outside.test [127.0.0.3]',
        outcome: { kind: 'reject', reply: '550 5.7.1 <someone@remote.example>... Relaying denied' },
      }),
      'ruleset=check_rcpt, arg1=<someone@remote.example>, relay=client3.outside.test [127.0.0.3], reject=550 5.7.1 <someone@remote.example>... Relaying denied',
    );
    assert.equal(
      rulesetLine({ ruleset: 'check_relay', arg1: 'spam.test', arg2: '192.0.2.9', relay: 'spam.test [192.0.2.9]', outcome: { kind: 'reject', reply: '550 5.7.1 Access denied' } }),
      'ruleset=check_relay, arg1=spam.test, arg2=192.0.2.9, relay=spam.test [192.0.2.9], reject=550 5.7.1 Access denied',
    );
    assert.equal(rulesetLine({ ruleset: 'check_mail', arg1: '<a@b>', outcome: { kind: 'discard' } }), 'ruleset=check_mail, arg1=<a@b>, discard');
    assert.equal(
      rulesetLine({ ruleset: 'check_rcpt', arg1: '<a@b>', relay: 'x [1.2.3.4]', outcome: { kind: 'quarantine', reason: 'held' } }),
      'ruleset=check_rcpt, arg1=<a@b>, relay=x [1.2.3.4], quarantine=held',
    );
  });
  it('DSN, clone, aliases, SMTP session events', () => {
    assert.equal(returnLine({ newId: '5AM6000A012345', kind: 'DSN', message: 'User unknown' }), '5AM6000A012345: DSN: User unknown');
    assert.equal(
      returnLine({ newId: '5AM6000A012345', kind: 'return to sender', message: 'Warning: could not send message for past 4 hours' }),
      '5AM6000A012345: return to sender: Warning: could not send message for past 4 hours',
    );
    assert.equal(cloneLine('5AM6000B012345', 'alice'), '5AM6000B012345: clone: owner=alice');
    assert.equal(aliasRebuiltLine({ file: '/etc/mail/aliases', user: 'root' }), 'alias database /etc/mail/aliases rebuilt by root');
    assert.equal(aliasRebuiltLine({ file: '/etc/mail/aliases', user: 'root', automatic: true }), 'alias database /etc/mail/aliases autorebuilt by root');
    assert.equal(aliasStatsLine({ file: '/etc/mail/aliases', aliases: 12, longest: 10, bytes: 144 }), '/etc/mail/aliases: 12 aliases, longest 10 bytes, 144 bytes total');
    assert.equal(noTransactionLine('root@localhost', null), 'root@localhost did not issue MAIL/EXPN/VRFY/ETRN during connection to stdin');
    assert.equal(noTransactionLine('h.test [192.0.2.1]', 'MTA'), 'h.test [192.0.2.1] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA');
    assert.equal(userErrorLine('<nobody@mx.example.test>', 'User unknown'), '<nobody@mx.example.test>... User unknown');
    assert.equal(userErrorLine(null, 'Need MAIL before RCPT'), 'Need MAIL before RCPT');
    assert.equal(smtpAttackLine('root@localhost', 'VRFY', 6), 'root@localhost: possible SMTP attack: command=VRFY, count=6');
  });
});

describe('sm_syslog: ids and splitting', () => {
  it('prefixes the queue id, NOQUEUE, or nothing', () => {
    assert.deepEqual(syslogMessages('5AM60000012345', 'from=alice'), ['5AM60000012345: from=alice']);
    assert.deepEqual(syslogMessages(NOQUEUE, 'connect from x'), ['NOQUEUE: connect from x']);
    assert.deepEqual(syslogMessages(NOQID, 'alias database /etc/mail/aliases rebuilt by root'), ['alias database /etc/mail/aliases rebuilt by root']);
    assert.deepEqual(syslogMessages('Q', 'bad\nline'), ['Q: bad\\nline']);
  });
  it('computes SyslogPrefixLen as main.c does', () => {
    assert.equal(syslogPrefixLength(undefined), 42);
    assert.equal(syslogPrefixLength('sm-mta'), 41);
    assert.equal(syslogPrefixLength('x'.repeat(40)), 67);
  });
  it('splits a long message at commas/spaces into numbered parts', () => {
    const id = '5AM60000012345';
    const prefix = syslogPrefixLength('sm-mta');
    const words = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
    const parts = syslogMessages(id, words, prefix);
    assert.ok(parts.length >= 2);
    const idlen = id.length + prefix + 5;
    parts.forEach((p, i) => {
      assert.ok(p.startsWith(`${id}[${i + 1}]: `), p);
      const body = p.slice(`${id}[${i + 1}]: `.length);
      if (i < parts.length - 1) {
        assert.ok(body.endsWith(' ...'));
        assert.ok(body.length - 4 <= 1024 - idlen - 7 + 1);
        assert.ok(body.slice(0, -4).endsWith(' '), 'cut after a separator');
      }
    });
    const rejoined = parts.map((p, i) => p.slice(`${id}[${i + 1}]: `.length).replace(/ \.\.\.$/, '')).join('');
    assert.equal(rejoined, words);
    // a message just under the limit stays whole
    const fits = 'y'.repeat(1024 - (id.length + prefix) - 2);
    assert.deepEqual(syslogMessages(id, fits, prefix), [`${id}: ${fits}`]);
    assert.equal(syslogMessages(id, fits + 'y', prefix).length, 2);
  });
  it('cuts mid-word when there is no separator', () => {
    const parts = syslogMessages('Q', 'z'.repeat(3000), 42);
    const first = 1024 - (1 + 42 + 5) - 7;
    assert.equal(parts[0], `Q[1]: ${'z'.repeat(first)} ...`);
    assert.equal(parts.map((p) => p.replace(/^Q\[\d+\]: /, '').replace(/ \.\.\.$/, '')).join(''), 'z'.repeat(3000));
  });
});

describe('Logger', () => {
  const qid = '5AM60000012345';
  const sender = { from: '<a@b.test>', size: 10, class: 0, nrcpts: 1, relay: { kind: 'authinfo', authinfo: 'alice@localhost' } } as const;
  const ok: DeliveryLogInput = { to: ['<c@d.test>'], queuedAt: sec(0), now: sec(0), mailer: 'local', priority: 30000, status: 'Sent' };

  it('gates each line at its LogLevel', () => {
    const levels: Record<number, string[]> = {};
    for (const level of [0, 4, 5, 6, 7, 8, 9]) {
      const sink = new MemorySink();
      const log = new Logger({ sink, logLevel: level });
      log.logSender(qid, sender);
      log.logDelivery(qid, ok);
      log.logDelivery(qid, { ...ok, rcode: 75, status: 'Deferred' });
      log.logDelivery(qid, { ...ok, rcode: 67, status: 'User unknown' });
      log.logRuleset(qid, { ruleset: 'check_rcpt', arg1: '<x>', outcome: { kind: 'reject', reply: '550 no' } });
      log.logReturn(qid, { newId: 'N', kind: 'DSN', message: 'User unknown' });
      log.logAliasRebuilt({ file: '/etc/mail/aliases', user: 'root' });
      levels[level] = sink.messages().map((m) => m.replace(/^(?:5AM60000012345: )?(\S+?)[=: ].*$/, '$1'));
    }
    assert.deepEqual(levels[0], []);
    assert.deepEqual(levels[4], ['ruleset']);
    assert.deepEqual(levels[5], ['from', 'ruleset']);
    assert.deepEqual(levels[6], ['from', 'ruleset', 'N']);
    assert.deepEqual(levels[7], ['from', 'to', 'ruleset', 'N']);
    assert.deepEqual(levels[8], ['from', 'to', 'to', 'ruleset', 'N', 'alias']);
    assert.deepEqual(levels[9], ['from', 'to', 'to', 'to', 'ruleset', 'N', 'alias']);
  });

  it('logs with the right severities and changes LogLevel on demand', () => {
    const sink = new MemorySink();
    const log = new Logger({ sink, logLevel: 9, label: 'sm-mta' });
    assert.equal(log.ident, 'sm-mta');
    assert.equal(log.logLevel, 9);
    assert.equal(log.at(8), true);
    assert.equal(log.at(9), false);
    log.logSender(qid, sender);
    log.logRuleset(NOQUEUE, { ruleset: 'check_rcpt', arg1: '<x>', outcome: { kind: 'reject', reply: '550 no' } });
    log.err(0, qid, 'SYSERR: bad');
    log.debug(20, qid, 'never');
    log.setLogLevel(21);
    log.debug(20, qid, 'now');
    assert.deepEqual(sink.records, [
      { level: LOG_INFO, message: `${qid}: from=<a@b.test>, size=10, class=0, nrcpts=1, relay=alice@localhost` },
      { level: LOG_NOTICE, message: 'NOQUEUE: ruleset=check_rcpt, arg1=<x>, reject=550 no' },
      { level: LOG_ERR, message: `${qid}: SYSERR: bad` },
      { level: 7, message: `${qid}: now` },
    ]);
    log.close();
    assert.equal(sink.closed, true);
  });

  it('falls back to ident[pid]: lines on standard error when there is no /dev/log', () => {
    let out = '';
    const sinkOut = { write: (s: string) => (out += s) };
    const s = stderrSink('sm-mta', { pid: 4242, output: sinkOut });
    const log = new Logger({ sink: s, label: 'sm-mta' });
    log.logSender(qid, sender);
    assert.equal(out, `sm-mta[4242]: ${qid}: from=<a@b.test>, size=10, class=0, nrcpts=1, relay=alice@localhost\n`);

    const fallback = openLogger({ label: 'sm-msp-queue', devLog: '/nonexistent/dev/log' });
    assert.equal(fallback.transport, 'stderr');
    assert.equal(fallback.ident, 'sm-msp-queue');
    assert.match(fallback.fallbackReason ?? '', /does not exist/);
    assert.equal(createLogger({ devLog: '/nonexistent/log' }).ident, 'sendmail');
  });

  it('hands messages to syslog(3) bindings with facility mail', () => {
    const calls: unknown[][] = [];
    const bindings = {
      openlog: (...a: unknown[]) => void calls.push(['openlog', ...a]),
      syslog: (...a: unknown[]) => void calls.push(['syslog', ...a]),
      closelog: () => void calls.push(['closelog']),
    };
    const log = new Logger({ sink: syslogSink(bindings, 'sm-mta'), label: 'sm-mta' });
    log.logSender(qid, sender);
    log.close();
    assert.deepEqual(calls, [
      ['openlog', 'sm-mta', 1, 16],
      ['syslog', 22, `${qid}: from=<a@b.test>, size=10, class=0, nrcpts=1, relay=alice@localhost`],
      ['closelog'],
    ]);
    // createLogger uses the given bindings when the syslog socket exists
    const viaCreate = createLogger({ label: 'sm-mta', devLog: '/', bindings });
    assert.equal(viaCreate.transport, 'syslog');
  });
});
