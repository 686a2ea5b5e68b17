/**
 * The session's replies, over a real socket, word for word where sendmail
 * 8.17's wording is what is matched (reference section 9), by code and
 * enhanced status elsewhere.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { RawClient, startSmtpd, type Harness, type HarnessOptions } from './harness.js';

async function session(options: HarnessOptions, body: (c: RawClient, h: Harness) => Promise<void>): Promise<void> {
  const h = await startSmtpd(options);
  const c = await RawClient.connect(h.port);
  try {
    await c.reply();
    await body(c, h);
  } finally {
    c.end();
    await h.stop();
  }
}

/** code and enhanced status of a reply line */
const codes = (line: string) => line.split(' ').slice(0, 2).join(' ');

test('greeting: 220 $j ESMTP, then SmtpGreetingMessage with the RFC 822 date', async () => {
  const h = await startSmtpd({ deps: { now: () => new Date(Date.UTC(2026, 10, 22, 8, 44, 54)) } });
  const c = await RawClient.connect(h.port);
  try {
    const [line] = await c.reply();
    assert.match(line!, /^220 mx\.example\.test ESMTP Postern 0\.1\.0\/8\.17\/Postern-1; \w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d /);
  } finally {
    c.end();
    await h.stop();
  }
});

test('EHLO: Hello line and the keywords in sendmail order', async () => {
  await session({}, async (c) => {
    c.write('EHLO client.example.test\r\n');
    assert.deepEqual(await c.reply(), [
      '250-mx.example.test Hello client.example.test [127.0.0.1], pleased to meet you',
      '250-ENHANCEDSTATUSCODES',
      '250-PIPELINING',
      '250-EXPN',
      '250-VERB',
      '250-8BITMIME',
      '250-SIZE',
      '250-DSN',
      '250-ETRN',
      '250-DELIVERBY',
      '250 HELP',
    ]);
  });
});

test('EHLO: noexpn/noverb/noetrn/noreceipts, MaxMessageSize and DeliverByMin change the list', async () => {
  const configure: HarnessOptions['configure'] = (cf) => {
    for (const f of ['noexpn', 'noetrn', 'noreceipts'] as const) cf.options.PrivacyOptions.add(f);
    cf.options.MaxMessageSize = 200;
    cf.options.DeliverByMin = 30;
  };
  await session({ configure }, async (c) => {
    c.write('EHLO x\r\n');
    const lines = await c.reply();
    assert.deepEqual(lines.slice(1), ['250-ENHANCEDSTATUSCODES', '250-PIPELINING', '250-8BITMIME', '250-SIZE 200', '250-DELIVERBY 30', '250 HELP']);
  });
  await session({ configure: (cf) => cf.options.PrivacyOptions.add('noverb') }, async (c) => {
    c.write('EHLO x\r\n');
    const lines = await c.reply();
    assert.ok(lines.includes('250-EXPN') && !lines.includes('250-VERB'));
  });
});

test('the MSA (M=E) offers no ETRN and refuses it', async () => {
  await session({ daemon: 'MSA' }, async (c) => {
    c.write('EHLO x\r\n');
    assert.ok(!(await c.reply()).includes('250-ETRN'));
    assert.equal(await c.command('ETRN example.test'), '502 5.7.0 Sorry, we do not allow this operation');
  });
});

test('HELO: one line, and the argument checks', async () => {
  await session({}, async (c) => {
    assert.equal(await c.command('HELO'), '501 5.0.0 HELO requires domain address');
    assert.equal(await c.command('helo bad/name'), '501 5.0.0 Invalid domain name');
    assert.equal(await c.command('HELO two words'), '501 5.0.0 Invalid domain name');
    assert.equal(await c.command('HELO client.example.test'), '250 mx.example.test Hello client.example.test [127.0.0.1], pleased to meet you');
  });
});

