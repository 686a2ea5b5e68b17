/**
 * Postern's own conf/sendmail.cf and conf/submit.cf: they load without a
 * warning and say what the MTA and the MSP need.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { expandMacros, loadConfig } from '../../src/config/index.js';
import { repoRoot } from '../helpers/peers.js';

const sendmailCf = join(repoRoot, 'conf/sendmail.cf');
const submitCf = join(repoRoot, 'conf/submit.cf');

test('conf/sendmail.cf loads without warnings', () => {
  const { config, warnings, unsafe } = loadConfig(sendmailCf);
  assert.deepEqual(warnings, []);
  assert.equal(unsafe, false);
  assert.equal(config.configLevel, 10);
  assert.equal(config.vendor, 'Postern');
});

test('conf/sendmail.cf: the MTA options', () => {
  const o = loadConfig(sendmailCf).config.options;
  assert.equal(o.QueueDirectory, '/var/spool/mqueue');
  assert.deepEqual(o.AliasFile, [{ mapClass: 'implicit', spec: '/etc/mail/aliases' }]);
  assert.equal(o.AliasWait, 600);
  assert.equal(o.HelpFile, '/etc/mail/helpfile');
  assert.equal(o.PidFile, '/var/run/sendmail.pid');
  assert.equal(o.LogLevel, 9);
  assert.deepEqual([...o.PrivacyOptions], ['authwarnings']);
  assert.deepEqual(o.RunAsUser, { user: 'smmta', group: null });
  assert.deepEqual(o.DefaultUser, { user: 'mailnull', group: null });
  assert.equal(o.TrustedUser, null, 'root');
  assert.equal(o.SafeFileEnvironment, null);
  assert.equal(o.TempFileMode, 0o600);
  assert.equal(o.DeliveryMode, 'background');
  assert.equal(o.SuperSafe, 'true');
  assert.equal(o.MaxHopCount, 25);
  assert.equal(o.ForwardPath, '$z/.forward.$w+$h:$z/.forward+$h:$z/.forward.$w:$z/.forward');
  assert.equal(o.Timeout['queuereturn.normal'], 5 * 86400);
  assert.equal(o.Timeout['queuereturn.dsn'], 5 * 86400);
  assert.equal(o.Timeout['queuewarn.urgent'], 4 * 3600);
  assert.equal(o.Timeout.initial, 300);
  assert.equal(o.Timeout.command, 3600);
  assert.equal(o.Timeout.ident, 5);
  assert.equal(o.Timeout.hoststatus, 1800);
  const [mta, msa] = o.DaemonPortOptions;
  assert.equal(o.DaemonPortOptions.length, 2);
  assert.equal(mta?.Name, 'MTA');
  assert.equal(mta?.Port, 25);
  assert.equal(mta?.Family, 'inet');
  assert.equal(msa?.Name, 'MSA');
  assert.equal(msa?.Port, 587);
  assert.equal(msa?.Modifiers, 'E');
});

test('conf/sendmail.cf: classes, macros, mailers, headers', () => {
  const { config } = loadConfig(sendmailCf);
  assert.ok(config.classes.get('w')?.has('localhost'));
  assert.deepEqual([...(config.classes.get('t') ?? [])].sort(), ['daemon', 'root']);
  assert.equal(config.macros.get('n'), 'MAILER-DAEMON');
  assert.equal(config.macros.get('S'), '');
  for (const name of ['local', 'prog', 'smtp', 'esmtp', 'smtp8', 'dsmtp', 'relay', '*file*', '*include*']) {
    assert.ok(config.mailers.has(name), `mailer ${name}`);
  }
  const local = config.mailers.get('local')!;
  assert.deepEqual(local.argv, ['mail.local', '-l']);
  assert.ok(local.flags.has('l') && local.flags.has('w') && local.flags.has('5'));
  assert.equal(local.eol, '\r\n', 'LMTP speaks CRLF');
  const prog = config.mailers.get('prog')!;
  assert.deepEqual(prog.argv, ['smrsh', '-c', '$u']);
  assert.equal(prog.execDir, '$z:/');
  assert.equal(prog.eol, '\n');
  const esmtp = config.mailers.get('esmtp')!;
  assert.equal(esmtp.path, '[IPC]');
  assert.deepEqual(esmtp.argv, ['TCP', '$h']);
  assert.equal(esmtp.lineLimit, 990);
  assert.equal(esmtp.eol, '\r\n');
  assert.equal(esmtp.maxRecipients, 100);
  assert.deepEqual([esmtp.mtaType, esmtp.addrType, esmtp.diagType], ['DNS', 'RFC822', 'SMTP']);
  assert.equal(config.mailers.get('relay')!.lineLimit, 2040);
  const names = config.headers.map((h) => h.name);
  assert.deepEqual(names.slice(0, 4), ['Return-Path', 'Received', 'Resent-Date', 'Date']);
  const messageId = config.headers.find((h) => h.name === 'Message-Id')!;
  assert.equal(messageId.mailerFlags, 'M');
  const macros = new Map([['t', '202611220600'], ['i', 'QID'], ['j', 'mx.example.test']]);
  assert.equal(expandMacros(messageId.value, macros), '<202611220600.QID@mx.example.test>');
  assert.equal(config.precedences.get('junk'), -100);
  assert.equal(config.maps.get('access')?.mapClass, 'hash');
  assert.equal(config.rulesets.size, 0, 'Postern routes natively');
});

test('conf/submit.cf loads without warnings and is an MSP configuration', () => {
  const { config, warnings } = loadConfig(submitCf);
  assert.deepEqual(warnings, []);
  const o = config.options;
  assert.equal(o.QueueDirectory, '/var/spool/clientmqueue');
  assert.equal(o.DeliveryMode, 'interactive');
  assert.equal(o.UseMSP, true);
  assert.deepEqual(o.RunAsUser, { user: 'smmsp', group: null });
  assert.equal(o.TrustedUser, 'smmsp');
  assert.equal(o.QueueFileMode, 0o660);
  assert.equal(o.ForwardPath, '');
  assert.equal(o.TimeZoneSpec, '');
  assert.equal(o.DontInitGroups, true);
  assert.equal(o.DontProbeInterfaces, true);
  for (const flag of ['needmailhelo', 'needexpnhelo', 'needvrfyhelo', 'noexpn', 'novrfy', 'noverb', 'authwarnings', 'noetrn', 'restrictqrun'] as const) {
    assert.ok(o.PrivacyOptions.has(flag), flag);
  }
  assert.ok(!o.PrivacyOptions.has('restrictmailq'));
  assert.ok(!o.PrivacyOptions.has('noreceipts'), 'goaway does not include noreceipts');
  assert.equal(config.macros.get('MTAHost'), '[127.0.0.1]');
  assert.ok(config.classes.get('t')?.has('smmsp'));
  assert.equal(config.mailers.get('relay')?.path, '[IPC]');
  assert.ok(config.mailers.get('relay')?.flags.has('k'));
  assert.equal(config.mailers.get('local')?.path, '[IPC]');
  assert.equal(o.DaemonPortOptions[0]?.Name, 'NoMTA');
  assert.equal(o.DaemonPortOptions[0]?.Addr, '127.0.0.1');
});

test('conf/aliases has the addresses every host must accept', () => {
  const text = readFileSync(join(repoRoot, 'conf/aliases'), 'utf8');
  const names = new Set(
    text
      .split('\n')
      .filter((l) => /^[^#\s]/.test(l))
      .map((l) => l.slice(0, l.indexOf(':')).toLowerCase()),
  );
  for (const n of ['postmaster', 'mailer-daemon', 'abuse']) assert.ok(names.has(n), n);
});
