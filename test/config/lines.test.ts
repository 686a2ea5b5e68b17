/** The other cf lines: M, X, K, H, S/R, C/F/T, Q, P, E, V, and line folding. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { loadConfig, type Config } from '../../src/config/index.js';
import { cfWith, tempDir, writeCf } from './cf-files.js';

function load(...lines: string[]): Config {
  return loadConfig(cfWith(...lines)).config;
}

test('M lines: every equate, folded over lines, quoted commas', () => {
  const c = load(
    'Mcyrus, P=/usr/lib/cyrus/deliver, F=lsDFMnPqA@/:|SmX, S=EnvFromL, R=EnvToL/HdrToL, E=\\n,',
    '\tM=1000000, m=10, r=5, L=2000, N=5, D=$z:/, C=iso-8859-1, Q=mqueue, T=DNS/RFC822/X-Unix,',
    '\tU=cyrus:mail, W=10m, /=/var/chroot,',
    '\tA=deliver -e -m "$h, x" -- $u',
  );
  const m = c.mailers.get('cyrus')!;
  assert.equal(m.path, '/usr/lib/cyrus/deliver');
  assert.equal([...m.flags].join(''), 'lsDFMnPqA@/:|SmX');
  assert.deepEqual([m.senderEnvelope?.name, m.senderHeader?.name], ['EnvFromL', 'EnvFromL']);
  assert.deepEqual([m.recipientEnvelope?.name, m.recipientHeader?.name], ['EnvToL', 'HdrToL']);
  assert.equal(m.eol, '\n');
  assert.deepEqual(
    [m.maxMessageSize, m.maxDeliveries, m.maxRecipients, m.lineLimit, m.nice, m.execDir, m.charset, m.queueGroup],
    [1000000, 10, 5, 2000, 5, '$z:/', 'iso-8859-1', 'mqueue'],
  );
  assert.deepEqual([m.mtaType, m.addrType, m.diagType], ['DNS', 'RFC822', 'X-Unix']);
  assert.deepEqual(m.user, { user: 'cyrus', group: 'mail' });
  assert.equal(m.wait, 600);
  assert.equal(m.rootDir, '/var/chroot');
  assert.deepEqual(m.argv, ['deliver', '-e', '-m', '$h,', 'x', '--', '$u']);
  // named rulesets used by mailers are entered, numbered from 199 down
  assert.equal(c.rulesetNames.get('EnvFromL'), 199);
  assert.equal(c.rulesetNames.get('EnvToL'), 198);
});

test('M lines: defaults (eol from $u, r=100, L for F=L, IPC types)', () => {
  const c = load('Mtcp, P=[IPC], F=mDFMuXL, A=TCP $h', 'Mfile, P=[FILE], F=lsDFMPEouq9, A=FILE $u', 'Muucp, P=/usr/bin/uux, F=DFMhuUd, S=11/31, A=uux - -r $h!rmail ($u)');
  const tcp = c.mailers.get('tcp')!;
  assert.equal(tcp.eol, '\r\n');
  assert.equal(tcp.maxRecipients, 100);
  assert.equal(tcp.lineLimit, 990);
  assert.deepEqual([tcp.mtaType, tcp.addrType, tcp.diagType], ['dns', 'rfc822', 'smtp']);
  assert.equal(c.mailers.get('file')!.eol, '\n');
  const uucp = c.mailers.get('uucp')!;
  assert.deepEqual([uucp.senderEnvelope, uucp.senderHeader], [{ name: '11', number: 11 }, { name: '31', number: 31 }]);
  // the built-in mailers
  assert.deepEqual(c.mailers.get('*include*')?.argv, ['INCLUDE', '$u']);
  assert.equal(c.mailers.get('prog')?.line, null);
});

test('a warning for [IPC] with an odd first argument', () => {
  const { warnings, config } = loadConfig(cfWith('Mfoo, P=[IPC], A=foo $h'));
  assert.deepEqual(warnings, ['Mfoo: Warning: first argument in [IPC] mailer must be TCP or FILE']);
  assert.ok(config.mailers.has('foo'));
});

test('X lines', () => {
  const c = load(
    'Xdkim, S=inet:8891@localhost, F=T, T=C:2s;S:1m;R:10s;E:5m',
    'Xspam, S=local:/run/spamass.sock, F=R',
    'Xv6, S=inet6:9999@[::1]',
    'Xplain, S=/run/plain.sock',
    'Xsvc, S=inet:smtp@[127.0.0.1]',
  );
  assert.deepEqual(c.milters.get('dkim')?.socket, { family: 'inet', port: 8891, host: 'localhost' });
  assert.deepEqual(c.milters.get('dkim')?.timeouts, { connect: 2, send: 60, read: 10, eom: 300 });
  assert.deepEqual([...c.milters.get('spam')!.flags], ['R']);
  assert.deepEqual(c.milters.get('spam')?.socket, { family: 'local', path: '/run/spamass.sock' });
  assert.deepEqual(c.milters.get('v6')?.socket, { family: 'inet6', port: 9999, host: '::1' });
  assert.deepEqual(c.milters.get('plain')?.socket, { family: 'local', path: '/run/plain.sock' });
  assert.deepEqual(c.milters.get('svc')?.socket, { family: 'inet', port: 25, host: '127.0.0.1' });
  assert.deepEqual(c.milters.get('plain')?.timeouts, { connect: 300, send: 10, read: 10, eom: 300 });
});

test('InputMailFilters must name X lines in daemon mode', () => {
  const path = cfWith('O InputMailFilters=nosuch');
  loadConfig(path);
  assert.throws(() => loadConfig(path, { mode: 'daemon' }), (e: unknown) => (e as { code?: string }).code === 'CONFIG_MISSING' && (e as Error).message === 'InputFilter nosuch not defined');
});

test('K lines', () => {
  const c = load(
    'Kaccess hash -T<TMPF> -o /etc/mail/access',
    'Kgenerics btree -N -k key -v value /etc/mail/generics rebuild',
    'Kbestmx bestmx -a.',
    'Kcanon host -a<OK> -T<TMP>',
    'Kregex regex -a@MATCH ^[0-9]+$',
    'Kseq sequence access generics',
    'Kldapx ldap -1 -v mail -k (uid=%0)',
  );
  const access = c.maps.get('access')!;
  assert.deepEqual([access.mapClass, access.file, access.flags], ['hash', '/etc/mail/access', [{ flag: 'T', value: '<TMPF>' }, { flag: 'o', value: '' }]]);
  const g = c.maps.get('generics')!;
  assert.deepEqual(g.flags, [{ flag: 'N', value: '' }, { flag: 'k', value: 'key' }, { flag: 'v', value: 'value' }]);
  assert.equal(g.file, '/etc/mail/generics');
  assert.equal(c.maps.get('bestmx')?.file, null);
  assert.equal(c.maps.get('canon')?.args, '-a<OK> -T<TMP>');
  assert.equal(c.maps.get('regex')?.args, '-a@MATCH ^[0-9]+$');
  assert.equal(c.maps.get('seq')?.args, 'access generics');
  assert.equal(c.maps.get('ldapx')?.mapClass, 'ldap');
});

test('H lines: flags, macro conditions, check rulesets', () => {
  const c = load('H?P?Return-Path: <$g>', 'H?${daemon_name}?X-Daemon: ${daemon_name}', 'H?$j?X-J: $j', 'HX-Plain:value', 'HSubject: $>+CheckSubject', 'HFrom: $>CheckFrom');
  assert.deepEqual(
    c.headers.map((h) => [h.name, h.value, h.mailerFlags, h.macroCondition]),
    [
      ['Return-Path', '<$g>', 'P', null],
      ['X-Daemon', '${daemon_name}', null, 'daemon_name'],
      ['X-J', '$j', null, 'j'],
      ['X-Plain', 'value', null, null],
    ],
  );
  assert.deepEqual(c.headerChecks.get('subject'), { header: 'Subject', ruleset: 'CheckSubject', stripComments: false });
  assert.deepEqual(c.headerChecks.get('from'), { header: 'From', ruleset: 'CheckFrom', stripComments: true });
});

test('S and R lines: names, numbers, rules split on tabs', () => {
  const c = load(
    'Scanonify=3',
    'R$@\t$@ <@>\thandle <> form',
    'R$*\t$: $1 <@>\t\tmark addresses',
    'SParse0',
    'R$*\t$@ $1',
    'S5',
    'Slocal_hook',
    'R$+\t$#local $: $1',
  );
  assert.equal(c.rulesetNames.get('canonify'), 3);
  assert.equal(c.rulesetNames.get('Parse0'), 199);
  assert.equal(c.rulesetNames.get('local_hook'), 198);
  const canon = c.rulesets.get(3)!;
  assert.equal(canon.name, 'canonify');
  assert.deepEqual(
    canon.rules.map((r) => [r.lhs, r.rhs, r.comment]),
    [
      ['$@', '$@ <@>', 'handle <> form'],
      ['$*', '$: $1 <@>', 'mark addresses'],
    ],
  );
  assert.equal(c.rulesets.get(5)?.rules.length, 0);
  assert.equal(c.rulesets.get(198)?.rules[0]?.rhs, '$#local $: $1');
});

test('a ruleset defined twice: a warning, rules appended', () => {
  const { config, warnings } = loadConfig(cfWith('S10', 'R$*\t$@ $1', 'S10', 'R$+\t$@ $1'));
  assert.deepEqual(warnings, ['WARNING: Ruleset 10 has multiple definitions']);
  assert.equal(config.rulesets.get(10)?.rules.length, 2);
});

test('C, T and F lines', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'names'), 'one two\n# a comment\nthree\n\n');
  writeFileSync(join(dir, 'users'), 'alice:x:1001\nbob:x:1002\n');
  writeFileSync(join(dir, 'debian'), 'mx.example.test # our name\n#all comment\nexample.test\n');
  const c = load(
    'Cw localhost mx',
    'C{Big}A B',
    'C{Big}C',
    'Troot daemon',
    `Fw ${join(dir, 'names')}`,
    `F{users} ${join(dir, 'users')} %[^:]`,
    `F{deb} ${join(dir, 'debian')} %[^\\#]`,
    `F{opt} -o ${join(dir, 'missing')}`,
    'F{prog}"|/usr/bin/list-names -x"',
    'F{prog2}|/usr/bin/other -y',
    'F{mapped}key@hash:/etc/mail/classes',
  );
  // the default format %s takes the first word of each line, as in sendmail
  assert.deepEqual([...c.classes.get('w')!], ['localhost', 'mx', 'one', 'three']);
  assert.deepEqual([...c.classes.get('Big')!], ['A', 'B', 'C']);
  assert.deepEqual([...c.classes.get('t')!], ['root', 'daemon']);
  assert.deepEqual([...c.classes.get('users')!], ['alice', 'bob']);
  assert.deepEqual([...c.classes.get('deb')!], ['mx.example.test', 'example.test']);
  assert.deepEqual([...c.classes.get('opt')!], []);
  assert.deepEqual(
    c.classSources.filter((s) => s.kind !== 'file').map((s) => [s.className, s.kind, s.source]),
    [
      ['prog', 'program', '/usr/bin/list-names -x'],
      ['prog2', 'program', '/usr/bin/other'], // unquoted, the program ends at a space (as in sendmail)
      ['mapped', 'map', 'key@hash:/etc/mail/classes'],
    ],
  );
  assert.equal(c.classes.get('prog')?.size, 0, 'programs are not run');
});

test('Q lines: queue groups', () => {
  const c = load('O MaxQueueChildren=3', 'Qslow, P=/var/spool/mqueue/slow, F=f, I=30m, N=5, R=10, J=100, r=20', 'Qfast');
  const slow = c.queueGroups.get('slow')!;
  assert.deepEqual(
    [slow.path, [...slow.flags], slow.interval, slow.nice, slow.runners, slow.maxJobs, slow.maxRecipients],
    ['/var/spool/mqueue/slow', ['f'], 1800, 5, 3, 100, 20],
  );
  assert.equal(c.queueGroups.get('fast')?.path, '/var/spool/mqueue');
  assert.equal(c.queueGroups.get('mqueue')?.path, '/var/spool/mqueue');
  const { warnings } = loadConfig(cfWith('Qmany, R=3'));
  assert.deepEqual(warnings, ["Warning: Q=many: R=3: multiple queue runners specified\n\tbut flag 'f' is not set"]);
  assert.throws(() => loadConfig(writeCf(['V10/Berkeley', 'Qearly', 'O QueueDirectory=/q', 'Mlocal, P=/bin/true, A=true'])), /QueueDir must be defined before queue groups/);
});

test('P, E and V lines', () => {
  const c = load('Pfirst-class=0', 'Pbulk=-60', 'EPATH=/bin:/usr/bin', 'ETZ', 'V10/postern');
  assert.deepEqual([...c.precedences], [['first-class', 0], ['bulk', -60]]);
  assert.deepEqual([...c.environment], [['PATH', '/bin:/usr/bin'], ['TZ', null]]);
  assert.equal(c.vendor, 'Postern');
});

test('blank lines, comments, CRLF line ends, a last line without a newline', () => {
  const path = writeCf('# top\r\nV10/Berkeley\r\n\r\nO QueueDirectory=/q   # the queue\r\nMlocal, P=/bin/true,\r\n\tA=true\r\nDXlast');
  const { config } = loadConfig(path);
  assert.equal(config.options.QueueDirectory, '/q');
  assert.deepEqual(config.mailers.get('local')?.argv, ['true']);
  assert.equal(config.macros.get('X'), 'last');
});

test('before a V line of level 3, # inside a line is not a comment', () => {
  const path = writeCf(['DXa#b', 'V10/Berkeley', 'DYa#b', 'O QueueDirectory=/q', 'Mlocal, P=/bin/true, A=true']);
  const { config } = loadConfig(path);
  assert.equal(config.macros.get('X'), 'a#b');
  assert.equal(config.macros.get('Y'), 'a');
});
