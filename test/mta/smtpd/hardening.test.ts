/**
 * Protocol hardening, with a raw socket that sends exactly the bytes an
 * attacker would: transaction stuffing before the EHLO and DATA replies,
 * bare line ends in the message text (SMTP smuggling), over-long command
 * lines, the 26th bad command, pre-greeting traffic under GreetPause,
 * oversized messages and headers, a full queue; and the durability rule:
 * no 250 before the queue has the message.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { ERR, PosternError } from '../../../src/common/errors.js';
import type { QueueSink } from '../../../src/mta/smtpd/index.js';
import { RawClient, startSmtpd, type Harness, type HarnessOptions } from './harness.js';

async function withServer(options: HarnessOptions, body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startSmtpd(options);
  try {
    await body(h);
  } finally {
    await h.stop();
  }
}

async function greeted(h: Harness): Promise<RawClient> {
  const c = await RawClient.connect(h.port);
  await c.reply();
  return c;
}

async function inTransaction(h: Harness): Promise<RawClient> {
  const c = await greeted(h);
  await c.command('EHLO client.example.test');
  assert.match(await c.command('MAIL FROM:<alice@client.example.test>'), /^250 /);
  assert.match(await c.command('RCPT TO:<bob@mx.example.test>'), /^250 /);
  return c;
}

const codes = (line: string) => line.split(' ').slice(0, 2).join(' ');

test('commands sent before the EHLO reply: 554 5.5.0, then 550 5.0.0 Command rejected for every command', async () => {
  await withServer({}, async (h) => {
    const c = await greeted(h);
    c.write('EHLO client.example.test\r\nMAIL FROM:<evil@example.test>\r\n');
    assert.deepEqual(await c.reply(), ['554 5.5.0 SMTP protocol error']);
    assert.deepEqual(await c.reply(), ['550 5.0.0 Command rejected']);
    assert.equal(await c.command('RCPT TO:<bob@mx.example.test>'), '550 5.0.0 Command rejected');
    assert.equal(await c.command('DATA'), '550 5.0.0 Command rejected');
    assert.equal(await c.command('NOOP'), '250 2.0.0 OK');
    // EHLO is still answered, with nothing offered but enhanced status codes
    c.write('EHLO client.example.test\r\n');
    assert.deepEqual(await c.reply(), ['250-mx.example.test Hello client.example.test [127.0.0.1], pleased to meet you', '250 ENHANCEDSTATUSCODES']);
    assert.equal(await c.command('QUIT'), '221 2.0.0 mx.example.test closing connection');
    assert.equal((await h.stored()).length, 0);
    assert.ok(h.sink.messages().includes('NOQUEUE: rejecting server EHLO from client.example.test [127.0.0.1] due to traffic before response'), h.sink.messages().join('\n'));
  });
});

test('pipelining after the EHLO reply is fine (MAIL, RCPT, DATA in one write)', async () => {
  await withServer({}, async (h) => {
    const c = await greeted(h);
    await c.command('EHLO client.example.test');
    c.write('MAIL FROM:<alice@client.example.test>\r\nRCPT TO:<bob@mx.example.test>\r\nRCPT TO:<alice@mx.example.test>\r\nDATA\r\n');
    assert.equal(codes((await c.reply())[0]!), '250 2.1.0');
    assert.equal(codes((await c.reply())[0]!), '250 2.1.5');
    assert.equal(codes((await c.reply())[0]!), '250 2.1.5');
    assert.equal((await c.reply())[0], '354 End data with <CR><LF>.<CR><LF>');
    c.write('Subject: piped\r\n\r\nbody\r\n.\r\nQUIT\r\n');
    assert.match((await c.reply())[0]!, /^250 2\.0\.0 \w+ Message accepted for delivery$/);
    assert.equal((await c.reply())[0], '221 2.0.0 mx.example.test closing connection');
    assert.equal((await h.stored()).length, 1);
  });
});

test('message text sent before the DATA reply: 554 5.5.0 and the session ends; nothing is queued', async () => {
  await withServer({}, async (h) => {
    const c = await inTransaction(h);
    c.write('DATA\r\nSubject: stuffed\r\n\r\nx\r\n.\r\n');
    assert.deepEqual(await c.reply(), ['554 5.5.0 SMTP protocol error']);
    assert.ok(await c.closedByServer());
    assert.equal(c.unread(), '');
    assert.equal((await h.stored()).length, 0);
  });
});

for (const [what, text, problem, where] of [
  ['a bare LF in the body', 'Subject: x\r\n\r\nline\nMAIL FROM:<evil@example.test>\r\n.\r\n', 'Bare linefeed (LF) not allowed', 'body'],
  ['a bare LF in the header', 'Subject: x\nFrom: y\r\n\r\nbody\r\n.\r\n', 'Bare linefeed (LF) not allowed', 'header'],
  ['the smuggling sequence <LF>.<CR><LF>', 'Subject: x\r\n\r\nfirst\n.\r\nMAIL FROM:<evil@example.test>\r\n.\r\n', 'Bare linefeed (LF) not allowed', 'body'],
  ['a bare CR', 'Subject: x\r\n\r\nline\rmore\r\n.\r\n', 'Bare carriage return (CR) not allowed', 'body'],
] as const) {
  test(`${what}: 421 4.5.0, the session ends, nothing is queued`, async () => {
    await withServer({}, async (h) => {
      const c = await inTransaction(h);
      assert.equal(await c.command('DATA'), '354 End data with <CR><LF>.<CR><LF>');
      c.write(text);
      assert.deepEqual(await c.reply(), [`421 4.5.0 ${problem}`]);
      assert.ok(await c.closedByServer());
      assert.equal((await h.stored()).length, 0);
      const logged = h.sink.messages().find((m) => m.includes('collect: '));
      assert.match(logged ?? '', new RegExp(`^\\w+: collect: relay=client\\.example\\.test, from=<alice@client\\.example\\.test>, info=${problem.replace(/[()]/g, '\\$&')}, where=${where}, status=tempfail$`));
    });
  });
}

test('a bare LF on a command line is taken as its end', async () => {
  await withServer({}, async (h) => {
    const c = await greeted(h);
    c.write('EHLO client.example.test\n');
    assert.match((await c.reply())[0]!, /^250-mx\.example\.test Hello /);
    assert.equal(await c.command('NOOP'), '250 2.0.0 OK');
  });
});

test('an over-long command line: 421 4.7.0 Command too long, logged with its length', async () => {
  await withServer({}, async (h) => {
    const c = await greeted(h);
    c.write(`NOOP ${'x'.repeat(3595)}\r\n`);
    assert.deepEqual(await c.reply(), ['421 4.7.0 mx.example.test Command too long, possible attack client.example.test [127.0.0.1]']);
    assert.ok(await c.closedByServer());
    assert.ok(h.sink.messages().includes('NOQUEUE: client.example.test [127.0.0.1]: SMTP violation, input too long: 3602'), h.sink.messages().join('\n'));
  });
  await withServer({}, async (h) => {
    // 2048 bytes with the CRLF is the longest line taken
    const c = await greeted(h);
    assert.equal(await c.command(`NOOP ${'x'.repeat(2041)}`), '250 2.0.0 OK');
    c.write(`NOOP ${'x'.repeat(2042)}\r\n`);
    assert.equal(codes((await c.reply())[0]!), '421 4.7.0');
  });
});

test('the 26th bad command: 421 4.7.0 Too many bad commands', async () => {
  await withServer({}, async (h) => {
    const c = await greeted(h);
    for (let i = 1; i <= 25; i++) assert.equal(await c.command(`BOGUS${i}`), `500 5.5.1 Command unrecognized: "BOGUS${i}"`);
    assert.equal(await c.command('BOGUS26'), '421 4.7.0 mx.example.test Too many bad commands; closing connection');
    assert.ok(await c.closedByServer());
  });
});

test('GreetPause: a client that talks first gets 554 and Command rejected', async () => {
  await withServer({ deps: { greetPause: 300 } }, async (h) => {
    const c = await RawClient.connect(h.port);
    c.write('EHLO client.example.test\r\n');
    assert.deepEqual(await c.reply(), ['554 mx.example.test ESMTP not accepting messages']);
    assert.match((await c.reply())[0]!, /^250-mx\.example\.test Hello /);
    assert.equal(await c.command('MAIL FROM:<a@b.test>'), '550 5.0.0 Command rejected');
    assert.ok(h.sink.messages().some((m) => m.startsWith('NOQUEUE: rejecting commands from client.example.test [127.0.0.1] due to pre-greeting traffic after')));
    // a patient client is greeted normally
    const patient = await RawClient.connect(h.port);
    assert.match((await patient.reply())[0]!, /^220 mx\.example\.test ESMTP /);
    patient.end();
    c.end();
  });
});

test('an HTTP request as the first command: 421, open proxy logged', async () => {
  await withServer({}, async (h) => {
    const c = await greeted(h);
    c.write('GET / HTTP/1.0\r\n');
    assert.deepEqual(await c.reply(), ['421 4.7.0 mx.example.test Rejecting open proxy client.example.test [127.0.0.1]']);
    assert.ok(await c.closedByServer());
  });
});

test('a message over MaxMessageSize: read to its end, 552 5.2.3, nothing queued, the session goes on', async () => {
  await withServer({ configure: (cf) => (cf.options.MaxMessageSize = 1000) }, async (h) => {
    const c = await inTransaction(h);
    assert.equal(await c.command('DATA'), '354 End data with <CR><LF>.<CR><LF>');
    c.write(`Subject: big\r\n\r\n${'0123456789012345678901234567890123456789\r\n'.repeat(100)}.\r\n`);
    assert.deepEqual(await c.reply(), ['552 5.2.3 Message exceeds maximum fixed size (1000)']);
    assert.equal((await h.stored()).length, 0);
    assert.equal(await c.command('MAIL FROM:<alice@client.example.test>'), '250 2.1.0 <alice@client.example.test>... Sender ok');
    assert.equal(codes(await c.command('RCPT TO:<bob>')), '250 2.1.5');
    assert.match(await c.command('DATA'), /^354 /);
    c.write('Subject: small\r\n\r\nok\r\n.\r\n');
    assert.match((await c.reply())[0]!, /^250 2\.0\.0 /);
    assert.equal((await h.stored()).length, 1);
  });
});

test('a header block over MaxHeadersLength: 552 5.6.0, nothing queued', async () => {
  await withServer({ configure: (cf) => (cf.options.MaxHeadersLength = 512) }, async (h) => {
    const c = await inTransaction(h);
    assert.match(await c.command('DATA'), /^354 /);
    c.write(`${'X-Filler: 0123456789012345678901234567890123456789\r\n'.repeat(20)}\r\nbody\r\n.\r\n`);
    assert.deepEqual(await c.reply(), ['552 5.6.0 Headers too large (512 max)']);
    assert.equal((await h.stored()).length, 0);
    assert.equal(await c.command('RSET'), '250 2.0.0 Reset state');
  });
});

test('a full queue: 452 4.3.1 Insufficient disk space, nothing kept, the session goes on', async () => {
  let calls = 0;
  const full: QueueSink = {
    assignId: async () => `FULL${++calls}`,
    accept: async (_envelope, content) => {
      // the queue takes a little, then the disk is full
      for await (const _ of content) break;
      throw new PosternError(ERR.OS_NO_SPACE, 'cannot write df/x: ENOSPC');
    },
  };
  await withServer({ queue: full }, async (h) => {
    const c = await inTransaction(h);
    assert.match(await c.command('DATA'), /^354 /);
    c.write(`Subject: x\r\n\r\n${'line of text\r\n'.repeat(5000)}.\r\n`);
    assert.deepEqual(await c.reply(), ['452 4.3.1 Insufficient disk space; try again later']);
    assert.equal(await c.command('NOOP'), '250 2.0.0 OK');
    assert.equal((await h.stored()).length, 0);
    assert.ok(!h.sink.messages().some((m) => m.includes('from=<alice')), 'no from= line for a message not accepted');
  });
});

test('250 only once the queue has the message on disk', async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  let stored = '';
  const slow: QueueSink = {
    assignId: async () => 'SLOW00000001',
    accept: async (_envelope, content) => {
      for await (const c of content) stored += c.toString('latin1');
      await gate; // the fsync that has not returned yet
    },
  };
  await withServer({ queue: slow }, async (h) => {
    const c = await inTransaction(h);
    assert.match(await c.command('DATA'), /^354 /);
    c.write('Subject: wait\r\n\r\nbody\r\n.\r\n');
    await assert.rejects(c.reply(500), /no reply in time/);
    assert.match(stored, /\nSubject: wait\n\nbody\n$/);
    release();
    assert.deepEqual(await c.reply(), ['250 2.0.0 SLOW00000001 Message accepted for delivery']);
  });
});

test('the client going away in the middle of the text: nothing is queued', async () => {
  await withServer({}, async (h) => {
    const c = await inTransaction(h);
    assert.match(await c.command('DATA'), /^354 /);
    c.write('Subject: cut\r\n\r\nhalf a mess');
    await new Promise((r) => setTimeout(r, 100));
    c.end();
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await h.stored()).length, 0);
    assert.ok(h.sink.messages().some((m) => m.endsWith('collect: relay=client.example.test, from=<alice@client.example.test>, info=unexpected close')), h.sink.messages().join('\n'));
  });
});
