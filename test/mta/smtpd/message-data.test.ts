/**
 * The DATA reader and the header splitter, fed the same text cut at every
 * possible place: where TCP splits the text must never change what is
 * stored, where the message ends, or whether a bare line end is caught.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import test from 'node:test';
import { isPosternError, ERR } from '../../../src/common/errors.js';
import { splitHeaderBlock } from '../../../src/mta/smtpd/header-block.js';
import { SmtpInput } from '../../../src/mta/smtpd/input.js';
import { MessageData, MessageReadError } from '../../../src/mta/smtpd/message-data.js';

async function collect(parts: Buffer[], maxSize = 0): Promise<{ text: string; after: string; error?: unknown }> {
  const wire = new PassThrough();
  const input = new SmtpInput(wire as unknown as Socket);
  for (const p of parts) wire.write(p);
  wire.end();
  const data = new MessageData(input, { maxSize, timeoutMs: 1000 });
  const out: Buffer[] = [];
  let error: unknown;
  try {
    for await (const b of data.text()) out.push(b);
  } catch (e) {
    error = e;
  }
  let after = '';
  if (error === undefined) {
    for (let c = await input.readChunk(100); Buffer.isBuffer(c); c = await input.readChunk(100)) after += c.toString('latin1');
  }
  return { text: Buffer.concat(out).toString('latin1'), after, ...(error !== undefined ? { error } : {}) };
}

function cuts(text: string): Buffer[][] {
  const b = Buffer.from(text, 'latin1');
  const out: Buffer[][] = [[b]];
  for (let i = 1; i < b.length; i++) out.push([b.subarray(0, i), b.subarray(i)]);
  // and one byte at a time
  out.push([...b].map((x) => Buffer.from([x])));
  return out;
}

test('dot-stuffing, the terminator and what follows it, wherever the text is cut', async () => {
  const wire = 'Subject: x\r\n\r\n..one\r\n.two\r\n...\r\nend\r\n.\r\nQUIT\r\n';
  for (const parts of cuts(wire)) {
    const r = await collect(parts);
    assert.equal(r.error, undefined);
    assert.equal(r.text, 'Subject: x\r\n\r\n.one\r\ntwo\r\n..\r\nend\r\n', JSON.stringify(parts.map(String)));
    assert.equal(r.after, 'QUIT\r\n');
  }
});

test('an empty message, and a text that is only a dot line', async () => {
  assert.equal((await collect([Buffer.from('.\r\n')])).text, '');
  assert.equal((await collect([Buffer.from('..\r\n.\r\n')])).text, '.\r\n');
});

for (const [name, wire, problem] of [
  ['bare LF', 'a\r\nb\nc\r\n.\r\n', 'bare-lf'],
  ['LF dot CRLF', 'a\r\nb\n.\r\n', 'bare-lf'],
  ['dot LF', 'a\r\n.\nb\r\n.\r\n', 'bare-lf'],
  ['bare CR', 'a\rb\r\n.\r\n', 'bare-cr'],
  ['dot CR x', 'a\r\n.\rx\r\n.\r\n', 'bare-cr'],
] as const) {
  test(`${name} is caught wherever the text is cut`, async () => {
    for (const parts of cuts(wire)) {
      const r = await collect(parts);
      assert.ok(r.error instanceof MessageReadError, JSON.stringify(parts.map(String)));
      assert.equal(r.error.problem, problem);
      assert.ok(isPosternError(r.error, ERR.SMTP_BARE_LINE_END));
    }
  });
}

test('the end of input before the terminator is an unexpected close', async () => {
  const r = await collect([Buffer.from('Subject: x\r\n\r\nhalf')]);
  assert.ok(r.error instanceof MessageReadError);
  assert.equal(r.error.problem, 'unexpected close');
  assert.equal(r.error.where, 'body');
});

test('over maxSize (LF line ends counted): read to the end, then SMTP_MESSAGE_TOO_BIG', async () => {
  // 10 lines of 9 characters: 100 bytes with CRLF, 100 stored with LF... 10 x (9 + 1)
  const body = '123456789\r\n'.repeat(10);
  const ok = await collect([Buffer.from(`${body}.\r\nNEXT\r\n`)], 100);
  assert.equal(ok.error, undefined);
  const big = await collect([Buffer.from(`${body}x\r\n.\r\nNEXT\r\n`)], 100);
  assert.ok(isPosternError(big.error, ERR.SMTP_MESSAGE_TOO_BIG));
});

async function* chunks(parts: Buffer[]): AsyncGenerator<Buffer> {
  yield* parts;
}

test('header block: split at the empty line or at the first line that is no field, CR removed, wherever cut', async () => {
  const text = 'Subject: x\r\nX-Long: a\r\n\tcontinued\r\n\r\nbody 1\r\nbody 2\r\n';
  for (const parts of cuts(text)) {
    const m = await splitHeaderBlock(chunks(parts), 0);
    assert.deepEqual(m.headerLines, ['Subject: x\n', 'X-Long: a\n', '\tcontinued\n']);
    let body = '';
    for await (const b of m.body) body += b.toString('latin1');
    assert.equal(body, 'body 1\nbody 2\n');
  }
  const noBlank = await splitHeaderBlock(chunks([Buffer.from('Subject: x\r\nnot a header\r\n')]), 0);
  assert.deepEqual(noBlank.headerLines, ['Subject: x\n']);
  let body = '';
  for await (const b of noBlank.body) body += b.toString('latin1');
  assert.equal(body, 'not a header\n');
});

test('header block over the limit: headersTooLarge, the whole text consumed', async () => {
  let consumed = 0;
  async function* counted(): AsyncGenerator<Buffer> {
    for (const p of ['X-A: 0123456789\r\n', 'X-B: 0123456789\r\n', '\r\n', 'body\r\n']) {
      consumed++;
      yield Buffer.from(p);
    }
  }
  const m = await splitHeaderBlock(counted(), 20);
  assert.equal(m.headersTooLarge, true);
  assert.equal(consumed, 4);
});
