/**
 * newaliases and makemap end to end, in the sandbox as root, run the same
 * way on Postern's bin/ and, when it can be had, on Debian's sendmail 8.17
 * (sendmail-bin, unpacked): standard output, standard error, exit status
 * and syslog lines must be the same, and the expected values written here
 * are checked against the real programs too.  The database files differ by
 * design (Postern's map format), so the maps are compared through
 * `makemap -u`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'node:test';
import { stockConfigs, type GeneratedConfig } from '../helpers/m4cf.js';
import { realSendmail } from '../helpers/peers.js';
import { binDir, sandboxSkipReason, runInSandbox } from '../helpers/sandbox.js';
import { putFile, SYSLOG_RECEIVER } from '../helpers/scripts.js';
import { openMap } from '../../src/maps/index.js';

/** Debian's stock /etc/aliases, root's mail sent to a person, and a few lists. */
const ALIASES = `# /etc/aliases
mailer-daemon: postmaster
postmaster: root
nobody: root
hostmaster: root
usenet: root
news: root
webmaster: root
www: root
ftp: root
abuse: root
noc: root
security: root
root: alice

# lists
staff:		alice,
		bob@mx.example.test,
		carol@example.org
owner-staff:	alice
staff-request:	owner-staff
announce:	:include:/etc/mail/lists/announce
archive:	"|/usr/bin/logger -t archive", /var/spool/archive/mbox
gone:		error:nouser No such user here
Info:		"Information Desk" <alice>
`;

/** One of each mistake sendmail reports (none that would make sendmail ask the DNS). */
const BROKEN = `ok: alice
nocolon
  its continuation
dup: a
dup: b
empty:
bad<name: x

  stray after a blank line
: nothing
last: alice
`;

const ACCESS = `# access map
Connect:10.0.0.1	REJECT
From:spammer@example.org	ERROR:"550 Go away"
To:Example.COM	RELAY
127.0.0.1	RELAY
`;

const ACCESS_BAD = `good ok
  leading
norhs
good again
Upper CASE kept
`;


const STEPS = ['newaliases', 'broken', 'user', 'makemap', 'dump', 'makemap-bad', 'dump-bad'] as const;
type Step = (typeof STEPS)[number];

interface Outcome {
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exit: number;
  readonly syslog: string[];
}

function script(work: string, sendmail: string, makemap: string): string {
  return `
set -u
W=${work}
SENDMAIL=${sendmail}
MAKEMAP=${makemap}
${putFile('aliases', ALIASES)}
${putFile('broken', BROKEN)}
${putFile('access', ACCESS)}
${putFile('access-bad', ACCESS_BAD)}
${putFile('receiver.py', SYSLOG_RECEIVER)}
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
cp "$W/sendmail.cf" /etc/mail/sendmail.cf
cp "$W/submit.cf" /etc/mail/submit.cf
touch /etc/mail/local-host-names /etc/mail/relay-domains
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
useradd --create-home --user-group --shell /bin/bash alice
mkdir -p /var/spool/mqueue /var/spool/clientmqueue
chmod 700 /var/spool/mqueue
cp "$W/aliases" /etc/mail/aliases
cp "$W/broken" /etc/mail/broken
/usr/bin/python3 "$W/receiver.py" "$W/syslog" "$W/receiver.ready" &
for n in $(seq 200); do [ -e "$W/receiver.ready" ] && break; sleep 0.05; done
id -u alice >"$W/alice.uid"
cd /tmp
run() {
  local name=$1 input=$2; shift 2
  "$@" >"$W/$name.out" 2>"$W/$name.err" <"$input"
  echo $? >"$W/$name.rc"
  logger -u /dev/log -t compat "SENTINEL $name"
  for n in $(seq 200); do grep -q "SENTINEL $name\\$" "$W/syslog" && break; sleep 0.02; done
}
run newaliases /dev/null bash -c 'exec -a newaliases "$0"' "$SENDMAIL"
cp /etc/mail/aliases.db "$W/aliases.db"
run broken /dev/null bash -c 'exec -a sendmail "$0" -bi -oA/etc/mail/broken' "$SENDMAIL"
run user /dev/null setpriv --reuid=alice --regid=alice --init-groups -- bash -c 'exec -a newaliases "$0"' "$SENDMAIL"
run makemap "$W/access" bash -c 'exec -a makemap "$0" hash /etc/mail/access' "$MAKEMAP"
run dump /dev/null bash -c 'exec -a makemap "$0" -u hash /etc/mail/access' "$MAKEMAP"
run makemap-bad "$W/access-bad" bash -c 'exec -a makemap "$0" -f btree /etc/mail/bad' "$MAKEMAP"
run dump-bad /dev/null bash -c 'exec -a makemap "$0" -u btree /etc/mail/bad' "$MAKEMAP"
exit 0
`;
}

