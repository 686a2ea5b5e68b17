// `npm run install-system [-- --root DIR]`: makes this checkout the system's
// sendmail, as Debian's sendmail packages lay a system out:
//   - users and groups smmta and smmsp (system accounts, no login), when missing;
//   - /var/spool/mqueue (smmta, 0700), /var/spool/clientmqueue (smmsp:smmsp, 3733),
//     /run/postern (0755), /etc/mail (0755) and /etc/mail/smrsh (0755);
//   - /etc/mail/sendmail.cf, submit.cf, aliases, helpfile from conf/ when absent (never
//     overwritten), and a self-signed TLS certificate (node-forge) when none is there;
//   - the links /usr/sbin/sendmail, /usr/lib/sendmail, /usr/bin/mailq, /usr/bin/newaliases,
//     /usr/bin/hoststat, /usr/bin/purgestat, /usr/sbin/smrsh, /usr/sbin/makemap;
//   - a systemd unit running `sendmail -bD -q1h -L sm-mta`, and one for the client-queue
//     runner (`sendmail -L sm-msp-queue -Ac -qf -q30m`).
// Running it again changes nothing that is already right.  With --root DIR everything
// goes under DIR (tests, image builds); users are then added to DIR/etc/passwd with
// useradd --root.  Nothing is set-user-ID or set-group-ID.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = dirname(dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const rootIndex = args.indexOf('--root');
const root = rootIndex >= 0 ? args[rootIndex + 1] : '/';
if (root === undefined) {
  console.error('install-system: --root needs a directory');
  process.exit(64);
}
if (process.getuid() !== 0) {
  console.error('install-system: run it as root (it creates users and system directories)');
  process.exit(77);
}
const at = (p) => join(root, p);
const done = [];

function ids(name) {
  const passwd = readFileSync(at('etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (passwd === undefined) return undefined;
  const [, , uid, gid] = passwd.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function user(name, comment) {
  if (ids(name) !== undefined) return;
  const rootArgs = root === '/' ? [] : ['--root', root];
  execFileSync('useradd', [...rootArgs, '--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--comment', comment, name], { stdio: 'inherit' });
  done.push(`user ${name}`);
}

function directory(path, mode, owner) {
  const full = at(path);
  if (!existsSync(full)) {
    mkdirSync(full, { recursive: true });
    done.push(`directory ${path}`);
  }
  const o = owner === undefined ? { uid: 0, gid: 0 } : owner;
  chownSync(full, o.uid, o.gid);
  chmodSync(full, mode);
}

function file(path, from, mode) {
  const full = at(path);
  if (existsSync(full)) return;
  copyFileSync(from, full);
  chmodSync(full, mode);
  done.push(`file ${path}`);
}

function link(path, target) {
  const full = at(path);
  mkdirSync(dirname(full), { recursive: true });
  try {
    if (lstatSync(full).isSymbolicLink() && readlinkSync(full) === target) return;
    // an existing sendmail binary is kept beside, not destroyed
    if (!lstatSync(full).isSymbolicLink()) execFileSync('mv', [full, `${full}.before-postern`]);
    else rmSync(full);
  } catch {
    // absent
  }
  symlinkSync(target, full);
  done.push(`link ${path} -> ${target}`);
}

user('smmta', 'Mail Transfer Agent');
user('smmsp', 'Mail Submission Program');
const smmta = ids('smmta');
const smmsp = ids('smmsp');

directory('var/spool/mqueue', 0o700, smmta);
directory('var/spool/clientmqueue', 0o3733, smmsp);
directory('run/postern', 0o755);
directory('etc/mail', 0o755);
directory('etc/mail/smrsh', 0o755);
directory('var/mail', 0o2775, { uid: 0, gid: Number(readFileSync(at('etc/group'), 'utf8').split('\n').find((l) => l.startsWith('mail:'))?.split(':')[2] ?? 0) });

file('etc/mail/sendmail.cf', join(pkg, 'conf', 'sendmail.cf'), 0o644);
file('etc/mail/submit.cf', join(pkg, 'conf', 'submit.cf'), 0o644);
file('etc/mail/aliases', join(pkg, 'conf', 'aliases'), 0o644);
if (existsSync(join(pkg, 'conf', 'helpfile'))) file('etc/mail/helpfile', join(pkg, 'conf', 'helpfile'), 0o644);

// STARTTLS: a self-signed pair for this host when there is none, the key RunAsUser's (0600)
const { ensureSelfSignedCertificate } = await import(join(pkg, 'dist/src/mta/tls/self-signed.js'));
const hostName = (await import('node:os')).hostname();
directory('etc/mail/tls', 0o755);
if (ensureSelfSignedCertificate(at('etc/mail/tls/postern.crt'), at('etc/mail/tls/postern.key'), hostName, { keyOwner: smmta })) {
  done.push(`self-signed certificate /etc/mail/tls/postern.crt for ${hostName}`);
}

const sendmail = join(pkg, 'bin', 'sendmail');
link('usr/sbin/sendmail', sendmail);
link('usr/lib/sendmail', sendmail);
for (const name of ['mailq', 'newaliases', 'hoststat', 'purgestat']) link(`usr/bin/${name}`, sendmail);
link('usr/sbin/smrsh', sendmail);
link('usr/sbin/makemap', sendmail);

const units = {
  'postern.service': `[Unit]
Description=Postern mail transfer agent (sendmail -bD)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=/usr/sbin/sendmail -bD -q1h -L sm-mta
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure

[Install]
WantedBy=multi-user.target
`,
  'postern-msp-queue.service': `[Unit]
Description=Postern client queue runner (sendmail -L sm-msp-queue -Ac -q30m)
After=postern.service

[Service]
Type=simple
ExecStart=/usr/sbin/sendmail -L sm-msp-queue -Ac -qf -q30m
Restart=on-failure

[Install]
WantedBy=multi-user.target
`,
};
directory('etc/systemd/system', 0o755);
for (const [name, text] of Object.entries(units)) {
  const path = at(join('etc/systemd/system', name));
  if (existsSync(path) && readFileSync(path, 'utf8') === text) continue;
  writeFileSync(path, text, { mode: 0o644 });
  done.push(`unit ${name}`);
}

console.log(done.length === 0 ? 'install-system: everything was already in place' : `install-system: ${done.join('; ')}`);
if (root === '/') console.log('install-system: start it with: systemctl enable --now postern postern-msp-queue   (or: sendmail -bd -q1h -L sm-mta)');
