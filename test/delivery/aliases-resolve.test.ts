/**
 * Alias expansion over plain tables: recursion, duplicates, loops, `\user`,
 * owners, and the kinds of targets (programs, files, :include:, error:).
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { classifyTarget, expandAlias, resolveAliases, splitAddressList, type AliasLookup, type Resolution } from '../../src/delivery/aliases/index.js';

function lookupOf(table: Record<string, string>): AliasLookup {
  return (name) => (Object.prototype.hasOwnProperty.call(table, name) ? splitAddressList(table[name]!) : undefined);
}

/** Targets as short strings: `bob`, `bob@example.org`, `|prog`, `/file`, `:include:/x`, `error:...`. */
function summary(r: Resolution): string[] {
  return r.targets.map(({ target: t }) => {
    switch (t.kind) {
      case 'address':
        return `${t.noAlias ? '\\' : ''}${t.local}${t.domain === undefined ? '' : `@${t.domain}`}`;
      case 'program':
        return `|${t.command}`;
      case 'file':
        return t.path;
      case 'include':
        return `:include:${t.path}`;
      case 'error':
        return `error:${t.status ?? t.keyword ?? ''}:${t.text}`;
    }
  });
}

const local = (d: string) => d === 'mx.example.test' || d === 'localhost';

test('lists are split on commas outside quotes, brackets and comments', () => {
  assert.deepEqual(splitAddressList('alice, "|/usr/bin/foo a,b",bob (Bob, Jr.) , <carol@x.org>,,'), [
    'alice',
    '"|/usr/bin/foo a,b"',
    'bob (Bob, Jr.)',
    '<carol@x.org>',
  ]);
});

test('each kind of target', () => {
  assert.deepEqual(classifyTarget('"|/usr/bin/foo a,b"'), { kind: 'program', command: '/usr/bin/foo a,b' });
  assert.deepEqual(classifyTarget('|/usr/bin/vacation bob'), { kind: 'program', command: '/usr/bin/vacation bob' });
  assert.deepEqual(classifyTarget('/var/log/mail.copy'), { kind: 'file', path: '/var/log/mail.copy' });
  assert.deepEqual(classifyTarget(':include: /etc/mail/lists/staff'), { kind: 'include', path: '/etc/mail/lists/staff' });
  assert.deepEqual(classifyTarget(':INCLUDE:/x'), { kind: 'include', path: '/x' });
  assert.deepEqual(classifyTarget('error:nouser No such user'), { kind: 'error', status: undefined, keyword: 'nouser', text: 'No such user' });
  assert.deepEqual(classifyTarget('error:5.1.1:550 Gone away'), { kind: 'error', status: '5.1.1', keyword: undefined, text: '550 Gone away' });
  assert.deepEqual(classifyTarget('Bob Smith <Bob@Example.ORG>'), { kind: 'address', address: 'Bob@Example.ORG', local: 'Bob', domain: 'example.org', noAlias: false });
  assert.deepEqual(classifyTarget('\\bob'), { kind: 'address', address: 'bob', local: 'bob', domain: undefined, noAlias: true });
  assert.deepEqual(classifyTarget('bob (the builder)'), { kind: 'address', address: 'bob', local: 'bob', domain: undefined, noAlias: false });
  // a backslash quotes in a comment too: `\)` does not end it (as in an SMTP address)
  assert.deepEqual(classifyTarget('bob (the \\) boss)'), { kind: 'address', address: 'bob', local: 'bob', domain: undefined, noAlias: false });
});

test('recursive expansion, local domains, and names case-insensitively', () => {
  const lookup = lookupOf({ postmaster: 'root', root: 'Alice, ops', ops: 'carol@mx.example.test, dave@elsewhere.org', alice: '\\alice, /var/mail/alice.copy' });
  const r = resolveAliases('PostMaster', lookup, { isLocalDomain: local });
  assert.deepEqual(summary(r), ['\\alice', '/var/mail/alice.copy', 'carol@mx.example.test', 'dave@elsewhere.org']);
  assert.deepEqual(r.targets[0]!.via, ['postmaster', 'root', 'alice']);
  assert.deepEqual(r.errors, []);
  // not an alias: the address itself
  assert.deepEqual(summary(resolveAliases('bob', lookup)), ['bob']);
  // -n
  assert.deepEqual(summary(resolveAliases('postmaster', lookup, { noAlias: true })), ['postmaster']);
});

