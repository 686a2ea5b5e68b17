/**
 * The header block Postern builds, compared with the one the real sendmail
 * 8.17 MSP writes into its client queue (qf file), for the same input, user
 * and flags, inside the sandbox (host mx.example.test, no MTA listening so
 * the message stays queued).  Queue id, dates and the version comment are
 * normalised; sendmail's qf keeps Bcc and the conditional Return-Path, which
 * it drops on delivery, so those lines are left out of its side.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { realSendmail } from '../helpers/peers.js';
import { stockConfigs } from '../helpers/m4cf.js';
import { submit } from './helpers.js';

const GECOS = 'Al & Co. (x),Room 1,,';
const CASES: Array<{ args: string[]; input: string }> = [
  { args: ['-t', '-i'], input: 'To: bob@example.org, Grp: c@d.e;\nBcc: hidden@example.org\nSubject: hi\n\nbody\n' },
  { args: ['-t', '-i', '-f', 'boss@example.com'], input: 'To: bob@example.org\nSubject: hi\n\nbody\n' },
  { args: ['-t', '-F', 'Jo, Q. Public'], input: 'Subject: s\nTo: bob@example.org\nDate: Mon, 2 Jan 2023 00:00:00 +0000\n\nbody\n' },
  { args: ['-t'], input: 'To: a@example.org\nResent-To: r@example.org\n\nx\n' },
];

const SETUP = `
set -u
W=$1
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
cp "$W/submit.cf" /etc/mail/submit.cf; cp "$W/sendmail.cf" /etc/mail/sendmail.cf
touch /etc/mail/local-host-names /etc/mail/relay-domains
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
useradd --create-home --user-group --shell /bin/bash -c "$(cat "$W/gecos")" alice
mkdir -p /var/spool/clientmqueue; chown smmsp:smmsp /var/spool/clientmqueue; chmod 2770 /var/spool/clientmqueue
# under /run, the sandbox's own: /usr/local/sbin is the host's
mkdir -p /run/smbin; cp "$W/sendmail" /run/smbin/sendmail; chgrp smmsp /run/smbin/sendmail; chmod 2755 /run/smbin/sendmail
cd /tmp
for f in "$W"/case*.args; do
  i=\${f%.args}
  mapfile -d '' -t args < "$f"
  setpriv --reuid=alice --regid=alice --init-groups -- /run/smbin/sendmail "\${args[@]}" < "$i.in" > "$i.out" 2>&1
  cat /var/spool/clientmqueue/qf* > "$i.qf" 2>/dev/null
  rm -f /var/spool/clientmqueue/*
done
`;

/** qf H lines → the header block: `H?x?Name: v` → `Name: v`, continuation lines kept. */
function qfHeaders(qf: string): string {
  const out: string[] = [];
  let keep = false;
  for (const line of qf.split('\n')) {
    if (line.startsWith('H')) {
      const text = line.replace(/^H(\?[^?]*\?)?/, '');
      keep = !/^(Return-Path|Bcc|Resent-Bcc):/i.test(text);
      if (keep) out.push(text);
    } else if (/^[ \t]/.test(line) && keep) {
      out.push(line);
    } else {
      keep = false;
    }
  }
  return out.join('\n') + '\n\n';
}

function normalise(headers: string): string {
  return headers
    .replace(/\(8\.17\.1\.9\/8\.17\.1\.9\/Submit\)|\(Postern [^/]+\/Submit\)/g, '(VERSION/Submit)')
    .replace(/\b[0-9A-Za-x]{8}\d{6}\b/g, 'QID')
    .replace(/<\d{12}\./g, '<STAMP.')
    .replace(/\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d (GMT|[+-]\d{4}( \(\S+\))?)/g, (m) => (m.startsWith('Mon, 2 Jan 2023') ? m : 'DATE'));
}

test('the MSP header block matches the real sendmail 8.17 (qf)', { timeout: 300_000 }, async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const bin = await realSendmail();
  if (typeof bin !== 'string') return t.skip(bin.skip);
  const cfs = await stockConfigs();
  if ('skip' in cfs) return t.skip(cfs.skip);
  const work = mkdtempSync(join(tmpdir(), 'postern-submission-'));
  try {
    writeFileSync(join(work, 'submit.cf'), cfs.submitCf);
    writeFileSync(join(work, 'sendmail.cf'), cfs.sendmailCf);
    writeFileSync(join(work, 'gecos'), GECOS);
    writeFileSync(join(work, 'sendmail'), readFileSync(bin));
    CASES.forEach((c, n) => {
      writeFileSync(join(work, `case${n}.args`), c.args.map((a) => `${a}\0`).join(''));
      writeFileSync(join(work, `case${n}.in`), c.input);
    });
    const r = await runInSandbox(['bash', '-c', SETUP, 'setup', work], { timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr);
    for (const [n, c] of CASES.entries()) {
      const qf = readFileSync(join(work, `case${n}.qf`), 'utf8');
      assert.notEqual(qf, '', `${c.args.join(' ')}: sendmail queued nothing: ${readFileSync(join(work, `case${n}.out`), 'utf8')}`);
      const ours = await submit(c.input, c.args, { caller: { name: 'alice', uid: 1001, gid: 1001, gecos: GECOS, home: '/home/alice', shell: '/bin/bash' } });
      assert.equal(normalise(ours.headers), normalise(qfHeaders(qf)), c.args.join(' '));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
