/**
 * Delivery status notifications: exact text against sendmail 8.17's form,
 * who is told what, and the MIME structure as Python's email package sees it.
 */
process.env.TZ = 'UTC';

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { defaultOptions } from '../../src/config/index.js';
import {
  buildNotice,
  dueWarnings,
  expired,
  makeNotices,
  planNotices,
  type NoticeInput,
  type NoticeSettings,
  type QueuedEnvelope,
} from '../../src/queue/dsn/index.js';
import type { Notify } from '../../src/queue/envelope.js';
import { openQueue } from '../../src/queue/index.js';

const HOST = 'mx.example.test';
const ARRIVAL = Date.UTC(2026, 10, 22, 5, 59, 0);
const NOW = Date.UTC(2026, 10, 22, 6, 0, 0);
const DSN_ID = '6AM6000A054321';
const BOUNDARY = `${DSN_ID}.${NOW / 1000}/${HOST}`;
const settings: NoticeSettings = { hostName: HOST, version: '8.17.1.9' };

const ORIGINAL = 'Received: from client.example.org\n\tby mx.example.test id 6AM5xx0A012345\nFrom: Alice <alice@example.org>\nTo: bob@remote.test, carol@remote.test\nSubject: lunch\n\nSee you at noon.\n';

function envelope(over: Partial<QueuedEnvelope> = {}): QueuedEnvelope {
  return {
    id: '6AM5xx0A012345',
    sender: 'alice@example.org',
    recipients: [
      { address: 'bob@remote.test', state: 'bounced', orcpt: 'rfc822;Bob+2Bdesk@remote.test' },
      { address: 'carol@remote.test', state: 'sent' },
    ],
    hopCount: 1,
    relay: 'client.example.org [192.0.2.7]',
    arrival: ARRIVAL,
    size: ORIGINAL.length,
    attempts: 1,
    nextAttempt: 0,
    ...over,
  };
}

const bobFailed = {
  index: 0,
  action: 'failed' as const,
  status: '5.1.1',
  diagnostic: '550 5.1.1 <bob@remote.test>... User unknown',
  diagnosticType: 'SMTP',
  remoteMta: 'mx.remote.test.',
  mtaType: 'DNS',
};
const transcript = ['... while talking to mx.remote.test.:', '>>> RCPT To:<bob@remote.test>', '<<< 550 5.1.1 <bob@remote.test>... User unknown', '550 5.1.1 <bob@remote.test>... User unknown'];

async function* chunks(text: string | Buffer, size = 7): AsyncGenerator<Buffer> {
  const b = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function text(content: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of content) parts.push(c);
  return Buffer.concat(parts).toString('latin1');
}

async function render(input: NoticeInput, s: NoticeSettings = settings, original: string | Buffer = ORIGINAL): Promise<string[]> {
  const made = await makeNotices(input, s, { assignId: async () => DSN_ID, now: NOW, original: () => chunks(original) });
  return Promise.all(made.map((m) => text(m.content)));
}

/** Python's email package, as an independent MIME parser: the structure it finds. */
function parseWithPython(message: string): {
  multipart: boolean;
  type: string;
  reportType: string;
  parts: string[];
  perMessage: Record<string, string>;
  perRecipient: Record<string, string>[];
  returned: string;
} {
  const script = `
import sys, json, email
from email import policy
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.compat32)
parts = msg.get_payload() if msg.is_multipart() else []
ds = [p for p in parts if p.get_content_type() == 'message/delivery-status']
blocks = ds[0].get_payload() if ds else []
fields = [dict((k, str(v)) for k, v in b.items()) for b in blocks]
ret = parts[2] if len(parts) > 2 else None
returned = ''
if ret is not None:
    if ret.get_content_type() == 'message/rfc822':
        returned = str(ret.get_payload()[0]['Subject'] or '')
    else:
        returned = ret.get_payload()
print(json.dumps({
  'multipart': msg.is_multipart(),
  'type': msg.get_content_type(),
  'reportType': msg.get_param('report-type') or '',
  'parts': [p.get_content_type() for p in parts],
  'perMessage': fields[0] if fields else {},
  'perRecipient': fields[1:],
  'returned': returned,
}))
`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { input: Buffer.from(message, 'latin1') }).toString());
}

