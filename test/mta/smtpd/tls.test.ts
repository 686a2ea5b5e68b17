/**
 * STARTTLS on the SMTP engine, against openssl s_client and a Node TLS
 * client: sendmail's replies, the session starting over after the
 * handshake, what the Received: header and the log say, and the install
 * step's self-signed pair.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test, { after, before } from 'node:test';
import { ERR, isPosternError } from '../../../src/common/errors.js';
import { cipherBits, xtextify } from '../../../src/mta/tls/server-tls.js';
import { ensureSelfSignedCertificate } from '../../../src/mta/tls/self-signed.js';
import { findProgram, startSmtpd } from './harness.js';
import { LineClient, tlsFiles, withTls, type TlsFiles } from './tls-fixtures.js';

let files: TlsFiles;
before(async () => {
  files = await tlsFiles();
});
after(() => files.cleanup());

test('ensureSelfSignedCertificate: a pair for the host name, the key 0600, an existing pair left alone', () => {
  const dir = join(files.dir, 'install');
  const cert = join(dir, 'etc/mail/tls/postern.crt');
  const key = join(dir, 'etc/mail/tls/postern.key');
  assert.equal(ensureSelfSignedCertificate(cert, key, 'mail.example.org'), true);
  assert.equal(statSync(key).mode & 0o777, 0o600);
  const x = new X509Certificate(readFileSync(cert));
  assert.equal(x.subject, 'CN=mail.example.org');
  assert.equal(x.issuer, 'CN=mail.example.org');
  assert.match(x.subjectAltName ?? '', /DNS:mail\.example\.org/);
  assert.ok(x.checkPrivateKey(createPrivateKey(readFileSync(key))));
  const before = readFileSync(key, 'utf8');
  assert.equal(ensureSelfSignedCertificate(cert, key, 'other.example.org'), false);
  assert.equal(readFileSync(key, 'utf8'), before, 'the key is not replaced');
  const lone = join(dir, 'lone');
  mkdirSync(lone);
  writeFileSync(join(lone, 'k.key'), 'x', { mode: 0o600 });
  assert.throws(
    () => ensureSelfSignedCertificate(join(lone, 'c.crt'), join(lone, 'k.key'), 'x'),
    (e: unknown) => isPosternError(e, ERR.TLS_CONFIG),
  );
});

test('EHLO offers STARTTLS (not AUTH, AuthOptions=p) before TLS; after it, AUTH and no STARTTLS; the session starts over', async () => {
  const h = await startSmtpd({ configure: withTls(files), deps: { authFile: files.auth } });
  const c = await LineClient.connect(h.port);
  try {
    await c.reply();
    const ehlo = await c.lines('EHLO client.example.test');
    assert.ok(ehlo.includes('250-STARTTLS'), ehlo.join('\n'));
    assert.ok(!ehlo.some((l) => l.includes('AUTH')), ehlo.join('\n'));
    assert.equal(await c.command('AUTH PLAIN'), '503 5.3.3 AUTH not available');
    assert.equal(await c.startTls(), '220 2.0.0 Ready to start TLS');
    assert.equal(c.tls?.getProtocol(), 'TLSv1.3');
    // RFC 3207: what was said before is forgotten; needmailhelo shows it
    h.config.options.PrivacyOptions.add('needmailhelo');
    assert.equal(await c.command('MAIL FROM:<alice@client.example.test>'), '503 5.0.0 Polite people say HELO first');
    const again = await c.lines('EHLO client.example.test');
    assert.ok(!again.some((l) => l.includes('STARTTLS')), again.join('\n'));
    assert.ok(again.includes('250-AUTH LOGIN PLAIN'), again.join('\n'));
    assert.equal(await c.command('STARTTLS'), '454 4.3.3 TLS not available after start');
    assert.ok(
      h.sink.messages().includes('STARTTLS=server, relay=client.example.test [127.0.0.1], version=TLSv1.3, verify=NO, cipher=TLS_AES_256_GCM_SHA384, bits=256/256'),
      h.sink.messages().join('\n'),
    );
  } finally {
    c.end();
    await h.stop();
  }
});

/** Runs openssl s_client, feeding it one line at a time once the handshake has had time (a pipelined EHLO is refused, as sendmail refuses it). */
function sClient(port: number, lines: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${port}`, '-crlf', '-quiet', '-name', 'client.example.test'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('latin1').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('latin1').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', () => resolve({ stdout, stderr }));
    lines.forEach((l, i) => setTimeout(() => (i === lines.length - 1 ? child.stdin.end(`${l}\n`) : child.stdin.write(`${l}\n`)), 600 + i * 400));
  });
}

test('openssl s_client -starttls smtp: the handshake, then EHLO without STARTTLS and with AUTH', { skip: findProgram('openssl') === undefined ? 'no openssl' : false }, async () => {
  const h = await startSmtpd({ configure: withTls(files), deps: { authFile: files.auth } });
  try {
    const r = await sClient(h.port, ['EHLO client.example.test', 'QUIT']);
    assert.match(r.stderr, /depth=0 CN ?= ?mx\.example\.test/, r.stderr);
    // -quiet: stdout is what the server said after the handshake
    const lines = r.stdout.split('\r\n');
    assert.equal(lines[0], '250-mx.example.test Hello client.example.test [127.0.0.1], pleased to meet you', r.stdout);
    assert.ok(lines.includes('250-AUTH LOGIN PLAIN'), r.stdout);
    assert.ok(!lines.some((l) => l.includes('STARTTLS')), r.stdout);
    assert.ok(lines.includes('221 2.0.0 mx.example.test closing connection'), r.stdout);
    assert.ok(h.sink.messages().some((m) => m.startsWith('STARTTLS=server, relay=client.example.test [127.0.0.1], version=TLSv1.3, verify=NO, cipher=')), h.sink.messages().join('\n'));
  } finally {
    await h.stop();
  }
});

test('a message over TLS: Received says ESMTPS and the TLS parameters as sendmail writes them', async () => {
  const h = await startSmtpd({ configure: withTls(files), deps: { authFile: files.auth } });
  const c = await LineClient.connect(h.port);
  try {
    await c.reply();
    await c.lines('EHLO client.example.test');
    await c.startTls();
    await c.lines('EHLO client.example.test');
    assert.match(await c.command('MAIL FROM:<carol@client.example.test>'), /^250 /);
    assert.match(await c.command('RCPT TO:<bob@mx.example.test>'), /^250 /);
    assert.match(await c.command('DATA'), /^354 /);
    assert.match(await c.command('Subject: over TLS\r\n\r\nhello\r\n.'), /^250 2\.0\.0 \S+ Message accepted for delivery$/);
    const [m] = await h.stored();
    assert.ok(m !== undefined);
    assert.match(m.text, /^Received: from client\.example\.test \(client\.example\.test \[127\.0\.0\.1\]\)\n\tby mx\.example\.test \([^)]*\) with ESMTPS id \S+\n\t\(version=TLSv1\.3 cipher=TLS_AES_256_GCM_SHA384 bits=256 verify=NO\)\n\tfor <bob@mx\.example\.test>; /);
    assert.equal(m.envelope.protocol, 'ESMTPS');
  } finally {
    c.end();
    await h.stop();
  }
});

test('a client certificate no CA vouches for: verify=FAIL in the STARTTLS log line and in Received', async () => {
  const h = await startSmtpd({ configure: withTls(files), deps: { authFile: files.auth } });
  const c = await LineClient.connect(h.port);
  try {
    await c.reply();
    await c.lines('EHLO client.example.test');
    await c.startTls({ cert: readFileSync(files.cert), key: readFileSync(files.key) });
    await c.lines('EHLO client.example.test');
    assert.match(await c.command('MAIL FROM:<carol@client.example.test>'), /^250 /);
    assert.match(await c.command('RCPT TO:<bob@mx.example.test>'), /^250 /);
    assert.match(await c.command('DATA'), /^354 /);
    assert.match(await c.command('Subject: signed\r\n\r\nhello\r\n.'), /^250 /);
    const [m] = await h.stored();
    assert.match(m!.text, /\(version=TLSv1\.3 cipher=\S+ bits=\d+ verify=FAIL\)/);
    assert.ok(h.sink.messages().some((l) => /^STARTTLS=server, relay=client\.example\.test \[127\.0\.0\.1\], version=TLSv1\.3, verify=FAIL, /.test(l)), h.sink.messages().join('\n'));
  } finally {
    c.end();
    await h.stop();
  }
});

test('text sent in clear after STARTTLS is dropped, not taken as said under TLS', async () => {
  const h = await startSmtpd({ configure: withTls(files), deps: { authFile: files.auth } });
  const c = await LineClient.connect(h.port);
  try {
    await c.reply();
    await c.lines('EHLO client.example.test');
    // the injection of CVE-2011-0411: a command behind STARTTLS in the same packet
    c.write('STARTTLS\r\nMAIL FROM:<mallory@evil.example>\r\n');
    assert.equal((await c.reply())[0], '220 2.0.0 Ready to start TLS');
    const plainSocket = (c as unknown as { socket: import('node:net').Socket }).socket;
    plainSocket.removeAllListeners('data');
    const { connect } = await import('node:tls');
    const secure = await new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
      const t = connect({ socket: plainSocket, rejectUnauthorized: false }, () => resolve(t));
      t.once('error', reject);
    });
    let got = '';
    secure.setEncoding('latin1').on('data', (d: string) => (got += d));
    secure.write('RSET\r\n');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(got, '250 2.0.0 Reset state\r\n', 'the only reply is RSET\'s: the injected MAIL was never answered');
    secure.destroy();
  } finally {
    c.end();
    await h.stop();
  }
});

test('STARTTLS refused: no certificate (454), M=S (503), arguments (501), in a transaction (503)', async () => {
  const none = await startSmtpd({ configure: (cf) => ((cf.options.ServerCertFile = null), (cf.options.ServerKeyFile = null)) });
  const c1 = await LineClient.connect(none.port);
  try {
    await c1.reply();
    const ehlo = await c1.lines('EHLO client.example.test');
    assert.ok(!ehlo.some((l) => l.includes('STARTTLS')), ehlo.join('\n'));
    assert.equal(await c1.command('STARTTLS'), '454 4.3.3 TLS not available after start');
  } finally {
    c1.end();
    await none.stop();
  }
  const noTls = await startSmtpd({ configure: withTls(files, (cf) => cf.options.DaemonPortOptions.find((d) => d.Name === 'MTA')!.Modifiers += 'S') });
  const c2 = await LineClient.connect(noTls.port);
  try {
    await c2.reply();
    const ehlo = await c2.lines('EHLO client.example.test');
    assert.ok(!ehlo.some((l) => l.includes('STARTTLS')), ehlo.join('\n'));
    assert.equal(await c2.command('STARTTLS'), '503 5.5.0 TLS not available');
  } finally {
    c2.end();
    await noTls.stop();
  }
  const h = await startSmtpd({ configure: withTls(files) });
  const c3 = await LineClient.connect(h.port);
  try {
    await c3.reply();
    await c3.lines('EHLO client.example.test');
    assert.equal(await c3.command('STARTTLS now'), '501 5.5.2 Syntax error (no parameters allowed)');
    assert.match(await c3.command('MAIL FROM:<carol@client.example.test>'), /^250 /);
    assert.equal(await c3.command('STARTTLS'), '503 5.5.0 TLS not permitted during a mail transaction');
  } finally {
    c3.end();
    await h.stop();
  }
});

test('a key others can read is refused: no STARTTLS, and the log says why', async () => {
  const key = join(files.dir, 'open.key');
  writeFileSync(key, readFileSync(files.key));
  chmodSync(key, 0o644);
  const h = await startSmtpd({ configure: withTls(files, (cf) => (cf.options.ServerKeyFile = key)) });
  const c = await LineClient.connect(h.port);
  try {
    await c.reply();
    const ehlo = await c.lines('EHLO client.example.test');
    assert.ok(!ehlo.some((l) => l.includes('STARTTLS')), ehlo.join('\n'));
    assert.equal(await c.command('STARTTLS'), '454 4.3.3 TLS not available after start');
    assert.ok(h.sink.messages().some((m) => m.startsWith(`STARTTLS=server: file ${key} unsafe: key readable by group or others`)), h.sink.messages().join('\n'));
  } finally {
    c.end();
    await h.stop();
  }
});

test('a client that breaks the handshake loses the connection; the failure is logged', async () => {
  const h = await startSmtpd({ configure: withTls(files) });
  const c = await LineClient.connect(h.port);
  try {
    await c.reply();
    await c.lines('EHLO client.example.test');
    assert.equal(await c.command('STARTTLS'), '220 2.0.0 Ready to start TLS');
    c.write('this is not a TLS ClientHello\r\n');
    assert.ok(await c.closedByServer(), 'the server hangs up');
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(h.sink.messages().some((m) => /^STARTTLS=server, error: accept failed=-1, reason=.+, relay=client\.example\.test \[127\.0\.0\.1\]$/.test(m)), h.sink.messages().join('\n'));
  } finally {
    c.end();
    await h.stop();
  }
});

test('the handshake\'s macros: {cert_subject}, {cert_issuer}, {cn_subject} of a client certificate, {verify} OK when CACertFile vouches for it', async () => {
  const { createServer, connect } = await import('node:tls');
  const { tlsSessionInfo } = await import('../../../src/mta/tls/server-tls.js');
  const cert = readFileSync(files.cert);
  const key = readFileSync(files.key);
  for (const [ca, verify] of [[undefined, 'FAIL'], [[cert], 'OK']] as const) {
    let info: ReturnType<typeof tlsSessionInfo> | undefined;
    const server = createServer({ cert, key, requestCert: true, rejectUnauthorized: false, ...(ca !== undefined ? { ca: [...ca] } : {}) }, (sock) => {
      info = tlsSessionInfo(sock, true);
      sock.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as import('node:net').AddressInfo).port;
    await new Promise<void>((resolve, reject) => {
      const c = connect({ port, host: '127.0.0.1', cert, key, rejectUnauthorized: false }, () => undefined);
      c.on('error', reject);
      c.on('close', () => resolve());
      c.resume();
    });
    server.close();
    assert.equal(info?.macros.get('cert_subject'), '/CN=mx.example.test');
    assert.equal(info?.macros.get('cert_issuer'), '/CN=mx.example.test');
    assert.equal(info?.macros.get('cn_subject'), 'mx.example.test');
    assert.equal(info?.macros.get('verify'), verify);
  }
});

test('cipher strength from OpenSSL names; xtextify as sendmail encodes certificate names', () => {
  assert.deepEqual(cipherBits('TLS_AES_256_GCM_SHA384'), [256, 256]);
  assert.deepEqual(cipherBits('TLS_AES_128_GCM_SHA256'), [128, 128]);
  assert.deepEqual(cipherBits('TLS_CHACHA20_POLY1305_SHA256'), [256, 256]);
  assert.deepEqual(cipherBits('ECDHE-RSA-AES256-GCM-SHA384'), [256, 256]);
  assert.deepEqual(cipherBits('ECDHE-RSA-AES128-SHA'), [128, 128]);
  assert.deepEqual(cipherBits('DES-CBC3-SHA'), [112, 168]);
  assert.equal(xtextify('/O=Example Org/CN=a+b', '<>")'), '/O=Example+20Org/CN=a+2Bb');
});
