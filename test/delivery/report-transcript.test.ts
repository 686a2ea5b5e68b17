/**
 * The transcript a delivery leaves for a report, from recorded dialogues:
 * which exchanges are shown and in what words (sendmail 8.17's reply() and
 * giveresponse()), and the lines for recipients no reply spoke for.  The
 * dialogues are SmtpSession's `>>> ` / `<<< ` lines as nodemailer writes
 * them with PIPELINING; the same lines against real peers are checked by
 * test/queue/remote-reports.test.ts, relay-postern.test.ts and
 * lmtp-delivery.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERR } from '../../src/common/errors.js';
import { failed, type DeliveryStatus } from '../../src/delivery/mailbox/status.js';
import { connectionFailure, failureFromReply, parseReply, sentFromReply } from '../../src/delivery/remote/replies.js';
import { deliveryTranscript, errorMailerLine, outcomeLine, type TranscriptRecipient } from '../../src/delivery/remote/report-transcript.js';
import { authParameter } from '../../src/delivery/remote/transaction.js';
import type { SmtpSession } from '../../src/delivery/remote/smtp-session.js';
import type { RemoteRequest } from '../../src/delivery/remote/types.js';

const sent = sentFromReply('250 2.0.0 Ok: queued as 1234');
const rcpt = (reply: string) => failureFromReply(parseReply(reply)!, 'rcpt');
const at = (phase: 'mail' | 'data' | 'eom', reply: string) => failureFromReply(parseReply(reply)!, phase);
const r = (address: string, status: DeliveryStatus, display = `<${address}>`): TranscriptRecipient => ({ address, display, status });

const OPENING = ['<<< 220 mx.example.net ESMTP', '>>> EHLO mx.example.test', '<<< 250-mx.example.net', '<<< 250-PIPELINING', '<<< 250 DSN'];

test('a refused RCPT: the RCPT, its reply, and what became of the recipient; a delivered one says nothing', () => {
  const lines = [
    ...OPENING,
    '>>> MAIL FROM:<alice@mx.example.test> SIZE=12',
    '>>> RCPT TO:<nobody@example.net>',
    '>>> RCPT TO:<bob@example.net>',
    '>>> DATA',
    '<<< 250 2.1.0 Ok',
    '<<< 550 5.1.1 <nobody@example.net>... User unknown',
    '<<< 250 2.1.5 Ok',
    '<<< 354 End data with <CR><LF>.<CR><LF>',
    '<<< 250 2.0.0 Ok: queued as 1234',
  ];
  const out = deliveryTranscript([{ host: 'mx.example.net.', lines }], [r('nobody@example.net', rcpt('550 5.1.1 <nobody@example.net>... User unknown')), r('bob@example.net', sent)]);
  assert.deepEqual(out, [
    '... while talking to mx.example.net.:',
    '>>> RCPT TO:<nobody@example.net>',
    '<<< 550 5.1.1 <nobody@example.net>... User unknown',
    '550 5.1.1 <nobody@example.net>... User unknown',
  ]);
});

test('every RCPT refused: each in turn, then DATA\'s refusal; a 5xx other than 550/551/553 is "Service unavailable" without the address', () => {
  const lines = [
    ...OPENING,
    '>>> MAIL FROM:<alice@mx.example.test>',
    '>>> RCPT TO:<a@example.net>',
    '>>> RCPT TO:<b@example.net>',
    '>>> DATA',
    '<<< 250 2.1.0 Ok',
    '<<< 500 5.3.0 Error: command failed',
    '<<< 450 4.3.0 Error: command failed',
    '<<< 503 5.5.1 Error: need RCPT command',
  ];
  const out = deliveryTranscript([{ host: '[127.0.0.13]', lines }], [r('a@example.net', rcpt('500 5.3.0 Error: command failed')), r('b@example.net', rcpt('450 4.3.0 Error: command failed'))]);
  assert.deepEqual(out, [
    '... while talking to [127.0.0.13]:',
    '>>> RCPT TO:<a@example.net>',
    '<<< 500 5.3.0 Error: command failed',
    '554 5.0.0 Service unavailable',
    '>>> RCPT TO:<b@example.net>',
    '<<< 450 4.3.0 Error: command failed',
    '<b@example.net>... Deferred: 450 4.3.0 Error: command failed',
    '>>> DATA',
    '<<< 503 5.5.1 Error: need RCPT command',
  ]);
});

test('the end of the message refused: its reply answers DATA, and one line speaks for everyone who got that far', () => {
  const lines = [...OPENING, '>>> MAIL FROM:<alice@mx.example.test>', '>>> RCPT TO:<a@example.net>', '>>> RCPT TO:<b@example.net>', '>>> DATA', '<<< 250 Ok', '<<< 250 Ok', '<<< 250 Ok', '<<< 354 go ahead', '<<< 554-5.7.1 Message rejected', '<<< 554 5.7.1 as spam'];
  const status = at('eom', '554 5.7.1 as spam');
  assert.deepEqual(deliveryTranscript([{ host: 'mx.example.net.', lines }], [r('a@example.net', status), r('b@example.net', status)]), [
    '... while talking to mx.example.net.:',
    '>>> DATA',
    '<<< 554-5.7.1 Message rejected',
    '<<< 554 5.7.1 as spam',
    '554 5.0.0 Service unavailable',
  ]);
  // a temporary refusal names them all, as sendmail's e_to list
  const later = at('eom', '451 4.3.0 try later');
  const tempLines = [...lines.slice(0, -2), '<<< 451 4.3.0 try later'];
  assert.deepEqual(deliveryTranscript([{ host: 'mx.example.net.', lines: tempLines }], [r('a@example.net', later), r('b@example.net', later)]).slice(-1), [
    '<a@example.net>,<b@example.net>... Deferred: 451 4.3.0 try later',
  ]);
});

test('a refused MAIL: its reply, not the echoes of the RCPT and DATA pipelined behind it', () => {
  const lines = [
    ...OPENING,
    '>>> MAIL FROM:<alice@mx.example.test> SIZE=99',
    '>>> RCPT TO:<dave@example.net>',
    '>>> DATA',
    '<<< 530 5.7.0 Authentication required',
    '<<< 503 5.0.0 Need MAIL before RCPT',
    '<<< 503 5.0.0 Need MAIL command',
  ];
  assert.deepEqual(deliveryTranscript([{ host: 'mx-bad.example.net.', lines }], [r('dave@example.net', at('mail', '530 5.7.0 Authentication required'))]), [
    '... while talking to mx-bad.example.net.:',
    '>>> MAIL FROM:<alice@mx.example.test> SIZE=99',
    '<<< 530 5.7.0 Authentication required',
    '554 5.0.0 Service unavailable',
  ]);
});

test('the greeting, EHLO, STARTTLS and AUTH: a 421 greeting has no command; a 5xx to EHLO is no error; AUTH lines never shown', () => {
  const busy = deliveryTranscript([{ host: 'mx1.example.net.', lines: ['<<< 421 4.3.2 Too busy'] }, { host: 'mx2.example.net.', lines: [...OPENING, '>>> MAIL FROM:<a@x>', '>>> RCPT TO:<b@example.net>', '>>> DATA', '<<< 250 Ok', '<<< 250 Ok', '<<< 354 go', '<<< 250 Ok'] }], [r('b@example.net', sent)]);
  assert.deepEqual(busy, ['... while talking to mx1.example.net.:', '<<< 421 4.3.2 Too busy']);
  const ehlo = ['<<< 220 old ESMTP', '>>> EHLO mx.example.test', '<<< 502 5.5.1 EHLO not implemented', '>>> HELO mx.example.test', '<<< 250 old'];
  assert.deepEqual(deliveryTranscript([{ host: 'old.example.net.', lines: ehlo }], []), []);
  const auth = [...OPENING, '>>> STARTTLS', '<<< 454 4.7.0 TLS not available', '>>> AUTH LOGIN', '<<< 334 VXNlcm5hbWU6', '>>> /* secret */', '<<< 334 UGFzc3dvcmQ6', '>>> /* secret */', '<<< 535 5.7.8 Authentication failed'];
  assert.deepEqual(deliveryTranscript([{ host: 'mx.example.net.', lines: auth }], []), [
    '... while talking to mx.example.net.:',
    '>>> STARTTLS dialogue',
    '<<< 454 4.7.0 TLS not available',
    '>>> AUTH dialogue',
    '<<< 535 5.7.8 Authentication failed',
  ]);
});