test('a failure report for one of two recipients, with RET=FULL, ENVID and ORCPT, in sendmail 8.17 form', async () => {
  const input: NoticeInput = {
    envelope: envelope({ ret: 'full', envid: 'QQ+2B314' }),
    event: { kind: 'failure' },
    outcomes: [bobFailed],
    transcript,
  };
  const plans = planNotices(input, settings);
  assert.deepEqual(
    plans.map((p) => [p.kind, p.to, p.returnBody, p.message]),
    [['sender', 'alice@example.org', true, 'User unknown']],
  );
  const [out] = await render(input);
  const expected = [
    'Received: from localhost (localhost)',
    `\tby ${HOST} (8.17.1.9/8.17.1.9) id ${DSN_ID};`,
    '\tSun, 22 Nov 2026 06:00:00 GMT',
    'Date: Sun, 22 Nov 2026 06:00:00 GMT',
    `From: Mail Delivery Subsystem <MAILER-DAEMON@${HOST}>`,
    `Message-Id: <202611220600.${DSN_ID}@${HOST}>`,
    'To: <alice@example.org>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=delivery-status;',
    `\tboundary="${BOUNDARY}"`,
    'Subject: Returned mail: see transcript for details',
    'Auto-Submitted: auto-generated (failure)',
    '',
    'This is a MIME-encapsulated message',
    '',
    `--${BOUNDARY}`,
    '',
    'The original message was received at Sun, 22 Nov 2026 05:59:00 GMT',
    'from client.example.org [192.0.2.7]',
    '',
    '   ----- The following addresses had permanent fatal errors -----',
    '<bob@remote.test>',
    '    (reason: 550 5.1.1 <bob@remote.test>... User unknown)',
    '',
    '   ----- Transcript of session follows -----',
    ...transcript,
    '',
    `--${BOUNDARY}`,
    'Content-Type: message/delivery-status',
    '',
    'Original-Envelope-Id: QQ+314',
    `Reporting-MTA: dns; ${HOST}`,
    'Arrival-Date: Sun, 22 Nov 2026 05:59:00 GMT',
    '',
    'Original-Recipient: rfc822;Bob+desk@remote.test',
    'Final-Recipient: rfc822; bob@remote.test',
    'Action: failed',
    'Status: 5.1.1',
    'Remote-MTA: DNS; mx.remote.test',
    'Diagnostic-Code: SMTP; 550 5.1.1 <bob@remote.test>... User unknown',
    'Last-Attempt-Date: Sun, 22 Nov 2026 06:00:00 GMT',
    '',
    `--${BOUNDARY}`,
    'Content-Type: message/rfc822',
    '',
    ...ORIGINAL.split('\n').slice(0, -1),
    '',
    `--${BOUNDARY}--`,
    '',
  ].join('\n') + '\n';
  assert.equal(out, expected);

  const parsed = parseWithPython(out!);
  assert.equal(parsed.multipart, true);
  assert.equal(parsed.type, 'multipart/report');
  assert.equal(parsed.reportType, 'delivery-status');
  assert.deepEqual(parsed.parts, ['text/plain', 'message/delivery-status', 'message/rfc822']);
  assert.equal(parsed.perMessage['Reporting-MTA'], `dns; ${HOST}`);
  assert.equal(parsed.perMessage['Original-Envelope-Id'], 'QQ+314');
  assert.equal(parsed.perRecipient.length, 1);
  assert.equal(parsed.perRecipient[0]!['Final-Recipient'], 'rfc822; bob@remote.test');
  assert.equal(parsed.perRecipient[0]!['Original-Recipient'], 'rfc822;Bob+desk@remote.test');
  assert.equal(parsed.perRecipient[0]!['Status'], '5.1.1');
  assert.equal(parsed.returned, 'lunch');
});

