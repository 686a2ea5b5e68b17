/**
 * The AUTH credential file and its command: scrypt hashes with their own
 * salt, never the password; who may read the file; a running engine's
 * store sees a change without a restart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { after } from 'node:test';
import { CredentialStore, hashPassword, parseCredentials, verifyPassword } from '../../../src/mta/auth/credentials.js';
import { passwdMain, type PasswdIO } from '../../../src/mta/auth/passwd-command.js';
import { lookupUser } from '../../../src/privsep/passwd.js';
import { repoRoot } from '../../helpers/peers.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function io(password: string, euid = 1000): PasswdIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { readPassword: async () => password, stdout: (l) => out.push(l), stderr: (l) => err.push(l), euid, out, err };
}

test('a hash is scrypt with its own salt; it verifies the password and nothing else', async () => {
  const a = await hashPassword('s3cret pass');
  const b = await hashPassword('s3cret pass');
  assert.match(a, /^\$scrypt\$ln=14,r=8,p=1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(a, b, 'salted: the same password hashes differently');
  assert.equal(await verifyPassword(a, 's3cret pass'), true);
  assert.equal(await verifyPassword(a, 's3cret pasS'), false);
  assert.equal(await verifyPassword('$scrypt$ln=40,r=8,p=1$AAAA$AAAA', 'x'), false, 'a doctored cost is refused, not computed');
});

test('postern-passwd add, list, delete: the file holds hashes only, mode 0600 for an ordinary caller', async () => {
  const file = join(dir, 'users');
  assert.equal(await passwdMain(['-f', file, 'add', 'alice'], io('first password')), 0);
  assert.equal(await passwdMain(['-f', file, 'add', 'bob'], io('second password')), 0);
  const text = readFileSync(file, 'utf8');
  assert.ok(!text.includes('first password') && !text.includes('second password'), 'no password in clear');
  assert.deepEqual([...parseCredentials(text).keys()], ['alice', 'bob']);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const list = io('');
  assert.equal(await passwdMain(['-f', file, 'list'], list), 0);
  assert.deepEqual(list.out, ['alice', 'bob']);
  assert.equal(await passwdMain(['-f', file, 'add', 'alice'], io('changed')), 0);
  assert.equal(await verifyPassword(parseCredentials(readFileSync(file, 'utf8')).get('alice')!, 'changed'), true);
  assert.equal(await passwdMain(['-f', file, 'delete', 'bob'], io('')), 0);
  assert.deepEqual([...parseCredentials(readFileSync(file, 'utf8')).keys()], ['alice']);
  const missing = io('');
  assert.equal(await passwdMain(['-f', file, 'delete', 'bob'], missing), 67);
  assert.match(missing.err[0]!, /bob: no such user/);
  const empty = io('');
  assert.equal(await passwdMain(['-f', file, 'add', 'carol'], empty), 64);
  assert.equal(await passwdMain(['-f', file, 'add', 'a:b'], io('x')), 64);
  assert.equal(await passwdMain(['-f', file, 'frobnicate'], io('x')), 64);
});

const nobody = lookupUser('nobody');
test('run as root: root-owned, group RunAsUser (the workers read it), mode 0640', { skip: process.geteuid?.() !== 0 || nobody === undefined ? 'needs root and a nobody user' : false }, async () => {
  const cf = join(dir, 'sendmail.cf');
  writeFileSync(cf, readFileSync(join(repoRoot, 'conf/sendmail.cf'), 'utf8').replace(/^O RunAsUser=.*$/m, 'O RunAsUser=nobody'));
  const file = join(dir, 'root-users');
  assert.equal(await passwdMain(['-f', file, '-C', cf, 'add', 'alice'], io('pw', 0)), 0);
  const st = statSync(file);
  assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [0, nobody!.gid, 0o640]);
});

test('the store as a worker uses it: a change to the file is seen at the next check', async () => {
  const file = join(dir, 'live');
  const store = new CredentialStore(file);
  assert.equal(store.available(), false);
  assert.equal(await store.check('alice', 'pw'), 'unavailable');
  assert.equal(await passwdMain(['-f', file, 'add', 'alice'], io('pw')), 0);
  assert.equal(await store.check('alice', 'pw'), 'ok');
  assert.equal(await store.check('alice', 'wrong'), 'bad');
  assert.equal(await store.check('mallory', 'pw'), 'bad');
  assert.equal(await passwdMain(['-f', file, 'add', 'alice'], io('new')), 0);
  assert.equal(await store.check('alice', 'pw'), 'bad');
  assert.equal(await store.check('alice', 'new'), 'ok');
});
