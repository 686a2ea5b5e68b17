/**
 * The submission channel: the message arrives byte for byte, the daemon
 * side learns who is calling from the kernel (a client running as nobody
 * is seen as nobody whatever it sends), and only root or the client-queue
 * runner may submit on behalf of someone else.
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
    for (const payload of ['not json\n', '{"version":1}\n', '{"version":2,"recipients":[],"recipientsFromHeaders":false,"ignoreDots":true}\n', 'x'.repeat(70_000), '']) {
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
