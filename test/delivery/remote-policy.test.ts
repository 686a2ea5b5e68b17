/**
 * Remote delivery's per-server policy without a network: TLS_Srv: and
 * Try_TLS: values and sendmail 8.17's refusal texts (as the real sendmail
 * printed them in a sandbox: "454 4.7.0 other side does not support
 * STARTTLS", "454 4.7.0 authentication failed"), AuthInfo: values, the
 * order of the access-map and authinfo-map look-ups, the client's choice of
 * SASL mechanism and its dialogues, and the mailers' ports.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { parseAuthInfo } from '../../src/delivery/remote/authinfo.js';
import { authenticate, chooseMechanisms, type ServerReply } from '../../src/delivery/remote/client-auth.js';
import { mailerPorts } from '../../src/delivery/remote/options.js';
import { accessLookup, exactLookup } from '../../src/delivery/remote/server-lookup.js';
import { serverPolicy, serverPolicyFromConfig } from '../../src/delivery/remote/server-policy.js';
import { buildMap } from '../../src/maps/index.js';
import { mayTryTls, parseTlsRequirement, tlsRefusal } from '../../src/delivery/remote/tls-policy.js';
import { repoRoot } from '../helpers/peers.js';

const table = (entries: Record<string, string>) => ({ get: (k: string) => entries[k.toLowerCase()] });

test('TLS_Srv values: VERIFY, VERIFY:bits, ENCR:bits, PERM+/TEMP+ and +CN; anything else asks for nothing', () => {
  assert.deepEqual(parseTlsRequirement('VERIFY'), { code: '454', dsn: '4.7.0', verify: true, bits: 0, unsupported: [] });
  assert.deepEqual(parseTlsRequirement('verify:128'), { code: '454', dsn: '4.7.0', verify: true, bits: 128, unsupported: [] });
  assert.deepEqual(parseTlsRequirement('ENCR:256'), { code: '454', dsn: '4.7.0', verify: false, bits: 256, unsupported: [] });
  assert.deepEqual(parseTlsRequirement('PERM+VERIFY'), { code: '503', dsn: '5.7.0', verify: true, bits: 0, unsupported: [] });
  assert.deepEqual(parseTlsRequirement('TEMP+ENCR:128+CN:mx.example.net'), { code: '403', dsn: '4.7.0', verify: false, bits: 128, cn: 'mx.example.net', unsupported: [] });
  assert.equal(parseTlsRequirement('VERIFY+CN')?.cn, true);
  assert.deepEqual(parseTlsRequirement('VERIFY+CI:/CN=x')?.unsupported, ['CI:/CN=x']);
  assert.equal(parseTlsRequirement('ENCR'), null, 'ENCR needs its bits');
  assert.equal(parseTlsRequirement('OK'), null);
  assert.equal(mayTryTls('NO'), false);
  assert.equal(mayTryTls(' no '), false);
  assert.equal(mayTryTls('YES'), true);
  assert.equal(mayTryTls(undefined), true);
});

test('tls_server: the connection against the requirement, in sendmail 8.17\'s words', () => {
  const verify = parseTlsRequirement('VERIFY');
  const encr = parseTlsRequirement('ENCR:128');
  assert.equal(tlsRefusal(verify, { verify: 'NONE', bits: 0 }, 'mx.t'), '454 4.7.0 other side does not support STARTTLS');
  assert.equal(tlsRefusal(verify, { verify: 'FAIL', bits: 256 }, 'mx.t'), '454 4.7.0 authentication failed');
  assert.equal(tlsRefusal(verify, { verify: 'OK', bits: 256 }, 'mx.t'), null);
  assert.equal(tlsRefusal(encr, { verify: 'FAIL', bits: 256 }, 'mx.t'), null, 'ENCR asks for encryption, not verification');
  assert.equal(tlsRefusal(encr, { verify: 'NONE', bits: 0 }, 'mx.t'), '454 4.7.0 encryption too weak 0 less than 128');
  assert.equal(tlsRefusal(parseTlsRequirement('VERIFY:512'), { verify: 'OK', bits: 256 }, 'mx.t'), '454 4.7.0 encryption too weak 256 less than 512');
  assert.equal(tlsRefusal(parseTlsRequirement('PERM+VERIFY'), { verify: 'NONE', bits: 0 }, 'mx.t'), '503 5.7.0 other side does not support STARTTLS');
  assert.equal(tlsRefusal(parseTlsRequirement('TEMP+VERIFY'), { verify: 'FAIL', bits: 0 }, 'mx.t'), '403 4.7.0 authentication failed');
  assert.equal(tlsRefusal(parseTlsRequirement('VERIFY+CN'), { verify: 'OK', bits: 256, cnSubject: 'MX.T' }, 'mx.t'), null);
  assert.equal(tlsRefusal(parseTlsRequirement('VERIFY+CN'), { verify: 'OK', bits: 256, cnSubject: 'other.t' }, 'mx.t'), '454 4.7.0 CN other.t does not match mx.t');
  assert.equal(tlsRefusal(null, { verify: 'NONE', bits: 0 }, 'mx.t'), null, 'no requirement: clear text is fine');
  assert.equal(tlsRefusal(null, { verify: 'SOFTWARE', bits: 0 }, 'mx.t'), '454 4.7.0 TLS handshake failed.', 'a failed handshake fails regardless');
  assert.equal(tlsRefusal(parseTlsRequirement('VERIFY+CS:x'), { verify: 'OK', bits: 256 }, 'mx.t'), '454 4.7.0 requirement CS:x not supported', 'unchecked requirements fail closed');
});

test('AuthInfo values: U, I, P, R, M, base64 with =, the missing id copied from the other', () => {
  assert.deepEqual(parseAuthInfo('"U:alice" "I:alice@ex.net" "P:se cret" "R:ex.net" "M:plain login"'), {
    user: 'alice',
    authid: 'alice@ex.net',
    password: 'se cret',
    realm: 'ex.net',
    mechanisms: ['PLAIN', 'LOGIN'],
  });
  assert.deepEqual(parseAuthInfo('"U:bob" "P=c2VjcmV0"'), { user: 'bob', authid: 'bob', password: 'secret' });
  assert.deepEqual(parseAuthInfo('"I:carol" "P:x"'), { user: 'carol', authid: 'carol', password: 'x' });
  assert.deepEqual(parseAuthInfo('"U:dave" "P:x" trailing words "M:CRAM-MD5"'), { user: 'dave', authid: 'dave', password: 'x' }, 'items stop at the first unquoted word');
  assert.equal(parseAuthInfo('"U:alice"'), null, 'no password');
  assert.equal(parseAuthInfo('"P:secret"'), null, 'no id');
  assert.equal(parseAuthInfo('"X:what" "U:a" "P:b"'), null, 'unknown tag');
  assert.equal(parseAuthInfo('"U:a" "P=not base64!"'), null);
});

test('look-ups about a server: access map by name, parents, address, prefixes, then the bare tag; authinfo map exactly', () => {
  const access = table({
    'tls_srv:example.net': 'VERIFY',
    'tls_srv:192.0.2': 'ENCR:128',
    'tls_srv:': 'ENCR:40',
    'tls_srv:skip.example.org': 'SKIP',
    'try_tls:[192.0.2.9]': 'NO',
  });
  assert.equal(accessLookup(access, 'TLS_Srv', { name: 'mx.example.net', address: '198.51.100.1' }), 'VERIFY');
  assert.equal(accessLookup(access, 'TLS_Srv', { name: 'mx.other.test', address: '192.0.2.7' }), 'ENCR:128');
  assert.equal(accessLookup(access, 'TLS_Srv', { name: 'mx.other.test', address: '198.51.100.1' }), 'ENCR:40');
  assert.equal(accessLookup(access, 'TLS_Srv', { name: 'skip.example.org', address: '192.0.2.7' }), 'ENCR:128', 'SKIP ends the name search only');
  assert.equal(accessLookup(access, 'Try_TLS', { name: '[192.0.2.9]', address: '192.0.2.9' }), 'NO');
  assert.equal(accessLookup(table({ 'example.net': 'OK' }), 'TLS_Srv', { name: 'example.net', address: '192.0.2.1' }), undefined, 'untagged keys are not for these tags');
  const authinfo = table({ 'authinfo:smtp.example.net': '"U:a" "P:1"', 'authinfo:192.0.2.7': '"U:b" "P:2"', 'authinfo:': '"U:c" "P:3"' });
  assert.equal(exactLookup(authinfo, 'AuthInfo', { name: 'smtp.example.net', address: '192.0.2.7' }), '"U:a" "P:1"');
  assert.equal(exactLookup(authinfo, 'AuthInfo', { name: 'mx.example.net', address: '192.0.2.7' }), '"U:b" "P:2"', 'no parent domains in the authinfo map');
  assert.equal(exactLookup(authinfo, 'AuthInfo', { name: 'mx.example.net', address: '192.0.2.8' }), '"U:c" "P:3"');
  assert.equal(exactLookup(table({ 'authinfo:ipv6:2001:db8::1': '"U:v6" "P:6"' }), 'AuthInfo', { name: 'x.test', address: '2001:db8::1' }), '"U:v6" "P:6"');
  // without FEATURE(authinfo), the access map's AuthInfo: entries, searched like the other tags
  const viaAccess = serverPolicy({ access: () => table({ 'authinfo:example.net': '"U:acc" "P:4"' }), authinfo: null });
  assert.deepEqual(viaAccess.authInfo({ name: 'smtp.example.net', address: '192.0.2.7' }), { found: true, info: { user: 'acc', authid: 'acc', password: '4' } });
  const withMap = serverPolicy({ access: () => table({ 'authinfo:example.net': '"U:acc" "P:4"' }), authinfo: () => table({}) });
  assert.deepEqual(withMap.authInfo({ name: 'smtp.example.net', address: '192.0.2.7' }), { found: false }, 'with an authinfo map, the access map is not asked');
});

test('mechanisms: wanted and offered, strongest first; PLAIN and LOGIN withheld in clear text unless allowed', () => {
  assert.deepEqual(chooseMechanisms(['PLAIN', 'LOGIN', 'CRAM-MD5'], ['LOGIN', 'PLAIN', 'CRAM-MD5', 'XOAUTH2'], true, false), { list: ['CRAM-MD5', 'PLAIN', 'LOGIN'], withheld: [] });
  assert.deepEqual(chooseMechanisms(['login'], ['PLAIN', 'LOGIN'], true, false), { list: ['LOGIN'], withheld: [] });
  assert.deepEqual(chooseMechanisms(['PLAIN', 'LOGIN', 'CRAM-MD5'], ['PLAIN', 'LOGIN', 'CRAM-MD5'], false, false), { list: ['CRAM-MD5'], withheld: ['PLAIN', 'LOGIN'] });
  assert.deepEqual(chooseMechanisms(['PLAIN'], ['PLAIN'], false, true), { list: ['PLAIN'], withheld: [] }, 'Try_TLS:host NO allows clear text');
  assert.deepEqual(chooseMechanisms(['DIGEST-MD5'], ['DIGEST-MD5'], true, false), { list: [], withheld: [] });
});

/** A server script: each expected line and the reply it gets. */
function scripted(steps: [string, string][]) {
  const sent: string[] = [];
  const send = async (line: string): Promise<ServerReply | 'broken'> => {
    sent.push(line);
    const step = steps.shift();
    if (step === undefined) return 'broken';
    assert.equal(line, step[0]);
    const [code, ...rest] = step[1].split(' ');
    return { code: Number(code), text: rest.join(' '), line: step[1] };
  };
  return { send, sent };
}