test('MAIL, RCPT, DATA, RSET, NOOP, QUIT: the replies of a transaction', async () => {
  await session({}, async (c, h) => {
    await c.command('EHLO client.example.test');
    assert.equal(await c.command('RCPT TO:<bob@mx.example.test>'), '503 5.0.0 Need MAIL before RCPT');
    assert.equal(await c.command('DATA'), '503 5.0.0 Need MAIL command');
    assert.equal(await c.command('MAIL FROM:<alice@client.example.test>'), '250 2.1.0 <alice@client.example.test>... Sender ok');
    assert.equal(await c.command('MAIL FROM:<alice@client.example.test>'), '503 5.5.0 Sender already specified');
    assert.equal(await c.command('DATA'), '503 5.0.0 Need RCPT (recipient)');
    assert.equal(await c.command('RCPT TO:<Bob@mx.example.test>'), '250 2.1.5 <Bob@mx.example.test>... Recipient ok');
    // a repeated recipient answers with the first spelling and is kept once
    assert.equal(await c.command('RCPT TO:<bob@MX.example.test>'), '250 2.1.5 <Bob@mx.example.test>... Recipient ok');
    assert.equal(await c.command('RCPT TO:<nobody@mx.example.test>'), '550 5.1.1 <nobody@mx.example.test>... User unknown');
    assert.equal(await c.command('NOOP'), '250 2.0.0 OK');
    assert.equal(await c.command('DATA'), '354 End data with <CR><LF>.<CR><LF>');
    c.write('Subject: test\r\n\r\nline one\r\n..leading dot\r\n.\r\n');
    const [accepted] = await c.reply();
    const m = /^250 2\.0\.0 (\w+) Message accepted for delivery$/.exec(accepted!);
    assert.ok(m, accepted);
    assert.equal(await c.command('RSET'), '250 2.0.0 Reset state');
    assert.equal(await c.command('QUIT'), '221 2.0.0 mx.example.test closing connection');
    assert.ok(await c.closedByServer());
    const stored = await h.stored();
    assert.equal(stored.length, 1);
    const { envelope, text } = stored[0]!;
    assert.equal(envelope.id, m[1]);
    assert.equal(envelope.sender, 'alice@client.example.test');
    assert.deepEqual(envelope.recipients.map((r) => r.address), ['Bob@mx.example.test']);
    assert.equal(envelope.protocol, 'ESMTP');
    assert.equal(envelope.relay, 'client.example.test [127.0.0.1]');
    assert.match(text, /\nSubject: test\n\nline one\n\.leading dot\n$/);
    assert.ok(h.sink.messages().includes(`${m[1]}: <nobody@mx.example.test>... User unknown`), h.sink.messages().join('\n'));
  });
});

test('no HELO, a null sender, no Date or Message-Id: SMTP, the warning header, the headers added', async () => {
  await session({ deps: { now: () => new Date(Date.UTC(2026, 10, 22, 6, 0, 5)) } }, async (c, h) => {
    assert.equal(await c.command('MAIL FROM:<>'), '250 2.1.0 <>... Sender ok');
    assert.equal(await c.command('RCPT TO:<bob>'), '250 2.1.5 <bob>... Recipient ok');
    assert.equal(await c.command('DATA'), '354 End data with <CR><LF>.<CR><LF>');
    c.write('Subject: bounce\r\n\r\nbody\r\n.\r\n');
    const id = /^250 2\.0\.0 (\w+) /.exec((await c.reply())[0]!)![1]!;
    const stored = await h.stored();
    assert.equal(stored.length, 1);
    const { envelope, text } = stored[0]!;
    assert.equal(envelope.sender, '');
    assert.equal(envelope.protocol, 'SMTP');
    const msgid = `<202611220600.${id}@mx.example.test>`;
    assert.equal(envelope.messageId, msgid);
    const date = /^Date: (.*)$/m.exec(text)?.[1];
    assert.match(date ?? '', /^Sun, 22 Nov 2026 \d\d:00:05 /);
    assert.equal(
      text,
      `Received: from client.example.test (client.example.test [127.0.0.1])\n\tby mx.example.test (0.1.0/8.17/Postern-1) with SMTP id ${id}\n\tfor <bob>; ${date}\n` +
        `Date: ${date}\nFrom: MAILER-DAEMON\nMessage-Id: ${msgid}\n` +
        `X-Authentication-Warning: mx.example.test: client.example.test [127.0.0.1] didn't use HELO protocol\n` +
        'Subject: bounce\n\nbody\n',
    );
    assert.ok(h.sink.messages().includes(`${id}: from=<>, size=${Buffer.byteLength(text)}, class=0, nrcpts=1, msgid=${msgid}, proto=SMTP, daemon=MTA, relay=client.example.test [127.0.0.1]`), h.sink.messages().join('\n'));
  });
});

