/** Option names and values, one kind at a time. */
import assert from 'node:assert/strict';
import test from 'node:test';
import {
  ConfigError,
  formatOptionNames,
  loadConfig,
  optionNames,
  optionTable,
  parseOptionArgument,
  setOption,
  type Config,
} from '../../src/config/index.js';
import { cfWith } from './cf-files.js';

function load(...lines: string[]): Config {
  return loadConfig(cfWith(...lines)).config;
}

test('the option table is sendmail 8.17\'s, in its order', () => {
  const names = optionNames();
  assert.equal(names.length, 148);
  assert.deepEqual(names.slice(0, 5), ['SevenBitInput', 'EightBitMode', 'AliasFile', 'AliasWait', 'BlankSub']);
  assert.equal(names[14], '', 'the nameless g entry');
  assert.equal(names[26], '', 'the nameless M entry');
  assert.equal(names.at(-1), 'CipherSuites');
  assert.ok(!names.includes('DANE') && !names.includes('KeepBcc'), 'not compiled into Debian\'s build');
  const text = formatOptionNames();
  assert.ok(text.startsWith('SevenBitInput\nEightBitMode\n'));
  assert.ok(text.includes('MatchGECOS\n\nHelpFile\n'));
  assert.ok(text.endsWith('StrictTransportSecurity\nCipherSuites\n'));
  assert.equal(optionTable().find((o) => o.name === 'LogLevel')?.safe, true);
  assert.equal(optionTable().find((o) => o.name === 'QueueDirectory')?.safe, false);
  assert.equal(optionTable().find((o) => o.name === 'QueueDirectory')?.letter, 'Q');
});

test('long names are case-insensitive; unique prefixes are abbreviations (with a warning)', () => {
  const { config, warnings } = loadConfig(cfWith('O queuedirectory=/x', 'O LogLev=3'));
  assert.equal(config.options.QueueDirectory, '/x');
  assert.equal(config.options.LogLevel, 3);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /: line \d+: Option LogLev used as abbreviation for LogLevel$/);
});

test('the old single-letter form', () => {
  const c = load('OL5', 'OA/etc/aliases,/etc/more', 'Odq', 'OT3d/2h', 'Op noexpn');
  assert.equal(c.options.LogLevel, 5);
  assert.deepEqual(c.options.AliasFile.map((a) => a.spec), ['/etc/aliases', '/etc/more']);
  assert.equal(c.options.DeliveryMode, 'queue');
  assert.equal(c.options.Timeout['queuereturn.normal'], 3 * 86400);
  assert.equal(c.options.Timeout['queuewarn.normal'], 2 * 3600);
  assert.ok(c.options.PrivacyOptions.has('noexpn'));
});

test('booleans, numbers, times, modes', () => {
  const c = load(
    'O SevenBitInput=True',
    'O UseMSP',
    'O MatchGECOS=false',
    'O MaxHopCount=30',
    'O MaxMessageSize=10000000',
    'O MinQueueAge=30m',
    'O MinQueueAge=1h30m',
    'O DialDelay=20',
    'O AliasWait=2',
    'O RejectLogInterval=2',
    'O DeliverByMin=-1',
    'O QueueFileMode=0660',
    'O MinFreeBlocks=200/5000000',
  );
  const o = c.options;
  assert.equal(o.SevenBitInput, true);
  assert.equal(o.UseMSP, true, 'no value means true');
  assert.equal(o.MatchGECOS, false);
  assert.equal(o.MaxHopCount, 30);
  assert.equal(o.MinQueueAge, 5400);
  assert.equal(o.DialDelay, 20, 'seconds by default');
  assert.equal(o.AliasWait, 120, 'minutes by default');
  assert.equal(o.RejectLogInterval, 7200, 'hours by default');
  assert.equal(o.DeliverByMin, -1);
  assert.equal(o.QueueFileMode, 0o660);
  assert.equal(o.MinFreeBlocks, 200);
  assert.equal(o.MaxMessageSize, 5000000, 'the old b option sets the size after /');
});

