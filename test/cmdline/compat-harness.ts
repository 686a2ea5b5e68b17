/**
 * Runs a table of sendmail command lines against a sendmail binary (the
 * real sendmail 8.17 or Postern's bin/sendmail) inside one private sandbox,
 * with the same /etc/mail (m4-generated sendmail.cf and submit.cf), users
 * and host name, and argv[0] forced to "sendmail" so that messages that
 * print argv[0] read the same for both.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInSandbox } from '../helpers/sandbox.js';
import { SYSLOG_RECEIVER } from '../helpers/scripts.js';
import type { GeneratedConfig } from '../helpers/m4cf.js';

export interface CommandCase {
  readonly name: string;
  readonly args: readonly string[];
  /** run as this user (created in the sandbox) instead of root */
  readonly user?: 'alice';
  readonly stdin?: string;
  /** expected stdout lines; undefined = only compared with the real sendmail */
  readonly stdout?: readonly string[];
  readonly stderr?: readonly string[];
  readonly exit?: number;
  /**
   * expected syslog lines, as `<priority>ident[PID]: text` with the time
   * stamp dropped and the pid replaced; `{alice}` stands for alice's uid.
   * Only compared when given.
   */
  readonly syslog?: readonly string[];
}

export interface CommandOutcome {
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exit: number;
  readonly syslog: string[];
}

export interface CaseRun {
  readonly outcomes: CommandOutcome[];
  /** the uid useradd gave alice in the sandbox */
  readonly aliceUid: number;
}


const SETUP = `
set -u
W=$1; BIN=$2
echo '127.0.0.1 mx.example.test mx' >> /etc/hosts
cp "$W/sendmail.cf" /etc/mail/sendmail.cf
cp "$W/submit.cf" /etc/mail/submit.cf
touch /etc/mail/local-host-names /etc/mail/relay-domains
useradd --system --no-create-home --user-group --shell /usr/sbin/nologin smmsp
useradd --create-home --user-group --shell /bin/bash alice
mkdir -p /var/spool/mqueue /var/spool/clientmqueue
chmod 700 /var/spool/mqueue
chown smmsp:smmsp /var/spool/clientmqueue
chmod 2770 /var/spool/clientmqueue
id -u alice >"$W/alice.uid"
/usr/bin/python3 "$W/receiver.py" "$W/syslog" "$W/receiver.ready" &
for n in $(seq 200); do [ -e "$W/receiver.ready" ] && break; sleep 0.05; done
cd /tmp
for f in "$W"/case*.args; do
  i=\${f%.args}
  mapfile -d '' -t args < "$f"
  user=$(cat "$i.user")
  if [ -n "$user" ]; then
    setpriv --reuid="$user" --regid="$user" --init-groups -- bash -c 'exec -a sendmail "$0" "$@"' "$BIN" "\${args[@]}" >"$i.out" 2>"$i.err" <"$i.in"
  else
    bash -c 'exec -a sendmail "$0" "$@"' "$BIN" "\${args[@]}" >"$i.out" 2>"$i.err" <"$i.in"
  fi
  echo $? >"$i.rc"
  mark="SENTINEL $(basename "$i")"
  logger -u /dev/log -t compat "$mark"
  for n in $(seq 200); do grep -q "$mark\$" "$W/syslog" && break; sleep 0.02; done
done
`;

/** `<22>Nov 22 06:00:00 sm-mta[123]: text` → `<22>sm-mta[PID]: text` */
function normaliseSyslog(line: string): string {
  return line.replace(/^(<\d+>)[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d /, '$1').replace(/^(<\d+>[^\[: ]+)\[\d+\]:/, '$1[PID]:');
}

export async function runCases(binary: string, cases: readonly CommandCase[], configs: GeneratedConfig): Promise<CaseRun> {
  const work = mkdtempSync(join(tmpdir(), 'postern-compat-'));
  try {
    writeFileSync(join(work, 'sendmail.cf'), configs.sendmailCf);
    writeFileSync(join(work, 'submit.cf'), configs.submitCf);
    writeFileSync(join(work, 'receiver.py'), SYSLOG_RECEIVER);
    cases.forEach((c, n) => {
      const base = join(work, `case${String(n).padStart(3, '0')}`);
      writeFileSync(`${base}.args`, c.args.map((a) => `${a}\0`).join(''));
      writeFileSync(`${base}.user`, c.user ?? '');
      writeFileSync(`${base}.in`, c.stdin ?? '');
    });
    const result = await runInSandbox(['bash', '-c', SETUP, 'setup', work, binary], { timeoutMs: 300_000 });
    if (result.code !== 0) throw new Error(`sandbox run failed (${result.code}): ${result.stderr}`);
    const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
    const logByCase = new Map<string, string[]>();
    let pending: string[] = [];
    for (const line of lines(join(work, 'syslog'))) {
      const sentinel = / SENTINEL (case\d+)$/.exec(line);
      if (sentinel === null) {
        pending.push(normaliseSyslog(line));
      } else {
        logByCase.set(sentinel[1]!, pending);
        pending = [];
      }
    }
    const outcomes = cases.map((_, n) => {
      const name = `case${String(n).padStart(3, '0')}`;
      const base = join(work, name);
      return {
        stdout: lines(`${base}.out`),
        stderr: lines(`${base}.err`),
        exit: Number(readFileSync(`${base}.rc`, 'utf8').trim()),
        syslog: logByCase.get(name) ?? [],
      };
    });
    return { outcomes, aliceUid: Number(readFileSync(join(work, 'alice.uid'), 'utf8').trim()) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
