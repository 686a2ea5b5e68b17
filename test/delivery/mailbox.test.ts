/**
 * Mailbox delivery with real users in a private sandbox: the root broker
 * (deliverToMailbox) starts the agent as the recipient, which appends to
 * /var/mail/USER.  Each case reads back the mailbox's bytes, owner and mode,
 * and what happened to anything planted there.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { distImport, runInSandbox, sandboxSkipReason, type SandboxResult } from '../helpers/sandbox.js';
import { putFile } from '../helpers/scripts.js';

/** deliver.mjs USER SENDER MESSAGE-FILE [OPTIONS-JSON]: one delivery as the broker would make it; prints the status. */
const DELIVER = `
const { deliverToMailbox } = await import(${JSON.stringify(distImport('src/delivery/mailbox/index.js'))});
const { lookupUser } = await import(${JSON.stringify(distImport('src/privsep/passwd.js'))});
const { createReadStream } = await import('node:fs');
const [name, sender, file, options] = process.argv.slice(2);
const user = lookupUser(name);
if (!user) throw new Error('no user ' + name);
const status = await deliverToMailbox({
  user, sender, spoolDir: '/var/mail', content: createReadStream(file, { highWaterMark: 4096 }),
  now: Date.UTC(2026, 10, 5, 6, 7, 8), ...JSON.parse(options ?? '{}'),
});
process.stdout.write(JSON.stringify(status));
`;

/** hold.mjs FILE READY RELEASE: holds an fcntl write lock on FILE (as mutt or dovecot would) until RELEASE exists. */
const HOLD_FCNTL = `
const { native } = await import(${JSON.stringify(distImport('src/privsep/native.js'))});
const { openSync, writeFileSync, existsSync } = await import('node:fs');
const [file, ready, release] = process.argv.slice(2);
const fd = openSync(file, 'r+');
native().recordLock(fd, 'write', true);
writeFileSync(ready, 'held');
while (!existsSync(release)) await new Promise((r) => setTimeout(r, 50));
`;

const SETUP = `
set -u
W=$(mktemp -d /run/mailbox-test.XXXX); chmod 755 "$W"
${putFile('deliver.mjs', DELIVER)}
${putFile('hold.mjs', HOLD_FCNTL)}
chmod 644 "$W"/*
NODE='${process.execPath}'
deliver() { "$NODE" "$W/deliver.mjs" "$@"; }
b64() { base64 -w0 "$1"; }
`;