test('Timeout: sub-options, the list form, queuewarn/queuereturn variants', () => {
  const c = load(
    'O Timeout.QueueWarn=2h',
    'O Timeout.queuewarn.urgent=30m',
    'O Timeout.queuereturn.non-urgent=7d',
    'O Timeout.resolver.retry=3',
    'O Timeout.resolver.retrans.first=2s',
    'O Timeout=20m,helo=1m,rset:2m',
  );
  const t = c.options.Timeout;
  assert.equal(t['queuewarn.normal'], 7200);
  assert.equal(t['queuewarn.dsn'], 7200);
  assert.equal(t['queuewarn.urgent'], 1800);
  assert.equal(t['queuereturn.non-urgent'], 7 * 86400);
  assert.equal(t['queuereturn.normal'], 5 * 86400);
  assert.equal(t['resolver.retry'], 3);
  assert.equal(t['resolver.retry.first'], 3);
  assert.equal(t['resolver.retrans.first'], 2);
  assert.equal(t['resolver.retrans'], null);
  assert.equal(t.mail, 1200);
  assert.equal(t.command, 1200);
  assert.equal(t.helo, 60);
  assert.equal(t.rset, 120);
});

test('DaemonPortOptions and ClientPortOptions', () => {
  const c = load(
    'O DaemonPortOptions=Name=MTA-v4, Family=inet, Port=smtp, Addr=127.0.0.1, Listen=20, children=4, D=q, refuseLA=3, delayLA=4, queueLA=5, S=1024, R=2048, I=a;b',
    'O DaemonPortOptions=Family=inet6, Addr=::1, Port=submission, M=Ea, Name=MSA-v6',
    'O DaemonPortOptions=Family=local, Addr=/run/postern.sock, N=Local',
    'O DaemonPortOptions=Port=2525',
    'O ClientPortOptions=Family=inet, Address=192.0.2.1, Modifiers=h',
  );
  const [a, b, l, d] = c.options.DaemonPortOptions;
  assert.deepEqual(
    [a?.Name, a?.Family, a?.Port, a?.Addr, a?.Listen, a?.children, a?.DeliveryMode, a?.refuseLA, a?.delayLA, a?.queueLA, a?.SndBufSize, a?.RcvBufSize, a?.InputMailFilters],
    ['MTA-v4', 'inet', 25, '127.0.0.1', 20, 4, 'queue', 3, 4, 5, 1024, 2048, ['a', 'b']],
  );
  assert.deepEqual([b?.Name, b?.Family, b?.Port, b?.Addr, b?.Modifiers], ['MSA-v6', 'inet6', 587, '::1', 'Ea']);
  assert.deepEqual([l?.Name, l?.Family, l?.Addr, l?.Port], ['Local', 'local', '/run/postern.sock', null]);
  assert.deepEqual([d?.Name, d?.Port], ['Daemon3', 2525]);
  const client = c.options.ClientPortOptions['inet'];
  assert.deepEqual([client?.Name, client?.Addr, client?.Modifiers], ['Clientinet', '192.0.2.1', 'h']);
  // none given: one default daemon on port 25
  const none = load().options.DaemonPortOptions;
  assert.deepEqual(none.map((x) => [x.Name, x.Port, x.Family]), [['Daemon0', 25, 'inet']]);
});

test('PrivacyOptions: flags add up, goaway expands, public adds nothing', () => {
  const c = load('O PrivacyOptions=public', 'O PrivacyOptions=goaway', 'O PrivacyOptions=restrictmailq, NoReceipts');
  assert.deepEqual(
    [...c.options.PrivacyOptions].sort(),
    ['authwarnings', 'needexpnhelo', 'needmailhelo', 'needvrfyhelo', 'noexpn', 'noreceipts', 'noreflection', 'noverb', 'novrfy', 'restrictmailq'],
  );
});

test('DontBlameSendmail: case-insensitive, canonical spelling, safe clears', () => {
  const c = load('O DontBlameSendmail=groupwritablealiasfile,FORWARDFILEINUNSAFEDIRPATH');
  assert.deepEqual([...c.options.DontBlameSendmail], ['GroupWritableAliasFile', 'ForwardFileInUnsafeDirPath']);
  const d = load('O DontBlameSendmail=GroupWritableAliasFile', 'O DontBlameSendmail=safe, TrustStickyBit');
  assert.deepEqual([...d.options.DontBlameSendmail], ['TrustStickyBit']);
  const u = load('O UnsafeGroupWrites=False');
  assert.deepEqual([...u.options.DontBlameSendmail], ['GroupWritableForwardFileSafe', 'GroupWritableIncludeFileSafe']);
});

