/**
 * The MSP's blocking client of the submission socket (submit-blocking.ts),
 * which `sendmail -t` and -bm use instead of Node's net module: the message
 * arrives byte for byte with the caller seen by the kernel, a refusal stops
 * the sending, a missing daemon is reported before any of the message is
 * read (it is then still there for the client queue), a daemon that goes
 * away is a protocol failure, a message whose source fails is abandoned
 * (never completed with what was read), and a standard input left
 * non-blocking by whoever shares it is waited on rather than taken for an
 * error.
 *
 * The client blocks its thread, so it runs in a child process; the daemon's
 * side is the real serveSubmissions() in the test process.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { PROTOCOL_VERSION, serveSubmissions, type IncomingSubmission, type SubmissionReply } from '../../src/msp/submit-protocol.js';
import { submitBlocking } from '../../src/msp/submit-blocking.js';
import { repoRoot } from '../helpers/peers.js';
import { distImport } from '../helpers/sandbox.js';

const PYTHON = '/usr/bin/python3';
const REQUEST = { version: PROTOCOL_VERSION, recipients: ['bob'], recipientsFromHeaders: false, ignoreDots: true } as const;

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-blocking-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function listening(t: TestContext, server: Server): Promise<void> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
}

/** A daemon's side that reads each message whole and keeps its hash. */
async function hashingDaemon(t: TestContext, path: string, reply: (s: IncomingSubmission) => SubmissionReply = () => ({ ok: true, id: 'QID1', lines: [] })) {
  const seen: Array<{ submission: IncomingSubmission; sha256: string; bytes: number }> = [];
  const server = serveSubmissions(path, async (s) => {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of s.body) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    seen.push({ submission: s, sha256: hash.digest('hex'), bytes });
    return reply(s);
  });
  await listening(t, server);
  return seen;
}

/**
 * Runs submitBlocking() in a child: the message is `count` chunks of
 * `size` bytes from a deterministic generator; prints the reply (or the
 * error's code and syscall) and how many chunks were taken.
 */
