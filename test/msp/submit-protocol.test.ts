/**
 * The submission channel: the message arrives byte for byte, the daemon
 * side learns who is calling from the kernel (a client running as nobody
 * is seen as nobody whatever it sends), and only root or the client-queue
 * runner may submit on behalf of someone else; a message is whole only with
 * its end frame, so a client that stops in the middle gets nothing queued.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { repoRoot } from '../helpers/peers.js';
import {
  PROTOCOL_VERSION,
  serveSubmissions,
  submitMessage,
  type IncomingSubmission,
  type SubmissionRequest,
} from '../../src/msp/submit-protocol.js';
import { ABANDON_MESSAGE, END_OF_MESSAGE, frameHeader, MAX_FRAME_BYTES } from '../../src/msp/submit-wire.js';

const REQUEST: SubmissionRequest = { version: PROTOCOL_VERSION, recipients: ['bob'], recipientsFromHeaders: false, ignoreDots: true };

async function withServer<T>(fn: (path: string, seen: IncomingSubmission[], hashes: string[]) => Promise<T>, queueRunnerUid?: number): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-submit-'));
  chmodSync(dir, 0o755);
  const path = join(dir, 'submit.sock');
  const seen: IncomingSubmission[] = [];
  const hashes: string[] = [];
  const server = serveSubmissions(
    path,
    async (s) => {
      seen.push(s);
      const hash = createHash('sha256');
      for await (const chunk of s.body) hash.update(chunk);
      hashes.push(hash.digest('hex'));
      return { ok: true, id: `ID${seen.length}`, lines: [] };
    },
    { queueRunnerUid },
  );
  await new Promise((resolve) => server.once('listening', resolve));
  chmodSync(path, 0o666);
  try {
    return await fn(path, seen, hashes);
  } finally {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a message of several megabytes arrives byte for byte, with the caller seen by the kernel', async () => {
  await withServer(async (path, seen, hashes) => {
    const message = [Buffer.from('Subject: x\n\n'), randomBytes(3 << 20), Buffer.from('\n.\nafter the dot\n')];
    const reply = await submitMessage(path, { ...REQUEST, sender: 'someone@example.org', senderFlag: 'f' }, message);
    assert.deepEqual(reply, { ok: true, id: 'ID1', lines: [] });
    assert.equal(hashes[0], createHash('sha256').update(Buffer.concat(message)).digest('hex'));
    assert.equal(seen[0]?.peer.uid, process.getuid?.());
    assert.equal(seen[0]?.peer.pid, process.pid);
    assert.equal(seen[0]?.request.sender, 'someone@example.org');
  });
});

/** Runs a client in a child process as the given uid; returns its reply. */
function clientAs(uid: number, path: string, request: object): Promise<{ code: number | null; out: string }> {
  const script = `
    const { submitMessage } = await import(${JSON.stringify(join(repoRoot, 'dist/src/msp/submit-protocol.js'))});
    const reply = await submitMessage(${JSON.stringify(path)}, ${JSON.stringify(request)}, [Buffer.from('Subject: hi\\n\\nbody\\n')]);
    process.stdout.write(JSON.stringify(reply));
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { uid, gid: uid, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

test('the caller\'s uid comes from the kernel, and only root or the queue runner may act for another user', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: runs a client as nobody');
  const NOBODY = 65534;
  await withServer(async (path, seen) => {
    const plain = await clientAs(NOBODY, path, REQUEST);
    assert.equal(plain.code, 0);
    assert.equal(JSON.parse(plain.out).ok, true);
    assert.equal(seen[0]?.peer.uid, NOBODY);
    assert.equal(seen[0]?.peer.gid, NOBODY);

    const claim = await clientAs(NOBODY, path, { ...REQUEST, onBehalfOf: 0 });
    assert.deepEqual(JSON.parse(claim.out), { ok: false, code: 'PRIV_NO_PERMISSION', exit: 77, lines: ['uid 65534 may not submit for uid 0'] });
    assert.equal(seen.length, 1, 'the refused submission never reached the handler');

    const own = await clientAs(NOBODY, path, { ...REQUEST, onBehalfOf: NOBODY });
    assert.equal(JSON.parse(own.out).ok, true);

    const asRoot = await submitMessage(path, { ...REQUEST, onBehalfOf: 1234 }, [Buffer.from('x\n')]);
    assert.equal(asRoot.ok, true);
    assert.equal(seen.at(-1)?.request.onBehalfOf, 1234);
  });
  // the client-queue runner (here: nobody) may act for the owner of a queued file
  await withServer(async (path, seen) => {
    const runner = await clientAs(NOBODY, path, { ...REQUEST, onBehalfOf: 1234 });
    assert.equal(JSON.parse(runner.out).ok, true);
    assert.equal(seen[0]?.request.onBehalfOf, 1234);
  }, NOBODY);
});

test('a malformed or oversized request line is refused with SUBMIT_PROTOCOL', async () => {
  await withServer(async (path, seen) => {
    const { createConnection } = await import('node:net');
    const raw = (payload: string | Buffer) =>
      new Promise<string>((resolve) => {
        const s = createConnection({ path, allowHalfOpen: true });
        let text = '';
        s.on('data', (d: Buffer) => (text += d));
        s.on('end', () => resolve(text));
        s.end(payload);
      });
    for (const payload of ['not json\n', '{"version":1}\n', '{"version":3,"recipients":[],"recipientsFromHeaders":false,"ignoreDots":true}\n', '{"version":1,"recipients":[],"recipientsFromHeaders":false,"ignoreDots":true}\nraw message\n', 'x'.repeat(70_000), '']) {
      const reply = JSON.parse((await raw(payload)).split('\n')[0]!);
      assert.equal(reply.ok, false);
      assert.equal(reply.code, 'SUBMIT_PROTOCOL');
      assert.equal(reply.exit, 76);
    }
    assert.equal(seen.length, 0);
  });
});

test('with no daemon listening the client gets the socket error, to fall back on the client queue', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-nodaemon-'));
  try {
    await assert.rejects(submitMessage(join(dir, 'none.sock'), REQUEST, []), { code: 'ENOENT' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Sends `pieces` on a raw connection, one write each with a pause between (so frames arrive split), and returns the reply. */
async function rawExchange(path: string, pieces: readonly Buffer[]): Promise<{ ok: boolean; code?: string }> {
  const { createConnection } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createConnection({ path, allowHalfOpen: true });
    let text = '';
    s.on('error', reject);
    s.on('data', (d: Buffer) => (text += d));
    s.on('end', () => resolve(JSON.parse(text.split('\n')[0]!)));
    s.on('connect', async () => {
      for (const p of pieces) {
        s.write(p);
        await new Promise((r) => setTimeout(r, 5));
      }
      s.end();
    });
  });
}

test('only the end frame makes a message whole: cut short or abandoned, the handler\'s reading fails and the reply says so', async () => {
  const line = Buffer.from(`${JSON.stringify(REQUEST)}\n`);
  const frame = (text: string) => [frameHeader(Buffer.byteLength(text)), Buffer.from(text)];
  await withServer(async (path, seen, hashes) => {
    const hash = (text: string) => createHash('sha256').update(text).digest('hex');

    // whole, with a frame header split over two writes
    const header = frameHeader(11);
    const whole = await rawExchange(path, [line, header.subarray(0, 2), header.subarray(2), Buffer.from('hello '), Buffer.from('world'), ...frame('!\n'), END_OF_MESSAGE]);
    assert.equal(whole.ok, true);
    assert.equal(hashes.at(-1), hash('hello world!\n'));

    // the connection ends after a frame, without the end frame: abandoned, nothing completed
    const cut = await rawExchange(path, [line, ...frame('first half\n')]);
    assert.deepEqual([cut.ok, cut.code], [false, 'SUBMIT_ABANDONED']);
    // ... and in the middle of a frame
    const mid = await rawExchange(path, [line, frameHeader(100), Buffer.from('only ten b')]);
    assert.deepEqual([mid.ok, mid.code], [false, 'SUBMIT_ABANDONED']);
    // the submitter says it gives the message up
    const abandoned = await rawExchange(path, [line, ...frame('first half\n'), ABANDON_MESSAGE]);
    assert.deepEqual([abandoned.ok, abandoned.code], [false, 'SUBMIT_ABANDONED']);
    // a frame longer than any writer makes
    const huge = await rawExchange(path, [line, frameHeader(MAX_FRAME_BYTES + 1), Buffer.from('x')]);
    assert.deepEqual([huge.ok, huge.code], [false, 'SUBMIT_PROTOCOL']);

    assert.equal(seen.length, 5, 'every request reached the handler');
    assert.equal(hashes.length, 1, 'only the whole message was read to its end');
  });
});

test('the asynchronous client abandons a message whose source fails, and the daemon completes nothing', async () => {
  await withServer(async (path, seen, hashes) => {
    async function* failing(): AsyncIterable<Buffer> {
      yield Buffer.from('Subject: cut\n\nfirst part\n');
      throw Object.assign(new Error('read EIO'), { code: 'EIO' });
    }
    const reply = await submitMessage(path, REQUEST, failing());
    assert.deepEqual([reply.ok, !reply.ok && reply.code], [false, 'SUBMIT_INPUT_ERROR']);
    // the daemon's side has finished with it once its handler has been called and has failed
    for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen.length, 1);
    assert.equal(hashes.length, 0, 'the handler never saw the end of the message');
  });
});
