import assert from 'node:assert/strict';
import test from 'node:test';
import { arpaDate, fromHeaderValue, gecosFullName, parseAddressList, qualifiedEnvelopeAddress, quoteFullName, readMessage, SubmissionError } from '../../src/msp/submission/index.js';
import { alice, chunks, collect, config, root, submit } from './helpers.js';


test('address lists: groups, comments, quoted local parts, Name <addr>', () => {
  assert.deepEqual(parseAddressList('bob@example.org, Grp: c@d.e, "x y"@f.g;, Name (c) <n@h.i> (x), undisclosed:;'), [
    'bob@example.org',
    'c@d.e',
    '"x y"@f.g',
    'n@h.i',
  ]);
  assert.deepEqual(parseAddressList('"Doe, J." <j@x.y>,\n\tplain'), ['j@x.y', 'plain']);
  assert.deepEqual(parseAddressList(''), []);
});

test('-t takes To, Cc and Bcc and removes Bcc from the stored headers', async () => {
  const s = await submit('To: a@x.y, G: b@x.y;\nCc: "c d"@x.y\nBcc: hidden@x.y,\n  h2@x.y\nSubject: s\n\nbody\n', ['-t', '-i']);
  assert.deepEqual(s.recipients, ['a@x.y', 'b@x.y', '"c d"@x.y', 'hidden@x.y', 'h2@x.y']);
  assert.doesNotMatch(s.headers, /^Bcc:/im);
  assert.doesNotMatch(s.headers, /h2@x\.y/);
  assert.match(s.headers, /^To: a@x.y, G: b@x.y;$/m);
});

test('-t with Resent- headers takes only Resent-To/Cc/Bcc and adds Resent-Date/From/Message-Id', async () => {
  const s = await submit('To: a@x.y\nResent-To: r@x.y\nResent-Bcc: rb@x.y\nCc: c@x.y\n\nx\n', ['-t']);
  assert.deepEqual(s.recipients, ['r@x.y', 'rb@x.y']);
  const names = s.headers.split('\n').filter((l) => /^\S/.test(l)).map((l) => l.slice(0, l.indexOf(':')));
  assert.deepEqual(names, ['Received', 'Resent-Date', 'Date', 'Resent-From', 'From', 'Full-Name', 'Resent-Message-Id', 'Message-Id', 'To', 'Resent-To', 'Cc']);
});

test('-t keeps command-line operands as recipients, merging duplicates (8.17 without _FFR_FIX_DASHT)', async () => {
  const s = await submit('To: bob@x.y\n\nx\n', ['-t', 'carol@x.y', 'bob@X.Y']);
  assert.deepEqual(s.recipients, ['carol@x.y', 'bob@X.Y']);
});

test('-t with no recipient: NO_RECIPIENTS_IN_HEADER, exit 0 as sendmail', async () => {
  await assert.rejects(submit('Subject: none\n\nx\n', ['-t']), (e: unknown) => e instanceof SubmissionError && e.code === 'SUBMIT_NO_RECIPIENTS' && e.exit === 0);
  const s = await submit('Subject: none\n\nx\n', ['-t', 'carol@x.y']);
  assert.deepEqual(s.recipients, ['carol@x.y']);
});

test('a lone dot ends the message without -i, not with -i or -oi', async () => {
  const input = 'To: a@x.y\n\nline1\n..two\n.three\n.\nafter\n';
  assert.equal((await submit(input, ['-t'])).bodyText, 'line1\n.two\n.three\n');
  assert.equal((await submit(input, ['-t', '-i'])).bodyText, 'line1\n..two\n.three\n.\nafter\n');
  assert.equal((await submit(input, ['-t', '-oi'])).bodyText, 'line1\n..two\n.three\n.\nafter\n');
  assert.equal((await submit('To: a@x.y\n.\nSubject: no\n\nx\n', ['-t'])).bodyText, '');
});

test('CRLF input is stored with LF endings; a bare CR is kept', async () => {
  const s = await submit('To: a@x.y\r\nSubject: crlf\r\n\r\nline1\r\nbare\rcr\r\n.\r\nline2\r\n', ['-t']);
  assert.match(s.headers, /^Subject: crlf\n/m);
  assert.doesNotMatch(s.headers, /\r/);
  assert.equal(s.bodyText, 'line1\nbare\rcr\n');
});