function fields(r: SandboxResult): Record<string, string> {
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}\n${r.stdout}`);
  return Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => /^[A-Za-z0-9-]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

const status = (text: string | undefined) => JSON.parse(text ?? 'null') as { status: string; dsn: string; code?: string; text: string };
const unbase64 = (text: string | undefined) => Buffer.from(text ?? '', 'base64').toString('latin1');

const MESSAGE_1 = 'Return-Path: <forged@example.com>\nSubject: one\n\nFrom here\n>From there\nbye\n';
const ENTRY_1 = 'From alice@example.org Thu Nov  5 06:07:08 2026\nReturn-Path: <alice@example.org>\nSubject: one\n\n>From here\n>From there\nbye\n\n';
const MESSAGE_2 = 'Subject: two\n\nno newline at the end';
const ENTRY_2 = 'From MAILER-DAEMON Thu Nov  5 06:07:08 2026\nReturn-Path: <>\nSubject: two\n\nno newline at the end\n\n';

test('a new mailbox is made 0600 for the user, holds the exact mbox entry, and the next message is appended', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(
    `${SETUP}
    ${putFile('m1', MESSAGE_1)}
    ${putFile('m2', MESSAGE_2)}
    useradd --create-home --user-group bob
    echo "first=$(deliver bob alice@example.org "$W/m1")"
    echo "perm=$(stat -c '%U:%G %a %h' /var/mail/bob)"
    echo "bytes1=$(b64 /var/mail/bob)"
    echo "second=$(deliver bob '' "$W/m2")"
    echo "bytes2=$(b64 /var/mail/bob)"
    echo "spool=$(ls -A /var/mail | tr '\\n' ' ')"
    `,
    { env: { TZ: 'UTC' } },
  );
  const out = fields(r);
  assert.deepEqual(status(out['first']), { status: 'sent', dsn: '2.1.5', text: 'Sent' });
  assert.equal(out['perm'], 'bob:bob 600 1');
  assert.equal(unbase64(out['bytes1']), ENTRY_1);
  assert.equal(status(out['second']).status, 'sent');
  assert.equal(unbase64(out['bytes2']), ENTRY_1 + ENTRY_2);
  assert.equal(out['spool'], 'bob ', 'no lock file left behind');
});

test('links and foreign files at /var/mail/USER are refused and left as they were', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(
    `${SETUP}
    ${putFile('m1', MESSAGE_1)}
    for u in bob carol dave erin frank; do useradd --create-home --user-group $u; done
    passwd_before=$(sha256sum < /etc/passwd)
    ln -s /etc/passwd /var/mail/bob
    echo "symlink=$(deliver bob alice@example.org "$W/m1")"
    [ "$(sha256sum < /etc/passwd)" = "$passwd_before" ] && echo "passwd-unchanged=yes"
    echo "symlink-now=$(readlink /var/mail/bob)"

    ln -s /etc/postern-planted /var/mail/carol
    echo "dangling=$(deliver carol alice@example.org "$W/m1")"
    [ -e /etc/postern-planted ] || echo "dangling-not-created=yes"

    printf 'old mail\\n' > /var/mail/dave; chown dave:dave /var/mail/dave; chmod 600 /var/mail/dave
    ln /var/mail/dave /var/mail/dave-second-name
    echo "hardlink=$(deliver dave alice@example.org "$W/m1")"
    echo "dave=$(b64 /var/mail/dave)"

    printf 'frank owns this\\n' > /var/mail/erin; chown frank:frank /var/mail/erin; chmod 600 /var/mail/erin
    echo "foreign=$(deliver erin alice@example.org "$W/m1")"
    echo "erin=$(b64 /var/mail/erin) $(stat -c '%U %s' /var/mail/erin)"

    echo "locks=$(ls -A /var/mail | grep -c '[.]lock$')"
    `,
    { env: { TZ: 'UTC' } },
  );
  const out = fields(r);
  for (const which of ['symlink', 'dangling', 'hardlink', 'foreign']) {
    const s = status(out[which]);
    assert.equal(s.status, 'bounced', `${which}: ${s.text}`);
    assert.equal(s.code, 'MAILBOX_UNSAFE', which);
    assert.equal(s.dsn, '5.2.0', which);
  }
  assert.equal(out['passwd-unchanged'], 'yes');
  assert.equal(out['symlink-now'], '/etc/passwd');
  assert.equal(out['dangling-not-created'], 'yes');
  assert.equal(unbase64(out['dave']), 'old mail\n');
  assert.equal(out['erin']?.split(' ')[1], 'frank');
  assert.equal(unbase64(out['erin']?.split(' ')[0]), 'frank owns this\n');
  assert.equal(out['locks'], '0');
});

test('a full file system defers with 4.x.x and leaves the mailbox exactly as it was', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(
    `${SETUP}
    ${putFile('m1', MESSAGE_1)}
    head -c 1048576 /dev/zero | tr '\\0' 'a' > "$W/big"
    mount -t tmpfs -o size=128k,mode=2775 tmpfs /var/mail && chown root:mail /var/mail
    useradd --create-home --user-group bob
    echo "first=$(deliver bob alice@example.org "$W/m1")"
    before="$(stat -c %s /var/mail/bob) $(sha256sum < /var/mail/bob)"
    echo "big=$(deliver bob alice@example.org "$W/big")"
    after="$(stat -c %s /var/mail/bob) $(sha256sum < /var/mail/bob)"
    [ "$before" = "$after" ] && echo "unchanged=yes"
    echo "size=$(stat -c %s /var/mail/bob)"
    echo "locks=$(ls -A /var/mail | grep -c '[.]lock$')"
    echo "again=$(deliver bob alice@example.org "$W/m1")"
    echo "bytes=$(b64 /var/mail/bob)"
    `,
    { env: { TZ: 'UTC' } },
  );
  const out = fields(r);
  assert.equal(status(out['first']).status, 'sent');
  const big = status(out['big']);
  assert.equal(big.status, 'deferred', big.text);
  assert.match(big.dsn, /^4\.\d+\.\d+$/);
  assert.equal(big.code, 'OS_NO_SPACE');
  assert.equal(out['unchanged'], 'yes');
  assert.equal(out['size'], String(Buffer.byteLength(ENTRY_1)));
  assert.equal(out['locks'], '0');
  assert.equal(status(out['again']).status, 'sent', 'the space of the failed append was given back');
  assert.equal(unbase64(out['bytes']), ENTRY_1 + ENTRY_1);
});

/** cut.mjs throw|hang: a message source that fails, or never ends, after 100 kB. */
const CUT_SHORT = `
const { deliverToMailbox } = await import(${JSON.stringify(distImport('src/delivery/mailbox/index.js'))});
const { lookupUser } = await import(${JSON.stringify(distImport('src/privsep/passwd.js'))});
const mode = process.argv[2];
async function* content() {
  yield Buffer.from('Subject: cut\\n\\n');
  yield Buffer.alloc(100000, 'c');
  if (mode === 'throw') throw Object.assign(new Error('queue file unreadable'), { code: 'EIO' });
  await new Promise(() => {});
}
const status = await deliverToMailbox({ user: lookupUser('bob'), sender: 'alice@example.org', spoolDir: '/var/mail', content: content(), timeoutMs: 2000 });
process.stdout.write(JSON.stringify(status));
`;

test('a message cut short, or an agent stopped for taking too long, leaves the mailbox as it was', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(
    `${SETUP}
    ${putFile('m1', MESSAGE_1)}
    ${putFile('cut.mjs', CUT_SHORT)}
    useradd --create-home --user-group bob
    echo "first=$(deliver bob alice@example.org "$W/m1")"
    echo "throw=$("$NODE" "$W/cut.mjs" throw)"
    echo "hang=$("$NODE" "$W/cut.mjs" hang)"
    echo "bytes=$(b64 /var/mail/bob)"
    echo "agents=$(pgrep -fc 'postern-mailbox-agen[t]')"
    echo "locks=$(ls -A /var/mail | grep -c '[.]lock$')"
    `,
    { env: { TZ: 'UTC' } },
  );
  const out = fields(r);
  assert.equal(status(out['first']).status, 'sent');
  const thrown = status(out['throw']);
  assert.equal(thrown.status, 'deferred', thrown.text);
  assert.equal(thrown.code, 'MAILBOX_AGENT_FAILED');
  const hung = status(out['hang']);
  assert.equal(hung.status, 'deferred', hung.text);
  assert.match(hung.dsn, /^4\./);
  assert.equal(unbase64(out['bytes']), ENTRY_1, 'nothing of the partial messages is left');
  assert.equal(out['agents'], '0');
  assert.equal(out['locks'], '0');
});

test('readers\' locks delay the delivery; the agent runs as the user with no other groups', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const r = await runInSandbox(
    `${SETUP}
    ${putFile('m1', MESSAGE_1)}
    groupadd extra
    useradd --create-home --user-group --groups extra bob
    echo "bob=$(id -u bob) $(id -g bob) $(id -G bob | tr ' ' ',')"
    echo "first=$(deliver bob alice@example.org "$W/m1")"

    # an fcntl lock, as mutt, s-nail and dovecot take it
    "$NODE" "$W/hold.mjs" /var/mail/bob "$W/held" "$W/release" &
    for i in $(seq 100); do [ -e "$W/held" ] && break; sleep 0.05; done
    deliver bob alice@example.org "$W/m1" > "$W/fcntl-status" &
    D=$!
    for i in $(seq 100); do A=$(pgrep -f 'postern-mailbox-agen[t]' | head -1); [ -n "$A" ] && break; sleep 0.05; done
    grep -E '^(Uid|Gid|Groups):' /proc/$A/status | sed 's/^/agent-/; s/:[[:space:]]*/=/; s/[[:space:]]\\+/,/g; s/,$//'
    sleep 1.5
    [ -s "$W/fcntl-status" ] || echo "fcntl-waited=yes"
    echo "fcntl-size-while-held=$(stat -c %s /var/mail/bob)"
    touch "$W/release"; wait $D
    echo "fcntl=$(cat "$W/fcntl-status")"

    # held too long: deferred, nothing written
    rm -f "$W/held" "$W/release"
    "$NODE" "$W/hold.mjs" /var/mail/bob "$W/held" "$W/release" &
    for i in $(seq 100); do [ -e "$W/held" ] && break; sleep 0.05; done
    size=$(stat -c %s /var/mail/bob)
    echo "timeout=$(deliver bob alice@example.org "$W/m1" '{"lockTimeoutMs":800}')"
    [ "$(stat -c %s /var/mail/bob)" = "$size" ] && echo "timeout-unchanged=yes"
    touch "$W/release"; wait

    # a flock lock, as sendmail's mail.local takes it
    flock /var/mail/bob -c "touch '$W/flocked'; while [ ! -e '$W/unflock' ]; do sleep 0.05; done" &
    for i in $(seq 100); do [ -e "$W/flocked" ] && break; sleep 0.05; done
    deliver bob alice@example.org "$W/m1" > "$W/flock-status" &
    D=$!
    sleep 1.5
    [ -s "$W/flock-status" ] || echo "flock-waited=yes"
    touch "$W/unflock"; wait $D
    echo "flock=$(cat "$W/flock-status")"

    # a fresh USER.lock, then a stale one
    touch /var/mail/bob.lock
    deliver bob alice@example.org "$W/m1" > "$W/dotlock-status" &
    D=$!
    sleep 1.5
    [ -s "$W/dotlock-status" ] || echo "dotlock-waited=yes"
    rm /var/mail/bob.lock; wait $D
    echo "dotlock=$(cat "$W/dotlock-status")"
    touch /var/mail/bob.lock; sleep 1.2
    echo "stale=$(deliver bob alice@example.org "$W/m1" '{"dotlockStaleMs":1000,"lockTimeoutMs":5000}')"

    echo "messages=$(grep -c '^From ' /var/mail/bob)"
    echo "locks=$(ls -A /var/mail | grep -c '[.]lock$')"
    `,
    { env: { TZ: 'UTC' } },
  );
  const out = fields(r);
  const [uid, gid, groups] = (out['bob'] ?? '').split(' ');
  assert.notEqual(groups, gid, 'bob must have a supplementary group for the check to mean anything');
  assert.equal(out['agent-Uid'], [uid, uid, uid, uid].join(','));
  assert.equal(out['agent-Gid'], [gid, gid, gid, gid].join(','));
  assert.equal(out['agent-Groups'], '', 'no supplementary groups');

  assert.equal(status(out['first']).status, 'sent');
  assert.equal(out['fcntl-waited'], 'yes');
  assert.equal(out['fcntl-size-while-held'], String(Buffer.byteLength(ENTRY_1)));
  assert.equal(status(out['fcntl']).status, 'sent');
  const timeout = status(out['timeout']);
  assert.equal(timeout.status, 'deferred');
  assert.equal(timeout.code, 'MAILBOX_LOCK_TIMEOUT');
  assert.equal(out['timeout-unchanged'], 'yes');
  assert.equal(out['flock-waited'], 'yes');
  assert.equal(status(out['flock']).status, 'sent');
  assert.equal(out['dotlock-waited'], 'yes');
  assert.equal(status(out['dotlock']).status, 'sent');
  assert.equal(status(out['stale']).status, 'sent', 'a stale lock file is removed');
  assert.equal(out['messages'], '5');
  assert.equal(out['locks'], '0');
});
