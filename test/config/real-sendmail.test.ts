/**
 * The texts Postern's reader produces, compared with the real sendmail 8.17
 * (Debian's sendmail-bin, unpacked) where it can run here: the -bO listing,
 * and -bC on a file full of mistakes, a missing file, a group-writable
 * file, and an unknown -O option.  sendmail is run in the test sandbox,
 * whose host name is qualified (sendmail waits a minute for DNS otherwise).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { promisify } from 'node:util';
import { checkConfig, formatOptionNames, loadConfig, problemsExitCode, ConfigError, type Problem } from '../../src/config/index.js';
import { realSendmail } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { tempDir, writeCf } from './cf-files.js';

const run = promisify(execFile);

test('-bO lists the option names exactly as sendmail does', async (t) => {
  const sendmail = await realSendmail();
  if (typeof sendmail !== 'string') return t.skip(sendmail.skip);
  const { stdout } = await run(sendmail, ['-bO'], { timeout: 30_000 });
  assert.equal(formatOptionNames(), stdout);
});

/** A file with one mistake of each kind whose text sendmail and Postern share. */
function mistakes(queue: string): string[] {
  return [
    'V10/Berkeley',
    `O QueueDirectory=${queue}`,
    'Zfoo',
    'O Foo=bar',
    'O LogLev=3',
    'O Que=/x',
    'O PrivacyOptions=goaway,bogus',
    'O DontBlameSendmail=safe,Bogus',
    'O QueueSortOrder=z',
    'O NoRecipientAction=zz',
    'O Timeout.bogus=3m',
    'O Milter.bogus=1',
    'O Milter.macros.bogus=i',
    'O DaemonPortOptions=Bogus=1',
    'O DaemonPortOptions=Family=bogus',
    'O DaemonPortOptions=Port=notaport',
    'O ConnectOnlyTo=zz',
    'O ResolverOptions=+bogus',
    'O ServerSSLOptions=+SSL_OP_NO_SSLv3 +bogus',
    'O MaxHeadersLength=100',
    'O MaxMimeHeaderLength=100/20',
    'O AuthOptions=A,p,y,z',
    'Mfoo',
    'Mfoo, A=true',
    'Mfoo, P=/bin/true, A=x, Z=1',
    'Mfoo, P=/bin/true, A=x, F',
    'Mfoo, P=/bin/true, A=x, Q=nosuch',
    'Mfoo, P=[IPC], A=x',
    'Mfoo, P=[TCP], A=TCP $h',
    'Mipc, P=[IPC], A=foo $h',
    'Xm',
    'X',
    'Xm, S=inet:x',
    'Xm, S=inet:abc@127.0.0.1',
    'Xm, S=inet:12@127.0.0.1, Z=3',
    'Xm, S=inet:12@127.0.0.1, T=Q:3',
    'Xm, S=inet:12@127.0.0.1, T=C',
    'Xdup, S=inet:12@127.0.0.1',
    'Xdup, S=inet:13@127.0.0.1',
    'V10/Foo',
    'Pfoo',
    'HBogus',
    'S1',
    'R$*\t$: $2',
    'Sfoo',
    'Rfoo',
    'S100',
    'Sfoo=bar',
    'Sfoo=120',
    'D',
    'K',
    'Kfoo cdb /etc/x',
    'Kfoo hash',
    'Kfoo hash -Z /etc/x',
    'Qq1, Z=1',
    'Qq2, P',
    'Qq3, R=2',
  ];
}

interface Outcome {
  readonly stdout: string;
  readonly stderr: string;
  readonly exit: number;
}

/** Runs sendmail with each argument list in one sandbox. */
async function runReal(sendmail: string, runs: readonly (readonly string[])[]): Promise<Outcome[]> {
  const dir = join(tempDir(), 'real');
  mkdirSync(dir, { recursive: true });
  const script = [
    'set -u',
    "echo '127.0.0.1 mx.example.test mx' >> /etc/hosts",
    ...runs.map((args, i) => {
      const quoted = args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
      return `'${sendmail}' ${quoted} >'${dir}/${i}.out' 2>'${dir}/${i}.err' </dev/null; echo $? >'${dir}/${i}.rc'`;
    }),
  ].join('\n');
  const result = await runInSandbox(script, { timeoutMs: 120_000 });
  assert.equal(result.code, 0, result.stderr);
  return runs.map((_, i) => ({
    stdout: readFileSync(join(dir, `${i}.out`), 'utf8'),
    stderr: readFileSync(join(dir, `${i}.err`), 'utf8'),
    exit: Number(readFileSync(join(dir, `${i}.rc`), 'utf8')),
  }));
}

