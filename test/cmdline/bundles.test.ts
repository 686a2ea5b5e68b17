/**
 * bin/sendmail runs the submission bundle (dist/bundle/submit.cjs) unless it
 * is started under a name only the whole command answers to, and the
 * submission bundle hands every mode but -bm/-t to the whole command
 * (dist/bundle/postern.cjs) before it prints or reads anything.  Which
 * bundle files a run opens is seen with strace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { repoRoot } from '../helpers/peers.js';

const STRACE = ['/usr/bin/strace', '/bin/strace'].find((p) => spawnSync(p, ['-V']).status === 0);
const skip = STRACE === undefined ? 'strace is not installed (.ci/run installs it)' : false;

interface Run {
  readonly status: number | null;
  readonly output: string;
  /** the bundle files the run opened, in order: 'submit', 'postern' */
  readonly bundles: string[];
}

function traced(dir: string, program: string, args: readonly string[], input = ''): Run {
  const log = join(dir, `strace-${Math.random()}`);
  const r = spawnSync(STRACE!, ['-f', '-qq', '-e', 'trace=openat', '-o', log, join(repoRoot, 'bin', program), ...args], {
    input,
    env: { PATH: '/usr/bin:/bin', HOME: dir },
    encoding: 'utf8',
  });
  const bundles = [...readFileSync(log, 'utf8').matchAll(/\/dist\/bundle\/(submit|postern)\.cjs"/g)].map((m) => m[1]!);
  return { status: r.status, output: r.stdout + r.stderr, bundles };
}

test('sendmail -t runs the submission bundle alone; other modes and names reach the whole command once', { skip }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-bundles-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  // no daemon answers this submit.cf's socket: the message goes to a client queue of the test's own
  const queue = join(dir, 'cq');
  mkdirSync(queue, { mode: 0o700 });
  const submitCf = join(dir, 'submit.cf');
  writeFileSync(
    submitCf,
    readFileSync(join(repoRoot, 'conf', 'submit.cf'), 'utf8')
      .replace(/^D\{SubmitSocket\}.*$/m, `D{SubmitSocket}${join(dir, 'no-daemon.sock')}`)
      .replace(/^O QueueDirectory=.*$/m, `O QueueDirectory=${queue}`),
  );

  const submission = traced(dir, 'sendmail', ['-C', submitCf, '-t', '-i'], 'To: root\nSubject: bundles\n\nhello\n');
  assert.equal(submission.status, 0, submission.output);
  assert.deepEqual(submission.bundles, ['submit']);
  // run as root, the submission left submit.cf's parse beside it for the next (src/config/frozen.ts)
  assert.equal(existsSync(join(dir, 'submit.fc')), process.getuid?.() === 0);

  const listing = traced(dir, 'sendmail', ['-C', submitCf, '-bp']);
  assert.equal(listing.status, 0, listing.output);
  assert.deepEqual(listing.bundles, ['submit', 'postern']);
  assert.match(listing.output, /Total requests: 1\n/);

  const byName = traced(dir, 'mailq', ['-C', submitCf]);
  assert.equal(byName.status, 0, byName.output);
  assert.deepEqual(byName.bundles, ['postern']);
  assert.equal(byName.output, listing.output);

  // a command line the submission bundle cannot run: its complaint is printed once, by the whole command
  const unknown = traced(dir, 'sendmail', ['-C', submitCf, '-bv']);
  assert.deepEqual(unknown.bundles, ['submit', 'postern']);
  assert.equal(unknown.status, 64, unknown.output);
  assert.equal(unknown.output, 'Recipient names must be specified\n');
});
