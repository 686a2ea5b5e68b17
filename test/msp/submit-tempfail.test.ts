/**
 * bin/sendmail -t when the daemon answers but cannot take the message now,
 * as sendmail 8.17's MSP behaves (measured against the real one: a 451 at
 * the end of the data, a 452 at MAIL, the MTA's connection lost in the
 * middle): the message waits in the client queue, whole, in the same file
 * as with no daemon at all, nothing is printed and the exit status is 0; a
 * 5xx stays the caller's.  The MSP keeps what it sends meanwhile: a big
 * message in a temporary file in the client queue, removed once the daemon
 * has it, so a 50 MB message is never held in memory.
 *
 * The daemon's side is the real serveSubmissions() in this process, with
 * the answers each case needs; bin/sendmail runs with a submit.cf of the
 * test's own (-C), whose client queue and socket are in a temporary
 * directory.  The real daemon, a real filter and real users are in
 * submit-tempfail-daemon.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { runClientQueue } from '../../src/msp/client-queue.js';
import { serveSubmissions, type IncomingSubmission, type SubmissionReply } from '../../src/msp/submit-protocol.js';
import { repoRoot } from '../helpers/peers.js';
import { mspScript } from '../helpers/scripts.js';

const SENDMAIL = join(repoRoot, 'bin', 'sendmail');
const TEMPFAIL: SubmissionReply = { ok: false, code: 'MILTER_TEMPFAIL', exit: 75, lines: ['451 4.3.2 Please try again later'] };
const QUEUE_FULL: SubmissionReply = { ok: false, code: 'OS_NO_SPACE', exit: 75, lines: ['cannot queue the message: No space left on device'] };
const ACCEPTED: SubmissionReply = { ok: true, id: 'QID1', lines: [] };

interface Setup {
  readonly dir: string;
  readonly queue: string;
  readonly socket: string;
  readonly submitCf: string;
}

function setup(t: TestContext): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'postern-tempfail-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const queue = join(dir, 'clientmqueue');
  mkdirSync(queue);
  const socket = join(dir, 'submit.sock');
  const submitCf = join(dir, 'submit.cf');
  writeFileSync(
    submitCf,
    readFileSync(join(repoRoot, 'conf', 'submit.cf'), 'utf8')
      .replace(/^D\{SubmitSocket\}.*$/m, `D{SubmitSocket}${socket}`)
      .replace(/^O QueueDirectory=.*$/m, `O QueueDirectory=${queue}`),
  );
  return { dir, queue, socket, submitCf };
}

async function listening(t: TestContext, server: Server): Promise<void> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/**
 * A daemon's side that reads each message (all of it, or up to `stopAt`
 * bytes) and gives `answer`; it keeps what it read.
 */
async function daemon(t: TestContext, path: string, answer: () => SubmissionReply, stopAt = Infinity) {
  const seen: Array<{ submission: IncomingSubmission; bytes: number; sha256: string; whole: boolean }> = [];
  const server = serveSubmissions(path, async (s) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let whole = true;
    for await (const chunk of s.body) {
      hash.update(chunk);
      bytes += chunk.length;
      if (bytes >= stopAt) {
        whole = false;
        break;
      }
    }
    seen.push({ submission: s, bytes, sha256: hash.digest('hex'), whole });
    return answer();
  });
  await listening(t, server);
  return seen;
}

