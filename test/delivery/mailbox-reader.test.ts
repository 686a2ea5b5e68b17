/**
 * A real mail reader reads what the broker delivered: s-nail (Debian's
 * package, unpacked, not installed) opens /var/mail/bob as bob and finds
 * exactly the messages delivered, each whole, with every body line that
 * began "From " shown as ">From " (mboxo: the escaping a reader expects)
 * and none of them splitting a message in two.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { debianPackage } from '../helpers/peers.js';
import { distImport, runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { putFile } from '../helpers/scripts.js';

/** deliver-all.mjs MESSAGES-JSON: each message to bob through the broker's mailbox delivery, all at once (the broker keeps them in order). */
const DELIVER_ALL = `
const { deliverToMailbox } = await import(${JSON.stringify(distImport('src/delivery/mailbox/index.js'))});
const { lookupUser } = await import(${JSON.stringify(distImport('src/privsep/passwd.js'))});
const { readFileSync } = await import('node:fs');
const messages = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const bob = lookupUser('bob');
const statuses = await Promise.all(messages.map((m) => deliverToMailbox({ user: bob, sender: 'alice@example.org', spoolDir: '/var/mail', content: [m] })));
console.log('statuses=' + statuses.map((s) => s.status).join(','));
`;

/** Bodies that would split a message in a reader that is not given ">From ". */
const bodyOf = (i: number): string =>
  [
    `From the desk of number ${i}`,
    'plain line',
    '',
    `From alice@example.org Thu Nov  5 06:07:08 2026`,
    `>From already quoted ${i}`,
    'From ',
    `last line of ${i}`,
  ].join('\n');

const MESSAGES = Array.from({ length: 9 }, (_, i) => {
  const subject = `Subject: message ${i + 1}\nFrom: alice@example.org\n\n`;
  // every third message does not end in a newline; the mbox entry gets one
  return subject + bodyOf(i + 1) + (i % 3 === 2 ? '' : '\n');
});

/** What a reader must show as the body: the "From " lines escaped, the rest as sent. */
const shownBody = (i: number): string[] => bodyOf(i).split('\n').map((l) => (l.startsWith('From ') ? `>${l}` : l));

test('s-nail counts exactly the messages delivered and shows the From_ escaping', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const snail = await debianPackage('s-nail');
  if ('skip' in snail) return t.skip(snail.skip);
  const SNAIL = join(snail.root, 'usr/bin/s-nail');
  const prints = MESSAGES.map((_, i) => `-Y 'Print ${i + 1}'`).join(' ');
  const r = await runInSandbox(
    `set -u
    W=$(mktemp -d /run/reader.XXXX); chmod 755 "$W"
    ${putFile('deliver-all.mjs', DELIVER_ALL)}
    ${putFile('messages.json', JSON.stringify(MESSAGES))}
    chmod 644 "$W"/*
    useradd --create-home --user-group bob
    '${process.execPath}' "$W/deliver-all.mjs" "$W/messages.json"
    as_bob() { HOME=/home/bob LC_ALL=C setpriv --reuid=bob --regid=bob --init-groups -- "$@"; }
    # -: / reads no resource files; -R opens the mailbox read-only; -H lists the headers and ends
    echo "listed=$(as_bob '${SNAIL}' -: / -R -H -f /var/mail/bob < /dev/null | wc -l)"
    as_bob '${SNAIL}' -: / -R -# ${prints} -Y xit -f /var/mail/bob < /dev/null > "$W/printed"
    echo "printed-status=$?"
    echo "printed=$(base64 -w0 "$W/printed")"
    `,
    { env: { TZ: 'UTC' } },
  );
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  const field = (key: string) => r.stdout.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
  assert.equal(field('statuses'), MESSAGES.map(() => 'sent').join(','));
  assert.equal(field('listed'), String(MESSAGES.length), 's-nail -H lists one line per message delivered');
  assert.equal(field('printed-status'), '0');

  // s-nail prints each message after a "[-- Message  N -- ...]:" line
  const printed = Buffer.from(field('printed'), 'base64').toString('latin1');
  const parts = printed.split(/^\[-- Message +\d+ -- .*\]:\n/m).slice(1);
  assert.equal(parts.length, MESSAGES.length, printed);
  parts.forEach((part, i) => {
    const [headers = '', ...rest] = part.split('\n\n');
    assert.match(headers, new RegExp(`^Subject: message ${i + 1}$`, 'm'));
    assert.match(headers, /^Return-Path: <alice@example\.org>$/m);
    const body = rest.join('\n\n').replace(/\n+$/, '').split('\n');
    assert.deepEqual(body, shownBody(i + 1), `message ${i + 1} as s-nail shows it`);
  });
});
