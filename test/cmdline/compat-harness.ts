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
}

export interface CommandOutcome {
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exit: number;
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
cd /tmp
for f in "$W"/case*.args; do
  i=\${f%.args}
  mapfile -d '' -t args < "$f"
  user=$(cat "$i.user")
  if [ -n "$user" ]; then
    runuser -u "$user" -- bash -c 'exec -a sendmail "$0" "$@"' "$BIN" "\${args[@]}" >"$i.out" 2>"$i.err" <"$i.in"
  else
    bash -c 'exec -a sendmail "$0" "$@"' "$BIN" "\${args[@]}" >"$i.out" 2>"$i.err" <"$i.in"
  fi
  echo $? >"$i.rc"
done
`;

export async function runCases(binary: string, cases: readonly CommandCase[], configs: GeneratedConfig): Promise<CommandOutcome[]> {
  const work = mkdtempSync(join(tmpdir(), 'postern-compat-'));
  try {
    writeFileSync(join(work, 'sendmail.cf'), configs.sendmailCf);
    writeFileSync(join(work, 'submit.cf'), configs.submitCf);
    cases.forEach((c, n) => {
      const base = join(work, `case${String(n).padStart(3, '0')}`);
      writeFileSync(`${base}.args`, c.args.map((a) => `${a}\0`).join(''));
      writeFileSync(`${base}.user`, c.user ?? '');
      writeFileSync(`${base}.in`, c.stdin ?? '');
    });
    const result = await runInSandbox(['bash', '-c', SETUP, 'setup', work, binary], { timeoutMs: 300_000 });
    if (result.code !== 0) throw new Error(`sandbox run failed (${result.code}): ${result.stderr}`);
    return cases.map((_, n) => {
      const base = join(work, `case${String(n).padStart(3, '0')}`);
      const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l, i, all) => l !== '' || i < all.length - 1);
      return {
        stdout: lines(`${base}.out`),
        stderr: lines(`${base}.err`),
        exit: Number(readFileSync(`${base}.rc`, 'utf8').trim()),
      };
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