test('\\user is not aliased any further', () => {
  const lookup = lookupOf({ bob: '\\bob, |/usr/bin/vacation bob' });
  assert.deepEqual(summary(resolveAliases('bob', lookup)), ['\\bob', '|/usr/bin/vacation bob']);
  assert.deepEqual(summary(resolveAliases('\\bob', lookup)), ['\\bob']);
});

test('duplicates are delivered once', () => {
  const lookup = lookupOf({ all: 'staff, admins, alice', staff: 'alice, bob', admins: 'bob, carol, staff' });
  const r = resolveAliases('all', lookup);
  assert.deepEqual(summary(r), ['alice', 'bob', 'carol']);
  assert.deepEqual(r.duplicates, ['bob', 'staff', 'alice']);
});

test('an alias that includes itself delivers to the mailbox of that name', () => {
  const lookup = lookupOf({ bob: 'bob, alice' });
  assert.deepEqual(summary(resolveAliases('bob', lookup)), ['\\bob', 'alice']);
});

test('a loop is broken at the first real user on it, or fails', () => {
  const lookup = lookupOf({ awc: 'andrew.chang', 'andrew.chang': 'awc@mx.example.test' });
  const users = new Set(['awc']);
  const r = resolveAliases('awc', lookup, { isLocalDomain: local, isUser: (n) => users.has(n) });
  assert.deepEqual(summary(r), ['\\awc']);
  assert.deepEqual(r.errors, []);

  const none = resolveAliases('a', lookupOf({ a: 'b', b: 'a' }), { isUser: () => false });
  assert.deepEqual(none.targets, []);
  assert.equal(none.errors.length, 1);
  assert.equal(none.errors[0]!.error.code, 'ALIAS_LOOP');
  assert.equal(none.errors[0]!.error.message, 'aliasing/forwarding loop broken');
  assert.equal(none.errors[0]!.error.status, '5.4.6');

  // a loop in one branch only: the other branch is delivered, no error
  const some = resolveAliases('list', lookupOf({ list: 'a, carol', a: 'b', b: 'a' }), { isUser: (n) => n === 'carol' });
  assert.deepEqual(summary(some), ['carol']);
  assert.deepEqual(some.errors, []);
});

test('more than MaxAliasRecursion levels fail', () => {
  const table: Record<string, string> = {};
  for (let i = 0; i < 12; i++) table[`a${i}`] = `a${i + 1}`;
  const r = resolveAliases('a0', lookupOf(table));
  assert.deepEqual(r.targets, []);
  assert.equal(r.errors[0]!.error.message, 'aliasing/forwarding loop broken (11 aliases deep; 10 max)');
  assert.equal(resolveAliases('a0', lookupOf(table), { maxDepth: 20 }).targets.length, 1);
});

test(':include:, programs, files and errors are reported as targets, with the list owner', () => {
  const lookup = lookupOf({
    staff: ':include:/etc/mail/lists/staff, "|/usr/local/bin/archive staff", /var/spool/staff.mbox, error:5.2.2:552 Mailbox full',
    'owner-staff': 'alice',
    'owner-ops': 'alice, bob',
    ops: 'carol',
  });
  const r = resolveAliases('staff', lookup);
  assert.deepEqual(summary(r), [':include:/etc/mail/lists/staff', '|/usr/local/bin/archive staff', '/var/spool/staff.mbox', 'error:5.2.2:552 Mailbox full']);
  assert.ok(r.targets.every((t) => t.owner === 'alice'));
  // an owner alias with more than one address: errors go to owner-NAME
  assert.equal(resolveAliases('ops', lookup).targets[0]!.owner, 'owner-ops');
});

test('expandAlias gives the immediate right-hand side and says when a name is seen again', () => {
  const lookup = lookupOf({ staff: 'alice, :include:/x' });
  assert.deepEqual(expandAlias('Staff', lookup), {
    targets: [classifyTarget('alice'), { kind: 'include', path: '/x' }],
    loop: false,
  });
  assert.equal(expandAlias('staff', lookup, new Set(['staff']))?.loop, true);
  assert.equal(expandAlias('nobody', lookup), undefined);
});