test('syntax errors, unknown parameters and commands', async () => {
  await session({}, async (c) => {
    await c.command('EHLO x');
    assert.equal(await c.command('MAIL FRM:<a@b.test>'), '501 5.5.2 Syntax error in parameters scanning "FRM"');
    assert.equal(await c.command('MAIL FROM:'), '501 5.5.2 Syntax error in parameters scanning "FROM"');
    assert.equal(await c.command('MAIL FROM:<a@b.test> FOO=bar'), '555 5.5.4 FOO parameter unrecognized');
    assert.equal(await c.command('MAIL FROM:<"bob>'), `553 5.0.0 <"bob>... Unbalanced '"'`);
    assert.equal(await c.command('MAIL FROM:<bob@>'), '553 5.1.3 <bob@>... Hostname required');
    assert.equal(codes(await c.command('MAIL FROM:<a@b.test> BODY=9BIT')), '501 5.5.4');
    assert.equal(await c.command('FOO bar'), '500 5.5.1 Command unrecognized: "FOO bar"');
    assert.equal(await c.command('TURN'), '502 5.5.1 Command not implemented: "TURN"');
    assert.equal(await c.command('STARTTLS'), '454 4.3.3 TLS not available after start');
    assert.equal(codes(await c.command('AUTH PLAIN')), '503 5.3.3');
    assert.equal(await c.command('MAIL FROM:<<a@b.test>>'), '250 2.1.0 <<a@b.test>>... Sender ok');
    assert.equal(codes(await c.command('RCPT TO:<bob> NOTIFY=SOMETIMES')), '501 5.5.4');
    assert.equal(codes(await c.command('RCPT TO:<bob> BAR=1')), '555 5.5.4');
    assert.equal(await c.command('RCPT TO:<>'), '553 5.0.0 <>... User address required');
    assert.equal(await c.command('RCPT TO:<bob> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@mx.example.test'), '250 2.1.5 <bob>... Recipient ok');
  });
});

test('SIZE over MaxMessageSize and too many recipients', async () => {
  const configure: HarnessOptions['configure'] = (cf) => {
    cf.options.MaxMessageSize = 200;
    cf.options.MaxRecipientsPerMessage = 2;
  };
  await session({ configure }, async (c) => {
    await c.command('EHLO x');
    assert.equal(await c.command('MAIL FROM:<a@b.test> SIZE=201'), '552 5.2.3 Message size exceeds fixed maximum message size (200)');
    assert.equal(codes(await c.command('MAIL FROM:<a@b.test> SIZE=200')), '250 2.1.0');
    assert.equal(codes(await c.command('RCPT TO:<bob>')), '250 2.1.5');
    assert.equal(codes(await c.command('RCPT TO:<alice>')), '250 2.1.5');
    assert.equal(await c.command('RCPT TO:<postmaster>'), '452 4.5.3 Too many recipients');
  });
});

test('PrivacyOptions: needmailhelo, needvrfyhelo, novrfy, noexpn, noverb', async () => {
  await session({ configure: (cf) => (cf.options.PrivacyOptions.add('needmailhelo'), cf.options.PrivacyOptions.add('needvrfyhelo')) }, async (c) => {
    assert.equal(await c.command('MAIL FROM:<a@b.test>'), '503 5.0.0 Polite people say HELO first');
    assert.equal(await c.command('VRFY bob'), '503 5.0.0 I demand that you introduce yourself first');
  });
  const goaway: HarnessOptions['configure'] = (cf) => {
    for (const f of ['novrfy', 'noexpn', 'noverb'] as const) cf.options.PrivacyOptions.add(f);
  };
  await session({ configure: goaway }, async (c, h) => {
    assert.equal(await c.command('VRFY bob'), '252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)');
    assert.equal(await c.command('EXPN bob'), '502 5.7.0 Sorry, we do not allow this operation');
    assert.equal(await c.command('VERB'), '502 5.7.0 Verbose unavailable');
    assert.ok(h.sink.messages().includes('NOQUEUE: client.example.test [127.0.0.1]: VRFY bob [rejected]'), h.sink.messages().join('\n'));
  });
});

