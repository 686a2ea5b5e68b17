/**
 * makemap in-process: its command line, its reading of the input and its
 * messages, as Debian's 8.17 makemap gives them (the sandbox test in
 * test/delivery/aliases-newaliases.test.ts compares with the real one).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { parseMakemapArgs } from '../../src/maps/makemap-args.js';
import { makemapMain } from '../../src/maps/makemap.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string[];
}

async function makemap(args: string[], input = '', argv0 = 'makemap'): Promise<Run> {
  const out: Buffer[] = [];
  const stderr: string[] = [];
  const code = await makemapMain(argv0, args, {
    stdin: async () => Buffer.from(input, 'latin1'),
    stdout: (d) => out.push(Buffer.from(d)),
    stderr: (l) => stderr.push(l),
    euid: 1000, // as a user: sendmail.cf is not read
  });
  return { code, stdout: Buffer.concat(out).toString('latin1'), stderr };
}

function scratch(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-makemap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const ACCESS = ['# comment', 'Key1 value one', '', 'key2\ttab  value  ', '  leading', 'norhs', 'key1 dup', 'Connect:10.1 REJECT', ''].join('\n');

test('the command line: GNU getopt, two operands', () => {
  const p = parseMakemapArgs('makemap', ['hash', '-r', '/etc/mail/access', '-t:']);
  assert.deepEqual(p.options.operands, ['hash', '/etc/mail/access']);
  assert.equal(p.options.replace, true);
  assert.equal(p.options.separator, ':');
  assert.equal(parseMakemapArgs('makemap', ['-ufN', 'btree', 'm']).options.foldCase, false);
  assert.equal(parseMakemapArgs('makemap', ['hash', '-r', 'm'], true).usage, true, 'POSIXLY_CORRECT stops at the first operand');
});

test('usage, unknown options and the type listings', async () => {
  const usage = [
    'Usage: makemap [-C cffile] [-N] [-c cachesize] [-D commentchar]',
    '               [-d] [-e] [-f] [-i type] [-l] [-o] [-r] [-s] [-t delimiter]',
    '               [-u] [-v] type mapname',
  ];
  assert.deepEqual(await makemap([]), { code: 64, stdout: '', stderr: usage });
  assert.deepEqual(await makemap(['hash']), { code: 64, stdout: '', stderr: usage });
  assert.deepEqual(await makemap(['-Z', 'hash', 'x'], '', '/usr/sbin/makemap'), {
    code: 64,
    stdout: '',
    stderr: ["/usr/sbin/makemap: invalid option -- 'Z'", ...usage],
  });
  assert.deepEqual((await makemap(['-t'])).stderr[0], "makemap: option requires an argument -- 't'");
  assert.deepEqual(await makemap(['-l']), { code: 0, stdout: 'hash\nbtree\nimplicit\n', stderr: [] });
  assert.deepEqual(await makemap(['-x']), { code: 0, stdout: 'hash:db\nbtree:db\nimplicit:\n', stderr: [] });
  assert.deepEqual(await makemap(['-L']), { code: 0, stdout: 'cf\nCF\nhash\nbtree\nimplicit\n', stderr: [] });
});

test('types makemap refuses', async (t) => {
  const dir = scratch(t);
  assert.deepEqual(await makemap(['dbm', join(dir, 'd')]), { code: 73, stdout: '', stderr: ['makemap: Need to recompile with -DNDBM for dbm support'] });
  assert.deepEqual(await makemap(['cdb', join(dir, 'c')]), { code: 73, stdout: '', stderr: ['makemap: Need to recompile with -DCDB for cdb support'] });
  assert.deepEqual(await makemap(['foo', join(dir, 'f')]), { code: 73, stdout: '', stderr: [`makemap: error opening type foo map ${join(dir, 'f')}: Unknown database type`] });
});

test('build, complaints with line numbers, dump', async (t) => {
  const dir = scratch(t);
  const map = join(dir, 'access');
  assert.deepEqual(await makemap(['hash', map], ACCESS), {
    code: 65,
    stdout: '',
    stderr: [
      `makemap: ${map}: line 5: syntax error (leading space)`,
      `makemap: ${map}: line 6: no RHS for LHS norhs`,
      `makemap: ${map}: line 7: key key1: duplicate key`,
    ],
  });
  assert.deepEqual(await makemap(['-u', 'hash', map]), { code: 0, stdout: 'key1\tvalue one\nkey2\ttab  value  \nconnect:10.1\tREJECT\n', stderr: [] });
  assert.equal((await makemap(['-u', '-t:', 'hash', map])).stdout.split('\n')[0], 'key1:value one');
  // -r replaces, -f keeps capitals, -e allows an empty value
  await makemap(['-r', '-f', '-e', 'hash', map], ACCESS);
  assert.deepEqual((await makemap(['-u', 'hash', map])).stdout, 'Key1\tvalue one\nkey2\ttab  value  \nnorhs\t\nkey1\tdup\nConnect:10.1\tREJECT\n');
  // the wrong type, a missing map
  assert.deepEqual(await makemap(['-u', 'btree', map]), { code: 73, stdout: '', stderr: [`makemap: error opening type btree map ${map}: Invalid argument`] });
  assert.deepEqual((await makemap(['-u', 'hash', join(dir, 'none')])).stderr, [`makemap: error opening type hash map ${join(dir, 'none')}: No such file or directory`]);
  assert.equal((await makemap(['hash', join(dir, 'no/such/dir')], 'a b\n')).code, 73);
});

test('separators, comment characters, NULs, duplicates, verbose', async (t) => {
  const dir = scratch(t);
  const map = join(dir, 'm');
  assert.equal((await makemap(['-t:', '-D%', 'btree', map], 'a:b:c\nd::e\n%comment\n')).code, 0);
  assert.equal((await makemap(['-u', 'btree', map])).stdout, 'a\tb:c\nd\te\n');
  assert.equal((await makemap(['-N', 'hash', map], 'k v\n')).code, 0);
  assert.equal((await makemap(['-u', 'hash', map])).stdout, 'k\tv\n', 'the NUL ends what -u prints');
  assert.equal((await makemap(['-d', 'btree', map], 'k 1\nk 2\n')).code, 0);
  assert.equal((await makemap(['-u', 'btree', map])).stdout, 'k\t1\nk\t2\n');
  assert.deepEqual(await makemap(['-v', 'hash', map], 'Z 1\n'), { code: 0, stdout: "key=`z', val=`1'\n", stderr: [] });
  assert.deepEqual((await makemap(['-t', '', 'hash', map], 'a 1\n')).stderr, ['Invalid separator']);
});

test('lines longer than makemap reads at once: the rest is read as another line', async (t) => {
  const dir = scratch(t);
  const map = join(dir, 'm');
  const input = `k ${'v'.repeat(1020)}\nk2 ${'v'.repeat(1021)}\nok 1\n`;
  const r = await makemap(['hash', map], input);
  assert.deepEqual(r.stderr, [`makemap: ${map}: line 2: line too long (1024 bytes max)`, `makemap: ${map}: line 3: no RHS for LHS v`]);
  assert.equal(r.code, 65);
  assert.deepEqual((await makemap(['-u', 'hash', map])).stdout.split('\n').map((l) => l.slice(0, 4)), ['k\tvv', 'ok\t1', '']);
});

test('-o appends to an existing map and refuses a missing one', async (t) => {
  const dir = scratch(t);
  const map = join(dir, 'm');
  assert.equal((await makemap(['-o', 'hash', map], 'a 1\n')).code, 73);
  await makemap(['hash', map], 'a 1\n');
  assert.deepEqual(await makemap(['-o', 'hash', map], 'b 2\na 3\n'), { code: 65, stdout: '', stderr: [`makemap: ${map}: line 2: key a: duplicate key`] });
  assert.equal((await makemap(['-u', 'hash', map])).stdout, 'a\t1\nb\t2\n');
});