function clientRun(
  path: string,
  count: number,
  size: number,
  failAfter = -1,
): Promise<{ reply?: SubmissionReply; error?: { name: string; code: string; syscall: string }; pulled: number; sha256: string }> {
  const script = `
    const { submitBlocking } = await import(${JSON.stringify(distImport('src/msp/submit-blocking.js'))});
    const { createHash } = await import('node:crypto');
    let pulled = 0;
    const hash = createHash('sha256');
    function* message() {
      for (let i = 0; i < ${count}; i++) {
        // a reset of the caller's standard input (a socket): never to be taken for the daemon's
        if (i === ${failAfter}) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });
        pulled++;
        const chunk = Buffer.alloc(${size}, i % 251);
        hash.update(chunk);
        yield chunk;
      }
    }
    let out;
    try {
      out = { reply: submitBlocking(${JSON.stringify(path)}, ${JSON.stringify(REQUEST)}, message()) };
    } catch (e) {
      out = { error: { name: e.name, code: e.code, syscall: e.syscall } };
    }
    process.stdout.write(JSON.stringify({ ...out, pulled, sha256: hash.digest('hex') }));
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`client exited ${code}: ${out}`))));
  });
}

test('a message of several megabytes arrives byte for byte, with the caller seen by the kernel', async (t) => {
  const path = join(tempDir(t), 'submit.sock');
  const seen = await hashingDaemon(t, path);
  const run = await clientRun(path, 80, 65_536);
  assert.deepEqual(run.reply, { ok: true, id: 'QID1', lines: [] });
  assert.equal(run.pulled, 80);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.bytes, 80 * 65_536);
  assert.equal(seen[0]!.sha256, run.sha256);
  assert.equal(seen[0]!.submission.peer.uid, process.getuid?.());
  assert.deepEqual(seen[0]!.submission.request, REQUEST);
});

test('a refusal before the message is all sent stops the sending', async (t) => {
  const path = join(tempDir(t), 'submit.sock');
  // the daemon refuses on the request line alone, without reading the message
  const server = serveSubmissions(path, async () => ({ ok: false, code: 'SUBMIT_NO_RECIPIENTS', exit: 0, lines: ['No recipient addresses found in header'] }));
  await listening(t, server);
  const run = await clientRun(path, 400, 65_536);
  assert.deepEqual(run.reply, { ok: false, code: 'SUBMIT_NO_RECIPIENTS', exit: 0, lines: ['No recipient addresses found in header'] });
  assert.ok(run.pulled < 100, `the client stopped early: ${run.pulled} of 400 chunks taken`);
});

test('a message whose source fails is abandoned: the daemon reads no end, the caller gets the source\'s error', async (t) => {
  const path = join(tempDir(t), 'submit.sock');
  const outcomes: string[] = [];
  const server = serveSubmissions(path, async (s) => {
    try {
      for await (const chunk of s.body) void chunk;
      outcomes.push('whole');
    } catch (e) {
      outcomes.push((e as { code?: string }).code ?? String(e));
      throw e;
    }
    return { ok: true, id: 'QID1', lines: [] };
  });
  await listening(t, server);
  const run = await clientRun(path, 40, 65_536, 20);
  assert.equal(run.reply, undefined);
  assert.equal(run.error?.name, 'MessageSourceError', 'the source\'s reset is not the daemon going away');
  assert.equal(run.pulled, 20);
  for (let i = 0; i < 100 && outcomes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(outcomes, ['SUBMIT_ABANDONED']);
});

test('no daemon: the connect error, before anything of the message is read', (t) => {
  let pulled = 0;
  function* message() {
    pulled++;
    yield Buffer.from('x\n');
  }
  assert.throws(() => submitBlocking(join(tempDir(t), 'none.sock'), REQUEST, message()), { code: 'ENOENT', syscall: 'connect' });
  assert.equal(pulled, 0, 'the message is left for the client queue');
});

test('a daemon that goes away in the middle of the message is a protocol failure (exit 76)', async (t) => {
  const path = join(tempDir(t), 'submit.sock');
  const server = createServer((socket) => socket.once('data', () => socket.destroy())).listen(path);
  await listening(t, server);
  const run = await clientRun(path, 200, 65_536);
  assert.equal(run.reply?.ok, false);
  assert.equal(run.reply?.ok === false && run.reply.code, 'SUBMIT_PROTOCOL');
  assert.equal(run.reply?.ok === false && run.reply.exit, 76);
});

test('bin/sendmail -t reads a standard input left non-blocking by whoever shares it, waiting for the message', async (t) => {
  if (!existsSync(PYTHON)) return t.skip(`${PYTHON} is missing: it makes the descriptor non-blocking`);
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const path = join(dir, 'submit.sock');
  const seen: string[] = [];
  const server = serveSubmissions(path, async (s) => {
    const chunks: Buffer[] = [];
    for await (const chunk of s.body) chunks.push(chunk);
    seen.push(Buffer.concat(chunks).toString());
    return { ok: true, id: 'QID1', lines: [] };
  });
  await listening(t, server);
  const submitCf = join(dir, 'submit.cf');
  writeFileSync(submitCf, readFileSync(join(repoRoot, 'conf', 'submit.cf'), 'utf8').replace(/^D\{SubmitSocket\}.*$/m, `D{SubmitSocket}${path}`));

  // python sets O_NONBLOCK on the pipe's open file description, then execs sendmail on it
  // (Node's spawn would not do: libuv makes a child's standard descriptors blocking)
  const setNonBlocking = 'import fcntl, os, sys; fcntl.fcntl(0, fcntl.F_SETFL, fcntl.fcntl(0, fcntl.F_GETFL) | os.O_NONBLOCK); os.execv(sys.argv[1], sys.argv[1:])';
  const child = spawn(PYTHON, ['-c', setNonBlocking, join(repoRoot, 'bin', 'sendmail'), '-C', submitCf, '-t', '-i'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await new Promise((resolve) => setTimeout(resolve, 300));
  child.stdin.write('To: bob\nSubject: later\n\n');
  await new Promise((resolve) => setTimeout(resolve, 100));
  child.stdin.end('the body\n');
  assert.equal(await exited, 0, output);
  assert.equal(output, '');
  assert.deepEqual(seen, ['To: bob\nSubject: later\n\nthe body\n']);
});
