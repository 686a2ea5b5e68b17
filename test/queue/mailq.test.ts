/**
 * mailq's layout against listings the real sendmail 8.17 printed for the
 * same queue (three messages left in clientmqueue by its MSP, sandboxed,
 * 2026-11-22 08:44:50 UTC), in plain and verbose form.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { ctime, formatMailq, messagePriority, printable, sortForListing, type MailqEntry } from '../../src/queue/mailq.js';

process.env.TZ = 'UTC';
const AT = Date.UTC(2026, 10, 22, 8, 44, 50);

const ENTRIES: MailqEntry[] = [
  {
    id: '6AM8ioXG000091', bodySize: 304285, priority: messagePriority(304285, 1, 0), arrival: AT,
    sender: 'some.very.long.sender.address.that.goes.on@subdomain.example.com',
    statusText: 'host map: lookup (subdomain.example.com): deferred', recipients: ['grace@example.com'],
  },
  {
    id: '6AM8ioCY000086', bodySize: 0, priority: messagePriority(14, 1, 0), arrival: AT, sender: 'alice',
    statusText: 'host map: lookup (a.example.com): deferred', recipients: ['frank@a.example.com'],
  },
  {
    id: '6AM8iosj000083', bodySize: 6, priority: messagePriority(103, 4, 0), arrival: AT, sender: 'alice',
    statusText: 'host map: lookup (example.org): deferred',
    recipients: ['eve@example.net', 'carol@example.org', 'bob@example.org', 'dave@remote.example'],
  },
];

const REAL_PLAIN = `\t\t/var/spool/clientmqueue (3 requests)
-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------
6AM8ioCY000086        0 Sun Nov 22 08:44 alice
                 (host map: lookup (a.example.com): deferred)
\t\t\t\t\t frank@a.example.com
6AM8iosj000083        6 Sun Nov 22 08:44 alice
                 (host map: lookup (example.org): deferred)
\t\t\t\t\t eve@example.net
\t\t\t\t\t carol@example.org
\t\t\t\t\t bob@example.org
\t\t\t\t\t dave@remote.example
6AM8ioXG000091   304285 Sun Nov 22 08:44 some.very.long.sender.address.that.goes
                 (host map: lookup (subdomain.example.com): deferred)
\t\t\t\t\t grace@example.com
\t\tTotal requests: 3
`;

const REAL_VERBOSE = `\t\t/var/spool/clientmqueue (3 requests)
-----Q-ID----- --Size-- -Priority- ---Q-Time--- --------Sender/Recipient--------
6AM8ioCY000086        0      30014 Nov 22 08:44 alice
                 (host map: lookup (a.example.com): deferred)
\t\t\t\t\t\tfrank@a.example.com
6AM8iosj000083        6     120103 Nov 22 08:44 alice
                 (host map: lookup (example.org): deferred)
\t\t\t\t\t\teve@example.net
\t\t\t\t\t\tcarol@example.org
\t\t\t\t\t\tbob@example.org
\t\t\t\t\t\tdave@remote.example
6AM8ioXG000091   304285     334285 Nov 22 08:44 some.very.long.sender.address.that.goes.on@subdomain.example.com
                 (host map: lookup (subdomain.example.com): deferred)
\t\t\t\t\t\tgrace@example.com
\t\tTotal requests: 3
`;

test('the listing matches sendmail 8.17 column for column, sorted by priority', () => {
  const listing = { label: '/var/spool/clientmqueue', entries: sortForListing(ENTRIES) };
  assert.equal(formatMailq([listing], false), REAL_PLAIN);
  assert.equal(formatMailq([listing], true), REAL_VERBOSE);
});

test('an empty queue, as sendmail prints it', () => {
  assert.equal(formatMailq([{ label: '/var/spool/mqueue', entries: [] }], false), '/var/spool/mqueue is empty\n\t\tTotal requests: 0\n');
});

test('marks, quarantine, body type, MaxQueueRun and the controlling user', () => {
  const e: MailqEntry = {
    id: '6AM8ioCY000086', bodySize: 10, priority: 30010, arrival: AT, sender: 'alice', bodyType: '8BITMIME',
    quarantine: 'held by milter', locked: true, controllingUser: 'alice', recipients: ['bob'],
  };
  const text = formatMailq([{ label: '/q', entries: [e, { ...e, id: '6AM8ioCZ000086', locked: false, tooYoung: true }], maxQueueRun: 1 }], true);
  assert.equal(
    text,
    '\t\t/q (2 requests, only 1 printed)\n-----Q-ID----- --Size-- -Priority- ---Q-Time--- --------Sender/Recipient--------\n' +
      '6AM8ioCY000086*      10      30010 Nov 22 08:44 alice\n     QUARANTINE: held by milter\n      8BITMIME' +
      '\n\t\t\t\t\t\t(---alice---)\n\t\t\t\t\t\tbob\n\t\tTotal requests: 2\n',
  );
});

test('unprintable characters and backslashes as sendmail prtstr shows them', () => {
  assert.equal(printable('a\\b', 10), 'a\\\\b');
  assert.equal(printable('a\tb', 10), 'a\\011b');
  assert.equal(printable('abcdef', 3), 'abc');
  assert.equal(ctime(AT), 'Sun Nov 22 08:44:50 2026');
});
