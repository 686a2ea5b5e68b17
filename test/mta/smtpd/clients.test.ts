/**
 * Real SMTP clients against the engine: Python's smtplib and swaks send
 * mail as programs in the field do; the queue then holds the message with
 * sendmail's Received line and the envelope the client gave.  A 50 MB
 * message goes through without the session holding it in memory.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { findProgram, PYTHON, run, startSmtpd } from './harness.js';

const SMTPLIB = `
import json, smtplib, sys
port = int(sys.argv[1])
out = {}
s = smtplib.SMTP('127.0.0.1', port, local_hostname='client.example.test')
code, banner = s.ehlo()
out['ehlo'] = [code, banner.decode()]
out['features'] = sorted(s.esmtp_features.keys())
msg = 'From: Alice <alice@client.example.test>\\r\\nTo: bob@mx.example.test\\r\\nSubject: via smtplib\\r\\nMessage-ID: <smtplib.1@client.example.test>\\r\\n\\r\\nfirst line\\r\\n.a line with a leading dot\\r\\n.\\r\\nlast\\r\\n'
try:
    s.sendmail('alice@client.example.test', ['bob@mx.example.test', 'nobody@mx.example.test'], msg, mail_options=['BODY=8BITMIME'], rcpt_options=['NOTIFY=FAILURE'])
except smtplib.SMTPRecipientsRefused as e:
    out['refused'] = 'all'
refused = s.sendmail('alice@client.example.test', ['bob@mx.example.test', 'nobody@mx.example.test'], msg)
out['refused'] = {k: [v[0], v[1].decode()] for k, v in refused.items()}
try:
    s.sendmail('alice@client.example.test', ['nobody@mx.example.test'], msg)
except smtplib.SMTPRecipientsRefused as e:
    out['all_refused'] = {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}
out['quit'] = s.quit()[0]
print(json.dumps(out))
`;

test('Python smtplib: EHLO features, a message with dot lines, partial and total refusals', async () => {
  const h = await startSmtpd();
  try {
    const r = await run(PYTHON, ['-c', SMTPLIB, String(h.port)]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      ehlo: [number, string];
      features: string[];
      refused: Record<string, [number, string]>;
      all_refused: Record<string, [number, string]>;
      quit: number;
    };
    assert.deepEqual(out.ehlo, [250, 'mx.example.test Hello client.example.test [127.0.0.1], pleased to meet you\nENHANCEDSTATUSCODES\nPIPELINING\nEXPN\nVERB\n8BITMIME\nSIZE\nDSN\nETRN\nDELIVERBY\nHELP']);
    assert.deepEqual(out.features, ['8bitmime', 'deliverby', 'dsn', 'enhancedstatuscodes', 'etrn', 'expn', 'help', 'pipelining', 'size', 'verb']);
    assert.deepEqual(out.refused, { 'nobody@mx.example.test': [550, '5.1.1 <nobody@mx.example.test>... User unknown'] });
    assert.deepEqual(out.all_refused, { 'nobody@mx.example.test': [550, '5.1.1 <nobody@mx.example.test>... User unknown'] });
    assert.equal(out.quit, 221);
    const stored = await h.stored();
    assert.equal(stored.length, 2);
    const [first, second] = stored;
    assert.equal(first!.envelope.bodyType, '8BITMIME');
    assert.deepEqual(first!.envelope.recipients, [{ address: 'bob@mx.example.test', state: 'pending', notify: { never: false, success: false, failure: true, delay: false } }]);
    assert.equal(second!.envelope.bodyType, undefined);
    for (const { envelope, text } of stored) {
      assert.equal(envelope.sender, 'alice@client.example.test');
      assert.equal(envelope.messageId, '<smtplib.1@client.example.test>');
      assert.equal(envelope.hopCount, 1);
      // sendmail's Received: one recipient, so "for <...>"; the message had Date? no: Date is added, From and Message-ID are kept
      assert.match(
        text,
        new RegExp(
          `^Received: from client\\.example\\.test \\(client\\.example\\.test \\[127\\.0\\.0\\.1\\]\\)\\n\\tby mx\\.example\\.test \\(0\\.1\\.0/8\\.17/Postern-1\\) with ESMTP id ${envelope.id}\\n\\tfor <bob@mx\\.example\\.test>; \\w{3}, .+\\nDate: .+\\nFrom: Alice <alice@client\\.example\\.test>\\nTo: bob@mx\\.example\\.test\\n`,
        ),
      );
      assert.ok(text.endsWith('\n\nfirst line\n.a line with a leading dot\n.\nlast\n'), JSON.stringify(text));
      assert.ok(!/\nFrom: alice@client/.test(text), 'the message has a From:, none is added');
      assert.ok(!/Message-Id: <\d+\./.test(text), 'the message has a Message-ID:, none is added');
    }
    const fromLines = h.sink.messages().filter((m) => m.includes(' from=<alice@client.example.test>'));
    assert.equal(fromLines.length, 2);
    assert.match(fromLines[0]!, /^\w+: from=<alice@client\.example\.test>, size=\d+, class=0, nrcpts=1, msgid=<smtplib\.1@client\.example\.test>, bodytype=8BITMIME, proto=ESMTP, daemon=MTA, relay=client\.example\.test \[127\.0\.0\.1\]$/);
  } finally {
    await h.stop();
  }
});

const swaks = findProgram('swaks');
test('swaks: a plain and a pipelined transaction, and a refused recipient', { skip: swaks === undefined ? 'swaks is not installed (apt-get install swaks)' : false }, async () => {
  const h = await startSmtpd();
  try {
    const common = ['--server', `127.0.0.1:${h.port}`, '--helo', 'client.example.test', '--from', 'alice@client.example.test', '--header', 'Subject: from swaks'];
    const plain = await run(swaks!, [...common, '--to', 'bob@mx.example.test', '--body', 'plain body']);
    assert.equal(plain.code, 0, plain.stdout + plain.stderr);
    assert.match(plain.stdout, /<- {2}250 2\.0\.0 \w+ Message accepted for delivery/);
    const piped = await run(swaks!, [...common, '--pipeline', '--to', 'bob@mx.example.test,alice@localhost', '--body', 'piped body']);
    assert.equal(piped.code, 0, piped.stdout + piped.stderr);
    assert.match(piped.stdout, /<- {2}250 2\.0\.0 \w+ Message accepted for delivery/);
    const refused = await run(swaks!, [...common, '--to', 'nobody@mx.example.test']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout, /<\*\* 550 5\.1\.1 <nobody@mx\.example\.test>\.\.\. User unknown/);
    const stored = await h.stored();
    assert.equal(stored.length, 2);
    assert.deepEqual(stored[1]!.envelope.recipients.map((r) => r.address), ['bob@mx.example.test', 'alice@localhost']);
    assert.match(stored[1]!.text, /\nSubject: from swaks\n(.|\n)*\n\npiped body\n/);
    // two recipients: no "for <...>" in Received
    assert.match(stored[1]!.text, /^Received: from client\.example\.test \(client\.example\.test \[127\.0\.0\.1\]\)\n\tby mx\.example\.test \(0\.1\.0\/8\.17\/Postern-1\) with ESMTP id \w+;\n\t/);
  } finally {
    await h.stop();
  }
});

const BIG = `
import smtplib, sys
port = int(sys.argv[1])
line = b'0123456789' * 9 + b'\\r\\n'
body = b'Subject: big\\r\\n\\r\\n' + line * (50 * 1024 * 1024 // len(line))
s = smtplib.SMTP('127.0.0.1', port, local_hostname='client.example.test')
s.sendmail('alice@client.example.test', ['bob@mx.example.test'], body)
s.quit()
`;

test('a 50 MB message is streamed to the queue, not held in memory', async () => {
  const h = await startSmtpd();
  try {
    // Buffers live outside the JS heap: arrayBuffers counts them, garbage not yet collected included
    const held = () => {
      const m = process.memoryUsage();
      return m.arrayBuffers + m.heapUsed;
    };
    const before = held();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, held())), 10);
    const r = await run(PYTHON, ['-c', BIG, String(h.port)]);
    clearInterval(sampler);
    assert.equal(r.code, 0, r.stderr);
    const [stored] = h.queue.list();
    assert.ok(stored !== undefined);
    assert.ok(stored.size > 50 * 1000 * 1000, String(stored.size));
    // the session holds its read buffer (256 KiB) and a chunk or two; 50 MB held whole would show
    assert.ok(peak - before < 32 * 1024 * 1024, `buffers and heap grew by ${Math.round((peak - before) / 1024 / 1024)} MB`);
  } finally {
    await h.stop();
  }
});
