/**
 * Host status against the real sendmail 8.17, in one sandbox: sendmail
 * records two unreachable hosts in its HostStatusDirectory, Postern records
 * a third; then sendmail's and Postern's `-bh` must print the same listing,
 * sendmail's files must read here, Postern's must read there, and both
 * `-bH` must leave the same files behind.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parseRecord } from '../../src/delivery/remote/host-status/record.js';
import { m4Config } from '../helpers/m4cf.js';
import { debianPackage, realSendmail } from '../helpers/peers.js';
import { binDir, distImport, runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { putFile } from '../helpers/scripts.js';

/** Postern records a host that greeted with 421, as its remote delivery would. */
const POSTERN_WRITES = `
const { HostStatusStore } = await import(${JSON.stringify(distImport('src/delivery/remote/host-status/store.js'))});
const store = new HostStatusStore({ directory: '/var/spool/mqueue/.hoststat', timeout: 1800 });
await store.write('[127.0.0.4]', { errno: 0, herrno: 0, exitStatus: 75, dsn: '4.3.2', reply: '421 4.3.2 Too busy, go away', lastUse: Math.floor(Date.now() / 1000) });
`;

/** Every status file under the directory, path and content, as one JSON object. */
const DUMP = `
const { readdirSync, readFileSync, statSync } = await import('node:fs');
const { join, relative } = await import('node:path');
const root = process.argv[2];
const out = {};
const walk = (p) => { for (const n of readdirSync(p)) { const q = join(p, n); if (statSync(q).isDirectory()) { out[relative(root, q) + '/'] = ''; walk(q); } else out[relative(root, q)] = readFileSync(q, 'latin1'); } };
walk(root);
process.stdout.write(JSON.stringify(out));
`;

function script(real: string, postern: string, cf: string): string {
  return `
set -u
W=$(mktemp -d)
${putFile('sendmail.cf', cf)}
${putFile('postern-writes.mjs', POSTERN_WRITES)}
${putFile('dump.mjs', DUMP)}
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
echo '127.0.0.3 down.example.net' >> /etc/hosts
cp "$W/sendmail.cf" /etc/mail/sendmail.cf
touch /etc/mail/local-host-names /etc/mail/relay-domains
mkdir -p /var/spool/mqueue/.hoststat && chmod 700 /var/spool/mqueue && chmod 755 /var/spool/mqueue/.hoststat
H=/var/spool/mqueue/.hoststat
REAL=${real}; POSTERN=${postern}
printf 'Subject: t\\n\\nhello\\n' > "$W/msg"
"$REAL" -odi -Am 'bob@[127.0.0.2]' < "$W/msg" > /dev/null 2>&1
"$REAL" -odi -Am 'carol@[down.example.net]' < "$W/msg" > /dev/null 2>&1
${process.execPath} "$W/postern-writes.mjs"
echo "=files"; ${process.execPath} "$W/dump.mjs" "$H"; echo
echo "=real"; "$REAL" -bh; echo "rc=$?"
echo "=postern"; "$POSTERN" -bh; echo "rc=$?"
echo "=real-v"; "$REAL" -bh -v; echo "rc=$?"
echo "=postern-v"; "$POSTERN" -bh -v; echo "rc=$?"
# purge: one file and its directories made old; each program purges its own copy
touch -d '2 hours ago' "$H/2./0./0./127" "$H/2./0./0." "$H/2./0." "$H/2."
cp -a "$H" "$W/saved"
"$REAL" -bH; echo "=real-purge rc=$?"; ${process.execPath} "$W/dump.mjs" "$H"; echo
rm -rf "$H"; cp -a "$W/saved" "$H"
"$POSTERN" -bH; echo "=postern-purge rc=$?"; ${process.execPath} "$W/dump.mjs" "$H"; echo
`;
}