test('the AUTH dialogues: PLAIN with U and I, LOGIN with I, CRAM-MD5 (RFC 2195\'s example); refusals and retries', async () => {
  const info = { user: 'bob', authid: 'bobid', password: 'secret' };
  const plain = scripted([[`AUTH PLAIN ${Buffer.from('bob\0bobid\0secret').toString('base64')}`, '235 2.0.0 OK']]);
  assert.deepEqual(await authenticate(plain.send, info, ['PLAIN']), { kind: 'ok', mechanism: 'PLAIN' });
  const login = scripted([
    ['AUTH LOGIN', '334 VXNlcm5hbWU6'],
    [Buffer.from('bobid').toString('base64'), '334 UGFzc3dvcmQ6'],
    [Buffer.from('secret').toString('base64'), '235 2.0.0 OK'],
  ]);
  assert.deepEqual(await authenticate(login.send, info, ['LOGIN']), { kind: 'ok', mechanism: 'LOGIN' });
  const challenge = Buffer.from('<1896.697170952@postoffice.reston.mci.net>').toString('base64');
  const cram = scripted([
    ['AUTH CRAM-MD5', `334 ${challenge}`],
    [Buffer.from('tim b913a602c7eda7a495b4e6e7334d3890').toString('base64'), '235 2.7.0 Authentication successful'],
  ]);
  assert.deepEqual(await authenticate(cram.send, { user: 'tim', authid: 'tim', password: 'tanstaaftanstaaf' }, ['CRAM-MD5']), { kind: 'ok', mechanism: 'CRAM-MD5' });
  // refused by CRAM-MD5, taken with PLAIN
  const bobDigest = Buffer.from('bobid 733ba87e64ed7e441f062c4ac6db0103').toString('base64');
  const retry = scripted([
    ['AUTH CRAM-MD5', `334 ${challenge}`],
    [bobDigest, '535 5.7.8 no'],
    [`AUTH PLAIN ${Buffer.from('bob\0bobid\0secret').toString('base64')}`, '235 2.0.0 OK'],
  ]);
  assert.deepEqual(await authenticate(retry.send, info, ['CRAM-MD5', 'PLAIN']), { kind: 'ok', mechanism: 'PLAIN' });
  const refusedAll = scripted([[`AUTH PLAIN ${Buffer.from('bob\0bobid\0secret').toString('base64')}`, '535 5.7.8 Authentication credentials invalid']]);
  assert.deepEqual(await authenticate(refusedAll.send, info, ['PLAIN']), { kind: 'refused', reply: '535 5.7.8 Authentication credentials invalid' });
  const temp = scripted([
    [`AUTH PLAIN ${Buffer.from('bob\0bobid\0secret').toString('base64')}`, '535 5.7.8 no'],
    ['AUTH LOGIN', '454 4.7.0 Temporary authentication failure'],
  ]);
  assert.deepEqual(await authenticate(temp.send, info, ['PLAIN', 'LOGIN']), { kind: 'tempfail', reply: '454 4.7.0 Temporary authentication failure' }, 'the last mechanism\'s reply decides');
  const gone = scripted([]);
  assert.deepEqual(await authenticate(gone.send, info, ['PLAIN']), { kind: 'broken' });
});

