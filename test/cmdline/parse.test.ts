import assert from 'node:assert/strict';
import test from 'node:test';
import { ERR, PosternError } from '../../src/common/errors.js';
import { parseInterval } from '../../src/msp/cmdline/convtime.js';
import { OptionScanner, rewriteObsoleteForms } from '../../src/msp/cmdline/getopt.js';
import { configPath, type Invocation } from '../../src/msp/cmdline/invocation.js';
import { isXtext, parseCommandLine, type OptionChecker } from '../../src/msp/cmdline/parse.js';

/** Accepts every option except the name "Bogus", which it reports as sendmail's setoption would. */
const checker: OptionChecker = (s) =>
  s.text.startsWith('Bogus')
    ? { notices: [], error: new PosternError(ERR.CONFIG_UNKNOWN_OPTION, 'readcf: unknown option name Bogus') }
    : { notices: [] };

function parse(...args: string[]) {
  return parseCommandLine('sendmail', args, checker);
}

test('the basename of argv[0] chooses the initial mode', () => {
  const cases: Array<[string, string]> = [
    ['/usr/sbin/sendmail', 'deliver'],
    ['mailq', 'print'],
    ['/usr/bin/newaliases', 'initalias'],
    ['hoststat', 'hoststat'],
    ['purgestat', 'purgestat'],
    ['smtpd', 'daemon'],
    ['/opt/x/sendmail.postern', 'deliver'],
  ];
  for (const [argv0, mode] of cases) assert.equal(parseCommandLine(argv0, [], checker).invocation.mode, mode, argv0);
});

test('-b selects every mode sendmail 8.17 knows, by its letter', () => {
  const modes: Record<string, string> = {
    m: 'deliver', s: 'smtp', a: 'arpaftp', d: 'daemon', D: 'fgdaemon', v: 'verify', t: 'test',
    i: 'initalias', p: 'print', P: 'printnqe', h: 'hoststat', H: 'purgestat', C: 'checkconfig',
  };
  for (const [letter, mode] of Object.entries(modes)) {
    const r = parse(`-b${letter}`);
    assert.equal(r.invocation.mode, mode, letter);
    assert.equal(r.exitStatus, 0, letter);
  }
  const shown = parse('-bO');
  assert.equal(shown.invocation.mode, 'showconfig');
  assert.equal(shown.stop, true);
});

test('bad modes stop at once with EX_USAGE', () => {
  for (const [args, code, text] of [
    [['-bz'], 'USAGE_INVALID_MODE', 'Frozen configurations unsupported'],
    [['-bx'], 'USAGE_INVALID_MODE', 'Invalid operation mode x'],
    [['-bq'], 'USAGE_INVALID_MODE', 'Invalid operation mode q'],
    [['-b', '-t'], 'USAGE_INVALID_MODE', 'Invalid operation mode -'],
  ] as const) {
    const r = parse(...args);
    assert.deepEqual(r.errors, [code], args.join(' '));
    assert.equal(r.exitStatus, 64);
    assert.equal(r.stop, true);
    assert.deepEqual(r.output, [{ stream: 'stdout', text }]);
  }
});

test('a bare -b at the end takes the previous option argument, as sendmail\'s silent first pass does', () => {
  assert.deepEqual(parse('-OQueueDirectory=/x', '-b').output, [{ stream: 'stdout', text: 'Invalid operation mode Q' }]);
  assert.deepEqual(parse('-b').output, [{ stream: 'stdout', text: 'Invalid operation mode  ' }]);
});

test('unknown letters and missing arguments are getopt errors on stderr', () => {
  const illegal = parse('-Z');
  assert.deepEqual(illegal.errors, ['USAGE_ILLEGAL_OPTION']);
  assert.deepEqual(illegal.output, [{ stream: 'stderr', text: 'sendmail: illegal option -- Z' }]);
  assert.equal(illegal.exitStatus, 64);
  const missing = parse('-f');
  assert.deepEqual(missing.errors, ['USAGE_MISSING_ARGUMENT']);
  assert.deepEqual(missing.output, [{ stream: 'stderr', text: 'sendmail: option requires an argument -- f' }]);
  // the first pass treats -Z as taking "-bz" for its argument, so only -Z is reported
  assert.deepEqual(parse('-Z', '-bz').errors, ['USAGE_ILLEGAL_OPTION']);
  assert.deepEqual(parse('-bz', '-Z').errors, ['USAGE_INVALID_MODE']);
  // errors reported before the illegal option stay reported
  assert.deepEqual(parse('-N', 'foo', '-Z').errors, ['USAGE_BAD_VALUE', 'USAGE_ILLEGAL_OPTION']);
});

