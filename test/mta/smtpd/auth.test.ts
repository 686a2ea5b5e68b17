/**
 * SMTP AUTH (PLAIN, LOGIN) on the SMTP engine: only under TLS with
 * AuthOptions=p, against the scrypt credential file; sendmail's replies and
 * log lines; authenticated clients relay; the MSA with M=Ea requires it.
 * Real clients: Python's smtplib and swaks.
 */
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import test, { after, before } from 'node:test';
import { PYTHON, findProgram, run, startSmtpd } from './harness.js';
import { b64, LineClient, PASSWORD, plain, tlsFiles, USER, withTls, type TlsFiles } from './tls-fixtures.js';

let files: TlsFiles;
before(async () => {
  files = await tlsFiles();
});
after(() => files.cleanup());

function outsideAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
const outside = outsideAddress();

/** A session over TLS after EHLO, ready for AUTH. */
async function tlsSession(port: number, host = '127.0.0.1', from?: string): Promise<LineClient> {
  const c = await LineClient.connect(port, host, from);
  await c.reply();
  await c.lines('EHLO client.example.test');
  assert.equal(await c.startTls(), '220 2.0.0 Ready to start TLS');
  await c.lines('EHLO client.example.test');
  return c;
}

const SMTPLIB = `
import json, smtplib, ssl, sys
port, host, mech, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP(host, port, local_hostname='client.example.test', source_address=(host, 0))
out = {}
s.ehlo()
out['auth_before_tls'] = s.has_extn('auth')
out['relay_before_auth'] = s.mail('alice@client.example.test')[0], s.rcpt('someone@remote.example')[0]
s.rset()
s.starttls(context=ctx)
s.ehlo()
out['auth_after_tls'] = s.esmtp_features.get('auth', '').strip()
s.user, s.password = 'alice', password
try:
    r = s.auth(mech, s.auth_plain if mech == 'PLAIN' else s.auth_login)
    out['auth'] = [r[0], r[1].decode()]
    out['refused'] = s.sendmail('alice@client.example.test', ['someone@remote.example'], 'Subject: relayed\\r\\n\\r\\nhi\\r\\n')
except smtplib.SMTPAuthenticationError as e:
    out['auth'] = [e.smtp_code, e.smtp_error.decode()]
s.quit()
print(json.dumps(out))
`;

