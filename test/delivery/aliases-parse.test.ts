/**
 * The aliases file as sendmail 8.17 reads it.  The expected keys, values,
 * messages, line numbers and statistics were taken from Debian's 8.17
 * newaliases on the same text (aliases-newaliases.test.ts re-checks a
 * selection against the real binary when it is available).
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { parseAliases, problemMessage, problemsExit, type ParsedAliases } from '../../src/delivery/aliases/index.js';

const LOCAL = new Set(['mx.example.test', 'mx', 'localhost', '[127.0.0.1]']);
const parse = (...lines: string[]): ParsedAliases => parseAliases(Buffer.from(lines.map((l) => `${l}\n`).join('')), { isLocalDomain: (d) => LOCAL.has(d), blankSub: '.' });
const table = (p: ParsedAliases) => Object.fromEntries(p.entries.map((e) => [e.name, e.value]));
const messages = (p: ParsedAliases) => p.problems.map((x) => problemMessage('/etc/mail/aliases', x));

test('names, values, comments and statistics', () => {
  const p = parse('# comment', 'postmaster: root', 'MAILER-DAEMON: postmaster', 'Root:\talice', 'trailing: alice   ', 'x(comment): alice', '<angle>: alice');
  assert.deepEqual(table(p), { postmaster: 'root', 'mailer-daemon': 'postmaster', root: 'alice', trailing: 'alice   ', x: 'alice', angle: 'alice' });
  assert.deepEqual(p.problems, []);
  // bytes are names plus values; trailing blanks count
  assert.deepEqual(p.stats, { aliases: 6, longest: 10, bytes: 10 + 4 + 13 + 10 + 4 + 5 + 8 + 8 + 1 + 5 + 5 + 5 });
  assert.equal(problemsExit(p.problems), 0);
});

test('continuation lines keep their blanks; a backslash joins lines; line numbers are the last line', () => {
  const p = parse('list: alice, bob,', '\tcarol', 'back\\', 'slash: alice', 'a: x,', '\t', ' y', 'nocolon');
  assert.deepEqual(table(p), { list: 'alice, bob,\tcarol', backslash: 'alice', a: 'x,\t y' });
  assert.deepEqual(p.entries.map((e) => e.line), [2, 4, 7]);
  assert.deepEqual(messages(p), ['/etc/mail/aliases: line 8: missing colon']);
  assert.equal(problemsExit(p.problems), 70);
});

test('a comment swallows its continuation lines; after an empty line a blank line is an error', () => {
  assert.deepEqual(messages(parse('a: x', '# c', '  stray', 'b: y')), []);
  assert.deepEqual(messages(parse('#c', '  x', 'ok: y')), []);
  assert.deepEqual(messages(parse('  stray', 'b: y')), ['/etc/mail/aliases: line 1: Non-continuation line starts with space']);
  const p = parse('a: x', '', '  x', '  y', 'b: z');
  assert.deepEqual(messages(p), ['/etc/mail/aliases: line 4: Non-continuation line starts with space']);
  assert.deepEqual(table(p), { a: 'x', b: 'z' });
  assert.deepEqual(table(parse('b: y', '  # not a comment', 'c: # z')), { b: 'y  # not a comment', c: '# z' });
});

test('missing values, missing colons and too long lines, with their exit status', () => {
  const p = parse('empty:', 'spaces:    ', 'nocolon line', 'a\tx', 'ok: 1');
  assert.deepEqual(messages(p), [
    '/etc/mail/aliases: line 1: empty:... missing value for alias',
    '/etc/mail/aliases: line 2: spaces:    ... missing value for alias',
    '/etc/mail/aliases: line 3: missing colon',
    '/etc/mail/aliases: line 4: missing colon',
  ]);
  assert.ok(p.problems.every((x) => x.severity === 'system' && x.code === 'ALIAS_SYNTAX'));
  const long = parse(`a: ${'x'.repeat(8187)}`, `b: ${'y'.repeat(8188)}`, 'c: z');
  assert.deepEqual(messages(long), ['/etc/mail/aliases: line 2: alias line too long']);
  assert.deepEqual(long.stats, { aliases: 2, longest: 8187, bytes: 8190 });
  const joined = parse(`a: ${'x'.repeat(5000)}`, `  ${'y'.repeat(4000)}`, 'c: z');
  assert.deepEqual(messages(joined), ['/etc/mail/aliases: line 2: alias line too long']);
  assert.deepEqual(table(joined), { c: 'z' });
});

test('a repeated name warns, counts twice, and the later value wins', () => {
  const p = parse('PostMaster: root', 'MiXed: Root', 'POSTMASTER: x');
  assert.deepEqual(table(p), { postmaster: 'x', mixed: 'Root' });
  assert.deepEqual(messages(p), ['/etc/mail/aliases: line 3: POSTMASTER... Warning: duplicate alias name postmaster']);
  assert.deepEqual(p.stats, { aliases: 3, longest: 4, bytes: 34 });
  assert.equal(problemsExit(p.problems), 0);
});

test('names are parsed as addresses: blanks, quotes, comments, brackets', () => {
  const p = parse('foo bar: x', 'a . b: x', '"quoted name": x', '"q": x', '"a.b": x', 'a"b"c: x', '\\bob: x', 'a;b: x', '[x]: x', 'a<b>c: x', 'jörg: x', '@: x');
  assert.deepEqual(Object.keys(table(p)), ['foo.bar', 'a.b', '"quoted name"', 'q', 'a"b"c', '\\bob', 'a;b', '[x]', 'b', 'jörg', '']);
  assert.deepEqual(messages(p), ['/etc/mail/aliases: line 5: "a.b"... Warning: duplicate alias name a.b']);
  // bytes, not characters
  assert.equal(parse('jörg: x').stats.bytes, 6);
});

test('unbalanced brackets and quotes: complaints, and what sendmail keys them by', () => {
  const p = parse('bad<name: x', 'bad>name: x', '(x: y', 'x): y', 'quo"te: alice');
  assert.deepEqual(messages(p), [
    "/etc/mail/aliases: line 1: bad<name: x... Unbalanced '<'",
    "/etc/mail/aliases: line 2: bad>name: x... Unbalanced '>'",
    "/etc/mail/aliases: line 3: (x: y... Unbalanced '('",
    '/etc/mail/aliases: line 3: (x: y... illegal alias name',
    "/etc/mail/aliases: line 4: x): y... Unbalanced ')'",
    '/etc/mail/aliases: line 5: quo"te: alice... Unbalanced \'"\'',
  ]);
  assert.deepEqual(table(p), { 'name:x': 'x', badname: 'x', x: 'y', 'quo"te: alice"': 'alice' });
  assert.deepEqual(p.problems.map((x) => x.exit), [0, 0, 0, 70, 0, 0]);
  const empty = parse(': x', ' : y', 'ok: z');
  assert.deepEqual(messages(empty), ['/etc/mail/aliases: line 2: : x : y... illegal alias name']);
});

test('names with a domain: this host is the local name, anything else is refused', () => {
  const ok = parse('a@mx.example.test: x', 'b@localhost: x', 'c@[127.0.0.1]: x', 'd@mx: x', 'UPPER@MX.EXAMPLE.TEST: z', '"x"@mx.example.test: y');
  assert.deepEqual(Object.keys(table(ok)), ['a', 'b', 'c', 'd', 'upper', 'x']);
  const bad = parse('remote@example.com: x', 'a%b: x', 'a!b: x', 'a@: x', 'foo,bar: x', '"": u', 'a@b@c: x');
  assert.deepEqual(messages(bad), [
    '/etc/mail/aliases: line 1: remote@example.com... cannot alias non-local names',
    '/etc/mail/aliases: line 2: a%b... cannot alias non-local names',
    '/etc/mail/aliases: line 3: a!b... cannot alias non-local names',
    '/etc/mail/aliases: line 4: a@... Hostname required',
    '/etc/mail/aliases: line 4: a@... cannot alias non-local names',
    '/etc/mail/aliases: line 5: foo,bar... Invalid route address',
    '/etc/mail/aliases: line 5: foo,bar... cannot alias non-local names',
    '/etc/mail/aliases: line 6: ""... User address required',
    '/etc/mail/aliases: line 6: ""... cannot alias non-local names',
    '/etc/mail/aliases: line 7: a@b@c... Invalid route address',
    '/etc/mail/aliases: line 7: a@b@c... cannot alias non-local names',
  ]);
  assert.deepEqual(bad.entries, []);
  // the first problem that sets an exit status decides it
  assert.equal(problemsExit(bad.problems), 70);
  assert.equal(problemsExit(parse('"": u', 'nocolon').problems), 64);
});

test('values are not checked: programs, files, includes and errors are stored as written', () => {
  const p = parse('p: "|/bin/prog a,b", |/bin/x, /tmp/f, :include: /x/y, error:nouser No such user', 'inc: :include:/nonexistent');
  assert.deepEqual(table(p), { p: '"|/bin/prog a,b", |/bin/x, /tmp/f, :include: /x/y, error:nouser No such user', inc: ':include:/nonexistent' });
  assert.deepEqual(p.problems, []);
});

test('CR line ends stay in the value; a last line without a newline counts; an empty file is zero aliases', () => {
  const crlf = parseAliases(Buffer.from('crlf: b\r\nok: c\r\nnoeol: x'), { isLocalDomain: () => false });
  assert.deepEqual(table(crlf), { crlf: 'b\r', ok: 'c\r', noeol: 'x' });
  assert.deepEqual(crlf.stats, { aliases: 3, longest: 2, bytes: 4 + 2 + 2 + 2 + 5 + 1 });
  assert.deepEqual(parseAliases(Buffer.alloc(0), { isLocalDomain: () => false }).stats, { aliases: 0, longest: 0, bytes: 0 });
});