/** Sections of the run's output by their `=name` lines. */
function sections(stdout: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^=(\S+)/.exec(line);
    if (m !== null) {
      current = [];
      out.set(m[1]!, current);
      const rest = line.slice(m[0].length).trim();
      if (rest !== '') current.push(rest);
    } else {
      current.push(line);
    }
  }
  return out;
}

/** The How-long-ago column may tick between two runs. */
const sameTime = (lines: readonly string[]) => lines.map((l) => l.replace(/ {2,}(\d+\+)?\d\d:\d\d:\d\d /, ' <ago> ')).filter((l) => l !== '');

test('host status as the real sendmail 8.17 keeps, prints and purges it', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const real = await realSendmail();
  if (typeof real !== 'string') return t.skip(real.skip);
  const cfPeer = await debianPackage('sendmail-cf');
  if ('skip' in cfPeer) return t.skip(cfPeer.skip);
  const mc = readFileSync(`${cfPeer.root}/usr/share/sendmail/cf/cf/generic-linux.mc`, 'utf8') + "define(`confHOST_STATUS_DIRECTORY', `.hoststat')dnl\n";
  const cf = await m4Config({ text: mc });
  if (typeof cf !== 'string') return t.skip(cf.skip);

  const result = await runInSandbox(['bash', '-c', script(real, `${binDir}/sendmail`, cf)], { timeoutMs: 180_000 });
  assert.equal(result.code, 0, result.stderr);
  const s = sections(result.stdout);

  // sendmail's files, in sendmail's layout, read here; Postern's sits beside them in the same layout
  const files = JSON.parse(s.get('files')!.join('')) as Record<string, string>;
  const refused = parseRecord(files['2./0./0./127'] ?? '');
  assert.ok(refused.ok, JSON.stringify(files));
  assert.deepEqual([refused.record.errno, refused.record.herrno, refused.record.exitStatus, refused.record.dsn], [111, 0, 75, '4.4.1']);
  const lookup = parseRecord(files['net./example./down'] ?? '');
  assert.ok(lookup.ok, JSON.stringify(files));
  assert.deepEqual([lookup.record.errno, lookup.record.herrno, lookup.record.exitStatus, lookup.record.dsn], [11, 2, 75, '4.4.3']);
  assert.match(files['4./0./0./127'] ?? '', /^V0\nE0\nH0\nS75\nD4\.3\.2\nR421 4\.3\.2 Too busy, go away\nU\d+\n\.\n$/);

  // the listings: the same lines, in the same (directory) order, Postern's host included by both
  const realList = sameTime(s.get('real')!);
  assert.equal(realList[0], ' -------------- Hostname --------------- How long ago ---------Results---------');
  assert.ok(realList.includes(' 127.0.0.4 <ago> 421 4.3.2 Too busy, go aw'), `sendmail reads Postern's file: ${realList.join('\n')}`);
  assert.ok(realList.includes(' 127.0.0.2 <ago> Deferred: Connection refu'), realList.join('\n'));
  assert.deepEqual(sameTime(s.get('postern')!), realList);
  assert.deepEqual(sameTime(s.get('postern-v')!), sameTime(s.get('real-v')!));
  assert.ok(sameTime(s.get('real-v')!).includes(' down.example.net <ago> Deferred: Resource temporarily unavailable'));

  // purgestat: the old file and its emptied directories... as sendmail leaves them
  const realPurged = JSON.parse(s.get('real-purge')!.slice(1).join('')) as Record<string, string>;
  const posternPurged = JSON.parse(s.get('postern-purge')!.slice(1).join('')) as Record<string, string>;
  assert.equal(s.get('real-purge')![0], 'rc=0');
  assert.equal(s.get('postern-purge')![0], 'rc=0');
  assert.equal(realPurged['2./0./0./127'], undefined, 'the old file is gone');
  assert.ok(realPurged['net./example./down'] !== undefined, 'the young file stays');
  assert.deepEqual(Object.keys(posternPurged).sort(), Object.keys(realPurged).sort());
});