test('VRFY and EXPN without PrivacyOptions: the user, or User unknown; VERB; ETRN', async () => {
  const etrns: string[] = [];
  await session({ deps: { etrn: (d) => etrns.push(d) } }, async (c) => {
    assert.equal(await c.command('VRFY bob'), '250 2.1.5 Bob Smith <bob@mx.example.test>');
    assert.equal(await c.command('VRFY alice@localhost'), '250 2.1.5 <alice@mx.example.test>');
    assert.equal(await c.command('VRFY nobody'), '550 5.1.1 nobody... User unknown');
    assert.equal(await c.command('VRFY someone@remote.test'), '252 2.1.5 <someone@remote.test>');
    assert.equal(await c.command('EXPN bob'), '250 2.1.5 Bob Smith <bob@mx.example.test>');
    assert.equal(await c.command('VRFY'), '501 5.5.2 Argument required');
    assert.equal(await c.command('VERB'), '250 2.0.0 Verbose mode');
    assert.equal(await c.command('ETRN'), '500 5.5.2 Parameter required');
    assert.equal(await c.command('ETRN example.test'), '250 2.0.0 Queuing for node example.test started');
    assert.deepEqual(etrns, ['example.test']);
  });
});

test('HELP comes from HelpFile; no help file: 502', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-help-'));
  const file = join(dir, 'helpfile');
  writeFileSync(file, '#vers\t2\nsmtp\tThis is $j\nsmtp\tTopics: HELO\nhelo\tHELO <hostname>\n');
  try {
    await session({ configure: (cf) => (cf.options.HelpFile = file) }, async (c) => {
      c.write('HELP\r\n');
      assert.deepEqual(await c.reply(), ['214-2.0.0 This is mx.example.test', '214-2.0.0 Topics: HELO', '214 2.0.0 End of HELP info']);
      c.write('HELP HELO\r\n');
      assert.deepEqual(await c.reply(), ['214-2.0.0 HELO <hostname>', '214 2.0.0 End of HELP info']);
      assert.equal(await c.command('HELP nosuch'), '504 5.3.0 HELP topic "nosuch" unknown');
    });
    await session({ configure: (cf) => (cf.options.HelpFile = join(dir, 'missing')) }, async (c) => {
      assert.equal(codes(await c.command('HELP')), '502 5.3.0');
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('M=a (authentication required): MAIL gets 530 5.7.0', async () => {
  await session({ configure: (cf) => (cf.options.DaemonPortOptions[1]!.Modifiers = 'Ea'), daemon: 'MSA' }, async (c) => {
    await c.command('EHLO x');
    assert.equal(await c.command('MAIL FROM:<a@b.test>'), '530 5.7.0 Authentication required');
  });
});

test('a session with no MAIL/EXPN/VRFY/ETRN logs so when it ends', async () => {
  await session({}, async (c, h) => {
    await c.command('EHLO x');
    await c.command('QUIT');
    await c.closedByServer();
    assert.ok(h.sink.messages().includes('NOQUEUE: client.example.test [127.0.0.1] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA'), h.sink.messages().join('\n'));
  });
});

test('the third HELO/EHLO and the 20th NOOP are logged as possible attacks, and slowed down', async () => {
  const pauses: number[] = [];
  await session({ deps: { sleep: async (ms) => void pauses.push(ms) } }, async (c, h) => {
    for (let i = 0; i < 3; i++) await c.command('EHLO x');
    assert.ok(h.sink.messages().includes('NOQUEUE: client.example.test [127.0.0.1]: possible SMTP attack: command=HELO/EHLO, count=3'));
    assert.deepEqual(pauses, [1000]);
    assert.equal(h.config.options.MaxNOOPCommands, 20);
    for (let i = 0; i < 19; i++) await c.command('NOOP');
    assert.deepEqual(pauses, [1000]);
    assert.equal(await c.command('NOOP'), '250 2.0.0 OK');
    assert.ok(h.sink.messages().includes('NOQUEUE: client.example.test [127.0.0.1]: possible SMTP attack: command=NOOP, count=20'));
    // the fourth EHLO waits 1 + 1 seconds (2^1 in all)
    await c.command('EHLO x');
    assert.deepEqual(pauses, [1000, 1000, 1000, 1000]);
  });
});
