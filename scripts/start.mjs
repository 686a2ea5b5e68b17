// `npm start`: the daemon in the foreground on a default configuration.
// As root with an installed /etc/mail/sendmail.cf, that file; otherwise
// Postern's own conf/sendmail.cf, and an ordinary user is made the
// TrustedUser of this run so that the daemon may start as them.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const asRoot = process.getuid() === 0;
const args = ['-bD', '-q1h', '-L', 'sm-mta'];
if (!(asRoot && existsSync('/etc/mail/sendmail.cf'))) args.unshift('-C', join(root, 'conf', 'sendmail.cf'));
if (!asRoot) args.unshift('-O', `TrustedUser=${process.getuid()}`);
const result = spawnSync(join(root, 'bin', 'sendmail'), args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
