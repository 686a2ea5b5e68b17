/**
 * Recipients compared as sendmail's sameaddr() compares them, and the send
 * list's duplicate suppression and loop ending (self_reference()) over
 * plain recipient lists: a local submission queues `bob@$j` where a
 * .forward or an alias says `bob`, `Bob` or `\bob`.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { resolveAliases, splitAddressList } from '../../src/delivery/aliases/index.js';
import { recipientIdentity } from '../../src/delivery/recipient-identity.js';
import { route } from '../../src/delivery/route.js';
import type { Recipient } from '../../src/queue/envelope.js';
import { SendList } from '../../src/queue/send-list.js';

const LOCAL: ReadonlySet<string> = new Set(['mx.example.test', 'localhost']);
const USERS = new Set(['bob', 'carol', 'kim', 'lee', 'x1', 'x2', 'x3']);
const userExists = (n: string) => USERS.has(n);

const same = (a: string, b: string) => recipientIdentity({ address: a }, LOCAL) === recipientIdentity({ address: b }, LOCAL);

test('sameaddr(): one local user whether bare, qualified with a local name, in capitals or in brackets', () => {
  for (const form of ['bob@mx.example.test', 'Bob', 'BOB@MX.EXAMPLE.TEST', '<bob@localhost>', 'bob@mx.example.test.', '"bob"']) {
    assert.ok(same('bob', form), form);
  }
  // \bob keeps its backslash in the user sendmail compares; a +detail is another user; so is another host's bob
  for (const other of ['\\bob', 'bob+list', 'bob@example.org', 'carol']) assert.ok(!same('bob', other), other);
  // remote users keep their case, host names do not
  assert.ok(same('Bob@Example.ORG', 'Bob@example.org'));
  assert.ok(!same('Bob@example.org', 'bob@example.org'));
  // files and lists by path; programs only when run as the same user (the uid their list was read as, else the list)
  assert.ok(same('/tmp/f', '/tmp/f'));
  assert.ok(same(':include:/etc/mail/list', ':INCLUDE:/etc/mail/list'));
  const prog = (user: string) => recipientIdentity({ address: '|logit x', origin: { kind: 'forward', user } }, LOCAL);
  assert.equal(prog('bob'), prog('bob'));
  assert.notEqual(prog('bob'), prog('carol'));
  assert.notEqual(prog('bob'), recipientIdentity({ address: '|logit x' }, LOCAL));
  // read as a uid: two lists of one user run it as that user, so it is one recipient (sendmail 8.17 runs it once)
  const asUid = (file: string, uid: number) => recipientIdentity({ address: '|logit x', origin: { kind: 'include', file, uid } }, LOCAL);
  assert.equal(asUid('/home/pam/list1', 1005), asUid('/home/pam/list2', 1005));
  assert.equal(asUid('/home/pam/list1', 1005), recipientIdentity({ address: '|logit x', origin: { kind: 'forward', user: 'pam', uid: 1005 } }, LOCAL));
  assert.notEqual(asUid('/home/pam/list1', 1005), asUid('/home/pam/list1', 1006));
});

test('the local mailer gets users lower-cased: Bob is user bob, and its +detail goes as for bob', () => {
  assert.deepEqual(route('Bob', LOCAL, userExists), { kind: 'local', user: 'bob' });
  assert.deepEqual(route('Bob+News@mx.example.test', LOCAL, userExists), { kind: 'local', user: 'bob' });
  assert.deepEqual(route('Nobody', LOCAL, userExists), { kind: 'unknown-user', localPart: 'Nobody' });
});

test('duplicates: the open recipients an earlier one already is', () => {
  const rs: Recipient[] = ['bob@mx.example.test', 'Bob@mx.example.test', 'carol', 'bob', 'carol@mx.example.test', '\\bob'].map((address) => ({ address, state: 'pending' }));
  rs[2]!.state = 'sent';
  assert.deepEqual(new SendList(rs, LOCAL, new Map(), userExists).duplicates(), [1, 3, 4]);
});

/** A list of recipients in the order of the chain given, each the parent of the next; states as given. */
function chain(...links: Array<readonly [string, Recipient['state']]>): Recipient[] {
  return links.map(([address, state], i) => ({ address, state, ...(i > 0 ? { parent: links[i - 1]![0] } : {}) }));
}

const entries = (owner: string, ...addresses: string[]): Recipient[] => addresses.map((address) => ({ address, state: 'pending', parent: owner }));

test('a .forward that names its owner, in any form: the owner keeps the mail, nothing is added for it', () => {
  for (const self of ['bob', 'bob@mx.example.test', 'Bob']) {
    const rs = chain(['bob@mx.example.test', 'pending']);
    const placed = new SendList(rs, LOCAL, new Map(), userExists).place(0, entries('bob@mx.example.test', self, 'carol'));
    assert.deepEqual(placed.added.map((r) => r.address), ['carol'], self);
    assert.equal(placed.keepsOwn, true, self);
    assert.equal(placed.counted, 1, self);
  }
  // \bob is another recipient: added, and bob is replaced
  const placed = new SendList(chain(['bob', 'pending']), LOCAL, new Map(), userExists).place(0, entries('bob', '\\bob', 'carol'));
  assert.deepEqual(placed.added.map((r) => r.address), ['\\bob', 'carol']);
  assert.equal(placed.keepsOwn, false);
});

