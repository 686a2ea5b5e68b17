/**
 * The pieces of .forward handling that need no users: ForwardPath's
 * candidates, the list syntax of .forward and :include: files, /etc/shells
 * as usershellok() reads it, and how a program's exit status is reported.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { forwardCandidates } from '../../src/delivery/forward/forward-path.js';
import { parseListText } from '../../src/delivery/forward/list-text.js';
import { listedShells, userShellOk } from '../../src/delivery/forward/shells.js';
import { statusOfExit } from '../../src/delivery/program/run-program.js';

const MACROS = { home: '/home/bob', user: 'bob', detail: '', shortName: 'mx', hostName: 'mx.example.test' };

test('ForwardPath: sendmail\'s m4 default expands to its four candidates, with and without a +detail', () => {
  const path = '$z/.forward.$w+$h:$z/.forward+$h:$z/.forward.$w:$z/.forward';
  assert.deepEqual(forwardCandidates(path, MACROS), ['/home/bob/.forward.mx+', '/home/bob/.forward+', '/home/bob/.forward.mx', '/home/bob/.forward']);
  assert.deepEqual(forwardCandidates(path, { ...MACROS, detail: 'lists' }).slice(0, 2), ['/home/bob/.forward.mx+lists', '/home/bob/.forward+lists']);
  assert.deepEqual(forwardCandidates('/var/forward/$u:${j}/x', MACROS), ['/var/forward/bob', 'mx.example.test/x']);
  assert.deepEqual(forwardCandidates('', MACROS), [], 'an empty ForwardPath turns forwarding off');
  assert.deepEqual(forwardCandidates('$z/.forward', { ...MACROS, home: '/' }), ['/.forward']);
});

test('.forward syntax: comma lists per line, # lines, " #@# " comments, quoted programs, \\user', () => {
  const items = parseListText('# a comment\n\ncarol, "|/usr/bin/vacation bob"\r\n\\bob #@# a trailing comment\n:include:/etc/list, /var/mail/copy\n');
  assert.deepEqual(
    items.map((i) => [i.line, i.target.kind, i.text]),
    [
      [3, 'address', 'carol'],
      [3, 'program', '"|/usr/bin/vacation bob"'],
      [4, 'address', '\\bob'],
      [5, 'include', ':include:/etc/list'],
      [5, 'file', '/var/mail/copy'],
    ],
  );
  const bob = items[2]!.target;
  assert.equal(bob.kind === 'address' && bob.noAlias, true);
  assert.deepEqual(parseListText(''), []);
});

test('usershellok: /etc/shells as getusershell reads it; /SENDMAIL/ANY/SHELL/ lets every shell pass; class t users always pass', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shells-'));
  try {
    const shells = join(dir, 'shells');
    writeFileSync(shells, '# /etc/shells\n/bin/sh\n  /bin/bash  # login\n\n/usr/bin/zsh\n');
    assert.deepEqual(listedShells(shells), ['/bin/sh', '/bin/bash', '/usr/bin/zsh']);
    assert.equal(userShellOk('bob', '/bin/bash', new Set(), shells), true);
    assert.equal(userShellOk('frank', '/usr/sbin/nologin', new Set(), shells), false);
    assert.equal(userShellOk('frank', '', new Set(), shells), true, 'no shell: sendmail lets it pass');
    assert.equal(userShellOk('frank', '/usr/sbin/nologin', new Set(['frank']), shells), true);
    writeFileSync(shells, '/bin/sh\n/SENDMAIL/ANY/SHELL/\n');
    assert.equal(userShellOk('frank', '/usr/sbin/nologin', new Set(), shells), true);
    assert.deepEqual(listedShells(join(dir, 'missing')), ['/bin/sh', '/bin/csh']);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a program\'s exit status as sendmail reports it: 0 sent, 75 deferred, 67 User unknown, others bounced with their words', () => {
  assert.deepEqual(statusOfExit(0), { status: 'sent', dsn: '2.0.0', text: 'Sent' });
  assert.deepEqual(statusOfExit(75), { status: 'deferred', dsn: '4.0.0', text: 'Deferred', code: 'PROGRAM_DEFERRED' });
  assert.deepEqual(statusOfExit(67, 'no such list'), { status: 'bounced', dsn: '5.1.1', text: 'User unknown (no such list)', code: 'PROGRAM_FAILED' });
  assert.equal(statusOfExit(74).status, 'deferred', 'EX_IOERR is temporary');
  assert.equal(statusOfExit(71).status, 'deferred', 'EX_OSERR is temporary');
  assert.deepEqual(statusOfExit(73), { status: 'bounced', dsn: '5.0.0', text: "Can't create output", code: 'PROGRAM_FAILED' });
  assert.deepEqual(statusOfExit(1), { status: 'bounced', dsn: '5.3.0', text: 'unknown mailer error 1', code: 'PROGRAM_FAILED' });
});