test('LMTP: a reply per accepted recipient after the message, each that recipient\'s own', () => {
  const lines = [
    '<<< 220 dovecot ready.',
    '>>> LHLO mx.example.test',
    '<<< 250-dovecot',
    '<<< 250 PIPELINING',
    '>>> MAIL FROM:<alice@mx.example.test>',
    '>>> RCPT TO:<bob>',
    '>>> RCPT TO:<carol>',
    '>>> RCPT TO:<dave>',
    '>>> RCPT TO:<erin>',
    '>>> DATA',
    '<<< 250 2.1.0 Sender ok',
    '<<< 250 2.1.5 OK',
    "<<< 550 5.1.1 <carol> User doesn't exist: carol",
    '<<< 250 2.1.5 OK',
    '<<< 250 2.1.5 OK',
    '<<< 354 OK',
    '<<< 250 2.0.0 <bob> Saved',
    '<<< 552 5.2.2 <dave> Quota exceeded (mailbox for user is full)',
    '<<< 452 4.2.2 <erin> Quota exceeded (mailbox for user is full)',
  ];
  const dave = { ...failureFromReply(parseReply('552 5.2.2 <dave> Quota exceeded (mailbox for user is full)')!, 'eom'), text: 'Service unavailable (<dave> Quota exceeded (mailbox for user is full))' };
  const out = deliveryTranscript(
    [{ host: 'localhost', lines, lmtp: true }],
    [
      r('bob', sent, 'bob'),
      r('carol', rcpt("550 5.1.1 <carol> User doesn't exist: carol"), 'carol'),
      r('dave', dave, 'dave'),
      r('erin', at('eom', '452 4.2.2 <erin> Quota exceeded (mailbox for user is full)'), 'erin'),
    ],
  );
  assert.deepEqual(out, [
    '... while talking to localhost:',
    '>>> RCPT TO:<carol>',
    "<<< 550 5.1.1 <carol> User doesn't exist: carol",
    '550 5.1.1 carol... User unknown',
    '>>> DATA',
    '<<< 552 5.2.2 <dave> Quota exceeded (mailbox for user is full)',
    '554 5.0.0 Service unavailable (<dave> Quota exceeded (mailbox for user is full))',
    '<<< 452 4.2.2 <erin> Quota exceeded (mailbox for user is full)',
    'erin... Deferred: 452 4.2.2 <erin> Quota exceeded (mailbox for user is full)',
  ]);
});