async function runSteps(sendmail: string, makemap: string, configs: GeneratedConfig): Promise<{ outcomes: Record<Step, Outcome>; aliceUid: number; aliasesDb: Buffer | undefined }> {
  const work = mkdtempSync(join(tmpdir(), 'postern-newaliases-'));
  try {
    writeFileSync(join(work, 'sendmail.cf'), configs.sendmailCf);
    writeFileSync(join(work, 'submit.cf'), configs.submitCf);
    const r = await runInSandbox(['bash', '-c', script(work, sendmail, makemap)], { timeoutMs: 240_000 });
    assert.equal(r.code, 0, `sandbox run failed: ${r.stderr}`);
    const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
    const logs = new Map<string, string[]>();
    let pending: string[] = [];
    for (const line of lines(join(work, 'syslog'))) {
      const sentinel = / SENTINEL (\S+)$/.exec(line);
      if (sentinel === null) pending.push(line.replace(/^(<\d+>)[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d /, '$1').replace(/^(<\d+>[^[: ]+)\[\d+\]:/, '$1[PID]:'));
      else {
        logs.set(sentinel[1]!, pending);
        pending = [];
      }
    }
    const outcomes = Object.fromEntries(
      STEPS.map((s) => [
        s,
        { stdout: lines(join(work, `${s}.out`)), stderr: lines(join(work, `${s}.err`)), exit: Number(readFileSync(join(work, `${s}.rc`), 'utf8')), syslog: logs.get(s) ?? [] },
      ]),
    ) as Record<Step, Outcome>;
    const aliceUid = Number(readFileSync(join(work, 'alice.uid'), 'utf8').trim());
    let aliasesDb: Buffer | undefined;
    try {
      aliasesDb = readFileSync(join(work, 'aliases.db'));
    } catch {
      aliasesDb = undefined;
    }
    return { outcomes, aliceUid, aliasesDb };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** What each step gives; `sorted` steps are compared as sets of lines (a hash map lists in no particular order). */
const EXPECTED: Record<Step, Outcome & { sorted?: true }> = {
  newaliases: {
    stdout: ['/etc/mail/aliases: 20 aliases, longest 54 bytes, 401 bytes total'],
    stderr: [],
    exit: 0,
    syslog: ['<21>sendmail[PID]: alias database /etc/mail/aliases rebuilt by root', '<22>sendmail[PID]: /etc/mail/aliases: 20 aliases, longest 54 bytes, 401 bytes total'],
  },
  broken: {
    stdout: [
      '/etc/mail/broken: line 3: missing colon',
      '/etc/mail/broken: line 5: dup... Warning: duplicate alias name dup',
      '/etc/mail/broken: line 6: empty:... missing value for alias',
      "/etc/mail/broken: line 7: bad<name: x... Unbalanced '<'",
      '/etc/mail/broken: line 9: Non-continuation line starts with space',
      '/etc/mail/broken: line 10: : nothing... illegal alias name',
      '/etc/mail/broken: 5 aliases, longest 5 bytes, 31 bytes total',
    ],
    stderr: [],
    exit: 70,
    syslog: [
      '<21>sendmail[PID]: alias database /etc/mail/broken rebuilt by root',
      '<18>sendmail[PID]: NOQUEUE: SYSERR(root): /etc/mail/broken: line 3: missing colon',
      '<18>sendmail[PID]: NOQUEUE: SYSERR(root): /etc/mail/broken: line 6: empty:... missing value for alias',
      '<18>sendmail[PID]: NOQUEUE: SYSERR(root): /etc/mail/broken: line 9: Non-continuation line starts with space',
      '<18>sendmail[PID]: NOQUEUE: SYSERR(root): /etc/mail/broken: line 10: : nothing... illegal alias name',
      '<22>sendmail[PID]: /etc/mail/broken: 5 aliases, longest 5 bytes, 31 bytes total',
    ],
  },
  user: { stdout: ['Permission denied (real uid not trusted)'], stderr: [], exit: 64, syslog: ['<17>sendmail[PID]: user {alice} attempted to rebuild the alias map'] },
  makemap: { stdout: [], stderr: [], exit: 0, syslog: [] },
  dump: {
    stdout: ['connect:10.0.0.1\tREJECT', 'from:spammer@example.org\tERROR:"550 Go away"', 'to:example.com\tRELAY', '127.0.0.1\tRELAY'],
    stderr: [],
    exit: 0,
    syslog: [],
    sorted: true,
  },
  'makemap-bad': {
    stdout: [],
    stderr: ['makemap: /etc/mail/bad: line 2: syntax error (leading space)', 'makemap: /etc/mail/bad: line 3: no RHS for LHS norhs', 'makemap: /etc/mail/bad: line 4: key good: duplicate key'],
    exit: 65,
    syslog: [],
  },
  'dump-bad': { stdout: ['Upper\tCASE kept', 'good\tok'], stderr: [], exit: 0, syslog: [] },
};

test('newaliases and makemap answer as sendmail 8.17 does', async (t) => {
  const skip = await sandboxSkipReason();
  if (skip !== null) return t.skip(skip);
  const configs = await stockConfigs();
  if ('skip' in configs) return t.skip(configs.skip);

  const postern = await runSteps(join(binDir, 'sendmail'), join(binDir, 'makemap'), configs);
  const real = await realSendmail();
  const reference = typeof real === 'string' ? await runSteps(real, join(dirname(real), 'makemap'), configs) : undefined;
  if (reference === undefined) t.diagnostic(`not compared with the real sendmail: ${(real as { skip: string }).skip}`);

  for (const step of STEPS) {
    await t.test(step, () => {
      const { sorted, ...expected } = EXPECTED[step];
      const view = (o: Outcome, aliceUid: number) => {
        const order = (l: string[]) => (sorted ? [...l].sort() : l);
        return { stdout: order(o.stdout), stderr: o.stderr, exit: o.exit, syslog: o.syslog.map((l) => l.replace(`user ${aliceUid} `, 'user {alice} ')) };
      };
      const want = { ...expected, stdout: sorted ? [...expected.stdout].sort() : expected.stdout };
      if (reference !== undefined) assert.deepEqual(view(reference.outcomes[step], reference.aliceUid), want, 'the real sendmail no longer gives what the table says');
      assert.deepEqual(view(postern.outcomes[step], postern.aliceUid), want);
    });
  }

  await t.test("Postern's alias database holds what the text says", () => {
    assert.ok(postern.aliasesDb !== undefined);
    const dir = mkdtempSync(join(tmpdir(), 'postern-aliasesdb-'));
    try {
      writeFileSync(join(dir, 'aliases.db'), postern.aliasesDb);
      const m = openMap(join(dir, 'aliases'));
      assert.equal(m.get('@'), '@');
      assert.equal(m.get('staff'), 'alice,\t\tbob@mx.example.test,\t\tcarol@example.org');
      assert.equal(m.get('info'), '"Information Desk" <alice>');
      assert.equal(m.get('archive'), '"|/usr/bin/logger -t archive", /var/spool/archive/mbox');
      m.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
