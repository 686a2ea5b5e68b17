// A private copy of Postern's default sendmail.cf and submit.cf, for a daemon
// that is not the system's: `npm start` as an ordinary user, and the
// benchmarks.  Everything lives under one directory: the queues, the
// submission socket and the pid file; the daemons listen on 127.0.0.1.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

/** conf/NAME with every line starting with a key of `replace` replaced by its value(s) (null: dropped). */
function copyWith(name, target, replace) {
  const out = [];
  const done = new Set();
  for (const line of readFileSync(join(root, 'conf', name), 'utf8').split('\n')) {
    const key = Object.keys(replace).find((k) => line.startsWith(k));
    if (key === undefined) out.push(line);
    else if (!done.has(key) && replace[key] !== null) out.push(...[replace[key]].flat());
    if (key !== undefined) done.add(key);
  }
  writeFileSync(target, out.join('\n'));
}

/**
 * Writes DIR/etc/sendmail.cf and DIR/etc/submit.cf.  `ports` are the MTA's and
 * the MSA's (0: any free port).  `runAsUser`: the daemon's RunAsUser, or
 * null when the daemon runs as whoever starts it.
 */
export function writePrivateConfig(dir, { mtaPort = 2525, msaPort = 2587, runAsUser = null } = {}) {
  const at = (...p) => join(dir, ...p);
  for (const d of ['etc', 'spool', 'run']) mkdirSync(at(d), { recursive: true, mode: 0o755 });
  mkdirSync(at('spool', 'clientmqueue'), { recursive: true, mode: 0o770 });
  copyWith('sendmail.cf', at('etc', 'sendmail.cf'), {
    'O DaemonPortOptions=': [
      `O DaemonPortOptions=Name=MTA, Addr=127.0.0.1, Port=${mtaPort}`,
      `O DaemonPortOptions=Name=MSA, Addr=127.0.0.1, Port=${msaPort}, M=E`,
    ],
    'O QueueDirectory=': `O QueueDirectory=${at('spool', 'mqueue')}`,
    'O PidFile=': `O PidFile=${at('run', 'sendmail.pid')}`,
    'O RunAsUser=': runAsUser === null ? null : `O RunAsUser=${runAsUser}`,
    'O AliasFile=': `O AliasFile=${join(root, 'conf', 'aliases')}`,
    'O DefaultUser=': null,
  });
  copyWith('submit.cf', at('etc', 'submit.cf'), {
    'D{SubmitSocket}': `D{SubmitSocket}${at('run', 'submit.sock')}`,
    'O QueueDirectory=': `O QueueDirectory=${at('spool', 'clientmqueue')}`,
    'O StatusFile=': `O StatusFile=${at('spool', 'clientmqueue', 'sm-client.st')}`,
    'O PidFile=': `O PidFile=${at('spool', 'clientmqueue', 'sm-client.pid')}`,
  });
  return {
    sendmailCf: at('etc', 'sendmail.cf'),
    submitCf: at('etc', 'submit.cf'),
    queueDir: at('spool', 'mqueue'),
    submitSocket: at('run', 'submit.sock'),
    pidFile: at('run', 'sendmail.pid'),
  };
}