test('enumerations by first letter', () => {
  const c = load('O DeliveryMode=deferred', 'O EightBitMode=mimify', 'O SuperSafe=PostMilter', 'O QueueSortOrder=Host', 'O ErrorMode=mail', 'O NoRecipientAction=add-to-undisclosed', 'O DontProbeInterfaces=loopback');
  const o = c.options;
  assert.deepEqual(
    [o.DeliveryMode, o.EightBitMode, o.SuperSafe, o.QueueSortOrder, o.ErrorMode, o.NoRecipientAction, o.DontProbeInterfaces],
    ['defer', 'mimify', 'postmilter', 'host', 'mail', 'add-to-undisclosed', 'loopback'],
  );
  assert.equal(load('O DeliveryMode=').options.DeliveryMode, 'interactive');
});

test('users, strings and lists', () => {
  const c = load(
    'O DefaultUser=mail:mail',
    'O RunAsUser=1001.1002',
    'O TrustedUser=0',
    'O SafeFileEnvironment=/arch//',
    'O MustQuoteChars=.',
    'O AuthMechanisms=PLAIN LOGIN',
    'O AuthOptions=A,p, y',
    'O InputMailFilters=a; b ,c',
    'O ConnectOnlyTo=2525@192.0.2.9',
    'O MaxMimeHeaderLength=256/128',
    'O ResolverOptions=+AAONLY -DNSRCH HasWildcardMX',
    'O ServerSSLOptions=+SSL_OP_NO_SSLv3 -SSL_OP_NO_TICKET 0x4',
    'O HelpFile',
    'O QueueDirectory',
    'O ErrorHeader=/etc/mail/error-header',
  );
  const o = c.options;
  assert.deepEqual(o.DefaultUser, { user: 'mail', group: 'mail' });
  assert.deepEqual(o.RunAsUser, { user: 1001, group: 1002 });
  assert.equal(o.TrustedUser, 0);
  assert.equal(o.SafeFileEnvironment, '/arch');
  assert.equal(o.MustQuoteChars, '@,;:\\()[].');
  assert.deepEqual(o.AuthMechanisms, ['PLAIN', 'LOGIN']);
  assert.deepEqual([...o.AuthOptions], ['A', 'p', 'y']);
  assert.deepEqual(o.InputMailFilters, ['a', 'b', 'c']);
  assert.deepEqual(o.ConnectOnlyTo, { address: '192.0.2.9', family: 'inet', port: 2525 });
  assert.deepEqual(o.MaxMimeHeaderLength, { header: 256, field: 128 });
  assert.deepEqual(o.ResolverOptions, [
    { name: 'AAONLY', on: true },
    { name: 'DNSRCH', on: false },
    { name: 'HasWildcardMX', on: true },
  ]);
  assert.deepEqual(o.ServerSSLOptions, [
    { value: 'SSL_OP_NO_SSLv3', clear: false },
    { value: 'SSL_OP_NO_TICKET', clear: true },
    { value: '0x4', clear: false },
  ]);
  assert.equal(o.HelpFile, 'helpfile');
  assert.equal(o.QueueDirectory, 'mqueue');
  assert.equal(o.ErrorHeader, '/etc/mail/error-header');
});

test('TLS file options are macro-expanded as the file is read', () => {
  const c = load('D{certdir}/etc/ssl', 'O ServerCertFile=${certdir}/mx.pem', 'O CipherList=HIGH:!aNULL');
  assert.equal(c.options.ServerCertFile, '/etc/ssl/mx.pem');
  assert.equal(c.options.CipherList, 'HIGH:!aNULL');
});

test('Milter.* sub-options', () => {
  const c = load('O Milter.LogLevel=12', 'O Milter.macros.connect=j, _, {daemon_name}', 'O Milter.Macros.EOM={msg_id}');
  assert.equal(c.options.Milter.LogLevel, 12);
  assert.deepEqual(c.options.Milter.macros.connect, ['j', '_', '{daemon_name}']);
  assert.deepEqual(c.options.Milter.macros.eom, ['{msg_id}']);
  assert.equal(c.options.Milter.macros.helo, null);
});

test('the M option defines a macro; g sets the default group', () => {
  const c = load('OMrESMTP', 'Og12');
  assert.equal(c.macros.get('r'), 'ESMTP');
  assert.deepEqual(c.options.DefaultUser, { user: null, group: 12 });
});

