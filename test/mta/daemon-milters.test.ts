/**
 * Filters in the real daemon, in a sandbox with real users: the daemon runs
 * as root with its workers as smmta; opendkim (foreground, key made by
 * opendkim-genkey) signs alice's `sendmail -t` (seen by the filters as a
 * connection from localhost [127.0.0.1], as sendmail's MSP relays it) and
 * bob's SMTP message; the python milter quarantines a message, which mailq
 * shows and `sendmail -Q -qQ` releases; a filter whose socket only root can
 * reach is reported by the workers at start and per connection.  The queued
 * messages are then verified outside the sandbox by opendkim in verify mode.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { MilterChain } from '../../src/milter/index.js';
import { repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { putFile, daemonSandboxPreamble } from '../helpers/scripts.js';
import { macroTable, memoryLogger, milterConfig, parseHeaderBlock, pythonMilterMissing, safeTempDir, smtpPass, startFilter, stopFilter } from '../milter/helpers.js';

const OPENDKIM = '/usr/sbin/opendkim';
const FIXTURE = join(repoRoot, 'test/milter/fixtures/all_actions_milter.py');

const SMTP_CLIENT = `
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", 25, local_hostname="client.example.org")
msg = "From: Carol <carol@mx.example.test>\\r\\nTo: bob@mx.example.test\\r\\nSubject: %s\\r\\n\\r\\nhello from smtplib\\r\\n" % sys.argv[1]
print(s.sendmail("carol@mx.example.test", ["bob@mx.example.test"], msg) == {})
s.quit()
`;

const dkimConf = (dir: string, name: string, lines: string[]) =>
  [`Socket local:${dir}/${name}.sock`, 'UMask 000', 'Background no', 'Syslog no', 'Canonicalization relaxed/simple', ...lines, ''].join('\n');

const MILTER_CF = [
  'Xdkim, S=local:/run/dkim/sign.sock, F=T, T=C:10s;S:10s;R:10s;E:30s',
  'Xpy, S=local:/run/py/py.sock, F=T, T=C:10s;E:30s',
  'Xhidden, S=local:/run/hidden/verify.sock, T=C:5s',
  'O InputMailFilters=dkim,py,hidden',
  'O Milter.LogLevel=9',
  '',
].join('\n');

const SCRIPT = `
${daemonSandboxPreamble(repoRoot)}
waitfor() { for i in $(seq 300); do [ -S "$1" ] && return 0; sleep 0.05; done; return 1; }

# opendkim signs for mx.example.test; a second one sits where only root can reach it
install -d -m 755 /run/dkim; install -d -m 700 /run/hidden; install -d -m 755 /run/py
opendkim-genkey -D /run/dkim -d mx.example.test -s test -b 1024
${putFile('sign.conf', dkimConf('/run/dkim', 'sign', ['Mode s', 'Domain mx.example.test', 'Selector test', 'KeyFile /run/dkim/test.private']))}
${putFile('hidden.conf', dkimConf('/run/hidden', 'verify', ['Mode v']))}
${putFile('smtp.py', SMTP_CLIENT)}
cp "$W/sign.conf" /run/dkim/sign.conf; cp "$W/hidden.conf" /run/hidden/verify.conf
opendkim -f -x /run/dkim/sign.conf > "$W/dkim.out" 2>&1 & DKIM=$!
opendkim -f -x /run/hidden/verify.conf > "$W/hidden.out" 2>&1 & HIDDEN=$!
(umask 000; exec /usr/bin/python3 '${FIXTURE}' unix:/run/py/py.sock /run/py/events.jsonl > "$W/py.out" 2>&1) & PY=$!
waitfor /run/dkim/sign.sock && waitfor /run/hidden/verify.sock && waitfor /run/py/py.sock; echo "filters=$?"
${putFile('milters.cf', MILTER_CF)}
cat "$W/milters.cf" >> /etc/mail/sendmail.cf

sendmail -bD -odq -L sm-mta 2> "$W/daemon.log" & MASTER=$!
waitfor /run/postern/submit.sock; echo "daemon=$?"
printf 'To: bob\\nSubject: from cron\\n\\nnightly report\\n' | as alice sendmail -t -i; echo "submit=$?"
printf 'To: bob\\nSubject: eomreject\\n\\nno\\n' | as alice sendmail -t -i > "$W/refused" 2>&1; echo "refused=$? $(b64 "$W/refused")"
echo "smtp=$(as bob /usr/bin/python3 "$W/smtp.py" 'by smtp')"
echo "smtpq=$(as bob /usr/bin/python3 "$W/smtp.py" quarantine)"
mailq > "$W/mailq1"; echo "mailq1=$(b64 "$W/mailq1")"
sendmail -qQnomatch > "$W/qq" 2>&1; echo "qq=$?"
mailq > "$W/mailq-qq"; echo "mailq-qq=$(b64 "$W/mailq-qq")"
sendmail -Q -qQ; echo "release=$?"
mailq > "$W/mailq2"; echo "mailq2=$(b64 "$W/mailq2")"
queued
echo "events=$(b64 /run/py/events.jsonl)"
echo "key=$(b64 /run/dkim/test.txt)"
kill -TERM "$MASTER"; wait "$MASTER"; echo "stopped=$?"
kill -TERM "$DKIM" "$HIDDEN" "$PY"; wait "$DKIM" "$HIDDEN" "$PY" 2>/dev/null
echo "log=$(b64 "$W/daemon.log")"
`;

const skip = !existsSync(OPENDKIM) ? 'opendkim is not installed (apt-get install opendkim opendkim-tools)' : pythonMilterMissing();

test('the daemon with opendkim and the python milter: sendmail -t and SMTP signed, a quarantine released by -Q -qQ, an unreachable socket reported', { skip }, async (t) => {
  const reason = await sandboxSkipReason();
  if (reason !== null) return t.skip(reason);
  const r = await runInSandbox(SCRIPT, { hostname: 'mx.example.test', timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const lines = (key: string) => r.stdout.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));
  const line = (key: string) => lines(key)[0] ?? '';
  const text = (b64: string) => Buffer.from(b64, 'base64').toString('latin1');
  const log = text(line('log'));

  assert.equal(line('filters'), '0', r.stdout);
  assert.equal(line('daemon'), '0', log);
  assert.equal(line('submit'), '0', log);
  const [refusedStatus, refusedOut] = line('refused').split(' ');
  assert.equal(refusedStatus, '69', 'a filter\'s 5xx at the end of a local submission: EX_UNAVAILABLE');
  assert.equal(text(refusedOut ?? ''), '554 5.7.0 not this message\n554 5.7.0 really not\n');
  assert.equal(line('smtp'), 'True', log);
  assert.equal(line('smtpq'), 'True', log);

  // the workers (smmta) cannot reach root's socket: said once at start, and per connection
  assert.match(log, /WARNING: Xhidden: local socket name \/run\/hidden\/verify\.sock cannot be reached by smmta \(uid \d+\): Permission denied/);
  assert.match(log, /Milter \(hidden\): local socket name \/run\/hidden\/verify\.sock unsafe: Permission denied/);

  const mailq1 = text(line('mailq1'));
  assert.match(mailq1, /\(3 requests\)/);
  assert.match(mailq1, /\n {5}QUARANTINE: held by the test\n/);
  assert.equal(line('qq'), '0', '-qQsubstr runs the quarantined items whose reason matches: none here');
  assert.match(text(line('mailq-qq')), /\n {5}QUARANTINE: held by the test\n/, 'still held');
  assert.equal(line('release'), '0');
  const mailq2 = text(line('mailq2'));
  assert.match(mailq2, /\(3 requests\)/, 'released, still queued (-odq) for the next run');
  assert.doesNotMatch(mailq2, /QUARANTINE/);

  // the filters saw alice's submission as sendmail's MSP relaying from localhost
  const events = text(line('events'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const connects = events.filter((e) => e['ev'] === 'connect');
  assert.equal(connects.length, 4, 'two local submissions, two SMTP sessions');
  assert.deepEqual([connects[0]!['hostname'], (connects[0]!['hostaddr'] as unknown[])[0]], ['localhost', '127.0.0.1'], 'sendmail -t');
  // the SMTP ones by the name 127.0.0.1 resolves to in the sandbox
  for (const c of connects.slice(2)) assert.equal((c['hostaddr'] as unknown[])[0], '127.0.0.1');
  assert.equal((connects[0]!['macros'] as Record<string, string>)['{daemon_name}'], 'MTA');
  const senders = events.filter((e) => e['ev'] === 'envfrom').map((e) => e['sender']);
  assert.deepEqual(senders, ['<alice@mx.example.test>', '<alice@mx.example.test>', '<carol@mx.example.test>', '<carol@mx.example.test>']);

  // every queued message carries opendkim's signature, which opendkim in verify mode passes
  const queued = lines('df').map(text);
  assert.equal(queued.length, 3);
  const fromCron = queued.find((m) => m.includes('\nSubject: from cron\n'));
  assert.ok(fromCron !== undefined, queued.join('\n----\n'));
  assert.match(fromCron, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/simple; d=mx\.example\.test;/);
  assert.match(fromCron, /\nFrom: Alice Liddell <alice@mx\.example\.test>\n/);

  const dir = safeTempDir('daemon-dkim');
  const zone = text(line('key'));
  writeFileSync(join(dir, 'keys'), `test._domainkey.mx.example.test ${[...zone.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('')}\n`);
  writeFileSync(join(dir, 'verify.conf'), [`Socket local:${dir}/verify.sock`, 'Background no', 'Syslog no', 'Mode v', `TestPublicKeys ${dir}/keys`, 'AuthservID verifier.test', ''].join('\n'));
  const verifier = await startFilter(OPENDKIM, ['-f', '-x', join(dir, 'verify.conf')], join(dir, 'verify.sock'));
  try {
    const config = milterConfig(dir, [`verify, S=local:${dir}/verify.sock, F=T, T=E:30s`]);
    const verdict = async (message: string) => {
      const [head, ...rest] = message.split('\n\n');
      const chain = await MilterChain.open({ config, log: memoryLogger().log, macros: macroTable({ j: 'verifier.test', i: 'VERIFY0001' }) });
      const pass = await smtpPass(chain, { helo: 'mx.example.test', from: ['<x@mx.example.test>'], rcpts: [['<bob@verifier.test>']], headers: parseHeaderBlock(head + '\n'), body: rest.join('\n\n') });
      await chain.close();
      return /dkim=(\w+)/.exec(pass.message?.headers.find((h) => h.name === 'Authentication-Results')?.value ?? '')?.[1];
    };
    for (const m of queued) assert.equal(await verdict(m), 'pass', m);
    assert.equal(await verdict(fromCron.replace('nightly report', 'nightly forgery')), 'fail');
  } finally {
    await stopFilter(verifier);
    rmSync(dir, { recursive: true, force: true });
  }
});