test('a message without headers is all body', async () => {
  const s = await submit('just text\nmore\n', ['bob@x.y']);
  assert.equal(s.bodyText, 'just text\nmore\n');
  assert.match(s.headers, /^Received: /);
});

test('a large body is streamed, not held in memory', async () => {
  const line = Buffer.from('x'.repeat(99) + '\n');
  const blocks = 2000; // 1000 lines of 100 bytes each: 200 MB
  const total = blocks * 100 * 1000;
  async function* big(): AsyncGenerator<Buffer> {
    yield Buffer.from('To: a@x.y\n\n');
    const block = Buffer.concat(Array.from({ length: 1000 }, () => line));
    for (let n = 0; n < blocks; n++) yield block;
  }
  global.gc?.();
  const before = process.memoryUsage().rss;
  const raw = await readMessage(big(), { ignoreDots: false, maxHeadersLength: 32768 });
  let size = 0;
  let peak = 0;
  for await (const b of raw.body) {
    size += b.length;
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  assert.equal(size, total);
  assert.ok(peak - before < 100 * 1024 * 1024, `RSS grew by ${Math.round((peak - before) / 1048576)} MB for a ${Math.round(total / 1048576)} MB body`);
});

test('headers over MaxHeadersLength: HEADERS_TOO_LARGE', async () => {
  const c = config();
  c.options.MaxHeadersLength = 100;
  await assert.rejects(submit(`To: a@x.y\nSubject: ${'y'.repeat(200)}\n\nx\n`, ['-t'], { config: c }), (e: unknown) => e instanceof SubmissionError && e.code === 'SUBMIT_HEADERS_TOO_LARGE');
});

test('Received, Date, From, Full-Name, Message-Id added in sendmail order, before the message headers', async () => {
  const s = await submit('To: bob@example.org\nSubject: hi\n\nbody\n', ['-t', '-i']);
  const date = arpaDate(new Date(Date.UTC(2026, 10, 22, 8, 44, 54)));
  assert.equal(
    s.headers,
    'Received: (from alice@localhost)\n\tby mx.example.test (Postern 0.1.0/Submit) id 6AM8isji000082;\n\t' +
      date +
      '\n' +
      `Date: ${date}\n` +
      'From: Alice Example <alice>\n' +
      'Full-Name: Alice Example\n' +
      'Message-Id: <202611220844.6AM8isji000082@mx.example.test>\n' +
      'To: bob@example.org\nSubject: hi\n\n',
  );
  assert.equal(s.sender, 'alice');
  assert.equal(s.fullName, 'Alice Example');
});

test('Date, From and Message-Id are not added when present; To is never invented', async () => {
  const s = await submit('Subject: s\nmessage-id: <a@b>\nDATE: Mon, 2 Jan 2023 00:00:00 +0000\nFrom: Someone <s@x.y>\n\nx\n', ['bob@x.y']);
  const names = s.headers.split('\n').filter((l) => /^\S/.test(l)).map((l) => l.slice(0, l.indexOf(':')));
  assert.deepEqual(names, ['Received', 'Full-Name', 'Subject', 'message-id', 'DATE', 'From']);
  assert.equal(s.messageId, '<a@b>');
});

test('arpadate: GMT for UTC, numeric offset and zone name otherwise, day without leading zero', () => {
  const d = new Date(2023, 0, 2, 3, 4, 5);
  const text = arpaDate(d, 'XYZ');
  if (d.getTimezoneOffset() === 0) assert.equal(text, 'Mon, 2 Jan 2023 03:04:05 GMT');
  else assert.match(text, /^Mon, 2 Jan 2023 03:04:05 [+-]\d{4} \(XYZ\)$/);
});

test('GECOS: up to , ; or %, & as the capitalised login, leading * dropped', () => {
  assert.equal(gecosFullName('Alice Example,Room 1,,', 'alice'), 'Alice Example');
  assert.equal(gecosFullName('Al & Co. (x) "q",Room', 'alice'), 'Al Alice Co. (x) "q"');
  assert.equal(gecosFullName('Al <x>; Doe', 'alice'), 'Al <x>');
  assert.equal(gecosFullName('*star', 'alice'), 'star');
  assert.equal(gecosFullName('a%b', 'alice'), 'a');
});

test('From: phrase quoted as crackaddr does (measured against sendmail 8.17)', () => {
  const cases: Array<[string, string]> = [
    ['Al Alice Co. (x) "q"', '"Al Alice Co. (x) \\"q\\"" <alice>'],
    ['Al <x>', '"Al <x>" <alice>'],
    ['Al (x) Bee', 'Al (x) Bee <alice>'],
    ['A.B. Cee', '"A.B. Cee" <alice>'],
    ['Dee) x', '"Dee) x" <alice>'],
    ["O'Neil", `"O'Neil" <alice>`],
    ['Ann \\x', '"Ann \\x" <alice>'],
    ['plain name', 'plain name <alice>'],
    ['"Jo, Q. Public"', '"Jo, Q. Public" <alice>'],
  ];
  for (const [name, want] of cases) assert.equal(fromHeaderValue(name, 'alice'), want, name);
  assert.equal(fromHeaderValue(undefined, 'boss@x.y'), 'boss@x.y');
  assert.equal(quoteFullName('Jo, Q. Public'), '"Jo, Q. Public"');
  assert.equal(quoteFullName('Fancy Name'), 'Fancy Name');
});

test('-F overrides GECOS and is quoted when it has specials', async () => {
  const s = await submit('To: a@x.y\n\nx\n', ['-t', '-F', 'Jo, Q. Public']);
  assert.match(s.headers, /^From: "Jo, Q\. Public" <alice>$/m);
  assert.match(s.headers, /^Full-Name: "Jo, Q\. Public"$/m);
});

test('X-Authentication-Warning for an untrusted -f/-r, not for trusted users or the own name', async () => {
  const w = await submit('To: a@x.y\n\nx\n', ['-t', '-f', 'boss@example.com']);
  assert.match(w.headers, /^X-Authentication-Warning: mx\.example\.test: alice set sender to boss@example\.com using -f$/m);
  assert.match(w.headers, /^From: boss@example\.com$/m, 'no GECOS name for a foreign sender');
  assert.doesNotMatch(w.headers, /^Full-Name:/m);
  assert.equal(w.sender, 'boss@example.com');
  const r = await submit('To: a@x.y\n\nx\n', ['-t', '-r', 'boss@example.com']);
  assert.match(r.headers, /using -r$/m);
  for (const [args, caller] of [
    [['-f', 'boss@example.com'], root],
    [['-f', 'alice'], alice],
    [['-r', 'alice@mx.example.test'], alice],
  ] as const) {
    const s = await submit('To: a@x.y\n\nx\n', ['-t', ...args], { caller });
    assert.doesNotMatch(s.headers, /X-Authentication-Warning/, args.join(' '));
  }
  const own = await submit('To: a@x.y\n\nx\n', ['-t', '-r', 'alice@mx.example.test']);
  assert.match(own.headers, /^From: Alice Example <alice@mx\.example\.test>$/m);
  const c = config();
  c.options.PrivacyOptions.delete('authwarnings');
  const quiet = await submit('To: a@x.y\n\nx\n', ['-t', '-f', 'boss@example.com'], { config: c });
  assert.doesNotMatch(quiet.headers, /X-Authentication-Warning/);
});

test('-bs: "USER owned process doing -bs" unless the MAIL FROM is the caller\'s own local address (as measured with sendmail 8.17)', async () => {
  const warning = async (sender: string, caller = alice, cfg = config()) => {
    const s = await submit('Subject: s\n\nx\n', ['-f', sender, 'bob@example.org'], { caller, config: cfg, smtpSession: true });
    return s.headers.split('\n').filter((l) => l.startsWith('X-Authentication-Warning:'));
  };
  for (const sender of ['bob', '<>', 'boss@example.com', 'bob@mx.example.test']) {
    assert.deepEqual(await warning(sender), ['X-Authentication-Warning: mx.example.test: alice owned process doing -bs'], sender);
  }
  for (const sender of ['alice', 'alice@localhost', 'alice@mx.example.test']) assert.deepEqual(await warning(sender), [], sender);
  assert.deepEqual(await warning('boss@example.com', root), [], 'root');
  const trusting = config();
  trusting.classes.get('t')!.add('alice');
  assert.deepEqual(await warning('boss@example.com', alice, trusting), [], 'class t');
});

test('local submission envelope: bare names and this host\'s local names get @$j, as sendmail\'s MTA receives them from its MSP', () => {
  const q = (a: string) => qualifiedEnvelopeAddress(a, 'mx.example.test');
  assert.equal(q('alice'), 'alice@mx.example.test');
  assert.equal(q('first.last'), 'first.last@mx.example.test');
  // measured with 8.17: -f '<alice>', -f alice@localhost, bob@LOCALHOST, Bob@LocalHost.example.test, dave@localhost.uucp
  assert.equal(q('<alice>'), 'alice@mx.example.test');
  assert.equal(q('alice@localhost'), 'alice@mx.example.test');
  assert.equal(q('bob@LOCALHOST'), 'bob@mx.example.test');
  assert.equal(q('Bob@LocalHost.example.test'), 'Bob@mx.example.test');
  assert.equal(q('dave@localhost.uucp'), 'dave@mx.example.test');
  assert.equal(q('alice@[127.0.0.1]'), 'alice@mx.example.test');
  // -f '' and -f '<>': the null sender
  assert.equal(q('<>'), '');
  assert.equal(q(''), '');
  for (const a of ['bob@example.org', 'bob@localhost.example.org', '|/usr/bin/prog', '/tmp/file', '"a b"', 'Unknown UID 1234']) assert.equal(q(a), a);
});

test('hop count: max of -h and the trace headers (ours included); over MaxHopCount is TOO_MANY_HOPS, exit 69', async () => {
  const received = (n: number) => Array.from({ length: n }, (_, i) => `Received: from h${i}\n`).join('');
  const ok = await submit(`${received(24)}To: a@x.y\n\nx\n`, ['-t']);
  assert.equal(ok.hopCount, 25);
  await assert.rejects(submit(`${received(25)}To: a@x.y\n\nx\n`, ['-t']), (e: unknown) => e instanceof SubmissionError && e.code === 'SUBMIT_TOO_MANY_HOPS' && e.exit === 69);
  assert.equal((await submit('To: a@x.y\n\nx\n', ['-t', '-h', '25'])).hopCount, 25);
  assert.equal((await submit(`${received(20)}To: a@x.y\n\nx\n`, ['-t', '-h', '10'])).hopCount, 21);
  await assert.rejects(submit('X400-Received: a\nVia: b\nMail-From: c\nTo: a@x.y\n\nx\n', ['-t', '-h', '26']), (e: unknown) => e instanceof SubmissionError && e.code === 'SUBMIT_TOO_MANY_HOPS');
});

test('the reader splits a dot line across chunks correctly', async () => {
  const raw = await readMessage(chunks('To: a\n\nx\n.\ny\n', 1), { ignoreDots: false, maxHeadersLength: 0 });
  assert.deepEqual(raw.headerLines, ['To: a\n']);
  assert.equal(await collect(raw.body), 'x\n');
});

test('-C by a user who is not root: "Processed by USER with -C FILE", before the -f warning, as sendmail orders them', async () => {
  const s = await submit('To: a@x.y\n\nx\n', ['-t', '-f', 'boss@example.com'], { untrustedConfig: '/home/alice/my.cf' });
  const warnings = s.headers.split('\n').filter((l) => l.startsWith('X-Authentication-Warning:'));
  assert.deepEqual(warnings, [
    'X-Authentication-Warning: mx.example.test: Processed by alice with -C /home/alice/my.cf',
    'X-Authentication-Warning: mx.example.test: alice set sender to boss@example.com using -f',
  ]);
  const plain = await submit('To: a@x.y\n\nx\n', ['-t']);
  assert.doesNotMatch(plain.headers, /X-Authentication-Warning/);
});
