/**
 * The alias database: built from the text, looked up with the `@` entry
 * hidden, an out-of-date database still used with a warning (as sendmail
 * does), the text file used when there is no database of ours, and several
 * AliasFiles searched in order.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { isPosternError } from '../../src/common/errors.js';
import { newConfig } from '../../src/config/defaults.js';
import type { AliasSpec } from '../../src/config/index.js';
import { SENTINEL, openAliases, rebuildAliasDatabase, resolveAliases, waitForAliasDatabase } from '../../src/delivery/aliases/index.js';
import { buildMap, openMap } from '../../src/maps/index.js';

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-aliases-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function configWith(...specs: AliasSpec[]) {
  const config = newConfig('/etc/mail/sendmail.cf');
  config.options.AliasFile = specs;
  return config;
}

const options = { isLocalDomain: (d: string) => d === 'mx.example.test' };

test('newaliases builds a database with the @ entry; look-ups split the value and hide @', (t) => {
  const dir = scratch(t);
  const file = join(dir, 'aliases');
  writeFileSync(file, 'Root: alice, "|/usr/bin/logger x,y"\nstaff: bob,\n  carol\nbad line\n');
  const parsed = rebuildAliasDatabase(file, options);
  assert.deepEqual(parsed.stats, { aliases: 2, longest: 29, bytes: 4 + 29 + 5 + 11 });
  assert.equal(parsed.problems.length, 1);
  assert.equal(openMap(file).get(SENTINEL), '@');
  const db = openAliases(configWith({ mapClass: 'implicit', spec: file }), options);
  t.after(() => db.close());
  assert.deepEqual(db.sources, [{ file, from: 'database' }]);
  assert.deepEqual(db.warnings, []);
  assert.deepEqual(db.lookup('ROOT'), ['alice', '"|/usr/bin/logger x,y"']);
  assert.deepEqual(db.lookup('staff'), ['bob', 'carol']);
  assert.equal(db.value('staff'), 'bob,  carol');
  assert.equal(db.lookup('@'), undefined);
  assert.equal(db.lookup('nobody'), undefined);
  assert.deepEqual(
    resolveAliases('root', db.lookup).targets.map((x) => x.target.kind),
    ['address', 'program'],
  );
});

test('an out-of-date database is still used, with sendmail\'s warning', (t) => {
  const dir = scratch(t);
  const file = join(dir, 'aliases');
  writeFileSync(file, 'root: alice\n');
  rebuildAliasDatabase(file, options);
  writeFileSync(file, 'root: carol\n');
  const later = new Date(Date.now() + 120_000);
  utimesSync(file, later, later);
  const db = openAliases(configWith({ mapClass: 'implicit', spec: file }), options);
  t.after(() => db.close());
  assert.deepEqual(db.warnings, [`alias database ${file}.db out of date`]);
  assert.deepEqual(db.lookup('root'), ['alice']);
});

test('no database, or not ours: the text file is read as newaliases reads it', (t) => {
  const dir = scratch(t);
  const file = join(dir, 'aliases');
  writeFileSync(file, 'root: alice\npostmaster@mx.example.test: root\n');
  let db = openAliases(configWith({ mapClass: 'implicit', spec: file }), options);
  assert.equal(db.sources[0]!.from, 'text');
  assert.deepEqual(db.lookup('postmaster'), ['root']);
  db.close();
  writeFileSync(`${file}.db`, Buffer.alloc(8192, 0x61)); // a Berkeley DB file left by sendmail, say
  db = openAliases(configWith({ mapClass: 'implicit', spec: file }), options);
  assert.equal(db.sources[0]!.from, 'text');
  assert.deepEqual(db.lookup('root'), ['alice']);
  db.close();
});

test('hash: specs need their database: without one, look-ups defer rather than bounce', (t) => {
  const dir = scratch(t);
  const file = join(dir, 'aliases');
  writeFileSync(file, 'root: alice\n');
  const other = join(dir, 'other');
  writeFileSync(other, 'staff: carol\n');
  const db = openAliases(configWith({ mapClass: 'hash', spec: file }, { mapClass: 'nis', spec: 'mail.aliases' }, { mapClass: 'implicit', spec: other }), options);
  t.after(() => db.close());
  assert.equal(db.sources[0]!.from, 'unavailable');
  assert.match(db.warnings[0]!, /nis is not supported/);
  assert.throws(() => db.lookup('root'), (e) => isPosternError(e) && e.code === 'ALIAS_DATABASE_UNAVAILABLE' && e.smtp === 451);
  // a name another source has is found all the same
  assert.deepEqual(db.lookup('staff'), ['carol']);
});

test('several alias files: the first that has the name wins', (t) => {
  const dir = scratch(t);
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  writeFileSync(a, 'root: alice\n');
  writeFileSync(b, 'root: bob\nstaff: carol\n');
  rebuildAliasDatabase(a, options);
  const db = openAliases(configWith({ mapClass: 'implicit', spec: a }, { mapClass: 'implicit', spec: b }), options);
  t.after(() => db.close());
  assert.deepEqual(db.lookup('root'), ['alice']);
  assert.deepEqual(db.lookup('staff'), ['carol']);
  assert.deepEqual(db.sources.map((s) => s.from), ['database', 'text']);
});

test('AliasWait: waits for the @ entry, and gives up after its time', async (t) => {
  const dir = scratch(t);
  const file = join(dir, 'aliases');
  buildMap(file, { type: 'hash' }, (w) => w.put('root', 'alice', 'keep'));
  assert.equal(await waitForAliasDatabase(file, 0), false);
  const waiting = waitForAliasDatabase(file, 10);
  buildMap(file, { type: 'hash' }, (w) => {
    w.put('root', 'alice', 'keep');
    w.put(SENTINEL, SENTINEL, 'keep');
  });
  assert.equal(await waiting, true);
});
