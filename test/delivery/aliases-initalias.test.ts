/**
 * initAliases (newaliases, sendmail -bi) in-process: what it prints, logs
 * and exits with for each AliasFile, including the ones it cannot read or
 * cannot write a database for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { Logger, MemorySink } from '../../src/common/log.js';
import { newConfig } from '../../src/config/defaults.js';
import { openAliases } from '../../src/delivery/aliases/index.js';
import type { Invocation } from '../../src/msp/cmdline/invocation.js';
import { initAliases } from '../../src/msp/initalias.js';
import { callerIdentity } from '../../src/msp/permissions.js';

test('each alias file: its problems, its statistics, its log lines, and the first exit status', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-initalias-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'aliases');
  const bad = join(dir, 'more');
  writeFileSync(good, 'postmaster: root\nroot: alice\n');
  writeFileSync(bad, 'nocolon\nx: y\n');
  const config = newConfig('/etc/mail/sendmail.cf');
  config.options.AliasFile = [
    { mapClass: 'implicit', spec: good },
    { mapClass: 'nis', spec: 'mail.aliases' },
    { mapClass: 'implicit', spec: join(dir, 'missing') },
    { mapClass: 'hash', spec: bad },
    // readable, but no database can be made beside it
    { mapClass: 'implicit', spec: '/proc/version' },
  ];
  config.options.LogLevel = 9;
  const sink = new MemorySink();
  const log = new Logger({ sink, logLevel: 9 });
  const lines: string[] = [];
  const code = await initAliases({} as Invocation, config, log, { stdout: (l) => lines.push(l), stderr: (l) => lines.push(`stderr: ${l}`) });
  const user = callerIdentity().name;
  assert.equal(code, 70);
  assert.equal(lines.length, 5);
  assert.deepEqual(lines.slice(0, 4), [
    `${good}: 2 aliases, longest 5 bytes, 23 bytes total`,
    `newaliases: cannot open ${join(dir, 'missing')}: No such file or directory`,
    `${bad}: line 1: missing colon`,
    `${bad}: 1 aliases, longest 1 bytes, 2 bytes total`,
  ]);
  assert.match(lines[4]!, /^Cannot create database for alias file \/proc\/version: /);
  assert.deepEqual(sink.messages().slice(0, 5), [
    `alias database ${good} rebuilt by ${user}`,
    `${good}: 2 aliases, longest 5 bytes, 23 bytes total`,
    `alias database ${bad} rebuilt by ${user}`,
    `NOQUEUE: SYSERR(${user}): ${bad}: line 1: missing colon`,
    `${bad}: 1 aliases, longest 1 bytes, 2 bytes total`,
  ]);
  assert.match(sink.messages()[5]!, /^NOQUEUE: SYSERR\(.*\): Cannot create database for alias file \/proc\/version/);

  // what was built is what look-ups see
  const db = openAliases(config, { isLocalDomain: () => false });
  t.after(() => db.close());
  assert.deepEqual(db.lookup('postmaster'), ['root']);
  assert.deepEqual(db.lookup('x'), ['y']);
});

test('LogLevel 7 and below: the rebuild is not logged, the system errors still are', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-initalias-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'aliases'), 'nocolon\n');
  const config = newConfig('/etc/mail/sendmail.cf');
  config.options.AliasFile = [{ mapClass: 'implicit', spec: join(dir, 'aliases') }];
  const sink = new MemorySink();
  const code = await initAliases({} as Invocation, config, new Logger({ sink, logLevel: 7 }), { stdout: () => {}, stderr: () => {} });
  assert.equal(code, 70);
  assert.equal(sink.messages().length, 1);
  assert.match(sink.messages()[0]!, /SYSERR.*missing colon$/);
});