test('no dialogue: the outcome alone, recipients with the same one together, as sendmail\'s e_to list', () => {
  const refused = connectionFailure(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), '[127.0.0.11]');
  assert.deepEqual(deliveryTranscript([], [r('a@x.test', refused), r('b@x.test', refused)]), ['<a@x.test>,<b@x.test>... Deferred: Connection refused by [127.0.0.11]']);
  assert.equal(outcomeLine(failed(ERR.REMOTE_HOST_UNKNOWN, 'Host unknown (Name server: nosuch.test.: host not found)'), '<a@nosuch.test>'), '550 5.1.2 <a@nosuch.test>... Host unknown (Name server: nosuch.test.: host not found)');
  assert.equal(outcomeLine(failed(ERR.REMOTE_MX_LOOP, 'Local configuration error'), '<a@loop.test>'), '554 5.3.5 Local configuration error');
  assert.equal(outcomeLine(sent, '<a@x.test>'), undefined);
  assert.equal(errorMailerLine('550 5.7.1 Mail to this domain is not accepted', '<a@blocked.test>'), '550 5.7.1 <a@blocked.test>... Mail to this domain is not accepted');
  assert.equal(errorMailerLine('554 5.7.1 go away', '<a@blocked.test>'), '554 5.7.1 go away');
});

test('AUTH= goes to a peer that offers AUTH; with AuthOptions=A only once this client has authenticated', () => {
  const session = (mechanisms: string[], authenticated: boolean) => ({ authMechanisms: () => mechanisms, authenticated }) as unknown as SmtpSession;
  const request = (auth?: string) => ({ ...(auth !== undefined ? { auth } : {}) }) as RemoteRequest;
  assert.equal(authParameter(session(['PLAIN'], false), request('alice+40x.test'), {}), 'alice+40x.test');
  assert.equal(authParameter(session(['PLAIN'], false), request('<>'), {}), '<>');
  assert.equal(authParameter(session([], false), request('alice'), {}), undefined, 'no AUTH offered');
  assert.equal(authParameter(session(['PLAIN'], false), request(), {}), undefined, 'none kept');
  assert.equal(authParameter(session(['PLAIN'], false), request('alice'), { authParamOnlyWhenAuthenticated: true }), undefined);
  assert.equal(authParameter(session(['PLAIN'], true), request('alice'), { authParamOnlyWhenAuthenticated: true }), 'alice');
});