test('a mailer\'s port from its A= (A=TCP $h 587), as RELAY_MAILER_ARGS sets it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-ports-'));
  try {
    const cf = readFileSync(join(repoRoot, 'conf/sendmail.cf'), 'utf8').replace(/(Mrelay,[^\n]*\n(?:\t[^\n]*\n)*?\tA=TCP \$h)\n/, '$1 587\n');
    assert.ok(cf.includes('A=TCP $h 587'), 'the relay mailer was changed');
    writeFileSync(join(dir, 'sendmail.cf'), cf);
    const ports = mailerPorts(loadConfig(join(dir, 'sendmail.cf')).config);
    assert.deepEqual([...ports], [['relay', 587]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sendmail.cf\'s Kauthinfo map: looked up exactly, and a warning when everyone may read it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-authinfo-'));
  try {
    const map = join(dir, 'authinfo');
    buildMap(map, { type: 'hash', mode: 0o644 }, (w) => w.put('authinfo:smtp.example.net', '"U:a" "P:1"', 'replace'));
    const cf = readFileSync(join(repoRoot, 'conf/sendmail.cf'), 'utf8').replace(/^(Kaccess .*)$/m, `$1\nKauthinfo hash -o ${map}`);
    writeFileSync(join(dir, 'sendmail.cf'), cf);
    const config = loadConfig(join(dir, 'sendmail.cf')).config;
    const problems: string[] = [];
    const policy = serverPolicyFromConfig(config, (p) => problems.push(p));
    assert.deepEqual(policy?.authInfo({ name: 'smtp.example.net', address: '192.0.2.7' }), { found: true, info: { user: 'a', authid: 'a', password: '1' } });
    assert.deepEqual(problems, [`authinfo map ${map}.db is readable by everyone, and it holds passwords: make it mode 0640, group RunAsUser's`]);
    chmodSync(`${map}.db`, 0o640);
    problems.length = 0;
    serverPolicyFromConfig(config, (p) => problems.push(p));
    assert.deepEqual(problems, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
