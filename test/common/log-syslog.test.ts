/**
 * Lines reach a real /dev/log as syslog(3) sends them: inside a sandbox, a
 * Python AF_UNIX datagram receiver bound at /dev/log stands in for the system
 * logger, and a Node process logs through the compiled logger and the native
 * addon.  Without /dev/log the same process writes `ident[pid]: ` lines to
 * standard error.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { distImport, runInSandbox, sandboxSkipReason } from '../helpers/sandbox.js';
import { loadSyslogBindings } from '../../src/common/log.js';

const PYTHON = '/usr/bin/python3';

const RECEIVER = `
import os, socket, sys
path, out, ready = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o666)
open(ready, 'w').close()
s.settimeout(30)
with open(out, 'ab', buffering=0) as f:
    while True:
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        f.write(repr(data).encode() + b'\\n')
`;

const QID = '5AMJ6Q0m000057';
const SENDER_LINE =
  'from=<sender@outside.test>, size=5, class=0, nrcpts=1, msgid=<202611220600.5AMJ6Q0m000057@mx.example.test>, bodytype=8BITMIME, proto=ESMTP, daemon=MTA, relay=client3.outside.test [127.0.0.3]';

function loggerScript(): string {
  return `
    const { openLogger, remoteAuthinfo } = await import(${JSON.stringify(distImport('src/common/log.js'))});
    const log = openLogger({ label: 'sm-mta' });
    log.logSender(${JSON.stringify(QID)}, {
      from: '<sender@outside.test>', size: 5, class: 0, nrcpts: 1,
      msgid: '<202611220600.5AMJ6Q0m000057@mx.example.test>', bodytype: '8BITMIME', proto: 'ESMTP', daemon: 'MTA',
      relay: { kind: 'authinfo', authinfo: remoteAuthinfo({ hostName: 'client3.outside.test', address: '127.0.0.3' }) },
    });
    log.logRuleset(null, { ruleset: 'check_rcpt', arg1: '<x@remote.example>', relay: 'client3.outside.test [127.0.0.3]',
      outcome: { kind: 'reject', reply: '550 5.7.1 <x@remote.example>... Relaying denied' } });
    log.info(0, ${JSON.stringify(QID)}, 'long ' + Array.from({ length: 300 }, (_, i) => 'w' + i).join(' '));
    log.close();
    process.stdout.write(JSON.stringify({ pid: process.pid, transport: log.transport, reason: log.fallbackReason ?? null }) + '\\n');
  `;
}

describe('logging to a real /dev/log', () => {
  it('sends <22>timestamp sm-mta[PID]: QID: from=... datagrams through syslog(3)', async (t) => {
    const skip = await sandboxSkipReason();
    if (skip) return t.skip(skip);
    if (!existsSync(PYTHON)) return t.skip(`${PYTHON} is missing (Debian package python3)`);
    const bindings = loadSyslogBindings();
    if ('unavailable' in bindings) return t.skip(`no syslog(3) bindings yet: ${bindings.unavailable}`);

    const r = await runInSandbox(`
      set -e
      D=/run/logtest
      mkdir -p $D
      cat > $D/recv.py <<'EOF'
${RECEIVER}
EOF
      cat > $D/log.mjs <<'EOF'
${loggerScript()}
EOF
      ${PYTHON} $D/recv.py /dev/log $D/received $D/ready &
      for i in $(seq 200); do [ -e $D/ready ] && break; sleep 0.05; done
      [ -e $D/ready ] || { echo "receiver did not start" >&2; exit 1; }
      "${process.execPath}" $D/log.mjs
      for i in $(seq 200); do [ "$(wc -l < $D/received)" -ge 4 ] && break; sleep 0.05; done
      echo ---
      cat $D/received
    `);
    assert.equal(r.code, 0, r.stderr);
    const [status, received] = r.stdout.split('\n---\n') as [string, string];
    const info = JSON.parse(status) as { pid: number; transport: string; reason: string | null };
    assert.equal(info.transport, 'syslog', `logger fell back: ${info.reason}`);
    // python's repr of bytes: b'...'
    const datagrams = received
      .trim()
      .split('\n')
      .map((l) => l.replace(/^b'(.*)'$/, '$1').replace(/^b"(.*)"$/, '$1'));
    const head = String.raw`[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d sm-mta\[${info.pid}\]: `;
    const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(datagrams[0]!, new RegExp(`^<22>${head}${escape(`${QID}: ${SENDER_LINE}`)}$`));
    // a ruleset verdict is mail.notice (21) and NOQUEUE before a queue id exists
    assert.match(
      datagrams[1]!,
      new RegExp(`^<21>${head}${escape('NOQUEUE: ruleset=check_rcpt, arg1=<x@remote.example>, relay=client3.outside.test [127.0.0.3], reject=550 5.7.1 <x@remote.example>... Relaying denied')}$`),
    );
    // an over-long message arrives as numbered parts, each its own datagram
    const parts = datagrams.slice(2);
    assert.ok(parts.length >= 2, received);
    parts.forEach((p, i) => assert.match(p, new RegExp(`^<22>${head}${QID}\\[${i + 1}\\]: `)));
    for (const p of parts) assert.ok(Buffer.byteLength(p) < 1100, `part of ${Buffer.byteLength(p)} bytes`);
  });

  it('writes ident[pid]: lines to standard error when there is no /dev/log', async (t) => {
    const skip = await sandboxSkipReason();
    if (skip) return t.skip(skip);
    const r = await runInSandbox(`
      set -e
      test ! -e /dev/log
      cat > /run/log.mjs <<'EOF'
${loggerScript()}
EOF
      "${process.execPath}" /run/log.mjs
    `);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { pid: number; transport: string; reason: string };
    assert.equal(info.transport, 'stderr');
    assert.match(info.reason, /\/dev\/log does not exist/);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines[0], `sm-mta[${info.pid}]: ${QID}: ${SENDER_LINE}`);
    assert.equal(
      lines[1],
      `sm-mta[${info.pid}]: NOQUEUE: ruleset=check_rcpt, arg1=<x@remote.example>, relay=client3.outside.test [127.0.0.3], reject=550 5.7.1 <x@remote.example>... Relaying denied`,
    );
    assert.match(lines[2]!, new RegExp(`^sm-mta\\[${info.pid}\\]: ${QID}\\[1\\]: long w0 w1 `));
  });
});
