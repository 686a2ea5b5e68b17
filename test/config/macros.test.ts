/** The $-notation: expansion at run time, and how cf lines keep it. */
import assert from 'node:assert/strict';
import test from 'node:test';
import { expandMacros, loadConfig } from '../../src/config/index.js';
import { cfWith } from './cf-files.js';

const macros = new Map<string, string>([
  ['j', 'mx.example.test'],
  ['w', 'mx'],
  ['m', 'example.test'],
  ['v', '8.17.1.9'],
  ['Z', '8.17.1.9'],
  ['b', 'Sun, 22 Nov 2026 06:00:00 +0000'],
  ['client_addr', '192.0.2.7'],
  ['empty', ''],
  ['x', 'Alice Example'],
  ['g', 'alice@example.test'],
  ['q', '$g'],
  ['r', 'ESMTP'],
]);

test('$x and ${name}', () => {
  assert.equal(expandMacros('$j Sendmail $v/$Z; $b', macros), 'mx.example.test Sendmail 8.17.1.9/8.17.1.9; Sun, 22 Nov 2026 06:00:00 +0000');
  assert.equal(expandMacros('from ${client_addr}!', macros), 'from 192.0.2.7!');
  assert.equal(expandMacros('${j}', macros), 'mx.example.test', '${x} is $x');
  assert.equal(expandMacros('[$u]', macros), '[]', 'unset macros expand to nothing');
  assert.equal(expandMacros('no macros here', macros), 'no macros here');
});

test('values are expanded in turn', () => {
  assert.equal(expandMacros('<$q>', macros), '<alice@example.test>');
  const deep = new Map([['a', '$a']]);
  assert.equal(expandMacros('$a', deep), '$a', 'recursion stops');
});

test('$&x: deferred while reading, expanded at run time', () => {
  assert.equal(expandMacros('$&{client_addr}', macros), '192.0.2.7');
  assert.equal(expandMacros('$&{client_addr} $j', macros, { keepDeferred: true }), '$&{client_addr} mx.example.test');
});

test('conditionals', () => {
  assert.equal(expandMacros('$?x$x <$g>$|$g$.', macros), 'Alice Example <alice@example.test>');
  assert.equal(expandMacros('$?u$u$|nobody$.', macros), 'nobody');
  assert.equal(expandMacros('[$?{empty}set$|empty$.]', macros), '[empty]', 'an empty value counts as unset');
  assert.equal(expandMacros('$?r with $r$. id', macros), ' with ESMTP id');
  assert.equal(expandMacros('$?s from $s$. by $j', macros), ' by mx.example.test');
  // nested: the inner one only matters when the outer is true
  assert.equal(expandMacros('$?x($?u$u$|no u$.)$|none$.', macros), '(no u)');
  assert.equal(expandMacros('$?u($?x$x$|no x$.)$|none$.', macros), 'none');
  assert.equal(expandMacros('$?{client_addr}logging ${client_addr}$.', macros), 'logging 192.0.2.7');
});

test('the Received header template', () => {
  const received =
    '$?sfrom $s $.$?_($?s$|from $.$_)\n\t$.by $j ($v/$Z)$?r with $r$. id $i$?u\n\tfor $u; $|;\n\t$.$b';
  const m = new Map(macros);
  m.set('s', 'client.example.test');
  m.set('_', 'client.example.test [192.0.2.7]');
  m.set('i', '5AM6X0ab012345');
  m.set('u', '<bob@example.test>');
  assert.equal(
    expandMacros(received, m),
    'from client.example.test (client.example.test [192.0.2.7])\n\tby mx.example.test (8.17.1.9/8.17.1.9) with ESMTP id 5AM6X0ab012345\n\tfor <bob@example.test>; Sun, 22 Nov 2026 06:00:00 +0000',
  );
  m.delete('u');
  assert.equal(
    expandMacros(received, m),
    'from client.example.test (client.example.test [192.0.2.7])\n\tby mx.example.test (8.17.1.9/8.17.1.9) with ESMTP id 5AM6X0ab012345;\n\tSun, 22 Nov 2026 06:00:00 +0000',
  );
});

test('$$ and rewriting operators are kept', () => {
  assert.equal(expandMacros('cost: $$5', macros), 'cost: $5');
  assert.equal(expandMacros('$* < @ $=w . > $*', macros), '$* < @ $=w . > $*');
  assert.equal(expandMacros('$#local $@ $1 $: $2 $>canonify $[ $1 $] $( map $@ x $)', macros), '$#local $@ $1 $: $2 $>canonify $[ $1 $] $( map $@ x $)');
  assert.equal(expandMacros('${j}$~{Foo}', macros), 'mx.example.test$~{Foo}');
});

test('the macro function form', () => {
  assert.equal(expandMacros('$j/$x', (n) => (n === 'j' ? 'J' : undefined)), 'J/');
});

test('D lines keep $-notation; C and K lines are expanded as they are read', () => {
  const path = cfWith('Dwmx', 'Dj$w.example.test', 'D{greeting}"Hello, world" \\n', 'Cw $j other', 'Kmine hash -a$w /etc/mail/$w', 'D{later}$&w');
  const { config } = loadConfig(path);
  assert.equal(config.macros.get('j'), '$w.example.test');
  assert.equal(config.macros.get('greeting'), 'Hello, world \n', 'quotes removed, escapes resolved');
  assert.equal(config.macros.get('later'), '$&w');
  assert.deepEqual([...config.classes.get('w')!], ['$w.example.test', 'other'].map((s) => expandMacros(s, config.macros)));
  assert.equal(config.maps.get('mine')?.file, '/etc/mail/mx');
  assert.equal(expandMacros('$j', config.macros), 'mx.example.test');
});

test('comments: # after the first column, \\# and $# are not comments', () => {
  const path = cfWith('D{a}value   # a comment', 'D{b}50\\# off', 'Sx', 'R$*\t$#local $: $1\tcomment');
  const { config } = loadConfig(path);
  assert.equal(config.macros.get('a'), 'value');
  assert.equal(config.macros.get('b'), '50# off');
  const rule = config.rulesets.get(config.rulesetNames.get('x')!)!.rules[0]!;
  assert.deepEqual([rule.lhs, rule.rhs, rule.comment], ['$*', '$#local $: $1', 'comment']);
});
