/**
 * Bad configurations: each error has its class, and the `file: line N:`
 * prefix sendmail gives it.  The texts asserted here are the ones the real
 * sendmail 8.17 prints (checked against it in real-sendmail.test.ts).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { ConfigError, checkConfig, loadConfig, problemsExitCode, type Problem } from '../../src/config/index.js';
import { MINIMAL, cfWith, tempDir, writeCf } from './cf-files.js';

/** The ConfigError loadConfig throws for this file. */
function loadError(path: string, opts: Parameters<typeof loadConfig>[1] = {}): ConfigError {
  try {
    loadConfig(path, opts);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail(`${path} loaded without an error`);
}

function errors(problems: readonly Problem[]): Problem[] {
  return problems.filter((p) => p.severity === 'error');
}

const LINE = MINIMAL.length + 1; // the first line after the minimal configuration

test('an unknown line letter is CONFIG_SYNTAX with file and line', () => {
  const path = cfWith('Zfoo');
  const e = loadError(path);
  assert.equal(e.code, 'CONFIG_SYNTAX');
  assert.equal(e.exit, 70);
  assert.equal(e.message, `${path}: line ${LINE}: unknown configuration line "Zfoo"`);
  assert.equal(e.problems[0]?.line, LINE);
  assert.equal(e.problems[0]?.file, path);
});

test('L and G lines are not in this build: unknown', () => {
  assert.equal(loadError(cfWith('Lfoo')).code, 'CONFIG_SYNTAX');
  assert.equal(loadError(cfWith('Gfoo')).code, 'CONFIG_SYNTAX');
});

test('an unknown option: CONFIG_UNKNOWN_OPTION, sendmail\'s text', () => {
  const path = cfWith('O Foo=bar');
  const e = loadError(path);
  assert.equal(e.code, 'CONFIG_UNKNOWN_OPTION');
  assert.equal(e.message, `${path}: line ${LINE}: readcf: unknown option name Foo`);
  assert.equal(e.exitStatus, 70);
});

test('ambiguous, null and unknown single-letter option names', () => {
  const path = cfWith('O Que=/x', 'O =bar', 'OW');
  const e = loadError(path);
  assert.deepEqual(
    e.problems.map((p) => [p.code, p.message]),
    [
      ['CONFIG_UNKNOWN_OPTION', `${path}: line ${LINE}: readcf: ambiguous option name Que (matches QueueFactor and QueueDirectory)`],
      ['CONFIG_UNKNOWN_OPTION', `${path}: line ${LINE + 1}: readcf: null option name`],
      ['CONFIG_UNKNOWN_OPTION', `${path}: line ${LINE + 2}: readcf: unknown option name 0x57`],
    ],
  );
});

test('the command line: the same text without a prefix; the file is not read', () => {
  const path = cfWith('Zfoo');
  const e = loadError(path, { commandLineOptions: [{ name: 'Foo', value: 'bar' }] });
  assert.equal(e.code, 'CONFIG_UNKNOWN_OPTION');
  assert.equal(e.message, 'readcf: unknown option name Foo');
  assert.equal(e.exitStatus, 70);
  assert.equal(e.problems.length, 1);
});

test('bad option values are CONFIG_BAD_VALUE', () => {
  const cases: Array<[string, string, number]> = [
    ['O DeliveryMode=z', 'Unknown delivery mode z', 64],
    ['O EightBitMode=z', 'Unknown 8-bit mode z', 64],
    ['O PrivacyOptions=goaway,bogus', 'readcf: Op line: bogus unrecognized', 70],
    ['O DontBlameSendmail=safe,Bogus', 'readcf: DontBlameSendmail option: Bogus unrecognized', 70],
    ['O QueueSortOrder=z', 'Invalid queue sort order "z"', 70],
    ['O NoRecipientAction=zz', 'Invalid NoRecipientAction: zz', 70],
    ['O Timeout.bogus=3m', 'settimeout: invalid timeout bogus', 70],
    ['O Timeout.queuereturn=5x', "Invalid time unit `x'", 70],
    ['O MinQueueAge=30x', "Invalid time unit `x'", 70],
    ['O Milter.bogus=1', 'milter_set_option: invalid Milter option bogus', 70],
    ['O Milter.macros.bogus=i', 'milter_set_option: invalid Milter option macros.bogus', 70],
    ['O DaemonPortOptions=Bogus=1', 'PortOptions parameter "Bogus=1" unknown', 70],
    ['O DaemonPortOptions=Family=bogus', 'Unknown address family bogus in Family=option', 70],
    ['O ClientPortOptions=Family=bogus', 'Unknown address family bogus in Family=option', 70],
    ['O DaemonPortOptions=Port=notaport', 'service "notaport" unknown', 70],
    ['O ConnectOnlyTo=zz', 'readcf: option ConnectOnlyTo: invalid IP address zz', 70],
    ['O ResolverOptions=+bogus', 'readcf: I option value bogus unrecognized', 70],
    ['O ServerSSLOptions=+SSL_OP_NO_SSLv3 +bogus', 'readcf: ServerSSLOptions option value bogus unrecognized', 70],
    ['O AliasFile=bogus:/etc/aliases', 'setalias: unknown alias class bogus', 70],
    // sendmail reads these as 0, false and 0; Postern refuses them (its own wording)
    ['O LogLevel=abc', '', 70],
    ['O SevenBitInput=maybe', '', 70],
    ['O TempFileMode=0999', '', 70],
    ['O MaxMessageSize=10M', '', 70],
  ];
  for (const [line, text, exit] of cases) {
    const path = cfWith(line);
    const e = loadError(path);
    assert.equal(e.code, 'CONFIG_BAD_VALUE', line);
    if (text !== '') assert.equal(e.message, `${path}: line ${LINE}: ${text}`, line);
    else assert.ok(e.message.startsWith(`${path}: line ${LINE}: `), line);
    assert.equal(e.exitStatus, exit, line);
  }
});

test('malformed M lines', () => {
  const cases: Array<[string, string]> = [
    ['Mfoo', 'Mfoo: A= argument required'],
    ['Mfoo, A=true', 'Mfoo: P= argument required'],
    ['Mfoo, P=/bin/true, A=x, Z=1', 'Mfoo: unknown mailer equate Z='],
    ['Mfoo, P=/bin/true, A=x, F', "mailer foo: `=' expected"],
    ['Mfoo, P=/bin/true, A=x, S=bogus/', 'invalid ruleset name: ""'],
    ['Mfoo, P=/bin/true, A=x, Q=nosuch', 'mailer foo: unknown queue nosuch'],
    ['Mfoo, P=[IPC], A=x', 'Mfoo: too few parameters for [IPC] mailer'],
    ['Mfoo, P=[TCP], A=TCP $h', 'Mfoo: P=[TCP] must be replaced by P=[IPC]'],
    ['Mfoo, P=[FILE], A=FILE', 'Mfoo: too few parameters for [FILE] mailer'],
    ['Mfoo, P=/bin/true, A=x, E=', 'mailer foo: null end-of-line string'],
  ];
  for (const [line, text] of cases) {
    const path = cfWith(line);
    const e = loadError(path);
    assert.equal(e.code, 'CONFIG_SYNTAX', line);
    assert.equal(e.message, `${path}: line ${LINE}: ${text}`, line);
  }
});

test('bad X lines', () => {
  const cases: Array<[string, string, number]> = [
    ['Xm', 'Xm: empty or missing socket information', 70],
    ['X', 'name required for mail filter', 70],
    ['Xm, S=foo:bar', 'Xm: unknown socket type foo: Protocol not supported', 71],
    ['Xm, S=inet:x', 'Xm: bad address x (expected port@host)', 70],
    ['Xm, S=inet:abc@127.0.0.1', 'Xm: unknown port name abc', 70],
    ['Xm, S=inet:12@[bogus]', 'Xm: Invalid numeric domain spec "[bogus]"', 70],
    ['Xm, S=inet:12@127.0.0.1, Z=3', 'Xm: unknown filter equate Z=', 70],
    ['Xm, S=inet:12@127.0.0.1, T=Q:3', 'Xm: unknown filter timeout Q', 70],
    ['Xm, S=inet:12@127.0.0.1, T=C', "Xm, T=: `:' expected", 70],
  ];
  for (const [line, text, exit] of cases) {
    const path = cfWith(line);
    const e = loadError(path);
    assert.equal(e.code, 'CONFIG_SYNTAX', line);
    assert.equal(e.message, `${path}: line ${LINE}: ${text}`, line);
    assert.equal(e.exitStatus, exit, line);
  }
  const dup = cfWith('Xm, S=inet:12@127.0.0.1', 'Xm, S=inet:13@127.0.0.1');
  assert.equal(loadError(dup).message, `${dup}: line ${LINE + 1}: Xm: duplicate filter definition`);
});

test('other malformed lines', () => {
  const cases: Array<[string[], string, number]> = [
    [['V'], 'invalid argument to V line: ""', 0],
    [['V10/Foo'], 'invalid V line vendor code: "Foo"', 0],
    [['Pfoo'], 'unknown configuration line "Pfoo"', 0],
    [['HBogus'], 'header syntax error, line "Bogus"', 0],
    [['R$* foo'], 'missing valid ruleset for "R$* foo"', 0],
    [['S1', 'R$*\t$: $2'], 'replacement $2 out of bounds', 1],
    [['Sfoo', 'R$* foo'], 'invalid rewrite line "R$* foo" (tab expected)', 1],
    [['S100'], 'bad ruleset 100 (100 max)', 0],
    [['Sfoo=bar'], 'bad ruleset definition "foo=bar" (number required after `=\')', 0],
    [['Sfoo=120'], 'bad ruleset number 120 in "foo=120" (100 max)', 0],
    [['D'], 'Name required for macro/class', 0],
    [['D{x'], 'Unbalanced { on x', 0],
    [['K'], 'readcf: config K line: no map name', 0],
    [['Kfoo cdb /etc/x'], 'readcf: map foo: class cdb not available', 0],
    [['Kfoo hash'], 'No file name for hash map foo', 0],
    [['Kfoo hash -Z /etc/x'], 'Illegal option Z map foo', 0],
    [['Qfoo, P=/tmp, Z=1'], 'Qfoo: unknown queue equate Z=', 0],
    [['Qfoo, P'], "queue foo: `=' expected", 0],
    [['F'], 'Name required for macro/class', 0],
  ];
  for (const [lines, text, offset] of cases) {
    const path = cfWith(...lines);
    const e = loadError(path);
    assert.equal(e.code, 'CONFIG_SYNTAX', lines.join(' / '));
    assert.equal(e.message, `${path}: line ${LINE + offset}: ${text}`, lines.join(' / '));
  }
});

test('a missing class file is CONFIG_CANNOT_OPEN, -o makes it optional', () => {
  const path = cfWith('Ft /nonexistent/trusted');
  const e = loadError(path);
  assert.equal(e.code, 'CONFIG_CANNOT_OPEN');
  assert.equal(e.message, `${path}: line ${LINE}: fileclass: cannot open '/nonexistent/trusted': No such file or directory`);
  assert.equal(e.exitStatus, 71);
  loadConfig(cfWith('Ft -o /nonexistent/trusted'));
});

test('a missing file: line 0, cannot open, CONFIG_CANNOT_OPEN (exit 72)', () => {
  const path = join(tempDir(), 'nonexistent.cf');
  const e = loadError(path);
  assert.equal(e.code, 'CONFIG_CANNOT_OPEN');
  assert.equal(e.exit, 72);
  assert.equal(e.message, `${path}: line 0: cannot open: No such file or directory`);
});

test('a directory is not a plain file', () => {
  const dir = join(tempDir(), 'a-directory.cf');
  mkdirSync(dir, { recursive: true });
  const e = loadError(dir);
  assert.equal(e.code, 'CONFIG_CANNOT_OPEN');
  assert.equal(e.message, `${dir}: line 0: not a plain file`);
});

test('errors go on being collected, with the line of each', () => {
  const path = writeCf(['V10/Berkeley', '# comment', 'O QueueDirectory=/q', 'Zfoo', 'O Foo=bar', 'O LogLevel=3', 'Mlocal, P=/bin/true, A=true']);
  const e = loadError(path);
  assert.deepEqual(
    errors(e.problems).map((p) => p.message),
    [`${path}: line 4: unknown configuration line "Zfoo"`, `${path}: line 5: readcf: unknown option name Foo`],
  );
});

test('a folded line reports the number of its last physical line', () => {
  const path = writeCf(['V10/Berkeley', 'O QueueDirectory=/q', 'Mlocal, P=/bin/true,', '\tA=true', 'Mfoo, P=/bin/true,', '\tZ=1,', '\tA=x']);
  assert.equal(loadError(path).message, `${path}: line 7: Mfoo: unknown mailer equate Z=`);
});

test('no local mailer, no QueueDirectory', () => {
  const path = writeCf(['V10/Berkeley']);
  const e = loadError(path);
  assert.deepEqual(
    e.problems.filter((p) => p.severity === 'error').map((p) => [p.code, p.message]),
    [
      ['CONFIG_MISSING', 'No local mailer defined'],
      ['CONFIG_MISSING', 'QueueDirectory (Q) option must be set'],
    ],
  );
  assert.equal(e.exitStatus, 78);
  // -bt does not need them
  loadConfig(path, { mode: 'test' });
});

/** Leaves out the warnings about the world-writable directories above the temporary queue (/tmp). */
function ownProblems(problems: readonly Problem[]): Problem[] {
  return problems.filter((p) => !p.message.startsWith('WARNING: World writable directory '));
}

test('checkConfig (-bC) returns every problem and never throws', () => {
  const path = writeCf(['V10/Berkeley', `O QueueDirectory=${tempDir()}`, 'Zfoo', 'O Foo=bar', 'O LogLev=2', 'O MaxHeadersLength=5']);
  const problems = ownProblems(checkConfig(path));
  assert.deepEqual(
    problems.map((p) => [p.severity, p.message]),
    [
      ['error', `${path}: line 3: unknown configuration line "Zfoo"`],
      ['error', `${path}: line 4: readcf: unknown option name Foo`],
      ['warning', `${path}: line 5: Option LogLev used as abbreviation for LogLevel`],
      ['warning', 'Warning: MaxHeadersLength: headers length limit set lower than 16384'],
      ['error', 'No local mailer defined'],
    ],
  );
  assert.equal(problemsExitCode(problems), 70);
  assert.deepEqual(ownProblems(checkConfig(cfWith(`O QueueDirectory=${tempDir()}`))), []);
  const missingQueue = ownProblems(checkConfig(cfWith('O QueueDirectory=/nonexistent/queue')));
  assert.deepEqual(
    missingQueue.map((p) => p.message),
    ['can not chdir(/nonexistent/queue/): No such file or directory'],
  );
  assert.equal(problemsExitCode(missingQueue), 78);
});

test('checkConfig goes on after a bad command-line option, as -bC does', () => {
  const path = writeCf([...MINIMAL.slice(0, 1), `O QueueDirectory=${tempDir()}`, MINIMAL[2]!, 'Zfoo']);
  const problems = ownProblems(checkConfig(path, { commandLineOptions: [{ name: 'Bar', value: '1' }] }));
  assert.deepEqual(
    problems.map((p) => p.message),
    ['readcf: unknown option name Bar', `${path}: line 4: unknown configuration line "Zfoo"`],
  );
});

test('checkConfig warns about world- and group-writable directories above the queue', () => {
  const open = join(tempDir(), 'open');
  const queue = join(open, 'queue');
  mkdirSync(queue, { recursive: true });
  chmodSync(open, 0o777);
  let problems = checkConfig(cfWith(`O QueueDirectory=${queue}`)).map((p) => p.message);
  assert.ok(problems.includes(`WARNING: World writable directory ${open}`), problems.join('\n'));
  chmodSync(open, 0o775);
  problems = checkConfig(cfWith(`O QueueDirectory=${queue}`)).map((p) => p.message);
  assert.ok(problems.includes(`WARNING: Group writable directory ${open}`), problems.join('\n'));
  problems = checkConfig(cfWith(`O QueueDirectory=${queue}`, 'O DontBlameSendmail=GroupWritableDirPathSafe')).map((p) => p.message);
  assert.ok(!problems.includes(`WARNING: Group writable directory ${open}`));
});