function lines(text: string): string[] {
  return text.split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
}

/** Problems as sendmail prints them: [stdout lines, stderr lines]. */
function printed(problems: readonly Problem[]): [string[], string[]] {
  const toStderr = (p: Problem): boolean => p.code === 'CONFIG_UNSAFE';
  const split = (ps: readonly Problem[]): string[] => ps.flatMap((p) => p.message.split('\n'));
  return [split(problems.filter((p) => !toStderr(p))), split(problems.filter(toStderr))];
}

test('the real sendmail prints the same problems for the same files', async (t) => {
  const sendmail = await realSendmail();
  if (typeof sendmail !== 'string') return t.skip(sendmail.skip);
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);

  const queue = join(tempDir(), 'queue');
  mkdirSync(queue, { recursive: true, mode: 0o700 });
  const bad = writeCf(mistakes(queue), 0o644, 'mistakes.cf');
  const sound = ['V10/Berkeley', `O QueueDirectory=${queue}`, 'Mlocal, P=/bin/true, F=lsDFM, A=true'];
  const groupWritable = writeCf(sound, 0o664, 'group-writable.cf');
  const good = writeCf(sound, 0o644, 'good.cf');
  const missing = join(tempDir(), 'no-such.cf');
  const noQueue = writeCf(['V10/Berkeley', 'Mlocal, P=/bin/true, A=true'], 0o644, 'no-queue.cf');
  const noLocal = writeCf(['V10/Berkeley', `O QueueDirectory=${queue}`], 0o644, 'no-local.cf');
  writeFileSync(join(tempDir(), 'unused'), '');

  const runs: Array<{ args: string[]; postern: () => Problem[] }> = [
    { args: ['-C', bad, '-bC'], postern: () => checkConfig(bad) },
    { args: ['-C', missing, '-bC'], postern: () => checkConfig(missing) },
    { args: ['-C', groupWritable, '-bC'], postern: () => checkConfig(groupWritable) },
    { args: ['-C', noQueue, '-bC'], postern: () => checkConfig(noQueue) },
    { args: ['-C', noLocal, '-bC'], postern: () => checkConfig(noLocal) },
    {
      args: ['-C', good, '-O', 'Foo=bar', '-O', 'LogLev=3', '-bC'],
      postern: () => checkConfig(good, { commandLineOptions: [{ name: 'Foo', value: 'bar' }, { name: 'LogLev', value: '3' }] }),
    },
  ];
  const real = await runReal(sendmail, runs.map((r) => r.args));
  runs.forEach((r, i) => {
    const problems = r.postern();
    const [stdout, stderr] = printed(problems);
    const what = r.args.join(' ');
    assert.deepEqual(stdout, lines(real[i]!.stdout), `stdout of ${what}`);
    assert.deepEqual(stderr, lines(real[i]!.stderr), `stderr of ${what}`);
    assert.equal(problemsExitCode(problems), real[i]!.exit, `exit status of ${what}`);
  });
});

test('an unknown -O option outside -bC: the same text and exit status', async (t) => {
  const sendmail = await realSendmail();
  if (typeof sendmail !== 'string') return t.skip(sendmail.skip);
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const queue = join(tempDir(), 'queue2');
  mkdirSync(queue, { recursive: true, mode: 0o700 });
  const good = writeCf(['V10/Berkeley', `O QueueDirectory=${queue}`, 'Mlocal, P=/bin/true, A=true', 'Zfoo'], 0o644, 'good2.cf');
  const [real] = await runReal(sendmail, [['-C', good, '-O', 'Foo=bar', '-bp']]);
  let error: ConfigError | null = null;
  try {
    loadConfig(good, { commandLineOptions: [{ name: 'Foo', value: 'bar' }] });
  } catch (e) {
    if (e instanceof ConfigError) error = e;
  }
  assert.ok(error !== null);
  assert.equal(error.code, 'CONFIG_UNKNOWN_OPTION');
  assert.equal(error.message + '\n', real!.stdout, 'the file is not read after a bad -O');
  assert.equal(error.exitStatus, real!.exit);
  assert.equal(real!.exit, 70);
});
