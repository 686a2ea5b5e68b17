/**
 * A configuration others can change: sendmail warns (and, run by root, goes
 * on); Postern returns the warning and can refuse such a file.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { ConfigError, checkConfig, loadConfig } from '../../src/config/index.js';
import { MINIMAL, tempDir, writeCf } from './cf-files.js';

for (const [what, mode] of [
  ['group-writable', 0o664],
  ['world-writable', 0o646],
] as const) {
  test(`a ${what} file is warned about, as sendmail words it`, () => {
    const path = writeCf(MINIMAL, mode);
    const { warnings, unsafe, problems } = loadConfig(path);
    assert.deepEqual(warnings, [`${path}: WARNING: dangerous write permissions`]);
    assert.equal(unsafe, true);
    assert.equal(problems[0]?.code, 'CONFIG_UNSAFE');
    assert.equal(problems[0]?.severity, 'warning');
    assert.ok(checkConfig(path).some((p) => p.message === `${path}: WARNING: dangerous write permissions`));
  });

  test(`a ${what} file is refused when asked (exit 78)`, () => {
    const path = writeCf(MINIMAL, mode);
    assert.throws(
      () => loadConfig(path, { refuseUnsafe: true }),
      (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_UNSAFE' && e.exit === 78 && e.exitStatus === 78,
    );
  });
}

test('a 0644 file is fine, also with refuseUnsafe', () => {
  const path = writeCf(MINIMAL, 0o644);
  const { warnings, unsafe } = loadConfig(path, { refuseUnsafe: true });
  assert.deepEqual(warnings, []);
  assert.equal(unsafe, false);
});

test('a file in a directory anyone may write to (no sticky bit) is unsafe too', () => {
  const dir = join(tempDir(), 'open-dir');
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  const path = join(dir, 'sendmail.cf');
  writeFileSync(path, MINIMAL.join('\n') + '\n');
  chmodSync(path, 0o644);
  const { warnings, unsafe } = loadConfig(path);
  assert.equal(unsafe, true);
  assert.deepEqual(warnings, [`${path}: WARNING: unsafe directory path ${dir}`]);
  // the sticky bit makes it safe (as for /tmp)
  chmodSync(dir, 0o1777);
  assert.equal(loadConfig(path).unsafe, false);
});
