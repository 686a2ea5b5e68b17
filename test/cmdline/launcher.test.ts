/**
 * bin/sendmail as callers meet it: the mode follows the name it is called
 * by, messages print argv[0] as given, it refuses to run set-id, and the
 * submission path stays light (never loads the SMTP server, client or TLS
 * certificate libraries).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { lookupGroup } from '../../src/privsep/passwd.js';
import { serveSubmissions } from '../../src/msp/submit-protocol.js';
import { repoRoot } from '../helpers/peers.js';

const sendmail = join(repoRoot, 'bin', 'sendmail');
/** What bin/sendmail runs. */
const boot = join(repoRoot, 'dist', 'bundle', 'boot.cjs');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(file: string, args: readonly string[], options: { argv0?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { argv0: options.argv0, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('error messages print argv[0] exactly as the caller gave it', async () => {
  for (const argv0 of ['sendmail', '/usr/lib/sendmail', './odd name/sendmail']) {
    const r = await run(sendmail, ['-Z'], { argv0 });
    assert.equal(r.code, 64);
    assert.equal(r.stderr, `${argv0}: illegal option -- Z\n`);
  }
});

test('the name it is called by chooses the mode, through links too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-names-'));
  try {
    const queue = join(dir, 'mqueue');
    mkdirSync(queue, { mode: 0o700 });
    const aliases = join(dir, 'aliases');
    writeFileSync(aliases, 'root: alice\n');
    // one host known to be down, in sendmail's layout under the queue directory
    mkdirSync(join(queue, '.hoststat', 'net.', 'example.'), { recursive: true, mode: 0o755 });
    writeFileSync(join(queue, '.hoststat', 'net.', 'example.', 'down'), `V0\nE111\nH0\nS75\nD4.4.1\nU${Math.floor(Date.now() / 1000)}\n.\n`);
    const expectations: Array<[string, number, RegExp]> = [
      ['mailq', 0, new RegExp(`^${queue} is empty\n\t\tTotal requests: 0\n$`)],
      ['newaliases', 0, new RegExp(`^${aliases}: 1 aliases, longest 5 bytes, 9 bytes total\n$`)],
      ['hoststat', 0, /^ -+ Hostname -+ How long ago -+Results-+\n down\.example\.net {28}00:00:0\d Deferred: Connection refu\n$/],
      // the status is younger than Timeout.hoststatus: sendmail's purgestat leaves it
      ['purgestat', 0, /^$/],
    ];
    for (const [name, code, pattern] of expectations) {
      const link = join(dir, name);
      symlinkSync(sendmail, link);
      // -C names a configuration that loads and the caller is its TrustedUser,
      // so that the run reaches the mode itself whoever runs the test
      const r = await run(link, ['-C', join(repoRoot, 'conf', 'sendmail.cf'), '-O', `TrustedUser=${process.getuid?.() ?? 0}`, '-O', `QueueDirectory=${queue}`, '-O', `AliasFile=${aliases}`, '-O', 'HostStatusDirectory=.hoststat']);
      assert.equal(r.code, code, `${name}: ${r.stdout}${r.stderr}`);
      if (code === 0) {
        assert.match(r.stdout, pattern, name);
      } else {
        assert.match(r.stderr, pattern, name);
        assert.ok(r.stderr.startsWith(`${link}: `), `${name} prints its own path: ${r.stderr}`);
      }
    }
    // bin/ carries every name, as links to the one executable
    for (const [name] of expectations) {
      const r = await run(join(repoRoot, 'bin', name), ['-Z']);
      assert.equal(r.stderr, `${join(repoRoot, 'bin', name)}: illegal option -- Z\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bin/sendmail refuses to run set-group-ID', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root: making a set-group-ID copy owned by another group');
  const group = lookupGroup('nogroup') ?? lookupGroup(65534);
  if (group === undefined) return t.skip('no group nogroup (65534) on this system');
  const dir = mkdtempSync(join(tmpdir(), 'postern-setid-'));
  try {
    chmodSync(dir, 0o755);
    const copy = join(dir, 'sendmail');
    copyFileSync(sendmail, copy);
    chownSync(copy, 0, group.gid);
    chmodSync(copy, 0o2755);
    const r = await run(copy, ['-bz']);
    assert.equal(r.code, 70);
    assert.match(r.stderr, /refusing to run set-user-ID or set-group-ID/);
    assert.equal(r.stdout, '', 'nothing of Postern ran');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * A preloaded script that writes down every module the process loads: the
 * files CommonJS requires and the URLs the ESM loader resolves (the command
 * is one CommonJS file; a package could be reached either way).
 */
const RECORDER = `
const { appendFileSync } = require('node:fs');
const Module = require('node:module');
const note = (what) => appendFileSync(process.env.POSTERN_TEST_MODULES, what + '\\n');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  const loaded = load.apply(this, arguments);
  try { note(Module._resolveFilename(request, parent, isMain)); } catch { note(request); }
  return loaded;
};
if (Module.register) Module.register('data:text/javascript,' + encodeURIComponent(
  "import { appendFileSync } from 'node:fs'; export async function resolve(s, c, n) { const r = await n(s, c); appendFileSync(process.env.POSTERN_TEST_MODULES, r.url + String.fromCharCode(10)); return r; }"));
`;

const HEAVY = /node_modules\/(smtp-server|nodemailer|node-forge|better-sqlite3)\//;

test('the submission path never loads smtp-server, nodemailer, node-forge or better-sqlite3', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-modules-'));
  try {
    const recorder = join(dir, 'recorder.cjs');
    writeFileSync(recorder, RECORDER);
    // node runs the command's boot.cjs itself: bin/sendmail drops NODE_OPTIONS, which could preload the recorder
    const modulesSeen = async (args: readonly string[]) => {
      const log = join(dir, `modules-${Math.random()}`);
      writeFileSync(log, '');
      const env = { ...process.env, POSTERN_TEST_MODULES: log };
      const r = await run(process.execPath, ['--no-warnings', '--require', recorder, ...args], { env });
      return { run: r, modules: readFileSync(log, 'utf8').split('\n').filter((l) => l !== '') };
    };

    // the recorder sees these libraries when something does load them
    const control = await modulesSeen([
      '--input-type=module',
      '-e',
      "await import('smtp-server'); await import('nodemailer'); await import('node-forge'); await import('better-sqlite3');",
    ]);
    assert.equal(control.run.code, 0, control.run.stderr);
    assert.equal(new Set(control.modules.filter((m) => HEAVY.test(m)).map((m) => HEAVY.exec(m)?.[1])).size, 4);

    // a private submit.cf: no daemon answers its socket, so the message goes to a client queue of the test's own
    const submitCf = join(dir, 'submit.cf');
    mkdirSync(join(dir, 'cq'), { mode: 0o700 });
    writeFileSync(
      submitCf,
      readFileSync(join(repoRoot, 'conf', 'submit.cf'), 'utf8')
        .replace(/^D\{SubmitSocket\}.*$/m, `D{SubmitSocket}${join(dir, 'no-daemon.sock')}`)
        .replace(/^O QueueDirectory=.*$/m, `O QueueDirectory=${join(dir, 'cq')}`),
    );
    for (const args of [['-C', submitCf, '-t', '-i'], ['-C', submitCf, 'root'], ['-C', submitCf, '-bm', 'root']]) {
      const { run: r, modules } = await modulesSeen([boot, ...args]);
      assert.ok(modules.some((m) => m.endsWith('/dist/bundle/boot.cjs')), `the recorder saw the run: ${modules.join(' ')}`);
      assert.notEqual(r.code, null);
      assert.deepEqual(modules.filter((m) => HEAVY.test(m)), [], args.join(' '));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with the daemon answering, sendmail -t does not load the net module', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-modules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const recorder = join(dir, 'recorder.cjs');
  writeFileSync(recorder, RECORDER);
  const socket = join(dir, 'submit.sock');
  const server = serveSubmissions(socket, async (s) => {
    for await (const _ of s.body);
    return { ok: true, id: 'QID1', lines: [] };
  });
  await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const submitCf = join(dir, 'submit.cf');
  writeFileSync(submitCf, readFileSync(join(repoRoot, 'conf', 'submit.cf'), 'utf8').replace(/^D\{SubmitSocket\}.*$/m, `D{SubmitSocket}${socket}`));
  const log = join(dir, 'modules');
  writeFileSync(log, '');
  const child = spawn(process.execPath, ['--no-warnings', '--require', recorder, boot, '-C', submitCf, '-t', '-i'], {
    env: { ...process.env, POSTERN_TEST_MODULES: log },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  child.stdin.end('To: root\nSubject: light\n\nhello\n');
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 0, output);
  const modules = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
  assert.ok(modules.some((m) => m.endsWith('/dist/bundle/boot.cjs')), `the recorder saw the run: ${modules.join(' ')}`);
  // the blocking client (submit-blocking.ts) needs neither net nor its streams
  assert.deepEqual(modules.filter((m) => /^(node:)?(net|stream|tls)$/.test(m)), []);
});

test("the caller's NODE_OPTIONS does not reach Node: nothing preloaded, no option refused", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-nodeopts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const marker = join(dir, 'preloaded');
  const preload = join(dir, 'preload.cjs');
  writeFileSync(preload, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
  for (const options of [`--require ${preload}`, '--definitely-not-a-node-option']) {
    const r = await run(sendmail, ['-bz'], { env: { ...process.env, NODE_OPTIONS: options } });
    assert.equal(r.code, 64, `${options}: ${r.stderr}`);
    assert.equal(r.stdout, 'Frozen configurations unsupported\n', options);
    assert.equal(r.stderr, '', options);
  }
  assert.equal(existsSync(marker), false, 'the preload never ran');
});

test('a message piped to sendmail without recipients is read to the end, so the writer is not killed by SIGPIPE', async (t) => {
  // a copy: a run as root leaves a frozen configuration beside the .cf it read
  const dir = mkdtempSync(join(tmpdir(), 'postern-sigpipe-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(join(repoRoot, 'conf', 'submit.cf'), join(dir, 'submit.cf'));
  const child = spawn(sendmail, ['-C', join(dir, 'submit.cf')], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  const chunk = Buffer.alloc(1 << 20, 'x');
  const written = new Promise<void>((resolve, reject) => {
    let left = 8;
    const writeMore = () => {
      while (left > 0) {
        left--;
        if (!child.stdin.write(chunk)) return void child.stdin.once('drain', writeMore);
      }
      child.stdin.end(resolve);
    };
    child.stdin.on('error', reject);
    writeMore();
  });
  const [code] = await Promise.all([new Promise<number | null>((resolve) => child.on('close', resolve)), written]);
  assert.equal(code, 64, stderr);
  assert.equal(stdout, 'Recipient names must be specified\n');
});

test('no daemon and no client queue: sendmail -t says so as sendmail would, and fails (78), with no stack trace', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-nocq-'));
  try {
    const submitCf = join(dir, 'submit.cf');
    writeFileSync(
      submitCf,
      readFileSync(join(repoRoot, 'conf', 'submit.cf'), 'utf8')
        .replace(/^D\{SubmitSocket\}.*$/m, `D{SubmitSocket}${join(dir, 'no-daemon.sock')}`)
        .replace(/^O QueueDirectory=.*$/m, `O QueueDirectory=${join(dir, 'missing')}`),
    );
    const child = spawn(sendmail, ['-C', submitCf, '-t', '-i'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.stdin.end('To: root\n\nhello\n');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 78, stderr);
    assert.equal(stdout, `can not chdir(${join(dir, 'missing')}/): No such file or directory\n`);
    assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