test('-f/-r: one sender only; an empty one is <>; newlines become spaces', () => {
  assert.equal(parse('-f', 'a@b', 'rcpt').invocation.sender, 'a@b');
  assert.equal(parse('-r', 'a@b', 'rcpt').invocation.senderFlag, 'r');
  assert.equal(parse('-f', '', 'rcpt').invocation.sender, '<>');
  assert.equal(parse('-f', 'a\nb', 'rcpt').invocation.sender, 'a b');
  const twice = parse('-f', 'a', '-r', 'b', 'rcpt');
  assert.deepEqual(twice.errors, ['USAGE_SENDER_TWICE']);
  assert.equal(twice.exitStatus, 64);
  assert.equal(twice.stop, true);
});

test('-N takes never or a list of success, failure, delay; each bad word is reported', () => {
  assert.deepEqual(parse('-N', 'never', 'r').invocation.notify, { success: false, failure: false, delay: false, never: true });
  assert.deepEqual(parse('-N', 'Success,DELAY', 'r').invocation.notify, { success: true, failure: false, delay: true, never: false });
  assert.deepEqual(parse('-N', 'success,bogus,x', 'r').errors, ['USAGE_BAD_VALUE', 'USAGE_BAD_VALUE']);
  assert.deepEqual(parse('-N', '', 'r').errors, ['USAGE_BAD_VALUE']);
  assert.deepEqual(parse('-N', 'never,success', 'r').errors, ['USAGE_BAD_VALUE']);
});

test('-R hdrs|full once; -V must be xtext; -B is kept for the check after the configuration', () => {
  assert.equal(parse('-R', 'HDRS', 'r').invocation.dsnReturn, 'hdrs');
  assert.deepEqual(parse('-R', 'x', 'r').errors, ['USAGE_BAD_VALUE']);
  assert.deepEqual(parse('-Rfull', '-Rhdrs', 'r').errors, ['USAGE_BAD_VALUE']);
  assert.equal(parse('-V', 'id+2Bx', 'r').invocation.envid, 'id+2Bx');
  assert.deepEqual(parse('-V', 'a+zz', 'r').errors, ['USAGE_BAD_VALUE']);
  assert.deepEqual(parse('-V', 'a=b', 'r').errors, ['USAGE_BAD_VALUE']);
  assert.equal(parse('-B', '8bitmime', 'r').invocation.bodyType, '8bitmime');
  assert.equal(isXtext('ab+41cd'), true);
  assert.equal(isXtext('ab+4'), false);
  assert.equal(isXtext('a b'), false);
});

test('-h takes a number as strtol reads it', () => {
  assert.equal(parse('-h', '12', 'r').invocation.hopCount, 12);
  assert.equal(parse('-h', ' -3', 'r').invocation.hopCount, -3);
  assert.equal(parse('-h', '', 'r').exitStatus, 0);
  assert.equal(parse('-h', '70000', 'r').invocation.hopCount, 4464);
  for (const bad of ['x', '3x', '5 ', ' ']) assert.deepEqual(parse('-h', bad, 'r').errors, ['USAGE_BAD_VALUE'], bad);
});