test('a delay warning with RET=HDRS returns the header only, with the banner and Will-Retry-Until', async () => {
  const env = envelope({
    ret: 'hdrs',
    arrival: NOW - 4 * 3600_000 - 60_000,
    recipients: [
      { address: 'bob@remote.test', state: 'deferred', statusText: 'Deferred: Connection refused by mx.remote.test.', dsnStatus: '4.4.1' },
      { address: 'carol@remote.test', state: 'sent' },
    ],
  });
  const timeouts = defaultOptions().Timeout;
  const timing = { ...timeouts, 'queuewarn.normal': 4 * 3600 };
  const due = dueWarnings(env, NOW, timing);
  assert.ok(due !== null);
  assert.deepEqual(due.outcomes, [{ index: 0, action: 'delayed', lastAttempt: NOW, status: '4.4.1' }]);
  const input: NoticeInput = {
    envelope: env,
    event: { kind: 'warning', warnAfter: due.warnAfter, returnAfter: due.returnAfter },
    outcomes: due.outcomes,
    transcript: ['<bob@remote.test>... Deferred: Connection refused by mx.remote.test.'],
  };
  const made = await makeNotices(input, settings, { assignId: async () => DSN_ID, now: NOW, original: () => chunks(ORIGINAL) });
  assert.equal(made.length, 1);
  assert.equal(made[0]!.logLine, `${DSN_ID}: sender notify: Warning: could not send message for past 4 hours`);
  const out = await text(made[0]!.content);
  const body = out.slice(out.indexOf('\n\n') + 2);
  assert.match(out, /\nSubject: Warning: could not send message for past 4 hours\nAuto-Submitted: auto-generated \(warning-timeout\)\n\n/);
  const expectedBody = [
    'This is a MIME-encapsulated message',
    '',
    `--${BOUNDARY}`,
    '',
    '    **********************************************',
    '    **      THIS IS A WARNING MESSAGE ONLY      **',
    '    **  YOU DO NOT NEED TO RESEND YOUR MESSAGE  **',
    '    **********************************************',
    '',
    'The original message was received at Sun, 22 Nov 2026 01:59:00 GMT',
    'from client.example.org [192.0.2.7]',
    '',
    '   ----- Transcript of session follows -----',
    '<bob@remote.test>... Deferred: Connection refused by mx.remote.test.',
    'Warning: message still undelivered after 4 hours',
    'Will keep trying until message is 5 days old',
    '',
    `--${BOUNDARY}`,
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns; ${HOST}`,
    'Arrival-Date: Sun, 22 Nov 2026 01:59:00 GMT',
    '',
    'Final-Recipient: rfc822; bob@remote.test',
    'Action: delayed',
    'Status: 4.4.1',
    'Last-Attempt-Date: Sun, 22 Nov 2026 06:00:00 GMT',
    'Will-Retry-Until: Fri, 27 Nov 2026 01:59:00 GMT',
    '',
    `--${BOUNDARY}`,
    'Content-Type: text/rfc822-headers',
    '',
    ...ORIGINAL.slice(0, ORIGINAL.indexOf('\n\n')).split('\n'),
    '',
    `--${BOUNDARY}--`,
    '',
  ].join('\n') + '\n';
  assert.equal(body, expectedBody);
  const parsed = parseWithPython(out);
  assert.deepEqual(parsed.parts, ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
  assert.equal(parsed.perRecipient[0]!['Action'], 'delayed');
});

test('without RET, sendmail returns the whole message in warnings as in failures; bulk mail only its header', async () => {
  const warnInput: NoticeInput = {
    envelope: envelope({ recipients: [{ address: 'bob@remote.test', state: 'deferred' }] }),
    event: { kind: 'warning', warnAfter: 14400, returnAfter: 432000 },
    outcomes: [{ index: 0, action: 'delayed' }],
  };
  assert.equal(planNotices(warnInput, settings)[0]!.returnBody, true);
  assert.equal(planNotices({ ...warnInput, precedenceClass: -60 }, settings).length, 0, 'no warning for bulk mail');
  const failInput: NoticeInput = { envelope: envelope(), event: { kind: 'failure' }, outcomes: [bobFailed], precedenceClass: -60 };
  assert.equal(planNotices(failInput, settings)[0]!.returnBody, false);
  assert.equal(planNotices({ ...failInput, precedenceClass: 0, bodyRefused: true }, settings)[0]!.returnBody, false);
  assert.equal(planNotices({ ...failInput, precedenceClass: 0 }, { ...settings, noBodyReturn: true })[0]!.returnBody, false);
});

function withNotify(notify: Notify | undefined): QueuedEnvelope {
  return envelope({
    recipients: [
      { address: 'bob@remote.test', state: 'bounced', ...(notify !== undefined ? { notify } : {}) },
      { address: 'carol@remote.test', state: 'sent', notify: { never: false, success: true, failure: false, delay: false } },
    ],
  });
}

test('NOTIFY: NEVER and SUCCESS-only recipients get no failure report; SUCCESS gets a return receipt', async () => {
  const never = { never: true, success: false, failure: false, delay: false };
  const successOnly = { never: false, success: true, failure: false, delay: false };
  const failOnly = { never: false, success: false, failure: true, delay: false };
  const fail = (n: Notify | undefined): NoticeInput => ({ envelope: withNotify(n), event: { kind: 'failure' }, outcomes: [bobFailed] });
  assert.deepEqual(planNotices(fail(never), settings), []);
  assert.deepEqual(planNotices(fail(successOnly), settings), []);
  assert.equal(planNotices(fail(failOnly), settings).length, 1);
  assert.equal(planNotices(fail(undefined), settings).length, 1, 'no NOTIFY means FAILURE,DELAY');

  // NOTIFY=FAILURE only: no delay warning
  const deferred = (n: Notify | undefined): QueuedEnvelope =>
    envelope({ recipients: [{ address: 'bob@remote.test', state: 'deferred', ...(n !== undefined ? { notify: n } : {}) }] });
  const timing = { ...defaultOptions().Timeout, 'queuewarn.normal': 3600 };
  assert.equal(dueWarnings(deferred(failOnly), ARRIVAL + 2 * 3600_000, timing), null);
  assert.notEqual(dueWarnings(deferred(undefined), ARRIVAL + 2 * 3600_000, timing), null);

  // carol asked for SUCCESS and was delivered: a headers-only receipt
  const receipt: NoticeInput = { envelope: withNotify(undefined), event: { kind: 'receipt' }, outcomes: [{ index: 1, action: 'delivered', status: '2.1.5' }] };
  const plans = planNotices(receipt, settings);
  assert.deepEqual(plans.map((p) => [p.kind, p.returnBody, p.message]), [['receipt', false, 'Return receipt']]);
  const [out] = await render(receipt);
  assert.match(out!, /\nSubject: Return receipt\nAuto-Submitted: auto-generated \(return-receipt\)\n/);
  assert.match(out!, /\n {3}----- The following addresses had successful delivery notifications -----\n<carol@remote.test> {2}\(successfully delivered to mailbox\)\n\n/);
  assert.match(out!, /\nAction: delivered \(to mailbox\)\nStatus: 2\.1\.5\n/);
  assert.doesNotMatch(out!, /WARNING MESSAGE ONLY/);
  // a success report is not sent when a recipient asked for nothing
  const quiet = envelope({ recipients: [{ address: 'carol@remote.test', state: 'sent' }] });
  assert.deepEqual(planNotices({ envelope: quiet, event: { kind: 'receipt' }, outcomes: [{ index: 0, action: 'delivered' }] }, settings), []);
  assert.deepEqual(planNotices(receipt, { ...settings, noReceipts: true }), []);
});

test('a bounce of a bounce goes to the postmaster, and a failing report to the postmaster is dropped', async () => {
  // the original came from <> (it was a report from elsewhere)
  const nullSender: NoticeInput = { envelope: envelope({ sender: '' }), event: { kind: 'failure' }, outcomes: [bobFailed] };
  let plans = planNotices(nullSender, settings);
  assert.deepEqual(plans.map((p) => [p.kind, p.to]), [['postmaster', 'postmaster']]);
  assert.deepEqual(planNotices(nullSender, { ...settings, doubleBounceAddress: 'mailops@example.test' }).map((p) => p.to), ['mailops@example.test']);
  assert.deepEqual(planNotices(nullSender, { ...settings, doubleBounceAddress: '' }), [], 'an empty DoubleBounceAddress drops it');

  // our own report to alice failed: it goes to the postmaster
  const made = await makeNotices({ envelope: envelope(), event: { kind: 'failure' }, outcomes: [bobFailed] }, settings, {
    assignId: async () => DSN_ID,
    now: NOW,
    original: () => chunks(ORIGINAL),
  });
  const report = made[0]!.envelope;
  assert.equal(report.sender, '');
  assert.equal(report.notice, 'sender');
  assert.deepEqual(report.recipients[0]!.notify, { never: false, success: false, failure: true, delay: false });
  const reportQueued: QueuedEnvelope = { ...report, id: DSN_ID, size: 1000, attempts: 1, nextAttempt: 0, recipients: [{ ...report.recipients[0]!, state: 'bounced' }] };
  const failOfReport: NoticeInput = {
    envelope: reportQueued,
    event: { kind: 'failure' },
    outcomes: [{ index: 0, action: 'failed', status: '5.1.1', diagnostic: '550 5.1.1 <alice@example.org>... User unknown' }],
  };
  plans = planNotices(failOfReport, settings);
  assert.deepEqual(plans.map((p) => [p.kind, p.to]), [['postmaster', 'postmaster']]);
  const double = await makeNotices(failOfReport, settings, { assignId: async () => '6AM6001B054321', now: NOW, original: () => chunks(ORIGINAL) });
  assert.equal(double[0]!.logLine, '6AM6001B054321: return to sender: User unknown');
  const doubleText = await text(double[0]!.content);
  assert.match(doubleText, /\nTo: postmaster\n/);
  assert.match(doubleText, /\nSubject: Postmaster notify: see transcript for details\nAuto-Submitted: auto-generated \(postmaster-notification\)\n/);
  assert.match(doubleText, /\nfrom localhost\nwith id 6AM6000A054321\n\n/);

  // ... and when that one fails too, nothing more is generated
  const d = double[0]!.envelope;
  const doubleQueued: QueuedEnvelope = { ...d, id: '6AM6001B054321', size: 1000, attempts: 1, nextAttempt: 0, recipients: [{ ...d.recipients[0]!, state: 'bounced' }] };
  assert.deepEqual(planNotices({ envelope: doubleQueued, event: { kind: 'failure' }, outcomes: [{ index: 0, action: 'failed' }] }, settings), []);
  // nor does a report ever get a delay warning
  assert.equal(dueWarnings(doubleQueued, NOW + 30 * 86400_000, { ...defaultOptions().Timeout, 'queuewarn.dsn': 3600 }), null);
});

test('PostmasterCopy gets a separate headers-only copy of failure reports, never of reports about reports', () => {
  const s = { ...settings, postmasterCopy: 'mailops' };
  const input: NoticeInput = { envelope: envelope({ ret: 'full' }), event: { kind: 'failure' }, outcomes: [bobFailed] };
  assert.deepEqual(
    planNotices(input, s).map((p) => [p.kind, p.to, p.returnBody]),
    [
      ['sender', 'alice@example.org', true],
      ['postmaster-copy', 'mailops', false],
    ],
  );
  const warning: NoticeInput = { envelope: envelope({ recipients: [{ address: 'bob@remote.test', state: 'deferred' }] }), event: { kind: 'warning', warnAfter: 14400, returnAfter: 432000 }, outcomes: [{ index: 0, action: 'delayed' }] };
  assert.deepEqual(planNotices(warning, s).map((p) => p.kind), ['sender'], 'no copy of warnings');
  assert.deepEqual(planNotices({ ...input, envelope: envelope({ sender: '', notice: 'sender' }) }, s).map((p) => p.kind), ['postmaster']);
});

test('queue lifetime: warnings once, after queuewarn of the message\'s class; expiry after queuereturn fails with 4.4.7', async () => {
  const t = { ...defaultOptions().Timeout, 'queuewarn.normal': 4 * 3600, 'queuewarn.urgent': 3600, 'queuereturn.normal': 5 * 86400, 'queuereturn.urgent': 2 * 86400 };
  const env = envelope({
    recipients: [
      { address: 'bob@remote.test', state: 'deferred', dsnStatus: '4.4.1' },
      { address: 'carol@remote.test', state: 'sent' },
      { address: 'dave@remote.test', state: 'pending' },
    ],
  });
  assert.equal(dueWarnings(env, ARRIVAL + 4 * 3600_000 - 1, t), null);
  assert.deepEqual(dueWarnings(env, ARRIVAL + 4 * 3600_000, t)?.outcomes.map((o) => o.index), [0, 2]);
  assert.equal(dueWarnings({ ...env, warned: true }, ARRIVAL + 4 * 3600_000, t), null, 'warned already');
  assert.equal(dueWarnings({ ...env, sender: 'owner-list@example.org' }, ARRIVAL + 4 * 3600_000, t), null);
  assert.equal(dueWarnings({ ...env, sender: 'list-request@example.org' }, ARRIVAL + 4 * 3600_000, t), null);
  // Priority: urgent uses the urgent variants
  assert.notEqual(dueWarnings(env, ARRIVAL + 3600_000, t, { priority: 'urgent' }), null);
  assert.equal(dueWarnings(env, ARRIVAL + 3600_000, t), null);
  // a queuewarn of 0 means never
  assert.equal(dueWarnings(env, ARRIVAL + 86400_000, { ...t, 'queuewarn.normal': 0 }), null);

  assert.equal(expired(env, ARRIVAL + 5 * 86400_000 - 1, t), null);
  const exp = expired(env, ARRIVAL + 5 * 86400_000, t);
  assert.ok(exp !== null);
  assert.deepEqual(exp.outcomes.map((o) => [o.index, o.action, o.status]), [[0, 'failed', '4.4.7'], [2, 'failed', '4.4.7']]);
  assert.notEqual(expired(env, ARRIVAL + 2 * 86400_000, t, { priority: 'urgent' }), null);
  assert.equal(dueWarnings(env, ARRIVAL + 5 * 86400_000, t), null, 'past the return time it bounces instead');

  const input: NoticeInput = { envelope: env, event: { kind: 'expired', returnAfter: exp.returnAfter }, outcomes: exp.outcomes, transcript: ['<bob@remote.test>... Deferred: Connection timed out with mx.remote.test.'] };
  const made = await makeNotices(input, settings, { assignId: async () => DSN_ID, now: NOW, original: () => chunks(ORIGINAL) });
  assert.equal(made[0]!.logLine, `${DSN_ID}: DSN: Cannot send message for 5 days`);
  const out = await text(made[0]!.content);
  assert.match(out, /\nSubject: Returned mail: see transcript for details\n/);
  assert.match(out, /\n {3}----- The following addresses had permanent fatal errors -----\n<bob@remote.test>\n<dave@remote.test>\n\n/);
  assert.match(out, /\n<bob@remote\.test>\.\.\. Deferred: Connection timed out with mx\.remote\.test\.\nMessage could not be delivered for 5 days\nMessage will be deleted from queue\n\n/);
  assert.match(out, /\nAction: failed\nStatus: 4\.4\.7\n/);
  assert.doesNotMatch(out, /WARNING MESSAGE ONLY/);
});

test('8-bit originals: the report and the returned part say 8bit; a binary original says binary', async () => {
  const eight = Buffer.concat([Buffer.from('From: a@example.org\nSubject: caf', 'latin1'), Buffer.from([0xc3, 0xa9]), Buffer.from('\n\nd\xe9j\xe0 vu\n', 'latin1')]);
  const input: NoticeInput = { envelope: envelope({ bodyType: '8BITMIME' }), event: { kind: 'failure' }, outcomes: [bobFailed] };
  const [out] = await render(input, settings, eight);
  assert.match(out!, /\tboundary="[^"]+"\nContent-Transfer-Encoding: 8bit\nSubject: Returned mail/);
  assert.match(out!, /\nContent-Type: message\/rfc822\nContent-Transfer-Encoding: 8bit\n\nFrom: a@example.org\n/);
  assert.ok(Buffer.from(out!, 'latin1').includes(eight), 'the original comes back byte for byte');
  const parsed = parseWithPython(out!);
  assert.deepEqual(parsed.parts, ['text/plain', 'message/delivery-status', 'message/rfc822']);

  const seven: NoticeInput = { envelope: envelope(), event: { kind: 'failure' }, outcomes: [bobFailed] };
  const [plain] = await render(seven);
  assert.doesNotMatch(plain!, /Content-Transfer-Encoding/);

  const binary = 'From: a@example.org\nContent-Transfer-Encoding: Binary\n\nxx\n';
  const [bin] = await render({ ...seven, has8bit: true }, settings, binary);
  assert.match(bin!, /\tboundary="[^"]+"\nContent-Transfer-Encoding: Binary\n/);
  assert.match(bin!, /\nContent-Type: message\/rfc822\nContent-Transfer-Encoding: Binary\n/);
});

test('a body line that starts with the report\'s boundary is shifted, even across chunk edges', async () => {
  const original = `Subject: trap\n\nline\n--${BOUNDARY}\n--${BOUNDARY}--\nno newline at end`;
  for (const size of [1, 3, 17, 4096]) {
    const made = await makeNotices({ envelope: envelope(), event: { kind: 'failure' }, outcomes: [bobFailed] }, settings, {
      assignId: async () => DSN_ID,
      now: NOW,
      original: () => chunks(original, size),
    });
    const out = await text(made[0]!.content);
    assert.ok(out.includes(`\nline\n --${BOUNDARY}\n --${BOUNDARY}--\nno newline at end\n\n--${BOUNDARY}--\n\n`), `chunk size ${size}`);
    assert.equal(out.split(`\n--${BOUNDARY}--\n`).length, 2, 'one closing boundary');
    assert.deepEqual(parseWithPython(out).parts, ['text/plain', 'message/delivery-status', 'message/rfc822']);
  }
});

test('SendMimeErrors=False makes a plain-text report, as sendmail does', async () => {
  const input: NoticeInput = { envelope: envelope({ ret: 'hdrs' }), event: { kind: 'failure' }, outcomes: [bobFailed], transcript };
  const [out] = await render(input, { ...settings, sendMimeErrors: false });
  assert.doesNotMatch(out!, /MIME-Version|Content-Type|delivery-status/);
  const tail = ['   ----- Transcript of session follows -----', ...transcript, '', '   ----- Message header follows -----', '', ...ORIGINAL.slice(0, ORIGINAL.indexOf('\n\n')).split('\n'), '', '   ----- Message body suppressed -----', ''].join('\n') + '\n';
  assert.ok(out!.endsWith(tail), out);
});

test('sendmail.cf H lines and macros shape the report\'s own header', async () => {
  const input: NoticeInput = { envelope: envelope(), event: { kind: 'failure' }, outcomes: [bobFailed] };
  const s: NoticeSettings = {
    ...settings,
    macros: new Map([['n', 'MAILER-DAEMON'], ['Z', '8.17.1.9']]),
    version: '0.1.0',
    headerDefs: [
      { name: 'Return-Path', value: '<$g>', mailerFlags: 'P', macroCondition: null, line: 1 },
      { name: 'Received', value: '$?sfrom $s $.by $j ($v/$Z) id $i; $b', mailerFlags: null, macroCondition: null, line: 2 },
      { name: 'Date', value: '$a', mailerFlags: 'D', macroCondition: null, line: 3 },
      { name: 'From', value: '$?x$x <$g>$|$g$.', mailerFlags: 'F', macroCondition: null, line: 4 },
      { name: 'Full-Name', value: '$x', mailerFlags: 'x', macroCondition: null, line: 5 },
      { name: 'Message-Id', value: '<$t.$i@$j>', mailerFlags: 'M', macroCondition: null, line: 6 },
    ],
  };
  const made = buildNotice(input, planNotices(input, s)[0]!, s, { id: DSN_ID, now: NOW }, () => chunks(ORIGINAL));
  const out = await text(made.content);
  const head = out.slice(0, out.indexOf('\n\n'));
  assert.deepEqual(head.split('\n').slice(0, 5), [
    `Received: from localhost by ${HOST} (0.1.0/0.1.0) id ${DSN_ID}; Sun, 22 Nov 2026 06:00:00 GMT`,
    'Date: Sun, 22 Nov 2026 06:00:00 GMT',
    `From: Mail Delivery Subsystem <MAILER-DAEMON@${HOST}>`,
    `Message-Id: <202611220600.${DSN_ID}@${HOST}>`,
    'To: <alice@example.org>',
  ]);
  assert.equal(made.envelope.messageId, `<202611220600.${DSN_ID}@${HOST}>`);
});

test('Final-Recipient qualifies local names with $j; X-Actual-Recipient shows an alias target', async () => {
  const env = envelope({ recipients: [{ address: 'bob', state: 'bounced' }] });
  const input: NoticeInput = {
    envelope: env,
    event: { kind: 'failure' },
    outcomes: [{ index: 0, action: 'failed', status: '5.1.1', diagnostic: '67', diagnosticType: 'X-Unix', actualRecipient: 'rfc822; robert@mx.example.test', expandedFrom: '<bob@mx.example.test>' }],
  };
  const [out] = await render(input);
  assert.match(out!, /\n<bob>\n {4}\(reason: User unknown\)\n {4}\(expanded from: <bob@mx\.example\.test>\)\n/);
  assert.match(out!, /\nFinal-Recipient: rfc822; bob@mx\.example\.test\nX-Actual-Recipient: rfc822; robert@mx\.example\.test\nAction: failed\n/);
  assert.match(out!, /\nDiagnostic-Code: X-Unix; 67\n/);
  const [quiet] = await render(input, { ...settings, noActualRecipient: true });
  assert.doesNotMatch(quiet!, /X-Actual-Recipient/);
});

test('a report goes into the real queue: read from the stored original, stored with its id and mark', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-dsn-'));
  const q = await openQueue({ dir });
  try {
    const { id, size, ...rest } = envelope();
    void id;
    void size;
    const stored = await q.accept(rest, chunks(ORIGINAL, 5));
    const original = q.read(stored.id)!;
    const [made] = await makeNotices({ envelope: original, event: { kind: 'failure' }, outcomes: [bobFailed] }, settings, {
      assignId: () => q.assignId(),
      now: NOW,
      original: () => q.openContent(stored.id),
    });
    const saved = await q.accept(made!.envelope, made!.content, { id: made!.id });
    assert.equal(saved.id, made!.id);
    const back = q.read(saved.id) as QueuedEnvelope;
    assert.equal(back.notice, 'sender', 'the mark survives the queue');
    assert.equal(back.sender, '');
    assert.deepEqual(back.recipients.map((r) => r.address), ['alice@example.org']);
    const content = await text(q.openContent(saved.id));
    assert.match(content, new RegExp(`^Received: from localhost \\(localhost\\)\n\tby ${HOST.replace(/\./g, '\\.')} .* id ${saved.id};`));
    assert.ok(content.includes(`boundary="${saved.id}.${NOW / 1000}/${HOST}"`));
    assert.ok(content.includes(`\nContent-Type: message/rfc822\n\n${ORIGINAL}\n--${saved.id}.`));
  } finally {
    await q.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
