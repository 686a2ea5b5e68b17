/**
 * smrsh: the rules on their own (a table of programs for the smrsh
 * directory), then bin/smrsh side by side with Debian's real smrsh on the
 * same command lines, in a sandbox with the same /etc/mail/smrsh.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { checkSmrshCommand, type SmrshProbe } from '../../src/delivery/smrsh/rules.js';
import { debianPackage, repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { putFile } from '../helpers/scripts.js';

const PROBE: SmrshProbe = {
  check: (path) => ({ '/etc/mail/smrsh/vacation': 'ok', '/etc/mail/smrsh/procmail': 'ok', '/etc/mail/smrsh/dir': 'not-file', '/etc/mail/smrsh/noexec': 'not-executable' })[path] as 'ok' | 'not-file' | 'not-executable' | undefined ?? 'missing',
};
const verdict = (command: string) => checkSmrshCommand(command, 1001, '/etc/mail/smrsh', PROBE);

test('smrsh rules: a program of the smrsh directory runs from there, its leading path dropped, its arguments as written', () => {
  assert.deepEqual(verdict('/usr/bin/vacation -a "bob smith" bob'), { ok: true, command: '/etc/mail/smrsh/vacation -a "bob smith" bob' });
  assert.deepEqual(verdict('exec /usr/bin/procmail -f-'), { ok: true, command: 'exec /etc/mail/smrsh/procmail -f-' });
  // blanks after && and || are dropped, as smrsh drops them
  assert.deepEqual(verdict('vacation a && procmail || echo failed'), { ok: true, command: '/etc/mail/smrsh/vacation a &&/etc/mail/smrsh/procmail ||echo failed' });
  assert.deepEqual(verdict('exit 75'), { ok: true, command: 'exit 75' });
});

test('smrsh rules: programs not in the directory, and every shell metacharacter, are refused with smrsh\'s words and exit 69', () => {
  const refused = (command: string) => {
    const v = verdict(command);
    assert.equal(v.ok, false, command);
    return v.ok ? undefined : { exit: v.exit, message: v.message, log: v.log };
  };
  assert.deepEqual(refused('rm -f /tmp/x'), { exit: 69, message: '"rm" not available for sendmail programs (stat failed)', log: 'uid 1001: attempt to use "rm" (stat failed)' });
  assert.deepEqual(refused('dir x'), { exit: 69, message: '"dir" not available for sendmail programs (not a file)', log: 'uid 1001: attempt to use "dir" (not a file)' });
  assert.deepEqual(refused('noexec'), { exit: 69, message: '"noexec" not available for sendmail programs', log: 'uid 1001: attempt to use "noexec"' });
  for (const c of ['<', '|', '>', '^', '(', ')', ';', '&', '`', '$', '\r', '\n']) {
    assert.equal(refused(`vacation a${c}b`)?.message, `cannot use ${c} in command`, JSON.stringify(c));
  }
  assert.equal(refused('vacation \xbb')?.message, 'cannot use \xbb in command', 'the eighth bit does not hide ;');
  assert.equal(refused('vacation a && rm b')?.message, '"rm" not available for sendmail programs (stat failed)', 'each command of a chain is checked');
  assert.equal(refused('exec')?.message, '"exec" not available for sendmail programs (stat failed)');
  assert.equal(refused('exec ')?.message, 'missing command to exec');
  const empty = verdict('   ');
  assert.equal(empty.ok, false);
  assert.equal(!empty.ok && empty.exit, 64);
});

/** The same command lines through both smrsh programs, found on PATH as "smrsh". */
const LINES = [
  ['logit', 'logit one two'],
  ['logit', '/usr/local/bin/logit "quoted words" x'],
  ['logit', 'exec logit via-exec'],
  ['logit', 'logit a && logit b'],
  ['logit', 'false-prog || logit after-or'],
  ['echo', 'echo builtin echo'],
  ['env', 'env'],
  ['refused', 'rm -f /tmp/x'],
  ['refused', 'logit a; rm -rf /'],
  ['refused', 'logit $HOME'],
  ['refused', 'logit > /tmp/x'],
  ['refused', 'logit `id`'],
  ['refused', 'noexec'],
  ['refused', 'exec'],
  ['refused', 'exec  '],
  ['usage', ''],
];

test('bin/smrsh answers as Debian\'s smrsh does: output, messages and exit status', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const peer = await debianPackage('sendmail-bin');
  if ('skip' in peer) return t.skip(peer.skip);
  const real = join(peer.root, 'usr/libexec/sendmail/smrsh');
  const cases = LINES.map(([, line]) => line!);
  const script = `
set -u
W=$(mktemp -d /run/smrsh.XXXX); chmod 755 "$W"
${putFile('logit', '#!/bin/sh\necho "logit: $*"\n')}
${putFile('false-prog', '#!/bin/sh\nexit 1\n')}
${putFile('cases', cases.join('\n') + '\n')}
mkdir -p /etc/mail/smrsh "$W/real" "$W/ours"
install -m 755 "$W/logit" /etc/mail/smrsh/logit
install -m 755 "$W/false-prog" /etc/mail/smrsh/false-prog
install -m 644 "$W/logit" /etc/mail/smrsh/noexec
ln -s /usr/bin/env /etc/mail/smrsh/env
cp '${real}' "$W/real/smrsh"
ln -s '${join(repoRoot, 'bin/sendmail')}' "$W/ours/smrsh"
n=0
while IFS= read -r line; do
  n=$((n+1))
  for which in real ours; do
    out=$(cd / && PATH="$W/$which:/usr/bin:/bin" smrsh -c "$line" 2>"$W/err" </dev/null); code=$?
    echo "case$n-$which=$code $(printf %s "$out" | base64 -w0) $(base64 -w0 < "$W/err")"
  done
done < "$W/cases"
PATH="$W/real:/usr/bin:/bin" smrsh 2>"$W/err"; echo "noargs-real=$? $(base64 -w0 < "$W/err")"
PATH="$W/ours:/usr/bin:/bin" smrsh 2>"$W/err"; echo "noargs-ours=$? $(base64 -w0 < "$W/err")"
`;
  const r = await runInSandbox(script, { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);
  const decode = (v: string | undefined) => {
    const [code, out, err] = (v ?? '').split(' ');
    return { code, out: Buffer.from(out ?? '', 'base64').toString(), err: Buffer.from(err ?? '', 'base64').toString() };
  };
  for (const [i, [kind, command]] of LINES.entries()) {
    const realResult = decode(line(`case${i + 1}-real`));
    const ours = decode(line(`case${i + 1}-ours`));
    assert.notEqual(realResult.code, undefined, `case ${i + 1} ran`);
    assert.deepEqual(ours, realResult, `${kind}: smrsh -c ${JSON.stringify(command)}`);
    if (kind === 'refused') assert.equal(realResult.code, '69', `the real smrsh refuses ${command}`);
    if (kind === 'logit') assert.match(realResult.out, /logit: /);
  }
  assert.match(decode(line('case7-real')).out, /^PATH=\/usr\/bin:\/bin$/m, 'the program sees smrsh\'s PATH');
  assert.deepEqual(decode(line('noargs-ours')), decode(line('noargs-real')));
  assert.equal(decode(line('noargs-real')).code, '64');
});
