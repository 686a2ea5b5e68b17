/**
 * Frozen configurations (src/config/frozen.ts): a parse left beside a .cf
 * by root, taken by later loads only while it is trustworthy and current,
 * and always giving what parsing the file would.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'node:test';
import { loadConfig, type CommandLineOption, type LoadOptions } from '../../src/config/index.js';
import { frozenPath } from '../../src/config/frozen.js';
import { m4Config } from '../helpers/m4cf.js';
import { repoRoot } from '../helpers/peers.js';
import { tempDir, writeCf } from './cf-files.js';

const root = process.getuid?.() === 0;
const skip = root ? false : 'only root leaves frozen configurations (CI runs as root)';
const BUILD = 'build-one';

/** A .cf with an F line reading a class file of the test's own, and the frozen path beside it. */
function setUp(extra: readonly string[] = []): { cf: string; fc: string; classFile: string } {
  const classFile = join(tempDir(), `trusted-${Math.random().toString(36).slice(2)}`);
  writeFileSync(classFile, 'alice\nbob\n');
  const text = readFileSync(join(repoRoot, 'conf', 'submit.cf'), 'utf8').replace(/^Ft .*$/m, `Ft ${classFile}`);
  const cf = writeCf([text, ...extra].join('\n'));
  return { cf, fc: frozenPath(cf), classFile };
}

const load = (cf: string, opts: LoadOptions = {}) => loadConfig(cf, { mode: 'other', ...opts });

/** Rewrites the frozen file's config so that a load that took it shows a marker. */
function plantMarker(fc: string): void {
  const frozen = JSON.parse(readFileSync(fc, 'utf8'));
  frozen.config.options.SmtpGreetingMessage = 'thawed';
  writeFileSync(fc, JSON.stringify(frozen));
}
const thawed = (cf: string, opts: LoadOptions = {}) => load(cf, { frozen: BUILD, ...opts }).config.options.SmtpGreetingMessage === 'thawed';

test('a clean load as root leaves the parse; the next load takes it and equals a parse', { skip }, () => {
  const { cf, fc } = setUp();
  const parsed = load(cf);
  assert.equal(existsSync(fc), false, 'a load without a build identity leaves nothing');
  // made under root's umask 077, it is still 0644: every user's submissions read it
  const umask = process.umask(0o077);
  try {
    assert.deepEqual(load(cf, { frozen: BUILD }), parsed);
  } finally {
    process.umask(umask);
  }
  assert.equal(statSync(fc).mode & 0o777, 0o644);
  assert.deepEqual(load(cf, { frozen: BUILD }), parsed);
  plantMarker(fc);
  assert.ok(thawed(cf), 'the second load took the frozen file');
  assert.deepEqual(loadConfig(join(repoRoot, 'conf', 'sendmail.cf'), { frozen: BUILD }), loadConfig(join(repoRoot, 'conf', 'sendmail.cf')));
  rmSync(frozenPath(join(repoRoot, 'conf', 'sendmail.cf')), { force: true });
});

test('the command line options of cron, PHP, mutt and git apply on top of a frozen parse as on a parse', { skip }, () => {
  const { cf } = setUp(['O IgnoreDots=False', 'O ErrorMode=p', 'O DeliveryMode=b', 'O MeToo=False']);
  const lines: CommandLineOption[][] = [
    [{ name: 'i', value: 'T', form: 'letter' }],
    [{ name: 'e', value: 'm', form: 'letter' }, { name: 'i', value: '', form: 'letter' }],
    [{ name: 'd', value: 'q', form: 'letter' }, { name: 'm', value: 'T', form: 'letter' }],
    [{ name: 'IgnoreDots', value: 'True', form: 'long' }, { name: 'DeliveryMode', value: 'i', form: 'long' }],
  ];
  for (const commandLineOptions of lines) {
    const parsed = load(cf, { commandLineOptions });
    load(cf, { commandLineOptions, frozen: BUILD });
    assert.deepEqual(load(cf, { commandLineOptions, frozen: BUILD }), parsed, JSON.stringify(commandLineOptions));
  }
  plantMarker(frozenPath(cf));
  assert.ok(thawed(cf, { commandLineOptions: lines[1] }));
});

test('any other command-line option or macro, and the frozen file is left alone', { skip }, () => {
  const { cf, fc } = setUp(['O PrivacyOptions=goaway']);
  load(cf, { frozen: BUILD });
  plantMarker(fc);
  const others: LoadOptions[] = [
    { commandLineOptions: [{ name: 'PrivacyOptions', value: 'noetrn', form: 'long' }] },
    { commandLineOptions: [{ name: 'Timeout.queuewarn', value: '1h', form: 'long' }] },
    { commandLineOptions: [{ name: 'Ignore', value: 'T', form: 'long' }] },
    { commandLineMacros: [{ name: 'j', value: 'elsewhere.example' }] },
  ];
  for (const opts of others) {
    assert.equal(thawed(cf, opts), false, JSON.stringify(opts));
    assert.deepEqual(load(cf, { ...opts, frozen: BUILD }), load(cf, opts));
  }
  assert.ok(thawed(cf), 'the frozen file is still there and taken without them');
});