for (const mech of ['PLAIN', 'LOGIN']) {
  test(`Python smtplib: starttls(), AUTH ${mech}, then a message relayed from a client off loopback`, { skip: outside === undefined ? 'this host has no non-loopback IPv4 address' : false }, async () => {
    const h = await startSmtpd({ host: outside!, configure: withTls(files), deps: { authFile: files.auth } });
    try {
      const r = await run(PYTHON, ['-c', SMTPLIB, String(h.port), outside!, mech, PASSWORD]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(out['auth_before_tls'], false);
      assert.deepEqual(out['relay_before_auth'], [250, 550]);
      assert.equal(out['auth_after_tls'], 'LOGIN PLAIN');
      assert.deepEqual(out['auth'], [235, '2.0.0 OK Authenticated']);
      assert.deepEqual(out['refused'], {});
      const [m] = await h.stored();
      assert.deepEqual(m?.envelope.recipients.map((x) => x.address), ['someone@remote.example']);
      assert.match(m!.text, new RegExp(`^Received: from client\\.example\\.test \\(client\\.example\\.test \\[${outside!.replace(/\./g, '\\.')}\\]\\)\n\t\\(authenticated bits=0\\)\n\tby mx\\.example\\.test \\([^)]*\\) with ESMTPSA id `));
      assert.ok(h.sink.messages().includes(`AUTH=server, relay=client.example.test [${outside}], authid=alice, mech=${mech}, bits=0`), h.sink.messages().join('\n'));
      assert.ok(h.sink.messages().some((l) => l.includes('ruleset=check_rcpt, arg1=<someone@remote.example>') && l.endsWith('Relaying denied')));
    } finally {
      await h.stop();
    }
  });
}

test('smtplib with a wrong password: 535 5.7.0 authentication failed, nothing relayed', { skip: outside === undefined ? 'this host has no non-loopback IPv4 address' : false }, async () => {
  const h = await startSmtpd({ host: outside!, configure: withTls(files), deps: { authFile: files.auth } });
  try {
    const r = await run(PYTHON, ['-c', SMTPLIB, String(h.port), outside!, 'PLAIN', 'wrong horse']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(out['auth'], [535, '5.7.0 authentication failed']);
    assert.equal((await h.stored()).length, 0);
  } finally {
    await h.stop();
  }
});

/** Why swaks cannot do this test here: absent, or without TLS (Debian's libnet-ssleay-perl). */
async function swaksSkip(): Promise<string | false> {
  if (findProgram('swaks') === undefined) return 'no swaks';
  const r = await run('swaks', ['--support']);
  return /TLS supported/.test(r.stdout + r.stderr) ? false : 'swaks has no TLS here (needs libnet-ssleay-perl)';
}
const swaksReason = await swaksSkip();

for (const mech of ['PLAIN', 'LOGIN']) {
  test(`swaks --tls --auth ${mech}: accepted, and Received notes the authentication`, { skip: swaksReason }, async () => {
    const h = await startSmtpd({ configure: withTls(files), deps: { authFile: files.auth } });
    try {
      const args = ['--server', `127.0.0.1:${h.port}`, '--tls', '--auth', mech, '--auth-user', USER, '--auth-password', PASSWORD];
      const r = await run('swaks', [...args, '--helo', 'client.example.test', '--from', 'alice@client.example.test', '--to', 'bob@mx.example.test', '--body', 'via swaks']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /<~ {2}235 2\.0\.0 OK Authenticated/);
      const [m] = await h.stored();
      assert.match(m!.text, /\n\t\(authenticated bits=0\)\n\tby mx\.example\.test \([^)]*\) with ESMTPSA id \S+\n\t\(version=TLSv1\.3 cipher=\S+ bits=\d+ verify=NO\)\n\tfor <bob@mx\.example\.test>;/);
      const bad = await run('swaks', ['--server', `127.0.0.1:${h.port}`, '--tls', '--auth', mech, '--auth-user', USER, '--auth-password', 'nope', '--helo', 'client.example.test', '--to', 'bob@mx.example.test']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stdout, /<~\* 535 5\.7\.0 authentication failed/);
    } finally {
      await h.stop();
    }
  });
}

test('AUTH is neither offered nor taken before STARTTLS (AuthOptions=p)', async () => {
  const h = await startSmtpd({ configure: withTls(files), deps: { authFile: files.auth } });
  const c = await LineClient.connect(h.port);
  try {
    await c.reply();
    const ehlo = await c.lines('EHLO client.example.test');
    assert.ok(!ehlo.some((l) => l.startsWith('250-AUTH')), ehlo.join('\n'));
    assert.equal(await c.command(`AUTH PLAIN ${plain(USER, PASSWORD)}`), '503 5.3.3 AUTH not available');
  } finally {
    c.end();
    await h.stop();
  }
});

test('without AuthOptions=p AUTH is offered in clear, as sendmail does; never without PLAIN/LOGIN in AuthMechanisms or a credential file', async () => {
  const clear = await startSmtpd({ configure: withTls(files, (cf) => cf.options.AuthOptions.delete('p')), deps: { authFile: files.auth } });
  const c1 = await LineClient.connect(clear.port);
  try {
    await c1.reply();
    assert.ok((await c1.lines('EHLO client.example.test')).includes('250-AUTH LOGIN PLAIN'));
    assert.equal(await c1.command(`AUTH PLAIN ${plain(USER, PASSWORD)}`), '235 2.0.0 OK Authenticated');
  } finally {
    c1.end();
    await clear.stop();
  }
  const sendmailDefault = await startSmtpd({ configure: withTls(files, (cf) => (cf.options.AuthMechanisms = ['EXTERNAL', 'GSSAPI', 'KERBEROS_V4', 'DIGEST-MD5', 'CRAM-MD5'])), deps: { authFile: files.auth } });
  const c2 = await tlsSession(sendmailDefault.port);
  try {
    assert.equal(await c2.command(`AUTH PLAIN ${plain(USER, PASSWORD)}`), '503 5.3.3 AUTH not available');
  } finally {
    c2.end();
    await sendmailDefault.stop();
  }
  const noFile = await startSmtpd({ configure: withTls(files), deps: { authFile: `${files.dir}/missing` } });
  const c3 = await tlsSession(noFile.port);
  try {
    assert.equal(await c3.command('AUTH LOGIN'), '503 5.3.3 AUTH not available');
  } finally {
    c3.end();
    await noFile.stop();
  }
});

test('the dialogue: LOGIN challenges, PLAIN without initial response, aborts, bad base64, unknown mechanisms, a second AUTH', async () => {
  const h = await startSmtpd({ configure: withTls(files), deps: { authFile: files.auth } });
  const c = await tlsSession(h.port);
  try {
    assert.equal(await c.command('AUTH'), '501 5.5.2 AUTH mechanism must be specified');
    assert.equal(await c.command('AUTH CRAM-MD5'), '504 5.3.3 AUTH mechanism CRAM-MD5 not available');
    assert.equal(await c.command('AUTH PLAIN !!!!'), "501 5.5.4 cannot BASE64 decode '!!!!'");
    assert.equal(await c.command('AUTH LOGIN'), '334 VXNlcm5hbWU6');
    assert.equal(await c.command('*'), '501 5.0.0 AUTH aborted');
    assert.equal(await c.command('AUTH PLAIN'), '334 ');
    assert.equal(await c.command('%%%'), '501 5.5.4 cannot decode AUTH parameter %%%');
    assert.equal(await c.command(`AUTH PLAIN ${plain(USER, PASSWORD, 'root')}`), '535 5.7.0 authentication failed', 'acting as another user is refused');
    assert.equal(await c.command(`AUTH PLAIN ${plain('nobody', PASSWORD)}`), '535 5.7.0 authentication failed');
    assert.equal(await c.command('auth login'), '334 VXNlcm5hbWU6');
    assert.equal(await c.command(b64(USER)), '334 UGFzc3dvcmQ6');
    assert.equal(await c.command(b64(PASSWORD)), '235 2.0.0 OK Authenticated');
    assert.equal(await c.command(`AUTH PLAIN ${plain(USER, PASSWORD)}`), '503 5.5.0 Already Authenticated');
    assert.ok(h.sink.messages().includes(`AUTH=server, relay=client.example.test [127.0.0.1], authid=${USER}, mech=LOGIN, bits=0`), h.sink.messages().join('\n'));
  } finally {
    c.end();
    await h.stop();
  }
  const h2 = await startSmtpd({ configure: withTls(files), deps: { authFile: files.auth } });
  const c2 = await tlsSession(h2.port);
  try {
    assert.match(await c2.command('MAIL FROM:<alice@client.example.test>'), /^250 /);
    assert.equal(await c2.command(`AUTH PLAIN ${plain(USER, PASSWORD)}`), '503 5.5.0 AUTH not permitted during a mail transaction');
    assert.equal(await c2.command('RSET'), '250 2.0.0 Reset state');
    assert.equal(await c2.command('AUTH PLAIN'), '334 ');
    assert.equal(await c2.command(plain(USER, PASSWORD)), '235 2.0.0 OK Authenticated');
  } finally {
    c2.end();
    await h2.stop();
  }
});

test('the MSA with M=Ea: 530 5.7.0 Authentication required until AUTH, no ETRN', async () => {
  const h = await startSmtpd({
    daemon: 'MSA',
    configure: withTls(files, (cf) => (cf.options.DaemonPortOptions.find((d) => d.Name === 'MSA')!.Modifiers = 'Ea')),
    deps: { authFile: files.auth },
  });
  const c = await LineClient.connect(h.port);
  try {
    await c.reply();
    const ehlo = await c.lines('EHLO client.example.test');
    assert.ok(!ehlo.includes('250-ETRN'), ehlo.join('\n'));
    assert.equal(await c.command('MAIL FROM:<alice@client.example.test>'), '530 5.7.0 Authentication required');
    await c.startTls();
    await c.lines('EHLO client.example.test');
    assert.equal(await c.command('MAIL FROM:<alice@client.example.test>'), '530 5.7.0 Authentication required');
    assert.equal(await c.command(`AUTH PLAIN ${plain(USER, PASSWORD)}`), '235 2.0.0 OK Authenticated');
    assert.equal(await c.command('MAIL FROM:<alice@client.example.test>'), '250 2.1.0 <alice@client.example.test>... Sender ok');
  } finally {
    c.end();
    await h.stop();
  }
});