/** bin/sendmail -C submit.cf ARGS with `input` on its standard input. */
function sendmail(s: Setup, args: readonly string[], input: Buffer | string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(SENDMAIL, ['-C', s.submitCf, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    // the MSP may stop reading early only to read the rest later: an EPIPE here would be a failure of its own
    child.stdin.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** The client queue's files: finished (cq), being written (tf), and the message part of each finished one. */
function clientQueue(queue: string) {
  const names = readdirSync(queue);
  const ready = names.filter((n) => n.startsWith('cq'));
  return {
    names,
    ready: ready.map((name) => {
      const data = readFileSync(join(queue, name));
      const newline = data.indexOf(0x0a);
      return { name, mode: statSync(join(queue, name)).mode & 0o7777, request: JSON.parse(data.subarray(0, newline).toString()), message: data.subarray(newline + 1) };
    }),
  };
}

/** Only log lines (the logger writes to standard error where there is no /dev/log): nothing said to the caller. */
function logLines(stderr: string): string[] {
  const lines = stderr.split('\n').filter((l) => l !== '');
  for (const l of lines) assert.match(l, /^sendmail\[\d+\]: /, `not a log line: ${l}`);
  return lines;
}

test('a tempfail after the message: it waits whole in the client queue, nothing is printed, exit 0; the runner hands it over later', async (t) => {
  const s = setup(t);
  let answer: SubmissionReply = TEMPFAIL;
  const seen = await daemon(t, s.socket, () => answer);
  const message = 'To: bob\nSubject: from cron\n\nnightly report\n';
  const r = await sendmail(s, ['-t', '-i'], message);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.sha256, sha256(message), 'the daemon had the whole message');

  const cq = clientQueue(s.queue);
  assert.equal(cq.names.length, 1, `one file and nothing else: ${cq.names.join(' ')}`);
  const file = cq.ready[0]!;
  assert.match(file.name, /^cq[0-9A-Za-x]{8}\d{6}$/);
  assert.equal(file.mode, 0o640);
  assert.equal(file.message.toString(), message);
  assert.deepEqual(file.request.recipients, []);
  assert.equal(file.request.recipientsFromHeaders, true);
  assert.equal(file.request.ignoreDots, true);
  const log = logLines(r.stderr);
  assert.ok(log.some((l) => l.endsWith(`: ${file.name.slice(2)}: stat=Deferred: 451 4.3.2 Please try again later`)), log.join('\n'));

  // the filter accepts now: the client-queue runner hands the file over and removes it
  answer = ACCEPTED;
  const outcomes = await runClientQueue(s.queue, s.socket);
  assert.deepEqual(outcomes.map((o) => o.outcome), ['delivered']);
  assert.equal(seen.length, 2);
  assert.equal(seen[1]!.sha256, sha256(message));
  assert.deepEqual(readdirSync(s.queue), []);
});

test('a big message refused for now before the daemon read it all: the part sent and the rest of standard input make the file', async (t) => {
  const s = setup(t);
  const seen = await daemon(t, s.socket, () => QUEUE_FULL, 1 << 20);
  const message = Buffer.concat([Buffer.from('To: bob\nSubject: big\n\n'), randomBytes(3 << 20).map((b) => (b % 64) + 48), Buffer.from('\nthe end\n')]);
  const r = await sendmail(s, ['-t', '-i'], message);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, '');
  assert.equal(seen[0]?.whole, false, 'the daemon answered before the end of the message');
  const cq = clientQueue(s.queue);
  assert.deepEqual(cq.names.map((n) => n.slice(0, 2)), ['cq'], 'no temporary file left');
  assert.equal(cq.ready[0]!.message.length, message.length);
  assert.equal(sha256(cq.ready[0]!.message), sha256(message));
});

test('the daemon goes away in the middle of the message, or before its reply: the whole message is queued, exit 0', async (t) => {
  const s = setup(t);
  // a daemon that breaks the connection once it has had 1 MiB, or the whole of a small message, without a reply
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    let bytes = 0;
    socket.on('error', () => socket.destroy());
    socket.on('data', (d: Buffer) => {
      bytes += d.length;
      if (bytes >= 1 << 20) socket.destroy();
    });
    socket.on('end', () => socket.destroy());
  }).listen(s.socket);
  await listening(t, server);
  const big = Buffer.concat([Buffer.from('To: bob\nSubject: big\n\n'), Buffer.alloc(3 << 20, 'b'), Buffer.from('\nthe end\n')]);
  const small = 'To: bob\nSubject: small\n\nshort\n';
  for (const message of [big, Buffer.from(small)]) {
    const r = await sendmail(s, ['-t', '-i'], message);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.ok(logLines(r.stderr).some((l) => /: stat=Deferred: (lost the daemon: |the daemon gave no reply)/.test(l)), r.stderr);
  }
  const cq = clientQueue(s.queue);
  assert.equal(cq.names.filter((n) => !n.startsWith('cq')).length, 0, 'no temporary file left');
  assert.deepEqual(cq.ready.map((f) => sha256(f.message)).sort(), [sha256(big), sha256(small)].sort());
});

test('a big message the daemon takes: the copy kept while it was sent is gone', async (t) => {
  const s = setup(t);
  const seen = await daemon(t, s.socket, () => ACCEPTED);
  const message = Buffer.concat([Buffer.from('To: bob\nSubject: big\n\n'), Buffer.alloc(2 << 20, 'k')]);
  const r = await sendmail(s, ['-t', '-i'], message);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout + r.stderr, '');
  assert.equal(seen[0]?.sha256, sha256(message));
  assert.deepEqual(readdirSync(s.queue), []);
});

test('a 5xx stays the caller\'s: its lines and its status, nothing queued', async (t) => {
  const s = setup(t);
  const replies: SubmissionReply[] = [
    { ok: false, code: 'MILTER_REJECT', exit: 69, lines: ['554 5.7.0 not this message', '554 5.7.0 really not'] },
    { ok: false, code: 'SUBMIT_NO_RECIPIENTS', exit: 0, lines: ['No recipient addresses found in header'] },
  ];
  let next = 0;
  await daemon(t, s.socket, () => replies[next++]!);
  const refused = await sendmail(s, ['-t', '-i'], 'To: bob\nSubject: eomreject\n\nno\n');
  assert.equal(refused.code, 69);
  assert.equal(refused.stdout, '554 5.7.0 not this message\n554 5.7.0 really not\n');
  const none = await sendmail(s, ['-t', '-i'], 'Subject: to nobody\n\nx\n');
  assert.equal(none.code, 0);
  assert.equal(none.stdout, 'No recipient addresses found in header\n');
  assert.deepEqual(readdirSync(s.queue), []);
});

