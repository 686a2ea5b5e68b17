/**
 * npm run install-system -- --root DIR, in a sandbox: the users, the
 * directories with sendmail's owners and modes, /etc/mail defaults that are
 * never overwritten, the links, the systemd units; a second run changes
 * nothing.  The sandbox's own /etc stays as it was.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { repoRoot } from '../helpers/peers.js';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';

const SCRIPT = `
set -u
R=/run/inst; mkdir -p "$R/etc"
cp -a /etc/passwd /etc/group /etc/shadow /etc/gshadow /etc/login.defs "$R/etc/"
cd '${repoRoot}'
I='${join(repoRoot, 'scripts', 'install-system.mjs')}'
'${process.execPath}' "$I" --root "$R" > /run/first 2>/dev/null; echo "first=$?"
echo 'O LogLevel=12' >> "$R/etc/mail/sendmail.cf"
'${process.execPath}' "$I" --root "$R" > /run/second 2>/dev/null; echo "second=$? $(cat /run/second)"
echo "kept=$(tail -1 "$R/etc/mail/sendmail.cf")"
st() { stat -c '%a %U %G' "$R/$1" | sed "s/UNKNOWN/?/g"; }
echo "users=$(grep -c -E '^(smmta|smmsp):' "$R/etc/passwd")"
echo "mqueue=$(stat -c '%a' "$R/var/spool/mqueue") $(stat -c '%u' "$R/var/spool/mqueue") $(grep '^smmta:' "$R/etc/passwd" | cut -d: -f3)"
echo "clientmqueue=$(stat -c '%a' "$R/var/spool/clientmqueue") $(stat -c '%u' "$R/var/spool/clientmqueue") $(grep '^smmsp:' "$R/etc/passwd" | cut -d: -f3)"
echo "links=$(for l in usr/sbin/sendmail usr/lib/sendmail usr/bin/mailq usr/bin/newaliases usr/sbin/smrsh usr/sbin/makemap; do readlink "$R/$l"; done | sort -u)"
echo "unit=$(grep '^ExecStart=' "$R/etc/systemd/system/postern.service")"
echo "host=$(grep -c -E '^(smmta|smmsp):' /etc/passwd)"
echo "key=$(stat -c '%a %u' "$R/etc/mail/tls/postern.key") $(openssl x509 -in "$R/etc/mail/tls/postern.crt" -noout -subject | tr -d ' ')"
sum1=$(md5sum < "$R/etc/mail/tls/postern.crt")
'${process.execPath}' "$I" --root "$R" > /dev/null 2>&1
echo "cert-kept=$([ "$sum1" = "$(md5sum < "$R/etc/mail/tls/postern.crt")" ] && echo yes)"
`;

test('install-system lays out users, directories, defaults, links and units, and is harmless to run again', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(SCRIPT, { timeoutMs: 60_000, hostname: 'mx.example.test' });
  assert.equal(r.code, 0, r.stderr);
  const line = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  assert.equal(line('first'), '0');
  assert.equal(line('second'), '0 install-system: everything was already in place');
  assert.equal(line('kept'), 'O LogLevel=12', 'an existing sendmail.cf is never overwritten');
  assert.equal(line('users'), '2');
  const [mqMode, mqOwner, smmta] = line('mqueue').split(' ');
  assert.equal(mqMode, '700');
  assert.equal(mqOwner, smmta);
  const [cqMode, cqOwner, smmsp] = line('clientmqueue').split(' ');
  assert.equal(cqMode, '3733');
  assert.equal(cqOwner, smmsp);
  assert.equal(line('links'), join(repoRoot, 'bin', 'sendmail'));
  assert.equal(line('unit'), 'ExecStart=/usr/sbin/sendmail -bD -q1h -L sm-mta');
  assert.equal(line('host'), '0', 'the sandbox\'s /etc is not touched with --root');
  const [keyMode, keyOwner, subject] = line('key').split(' ');
  assert.equal(keyMode, '600');
  assert.equal(keyOwner, smmta, 'the TLS key is RunAsUser\'s: the workers read it');
  assert.match(subject ?? '', /^subject=CN=mx\.example\.test$/);
  assert.equal(line('cert-kept'), 'yes', 'an existing certificate is never replaced');
});
