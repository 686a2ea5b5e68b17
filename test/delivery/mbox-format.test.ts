/**
 * The mbox entry, byte for byte, whatever the chunking of the input.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { ctimeDate, encodeMbox, mboxPreamble, MboxBodyEncoder } from '../../src/delivery/mailbox/mbox-format.js';

process.env.TZ = 'UTC'; // Node re-reads the zone when TZ is assigned

const NOW = new Date(Date.UTC(2026, 10, 5, 6, 7, 8));

function encodeWhole(message: string): string {
  const e = new MboxBodyEncoder();
  return Buffer.concat([e.push(Buffer.from(message)), e.end()]).toString('latin1');
}

function encodeInPieces(message: string, sizes: (i: number) => number): string {
  const bytes = Buffer.from(message);
  const e = new MboxBodyEncoder();
  const out: Buffer[] = [];
  for (let i = 0, n = 0; i < bytes.length; n++) {
    const size = Math.max(1, sizes(n));
    out.push(e.push(bytes.subarray(i, i + size)));
    i += size;
  }
  out.push(e.end());
  return Buffer.concat(out).toString('latin1');
}

test('ctime form pads the day with a space', () => {
  assert.equal(ctimeDate(NOW), 'Thu Nov  5 06:07:08 2026');
  assert.equal(ctimeDate(new Date(Date.UTC(2027, 0, 31, 23, 59, 0))), 'Sun Jan 31 23:59:00 2027');
});

test('the preamble: From_ line and Return-Path from the envelope', () => {
  assert.equal(mboxPreamble('alice@example.org', NOW).toString(), 'From alice@example.org Thu Nov  5 06:07:08 2026\nReturn-Path: <alice@example.org>\n');
  assert.equal(mboxPreamble('', NOW).toString(), 'From MAILER-DAEMON Thu Nov  5 06:07:08 2026\nReturn-Path: <>\n');
  // a line break in a sender must not start a forged message
  assert.equal(mboxPreamble('a\nFrom evil', NOW).toString(), 'From a?From_evil Thu Nov  5 06:07:08 2026\nReturn-Path: <a?From evil>\n');
});

const MESSAGE =
  'Return-Path: <forged@example.com>\n' +
  'Subject: hello\n' +
  'RETURN-PATH : <another@example.com>\n' +
  '\t(folded part of the forged field)\n' +
  'Content-Length: 3\n' +
  'X-Long: ' + 'h'.repeat(150) + '\n' +
  '\tfolded part of X-Long\n' +
  '\n' +
  'From the start of a line\n' +
  '>From already quoted\n' +
  'From\n' +
  ' From not at the start\n' +
  'Return-Path: <in the body, kept>\n' +
  'Content-Length: in the body, kept\n' +
  'From ' + 'x'.repeat(200) + '\n' +
  'Fro\n' +
  'last line without newline';

const EXPECTED =
  'Subject: hello\n' +
  'X-Long: ' + 'h'.repeat(150) + '\n' +
  '\tfolded part of X-Long\n' +
  '\n' +
  '>From the start of a line\n' +
  '>From already quoted\n' +
  'From\n' +
  ' From not at the start\n' +
  'Return-Path: <in the body, kept>\n' +
  'Content-Length: in the body, kept\n' +
  '>From ' + 'x'.repeat(200) + '\n' +
  'Fro\n' +
  'last line without newline\n' +
  '\n';

test('From_ lines are escaped, incoming Return-Path and Content-Length fields dropped, the entry ends with an empty line', () => {
  assert.equal(encodeWhole(MESSAGE), EXPECTED);
});

test('the same bytes whatever the chunk boundaries', () => {
  assert.equal(encodeInPieces(MESSAGE, () => 1), EXPECTED);
  assert.equal(encodeInPieces(MESSAGE, (n) => [3, 5, 7, 64, 2][n % 5]!), EXPECTED);
  assert.equal(encodeInPieces(MESSAGE, (n) => 1 + ((n * 7919) % 97)), EXPECTED);
});

test('a CRLF empty line ends the header section; a message ending in a newline gets only the empty line', () => {
  assert.equal(encodeWhole('A: b\r\n\r\nReturn-Path: <x>\r\nFrom y\r\n'), 'A: b\r\n\r\nReturn-Path: <x>\r\n>From y\r\n\n');
  assert.equal(encodeWhole(''), '\n');
  assert.equal(encodeWhole('From x'), '>From x\n\n');
});

test('encodeMbox puts the preamble first and accepts strings and Uint8Arrays', async () => {
  async function* parts() {
    yield 'Subject: s\n\nFr';
    yield new Uint8Array(Buffer.from('om here\n'));
  }
  const out: Buffer[] = [];
  for await (const b of encodeMbox(parts(), 'bob@example.org', NOW)) out.push(b);
  assert.equal(Buffer.concat(out).toString(), 'From bob@example.org Thu Nov  5 06:07:08 2026\nReturn-Path: <bob@example.org>\nSubject: s\n\n>From here\n\n');
});