test('-q: intervals, selections, groups, quarantine, persistence', () => {
  const run = (...a: string[]) => parse(...a).invocation;
  assert.equal(run('-q').mode, 'queuerun');
  assert.equal(run('-q').queueRun?.interval, 0);
  assert.equal(run('-q30m').queueRun?.interval, 1800);
  assert.equal(run('-q', '1h30').queueRun?.interval, 5400);
  assert.equal(run('-q2').queueRun?.interval, 120);
  assert.equal(run('-bd', '-q1h').mode, 'daemon');
  assert.equal(run('-bd', '-q1h').queueRun?.interval, 3600);
  const sel = run('-qIabc', '-q!Rbob', '-qSalice', '-qGslow', '-qf');
  assert.deepEqual(sel.queueRun?.byId, [{ pattern: 'abc', negate: false }]);
  assert.deepEqual(sel.queueRun?.byRecipient, [{ pattern: 'bob', negate: true }]);
  assert.deepEqual(sel.queueRun?.bySender, [{ pattern: 'alice', negate: false }]);
  assert.equal(sel.queueRun?.group, 'slow');
  assert.equal(sel.queueRun?.foreground, true);
  assert.equal(run('-qQspam').queueRun?.items, 'quarantined');
  assert.deepEqual(run('-qQspam').queueRun?.byQuarantine, [{ pattern: 'spam', negate: false }]);
  assert.equal(run('-qL').queueRun?.items, 'lost');
  assert.equal(run('-qp').queueRun?.persistent, true);
  assert.equal(run('-qp').queueRun?.interval, 1);
  assert.equal(run('-qp10s').queueRun?.interval, 10);
  assert.equal(run('-Q', 'held').quarantineReason, 'held');
  assert.equal(run('-Q').quarantineReason, '.');

  assert.deepEqual(parse('-qx').errors, ['USAGE_BAD_TIME_UNIT']);
  assert.deepEqual(parse('-qabc').output.map((d) => d.text), ["Invalid time unit `a'", "Invalid time unit `b'", "Invalid time unit `c'"]);
  assert.deepEqual(parse('-q!Gx').errors, ['USAGE_BAD_VALUE']);
  assert.deepEqual(parse('-qGa', '-qGb').errors, ['USAGE_BAD_VALUE']);
  assert.deepEqual(parse('-q-5m').errors, ['USAGE_BAD_VALUE']);
  assert.deepEqual(parse('-bv', '-q').errors, ['USAGE_NOT_PERMITTED']);
  assert.deepEqual(parse('-bv', '-q').output.map((d) => d.text), ['Can not use -q with -bv']);
  assert.deepEqual(parse('-bp', '-Q', 'x').output.map((d) => d.text), ['Can not use -Q with -bp']);
  assert.deepEqual(parse('-Q.').output.map((d) => d.text), ['Can not use -Q.']);
  assert.deepEqual(parse('-Q', '.').errors, ['USAGE_BAD_VALUE']);
});

test('intervals follow sendmail convtime', () => {
  assert.deepEqual(parseInterval('1w2d3h4m5s', 'm'), { seconds: 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5, badUnits: [] });
  assert.deepEqual(parseInterval('now', 'm'), { seconds: 0, badUnits: [] });
  assert.deepEqual(parseInterval('-2h', 'm'), { seconds: -7200, badUnits: [] });
  assert.deepEqual(parseInterval('5', 's'), { seconds: 5, badUnits: [] });
  assert.deepEqual(parseInterval('5x', 'h'), { seconds: 5 * 3600, badUnits: ['x'] });
});

test('-O and -o options reach the checker in order; the compatibility flags become options', () => {
  const r = parse('-O', 'LogLevel=12', '-oQ/var/q', '-i', '-v', '-s', '-ee', '-c', '-m', '-T', 'r');
  assert.deepEqual(r.invocation.options, [
    { letter: ' ', text: 'LogLevel=12' },
    { letter: 'Q', text: '/var/q' },
    { letter: 'i', text: 'T' },
    { letter: 'v', text: 'T' },
    { letter: 'f', text: 'T' },
    { letter: 'e', text: 'e' },
    { letter: 'c', text: 'T' },
    { letter: 'm', text: 'T' },
    { letter: 'T', text: 'T' },
  ]);
  const bad = parse('-O', 'Bogus=1', '-N', 'x', 'r');
  assert.deepEqual(bad.errors, ['CONFIG_UNKNOWN_OPTION', 'USAGE_BAD_VALUE']);
  assert.equal(bad.exitStatus, 64, 'a usage error after a software error sets EX_USAGE');
  const bad2 = parse('-N', 'x', '-O', 'Bogus=1', 'r');
  assert.equal(bad2.exitStatus, 64, 'a software error does not replace an earlier status');
  assert.equal(parse('-O', 'Bogus=1', 'r').exitStatus, 70);
});