test('a loop through other users (kim → lee → kim@$j): the last on it keeps the mail, and so does the user it came back to', () => {
  const rs = chain(['kim@mx.example.test', 'expanded'], ['lee', 'pending']);
  const placed = new SendList(rs, LOCAL, new Map(), userExists).place(1, entries('lee', 'Kim'));
  assert.equal(placed.counted, 0, "lee's list only loops back: lee is not replaced");
  assert.equal(placed.keepsOwn, false);
  assert.deepEqual(
    placed.added.map((r) => [r.address, r.parent]),
    [['\\kim', 'lee']],
  );
  // three long: x1 → x2 → x3@$j → X1
  const three = chain(['x1', 'expanded'], ['x2', 'expanded'], ['x3@mx.example.test', 'pending']);
  const again = new SendList(three, LOCAL, new Map(), userExists).place(2, entries('x3@mx.example.test', 'X1'));
  assert.deepEqual(again.added.map((r) => r.address), ['\\x1']);
  assert.equal(again.counted, 0);
});

test('two envelope recipients forwarding to each other (kim lee@$j): the first adopts the second, whose entry then loops back', () => {
  const rs: Recipient[] = [
    { address: 'kim@mx.example.test', state: 'pending' },
    { address: 'lee@mx.example.test', state: 'pending' },
  ];
  const adoptions = new Map<number, number>();
  const list = new SendList(rs, LOCAL, adoptions, userExists);
  const first = list.place(0, entries('kim@mx.example.test', 'lee'), (i) => i === 1);
  assert.deepEqual(first.added, [], 'lee is already a recipient');
  assert.equal(first.counted, 1);
  assert.deepEqual([...adoptions], [[1, 0]]);
  rs[0]!.state = 'expanded';
  const second = new SendList(rs, LOCAL, adoptions, userExists).place(1, entries('lee@mx.example.test', 'kim'));
  assert.deepEqual(second.added.map((r) => r.address), ['\\kim'], "kim's mailbox");
  assert.equal(second.counted, 0, 'lee keeps its mail');
  // a recipient already expanded is not adopted: its entry is a plain duplicate
  const none = new Map<number, number>();
  new SendList(rs, LOCAL, none, userExists).place(1, entries('lee@mx.example.test', 'kim'), () => false);
  assert.equal(none.size, 0);
});

test('kim lee@$j again in a later queue run (lee deferred): the adoption kept in the envelope ends the loop as before, and lee keeps its mail', () => {
  const rs: Recipient[] = [
    { address: 'kim@mx.example.test', state: 'pending' },
    { address: 'lee@mx.example.test', state: 'pending' },
  ];
  const list = new SendList(rs, LOCAL, new Map(), userExists);
  list.place(0, entries('kim@mx.example.test', 'lee'), (i) => i === 1);
  assert.deepEqual(list.adoptionsToKeep(), [{ index: 1, adoptedBy: 'kim@mx.example.test' }]);
  // what the first run left: kim replaced, \kim delivered, lee's delivery deferred, the adoption written down
  const later: Recipient[] = [
    { address: 'kim@mx.example.test', state: 'expanded' },
    { address: 'lee@mx.example.test', state: 'deferred', adoptedBy: 'kim@mx.example.test' },
    { address: '\\kim', state: 'sent', parent: 'lee@mx.example.test', aliased: true },
  ];
  const again = new SendList(later, LOCAL, new Map(), userExists).place(1, entries('lee@mx.example.test', 'kim'));
  assert.equal(again.counted, 0, 'lee is not replaced: its copy is delivered on the retry');
  assert.deepEqual(again.added, [], "kim's mailbox has its copy already");
  // without the adoption kept, lee's entry would count and lee be replaced: its copy lost
  const { adoptedBy: _dropped, ...forgotten } = later[1]!;
  const lost = new SendList([later[0]!, forgotten, later[2]!], LOCAL, new Map(), userExists).place(1, entries('lee@mx.example.test', 'kim'));
  assert.equal(lost.counted, 1);
});

test('a loop with no real user on it adds nothing of its own; a duplicate counts as an entry but is not added again', () => {
  // aliases a → b → a@$j: no user, the entry is a duplicate of a
  const rs = chain(['a', 'expanded'], ['b', 'pending']);
  const placed = new SendList(rs, LOCAL, new Map(), userExists).place(1, entries('b', 'a@mx.example.test'));
  assert.deepEqual(placed.added, []);
  assert.equal(placed.counted, 1);
  // carol is already a recipient of the message (not on the chain): bob is replaced, carol not added twice
  const list = new SendList([...chain(['bob', 'pending']), { address: 'carol@mx.example.test', state: 'pending' }], LOCAL, new Map(), userExists);
  const p = list.place(0, entries('bob', 'Carol', 'lee', 'lee@mx.example.test'));
  assert.deepEqual(p.added.map((r) => r.address), ['lee']);
  assert.equal(p.counted, 3);
  assert.equal(p.keepsOwn, false);
});

test('aliases: bob, bob@ a local name and Bob are one target', () => {
  const lookup = (name: string) => (name === 'team' ? splitAddressList('bob, bob@mx.example.test, Bob, carol@example.org, carol@EXAMPLE.org') : undefined);
  const r = resolveAliases('team', lookup, { isLocalDomain: (d) => LOCAL.has(d.toLowerCase()) });
  assert.deepEqual(
    r.targets.map((t) => (t.target.kind === 'address' ? t.target.address : t.target.kind)),
    ['bob', 'carol@example.org'],
  );
  assert.deepEqual(r.duplicates, ['bob@mx.example.test', 'Bob', 'carol@EXAMPLE.org']);
});