test('command-line options win over the file (sticky), PrivacyOptions add up', () => {
  const path = cfWith('O LogLevel=9', 'O PrivacyOptions=authwarnings', 'O Timeout.queuereturn=5d', 'O Timeout.queuewarn=4h', 'O Milter.LogLevel=2', 'O QueueDirectory=/file/queue', 'Qslow, F=f');
  const { config } = loadConfig(path, {
    commandLineOptions: [
      parseOptionArgument('O', 'LogLevel=14'),
      parseOptionArgument('O', 'PrivacyOptions=noexpn'),
      parseOptionArgument('O', 'Timeout.queuereturn=1d'),
      parseOptionArgument('O', 'Milter.LogLevel=6'),
      parseOptionArgument('o', 'Q/cmd/queue'),
    ],
  });
  const o = config.options;
  assert.equal(o.LogLevel, 14);
  assert.deepEqual([...o.PrivacyOptions].sort(), ['authwarnings', 'noexpn']);
  assert.equal(o.Timeout['queuereturn.normal'], 86400);
  assert.equal(o.Timeout['queuewarn.normal'], 4 * 3600, 'other timeouts still come from the file');
  assert.equal(o.Milter.LogLevel, 6);
  assert.equal(o.QueueDirectory, '/cmd/queue');
  assert.equal(config.queueGroups.get('slow')?.path, '/cmd/queue', 'queue groups see the sticky QueueDirectory');
  assert.equal(config.queueGroups.get('mqueue')?.path, '/cmd/queue');
});

test('command-line macros are overridden by D lines', () => {
  const path = cfWith('DZfromcf');
  const { config } = loadConfig(path, { commandLineMacros: [{ name: 'Z', value: 'cmd' }, { name: 'X', value: 'x' }] });
  assert.equal(config.macros.get('Z'), 'fromcf');
  assert.equal(config.macros.get('X'), 'x');
});

test('parseOptionArgument', () => {
  assert.deepEqual(parseOptionArgument('O', 'Timeout.queuereturn=5d'), { name: 'Timeout.queuereturn', value: '5d', form: 'long' });
  assert.deepEqual(parseOptionArgument('O', 'UseMSP'), { name: 'UseMSP', value: '', form: 'long' });
  assert.deepEqual(parseOptionArgument('o', 'i'), { name: 'i', value: '', form: 'letter' });
  assert.deepEqual(parseOptionArgument('o', 'Q/tmp/q'), { name: 'Q', value: '/tmp/q', form: 'letter' });
});

test('setOption on a loaded configuration', () => {
  const { config } = loadConfig(cfWith());
  assert.deepEqual(setOption(config, 'IgnoreDots', 'true'), []);
  assert.equal(config.options.IgnoreDots, true);
  setOption(config, 'L', '4');
  assert.equal(config.options.LogLevel, 4);
  assert.deepEqual(setOption(config, 'Verb', 'true'), ['Option Verb used as abbreviation for Verbose']);
  assert.throws(
    () => setOption(config, 'Foo', 'bar'),
    (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_UNKNOWN_OPTION' && e.message === 'readcf: unknown option name Foo',
  );
  assert.throws(() => setOption(config, 'DeliveryMode', 'z'), (e: unknown) => e instanceof ConfigError && e.code === 'CONFIG_BAD_VALUE');
});

test('V levels: 6 and up turn ColonOkInAddr off; below 10 a warning', () => {
  assert.equal(load().options.ColonOkInAddr, false);
  const old = loadConfig(cfWith('V5/Berkeley'));
  assert.equal(old.config.configLevel, 5);
  assert.deepEqual(old.warnings, ['Warning: .cf file is out of date: sendmail 8.17.1.9 supports version 10, .cf file is version 5']);
  assert.throws(() => loadConfig(cfWith('V11/Berkeley')), /exceeds sendmail version 8\.17\.1\.9 functionality \(10\)/);
});

test('every option in the table has a parser and a typed field', () => {
  const { config } = loadConfig(cfWith());
  const fields = config.options as unknown as Record<string, unknown>;
  const sample: Record<string, string> = { bool: 'True', int: '1', size: '1', time: '1', octal: '0600', user: 'mail' };
  for (const o of optionTable()) {
    if (o.name === '') continue;
    const name = o.subOptions ? (o.name === 'Timeout' ? 'Timeout.queuereturn' : 'Milter.LogLevel') : o.name;
    try {
      setOption(config, name, sample[o.kind] ?? 'x');
    } catch (e) {
      // a value this option does not take is fine; a missing parser is not
      assert.ok(e instanceof ConfigError, `${o.name}: ${String(e)}`);
    }
    if (o.name !== 'QueueTimeout') assert.ok(o.name in fields, `${o.name} has a field in Options`);
  }
});
