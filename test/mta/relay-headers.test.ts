/**
 * The header addresses of a local submission as sendmail's MTA gets them
 * from its MSP: bare user names in sender and recipient headers qualified
 * with $j, everything else untouched.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { qualifyHeaderAddresses } from '../../src/mta/relay-headers.js';

test('bare user names in address headers get @$j; qualified addresses, groups and other headers stay', () => {
  const block = [
    'Received: (from alice@localhost)\n\tby mx.example.test (Postern/Submit) id X;\n',
    'From: Alice Liddell <alice>\n',
    'To: bob, carol@example.org,\n\tdave (Dave Dee)\n',
    'Cc: Friends: erin, frank;\n',
    'Reply-To: "Smith, J" <js>\n',
    'Subject: to bob\n',
    'Sender: root@mx.example.test\n',
    '\n',
  ].join('');
  assert.equal(
    qualifyHeaderAddresses(block, 'mx.example.test'),
    [
      'Received: (from alice@localhost)\n\tby mx.example.test (Postern/Submit) id X;\n',
      'From: Alice Liddell <alice@mx.example.test>\n',
      'To: bob@mx.example.test, carol@example.org, dave@mx.example.test (Dave Dee)\n',
      'Cc: Friends: erin, frank;\n',
      'Reply-To: "Smith, J" <js@mx.example.test>\n',
      'Subject: to bob\n',
      'Sender: root@mx.example.test\n',
      '\n',
    ].join(''),
  );
});

test('this host as localhost, localhost.$m, localhost.UUCP or [127.0.0.1] becomes $j, as the real sendmail 8.17 relayed them', () => {
  const block = 'From: alice@localhost\nTo: bob@localhost, Bob@LocalHost.example.test\nCc: <carol@localhost>, dave@localhost.uucp\nReply-To: alice@[127.0.0.1]\nBcc: erin@localhost.example.org\n';
  assert.equal(
    qualifyHeaderAddresses(block, 'mx.example.test'),
    'From: alice@mx.example.test\nTo: bob@mx.example.test, Bob@mx.example.test\nCc: <carol@mx.example.test>, dave@mx.example.test\nReply-To: alice@mx.example.test\nBcc: erin@localhost.example.org\n',
  );
});

test('a header without a bare name keeps its exact form (folding included)', () => {
  const block = 'To: a@x.y,\n  b@x.y\nFrom: <>\n';
  assert.equal(qualifyHeaderAddresses(block, 'mx.example.test'), block);
});
