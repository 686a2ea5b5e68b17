/**
 * The command line, compared with sendmail 8.17: each case states the text
 * and exit code sendmail gives; Postern's bin/sendmail must give the same.
 * When the real sendmail can be had here (Debian's sendmail-bin, unpacked),
 * it is run on the same table in the same sandbox, so the table itself is
 * checked against the real thing.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { stockConfigs } from '../helpers/m4cf.js';
import { realSendmail } from '../helpers/peers.js';
import { binDir, sandboxSkipReason } from '../helpers/sandbox.js';
import { runCases, type CommandCase, type CommandOutcome } from './compat-harness.js';

const PERMISSION_DENIED = 'Permission denied (real uid not trusted)';

const CASES: readonly CommandCase[] = [
  // getopt
  { name: 'unknown flag', args: ['-Z'], stdout: [], stderr: ['sendmail: illegal option -- Z'], exit: 64 },
  { name: 'missing argument', args: ['-f'], stdout: [], stderr: ['sendmail: option requires an argument -- f'], exit: 64 },
  { name: 'missing -X argument', args: ['-X'], stdout: [], stderr: ['sendmail: option requires an argument -- X'], exit: 64 },
  { name: 'missing -O argument', args: ['-O'], stdout: [], stderr: ['sendmail: option requires an argument -- O'], exit: 64 },
  { name: 'unknown flag after a usage error', args: ['-N', 'foo', '-Z'], stdout: ['Invalid -N argument'], stderr: ['sendmail: illegal option -- Z'], exit: 64 },
  { name: 'unknown flag hides a later -b', args: ['-Z', '-bz'], stdout: [], stderr: ['sendmail: illegal option -- Z'], exit: 64 },
  // operation modes
  { name: '-bz', args: ['-bz'], stdout: ['Frozen configurations unsupported'], stderr: [], exit: 64 },
  { name: '-bz before a bad flag', args: ['-bz', '-Z'], stdout: ['Frozen configurations unsupported'], stderr: [], exit: 64 },
  { name: 'unknown mode', args: ['-bx'], stdout: ['Invalid operation mode x'], stderr: [], exit: 64 },
  { name: '-bl is not in this build', args: ['-bl'], stdout: ['Invalid operation mode l'], stderr: [], exit: 64 },
  { name: '-b takes the next word', args: ['-b', '-t'], stdout: ['Invalid operation mode -'], stderr: [], exit: 64 },
  // values
  { name: '-f twice', args: ['-f', 'a', '-f', 'b', 'c'], stdout: ['More than one "from" person'], stderr: [], exit: 64 },
  { name: '-f and -r', args: ['-fa', '-rb', 'c'], stdout: ['More than one "from" person'], stderr: [], exit: 64 },
  { name: 'bad -N', args: ['-N', 'foo', 'c'], stdout: ['Invalid -N argument'], stderr: [], exit: 64 },
  { name: 'two bad -N words', args: ['-N', 'success,x,y', 'c'], stdout: ['Invalid -N argument', 'Invalid -N argument'], stderr: [], exit: 64 },
  { name: 'bad -R', args: ['-R', 'foo', 'c'], stdout: ['Invalid -R value'], stderr: [], exit: 64 },
  { name: '-R twice', args: ['-Rfull', '-Rhdrs', 'c'], stdout: ['Duplicate -R flag'], stderr: [], exit: 64 },
  { name: 'bad -V', args: ['-V', 'a+zz', 'c'], stdout: ['Invalid syntax in -V flag'], stderr: [], exit: 64 },
  { name: 'bad -h', args: ['-h', 'x', 'c'], stdout: ['Bad hop count (x)'], stderr: [], exit: 64 },
  { name: 'bad -B', args: ['-B', 'foo', 'c'], stdout: ['Illegal body type foo'], stderr: [], exit: 64 },
  // queue runs
  { name: 'bad -q unit', args: ['-qx'], stdout: ["Invalid time unit `x'"], stderr: [], exit: 64 },
  { name: 'bad -q units', args: ['-qabc'], stdout: ["Invalid time unit `a'", "Invalid time unit `b'", "Invalid time unit `c'"], stderr: [], exit: 64 },
  { name: '-Q.', args: ['-Q.'], stdout: ['Can not use -Q.'], stderr: [], exit: 64 },
  { name: '-q!G', args: ['-q!Gfoo'], stdout: ['Can not use -q!G'], stderr: [], exit: 64 },
  { name: 'two -qG', args: ['-qGa', '-qGb'], stdout: ['Can not use multiple -qG options'], stderr: [], exit: 64 },
  { name: '-Q with -bp', args: ['-bp', '-Q', 'x'], stdout: ['Can not use -Q with -bp'], stderr: [], exit: 64 },
  { name: '-q with -bv', args: ['-bv', '-q'], stdout: ['Can not use -q with -bv'], stderr: [], exit: 64 },
  // options
  { name: 'unknown -O', args: ['-O', 'Foo=bar', '-bp'], stdout: ['readcf: unknown option name Foo'], stderr: [], exit: 70 },
  { name: 'empty -O name', args: ['-O=x'], stdout: ['readcf: null option name'], stderr: [], exit: 70 },
  { name: 'unknown -O, then bad -N', args: ['-OFoo=bar', '-N', 'foo', 'c'], stdout: ['readcf: unknown option name Foo', 'Invalid -N argument'], stderr: [], exit: 64 },
  { name: 'bad -N, then unknown -O', args: ['-N', 'foo', '-OFoo=bar', 'c'], stdout: ['Invalid -N argument', 'readcf: unknown option name Foo'], stderr: [], exit: 64 },
  { name: 'ambiguous -O', args: ['-O', 'Queue=/x', '-bC'], stdout: ['readcf: ambiguous option name Queue (matches QueueFactor and QueueDirectory)'], stderr: [], exit: 70 },
  // configuration files
  { name: 'missing -C file', args: ['-C', '/nonexistent/x.cf', '-bp'], stdout: ['/nonexistent/x.cf: line 0: cannot open: No such file or directory'], stderr: [], exit: 72 },
  { name: 'missing -C file for -t', args: ['-C', '/nonexistent/x.cf', '-t'], stdout: ['/nonexistent/x.cf: line 0: cannot open: No such file or directory'], stderr: [], exit: 72 },
  { name: '-bC on a sound sendmail.cf', args: ['-bC'], stdout: [], stderr: [], exit: 0 },
  { name: '-bC on a sound submit.cf', args: ['-Ac', '-bC'], stdout: [], stderr: [], exit: 0 },
  // recipients
  { name: 'no recipients', args: [], stdout: ['Recipient names must be specified'], stderr: [], exit: 64 },
  { name: 'no recipients to verify', args: ['-bv'], stdout: ['Recipient names must be specified'], stderr: [], exit: 64 },
  // who may do what
  {
    name: 'daemon by a user', args: ['-bd'], user: 'alice', stdout: [`550 ${PERMISSION_DENIED}\r`], stderr: [], exit: 64,
    syslog: ['<17>sendmail[PID]: user {alice} attempted to run daemon'],
  },
  {
    name: 'daemon by a user, with a syslog label', args: ['-L', 'sm-test', '-bd'], user: 'alice',
    stdout: [`550 ${PERMISSION_DENIED}\r`], stderr: [], exit: 64,
    syslog: ['<20>sm-test[PID]: user {alice} changed syslog label', '<17>sm-test[PID]: user {alice} attempted to run daemon'],
  },
  {
    name: 'newaliases by a user', args: ['-bi'], user: 'alice', stdout: [PERMISSION_DENIED], stderr: [], exit: 64,
    syslog: ['<17>sendmail[PID]: user {alice} attempted to rebuild the alias map'],
  },
  {
    name: 'purgestat by a user', args: ['-bH'], user: 'alice', stdout: [PERMISSION_DENIED], stderr: [], exit: 64,
    syslog: ['<17>sendmail[PID]: user {alice} attempted to purge host status'],
  },
  // host status: the stock sendmail.cf sets no HostStatusDirectory, so there is nothing to list or purge
  { name: 'hoststat without HostStatusDirectory', args: ['-bh'], stdout: [], stderr: [], exit: 0 },
  { name: 'purgestat without HostStatusDirectory', args: ['-bH'], stdout: [], stderr: [], exit: 0 },
  {
    name: 'hoststat by a user who cannot enter the queue', args: ['-bh'], user: 'alice',
    stdout: ['can not chdir(/var/spool/mqueue/): Permission denied'], stderr: ['Program mode requires special privileges, e.g., root or TrustedUser.'], exit: 78,
  },
  { name: 'hoststat with a missing HostStatusDirectory', args: ['-O', 'HostStatusDirectory=.nohoststat', '-bh'], stdout: ['Warning: Cannot use HostStatusDirectory = .nohoststat: No such file or directory'], stderr: [], exit: 0 },
  { name: 'queue runner by a user', args: ['-q5m'], user: 'alice', stdout: [PERMISSION_DENIED], stderr: [], exit: 64 },
  // files named on the command line
  { name: '-L without a tag', args: ['-L'], stdout: ["option requires an argument -- 'L'"], stderr: [], exit: 64 },
  {
    name: '-X file cannot be opened', args: ['-X', '/nonexistent/x', 'c'],
    stdout: ['cannot open /nonexistent/x: No such file or directory'], stderr: [], exit: 73,
    syslog: ['<18>sendmail[PID]: NOQUEUE: SYSERR(root): cannot open /nonexistent/x: No such file or directory'],
  },
  { name: '-D file cannot be opened', args: ['-D', '/nonexistent/x', 'c'], stdout: ['cannot open /nonexistent/x: No such file or directory'], stderr: [], exit: 73 },
  {
    name: 'bare -C means sendmail.cf in the current directory', args: ['-C'],
    stdout: ['sendmail.cf: line 0: cannot open: No such file or directory'], stderr: [], exit: 72,
    syslog: ['<18>sendmail[PID]: NOQUEUE: SYSERR(root): sendmail.cf: line 0: cannot open: No such file or directory'],
  },
  // more values and combinations
  { name: '-M without an argument', args: ['-M'], stdout: [], stderr: ['sendmail: option requires an argument -- M'], exit: 64 },
  {
    name: '-M with an unbalanced brace', args: ['-M{foo', 'c'],
    stdout: ['Unbalanced { on foo', 'Unable to assign macro/class ID (mid = 0xffffffff)'], stderr: [], exit: 70,
    syslog: [
      '<18>sendmail[PID]: NOQUEUE: SYSERR(root): Unbalanced { on foo',
      '<18>sendmail[PID]: NOQUEUE: SYSERR(root): Unable to assign macro/class ID (mid = 0xffffffff)',
    ],
  },
  { name: '-p without an argument', args: ['-p'], stdout: [], stderr: ['sendmail: option requires an argument -- p'], exit: 64 },
  { name: '-h without an argument', args: ['-h'], stdout: [], stderr: ['sendmail: option requires an argument -- h'], exit: 64 },
  { name: '-F without an argument', args: ['-F'], stdout: [], stderr: ['sendmail: option requires an argument -- F'], exit: 64 },
  { name: 'hop count attached', args: ['-hx'], stdout: ['Bad hop count (x)'], stderr: [], exit: 64 },
  { name: '-q with -bi', args: ['-bi', '-q'], stdout: ['Can not use -q with -bi'], stderr: [], exit: 64 },
  { name: 'flags clustered', args: ['-Gbz'], stdout: ['Frozen configurations unsupported'], stderr: [], exit: 64 },
  { name: '-A other than c reads sendmail.cf', args: ['-Ab', '-bC'], stdout: [], stderr: [], exit: 0 },
  {
    name: 'unknown -O is logged as a system error', args: ['-O', 'Foo=bar', '-bp'],
    stdout: ['readcf: unknown option name Foo'], stderr: [], exit: 70,
    syslog: ['<18>sendmail[PID]: NOQUEUE: SYSERR(root): readcf: unknown option name Foo'],
  },
  // listings, compared with the real sendmail only
  { name: '-bO', args: ['-bO'] },
];

test('the command line answers as sendmail 8.17 does', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const configs = await stockConfigs();
  if ('skip' in configs) return t.skip(configs.skip);

  const postern = await runCases(join(binDir, 'sendmail'), CASES, configs);
  const real = await realSendmail();
  const referenceRun = typeof real === 'string' ? await runCases(real, CASES, configs) : undefined;
  const reference = referenceRun?.outcomes;
  if (reference === undefined) t.diagnostic(`not compared with the real sendmail: ${(real as { skip: string }).skip}`);

  for (const [n, c] of CASES.entries()) {
    await t.test(`${c.name}: ${c.args.join(' ') || '(no arguments)'}${c.user ? ` as ${c.user}` : ''}`, (st) => {
      const pick = (o: CommandOutcome, aliceUid: number) => ({
        stdout: o.stdout,
        stderr: o.stderr,
        exit: o.exit,
        ...(c.syslog ? { syslog: o.syslog.map((l) => l.replaceAll(`user ${aliceUid} `, 'user {alice} ')) } : {}),
      });
      const got = pick(postern.outcomes[n]!, postern.aliceUid);
      const ref = reference === undefined ? undefined : pick(reference[n]!, referenceRun!.aliceUid);
      if (c.exit !== undefined) {
        const expected = { stdout: c.stdout, stderr: c.stderr, exit: c.exit, ...(c.syslog ? { syslog: c.syslog } : {}) };
        if (ref !== undefined) assert.deepEqual(ref, expected, 'the real sendmail no longer gives what the table says');
        assert.deepEqual(got, expected);
      } else if (ref !== undefined) {
        assert.deepEqual({ ...got, syslog: postern.outcomes[n]!.syslog }, { ...ref, syslog: reference![n]!.syslog });
      } else {
        st.skip('compared with the real sendmail only, which is not available here');
      }
    });
  }
});
