// `npm start`: the daemon in the foreground on a default configuration.
//
// As root with an installed /etc/mail/sendmail.cf: that file, the real thing.
// As root without one: Postern's conf/sendmail.cf (ports 25 and 587, RunAsUser
// smmta, which must exist).
// As an ordinary user: a private copy of conf/sendmail.cf and conf/submit.cf
// under var/, listening on 127.0.0.1 ports 2525 (MTA) and 2587 (MSA), with
// the queues, the submission socket and the pid file under var/, everything
// running as that user, so a newcomer can try it at once.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writePrivateConfig } from './private-config.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const asRoot = process.getuid() === 0;
const args = ['-bD', '-q1h', '-L', 'sm-mta'];

if (!asRoot) {
  const conf = writePrivateConfig(join(root, 'var'));
  args.unshift('-C', conf.sendmailCf, '-O', `TrustedUser=${process.getuid()}`);
  console.error(`postern: listening on 127.0.0.1:2525 (MTA) and 127.0.0.1:2587 (MSA); queue in ${conf.queueDir}`);
  console.error(`postern: submit with  bin/sendmail -C ${conf.submitCf} -t < message   (Ctrl-C stops the daemon)`);
} else if (!existsSync('/etc/mail/sendmail.cf')) {
  args.unshift('-C', join(root, 'conf', 'sendmail.cf'));
}
const result = spawnSync(join(root, 'bin', 'sendmail'), args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