test('the remaining flags are recorded', () => {
  const inv: Invocation = parse(
    '-Ac', '-C', '/tmp/x.cf', '-F', 'Full Name', '-G', '-n', '-t', '-U', '-p', 'UUCP:gw', '-d0.1', '-D', '/tmp/d',
    '-X', '/tmp/t', '-L', 'sm-x%\u0001', '-M', 'xvalue', '-M{name}v2', 'rcpt1', 'rcpt2',
  ).invocation;
  assert.equal(inv.configChoice, 'submit');
  assert.equal(inv.configFile, '/tmp/x.cf');
  assert.equal(inv.fullName, 'Full Name');
  assert.equal(inv.gateway, true);
  assert.equal(inv.noAliasing, true);
  assert.equal(inv.recipientsFromHeaders, true);
  assert.equal(inv.initialSubmission, true);
  assert.equal(inv.protocol, 'UUCP');
  assert.equal(inv.protocolHost, 'gw');
  assert.deepEqual(inv.debug, ['0.1']);
  assert.equal(inv.trafficLog, '/tmp/t');
  assert.equal(inv.syslogLabel, 'sm-x**');
  assert.deepEqual(inv.macros, [{ name: 'x', value: 'value' }, { name: 'name', value: 'v2' }]);
  assert.deepEqual(inv.operands, ['rcpt1', 'rcpt2']);
  assert.equal(parse('-Am').invocation.configChoice, 'sendmail');
  assert.deepEqual(parse('-d0.1', '-D', '/tmp/d').errors, ['USAGE_BAD_VALUE']);
});

test('option scanning stops at -- and at the first operand; words are never permuted', () => {
  assert.deepEqual(parse('--', '-t').invocation.operands, ['-t']);
  assert.equal(parse('--', '-t').invocation.recipientsFromHeaders, false);
  assert.deepEqual(parse('a', '-t').invocation.operands, ['a', '-t']);
  assert.deepEqual(parse('-', 'a').invocation.operands, ['-', 'a']);
  assert.deepEqual(parse('-ti', 'a').invocation.options, [{ letter: 'i', text: 'T' }]);
  const scan = new OptionScanner('p', ['-fx', '-o', '-t'], true);
  assert.deepEqual(scan.next(), { kind: 'option', letter: 'f', arg: 'x' });
  assert.deepEqual(scan.next(), { kind: 'option', letter: 'o', arg: '-t' });
  assert.deepEqual(scan.next(), { kind: 'end', operandIndex: 3 });
});

test('obsolete forms are rewritten as sendmail does', () => {
  assert.deepEqual(rewriteObsoleteForms(['-q', '-v']), ['-q0', '-v']);
  assert.deepEqual(rewriteObsoleteForms(['-q', '5m']), ['-q', '5m']);
  assert.deepEqual(rewriteObsoleteForms(['-C']), ['-Csendmail.cf']);
  assert.deepEqual(rewriteObsoleteForms(['-d', '5']), ['-d0-99.1', '5']);
  assert.deepEqual(rewriteObsoleteForms(['-Q']), ['-Q.']);
  assert.equal(rewriteObsoleteForms(['-Q.']), null);
  assert.deepEqual(rewriteObsoleteForms(['a', '-q']), ['a', '-q']);
});

test('the configuration file is chosen as sendmail getcfname does', () => {
  const submitThere = () => true;
  const noSubmit = () => false;
  const pick = (args: string[], exists = submitThere) => configPath(parse(...args).invocation, '/etc/mail', exists);
  assert.equal(pick(['r']), '/etc/mail/submit.cf');
  assert.equal(pick(['-t']), '/etc/mail/submit.cf');
  assert.equal(pick(['-bs']), '/etc/mail/submit.cf');
  assert.equal(pick(['-ba']), '/etc/mail/submit.cf');
  assert.equal(pick(['r'], noSubmit), '/etc/mail/sendmail.cf');
  for (const mode of ['-bd', '-bD', '-bv', '-bt', '-bp', '-bi', '-bh', '-bH', '-bC', '-bP']) {
    assert.equal(pick([mode]), '/etc/mail/sendmail.cf', mode);
  }
  assert.equal(pick(['-q']), '/etc/mail/sendmail.cf');
  assert.equal(pick(['-G', '-bv']), '/etc/mail/submit.cf');
  assert.equal(pick(['-Am', 'r']), '/etc/mail/sendmail.cf');
  assert.equal(pick(['-Ac', '-bp'], noSubmit), '/etc/mail/submit.cf');
  assert.equal(pick(['-C', 'x.cf', '-Ac']), 'x.cf');
  assert.equal(pick(['-C']), 'sendmail.cf');
});