test('a frozen file is not taken once the .cf, a class file or the build differ', { skip }, () => {
  const cases: Array<[string, (s: ReturnType<typeof setUp>) => void, LoadOptions?]> = [
    ['the .cf, same size', (s) => writeFileSync(s.cf, readFileSync(s.cf, 'utf8').replace('O LogLevel=9', 'O LogLevel=8'))],
    ['a class file', (s) => writeFileSync(s.classFile, 'alice\ncarol\n')],
    ['a class file removed', (s) => rmSync(s.classFile)],
    ['another build', () => undefined, { frozen: 'build-two' }],
  ];
  for (const [what, change, opts] of cases) {
    const s = setUp();
    if (what === 'a class file removed') writeFileSync(s.cf, readFileSync(s.cf, 'utf8').replace(/^Ft /m, 'Ft -o '));
    load(s.cf, { frozen: BUILD });
    plantMarker(s.fc);
    assert.ok(thawed(s.cf), what);
    change(s);
    const expected = load(s.cf);
    const got = load(s.cf, { frozen: BUILD, ...opts });
    assert.notEqual(got.config.options.SmtpGreetingMessage, 'thawed', what);
    assert.deepEqual(got, expected, what);
  }
});

test('a frozen file not owned by root, writable by others or reached by a link is not trusted', { skip }, () => {
  const tamper: Array<[string, (fc: string, cf: string) => void]> = [
    ['owned by nobody', (fc) => chownSync(fc, 65534, 65534)],
    ['group-writable', (fc) => chmodSync(fc, 0o664)],
    [
      'a symbolic link',
      (fc, cf) => {
        const real = `${cf}.real-fc`;
        writeFileSync(real, readFileSync(fc));
        rmSync(fc);
        symlinkSync(real, fc);
      },
    ],
  ];
  for (const [what, change] of tamper) {
    const { cf, fc } = setUp();
    load(cf, { frozen: BUILD });
    plantMarker(fc);
    change(fc, cf);
    assert.equal(thawed(cf), false, what);
  }
});

test('a .cf with a warning, or one an ordinary user loads, is not frozen', { skip }, () => {
  // in a directory of the user's own, which the user could write a frozen file into
  const own = join(tempDir(), 'nobody');
  mkdirSync(own);
  chownSync(own, 65534, 65534);
  const cf = join(own, 'submit.cf');
  writeFileSync(cf, readFileSync(setUp().cf));
  const index = fileURLToPath(new URL('../../src/config/index.js', import.meta.url));
  const child = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `import { loadConfig } from ${JSON.stringify(index)}; loadConfig(process.argv[1], { frozen: 'b' });`, cf],
    { uid: 65534, gid: 65534, encoding: 'utf8' },
  );
  assert.equal(child.status, 0, child.stderr);
  assert.equal(existsSync(frozenPath(cf)), false);

  const warned = setUp(['O NoSuchOption=1']);
  assert.throws(() => load(warned.cf, { frozen: BUILD }));
  const abbreviated = setUp(['O Ignore=True']);
  assert.ok(load(abbreviated.cf, { frozen: BUILD }).warnings.some((w) => /abbreviation/.test(w)));
  assert.equal(existsSync(warned.fc), false);
  assert.equal(existsSync(abbreviated.fc), false);
});

test('a .cf or class file not everyone may read is never frozen into a file everyone may', { skip }, () => {
  const secretClass = setUp();
  chmodSync(secretClass.classFile, 0o600);
  const privateCf = setUp();
  chmodSync(privateCf.cf, 0o640);
  for (const { cf, fc } of [secretClass, privateCf]) {
    assert.deepEqual(load(cf, { frozen: BUILD }), load(cf));
    assert.equal(existsSync(fc), false, cf);
  }
});

test("sendmail's own submit.mc, made with m4, is frozen and thawed to what parsing gives", { skip }, async (t) => {
  const text = await m4Config({ shipped: 'submit.mc' });
  if (typeof text !== 'string') return t.skip(text.skip);
  const cf = writeCf(text);
  const parsed = load(cf, { commandLineOptions: [{ name: 'i', value: 'T', form: 'letter' }] });
  load(cf, { frozen: BUILD });
  assert.ok(existsSync(frozenPath(cf)));
  assert.deepEqual(load(cf, { frozen: BUILD, commandLineOptions: [{ name: 'i', value: 'T', form: 'letter' }] }), parsed);
  plantMarker(frozenPath(cf));
  assert.ok(thawed(cf), 'the equal configuration came from the frozen file');
});