test('a 50 MB message refused for now is queued whole without ever being held in memory', async (t) => {
  const s = setup(t);
  await daemon(t, s.socket, () => TEMPFAIL);
  // the MSP as bin/sendmail runs it, in a script that reports its peak memory
  const script = join(s.dir, 'msp.mjs');
  writeFileSync(
    script,
    mspScript(
      s.submitCf,
      `const base = process.memoryUsage().rss;
const status = await submitFromStandardInput(invocation, config, callerIdentity(), { stdout: (l) => console.error(l), stderr: (l) => console.error(l) });
process.stdout.write(JSON.stringify({ status, base, peak: process.resourceUsage().maxRSS * 1024 }));
`,
    ),
  );
  const total = 50 << 20;
  const hash = createHash('sha256');
  const child = spawn(process.execPath, [script, '-t', '-i'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  const head = Buffer.from('To: bob\nSubject: fifty megabytes\n\n');
  hash.update(head);
  child.stdin.write(head);
  for (let sent = 0; sent < total; sent += 1 << 20) {
    const chunk = Buffer.alloc(1 << 20, String.fromCharCode(97 + ((sent >> 20) % 26)));
    hash.update(chunk);
    if (!child.stdin.write(chunk)) await new Promise((r) => child.stdin.once('drain', r));
  }
  child.stdin.end();
  assert.equal(await closed, 0);
  const report = JSON.parse(out) as { status: number; base: number; peak: number };
  assert.equal(report.status, 0);
  assert.ok(report.peak - report.base < 25 << 20, `peak ${report.peak >> 20} MiB against ${report.base >> 20} MiB at the start`);
  const cq = clientQueue(s.queue);
  assert.equal(cq.names.length, 1);
  assert.equal(cq.ready[0]!.message.length, head.length + total);
  assert.equal(sha256(cq.ready[0]!.message), hash.digest('hex'));
});

/**
 * sendmail -C submit.cf -bs, one command after each reply (input waiting
 * after EHLO or DATA is refused); the replies, the exit status and what
 * went to standard error.
 */
function bsSession(s: Setup, commands: readonly string[], text: string): Promise<{ replies: string[]; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(SENDMAIL, ['-C', s.submitCf, '-bs'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const replies: string[] = [];
    const pending = [...commands];
    let buffered = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      for (let nl = buffered.indexOf('\r\n'); nl >= 0; nl = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 2);
        replies.push(line);
        if (line[3] === '-') continue;
        if (line.startsWith('354')) child.stdin.write(`${text}.\r\n`);
        else if (pending.length > 0) child.stdin.write(`${pending.shift()}\r\n`);
        else child.stdin.end();
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ replies, code, stderr }));
  });
}

test('sendmail -bs: a daemon that cannot take the message now gets 250 said for it, and the client queue keeps it; a refusal is the client\'s', async (t) => {
  const s = setup(t);
  const replies: SubmissionReply[] = [TEMPFAIL, { ok: false, code: 'MILTER_REJECT', exit: 69, lines: ['554 5.7.0 not this message'] }];
  let next = 0;
  const seen = await daemon(t, s.socket, () => replies[next++]!);
  const session = ['EHLO client.example.test', 'MAIL FROM:<alice@example.test>', 'RCPT TO:<bob@example.test>', 'DATA'];
  const text = 'Subject: by -bs\r\n\r\nkept for later\r\n';

  const deferred = await bsSession(s, [...session, 'QUIT'], text);
  assert.equal(deferred.code, 0, deferred.stderr);
  const dot = deferred.replies.find((l) => l.startsWith('250 2.0.0 ') && l.endsWith(' Message accepted for delivery'));
  assert.ok(dot !== undefined, deferred.replies.join('\n'));
  const cq = clientQueue(s.queue);
  assert.equal(cq.ready.length, 1, cq.names.join(' '));
  assert.equal(dot, `250 2.0.0 ${cq.ready[0]!.name.slice(2)} Message accepted for delivery`);
  assert.equal(cq.ready[0]!.message.toString(), 'Subject: by -bs\n\nkept for later\n');
  assert.deepEqual(cq.ready[0]!.request.recipients, ['bob@example.test']);
  assert.equal(seen[0]!.sha256, sha256('Subject: by -bs\n\nkept for later\n'), 'the daemon had had the whole message');
  assert.ok(logLines(deferred.stderr).some((l) => l.endsWith(`: ${cq.ready[0]!.name.slice(2)}: stat=Deferred: 451 4.3.2 Please try again later`)), deferred.stderr);

  const refused = await bsSession(s, [...session, 'QUIT'], text);
  assert.ok(refused.replies.some((l) => /^5\d\d 5\.7\.\d not this message$/.test(l)), refused.replies.join('\n'));
  assert.equal(clientQueue(s.queue).ready.length, 1, 'nothing more queued');
});
