/**
 * Per-server policy scenarios of remote delivery, run inside the test
 * sandbox (see test/delivery/remote-policy-peers.test.ts): dnsmasq answers
 * for *.test on 127.0.0.1, Postfix's smtp-sink listens on 127.0.0.12
 * (no STARTTLS), and scripted smtp-server peers offer STARTTLS and AUTH in
 * various ways.  The access map (TLS_Srv:, Try_TLS:), the authinfo map and
 * the mailertable are real map files built with the project's makemap code.
 * Returns what each scenario saw; the test judges.
 */
import { Resolver } from 'node:dns/promises';
import type { SMTPServerAuthentication, SMTPServerSession } from 'smtp-server';
import { createLogger, MemorySink } from '../../src/common/log.js';
import { ConnectionCache, deliverRemote, type RemoteOptions } from '../../src/delivery/remote/index.js';
import { serverPolicy } from '../../src/delivery/remote/server-policy.js';
import { buildMap, openMap } from '../../src/maps/index.js';
import { peer, portOpen, request, selfSigned, sinkDumps, summary, waitFor } from './remote-scenarios.js';

const HELO = 'mx.example.test';
const PASSWORD = 'pw-of-relayuser';

interface AuthSeen {
  method: string;
  username: string;
  secure: boolean;
}

/** A peer that wants AUTH (or answers it with `answer`), recording each attempt. */
function authOptions(seen: AuthSeen[], answer?: [number, string]) {
  return {
    authOptional: false,
    disabledCommands: [] as string[],
    authMethods: ['PLAIN', 'LOGIN', 'CRAM-MD5'],
    onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, cb: (err: Error | null | undefined, response?: { user: string }) => void) {
      seen.push({ method: auth.method, username: auth.username ?? '', secure: session.secure });
      if (answer !== undefined) return cb(Object.assign(new Error(answer[1]), { responseCode: answer[0] }));
      const ok = auth.method === 'CRAM-MD5' ? auth.validatePassword(PASSWORD) : auth.password === PASSWORD;
      if (!ok || auth.username !== 'relayuser') return cb(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
      cb(null, { user: auth.username });
    },
  };
}

export async function runPolicyScenarios(dirs: { sink: string }): Promise<Record<string, unknown>> {
  const sink = new MemorySink();
  const log = createLogger({ sink, logLevel: 14 });
  // keys lower-cased, as makemap stores them without -f
  buildMap('/etc/mail/access', { type: 'hash' }, (map) => {
    const w = { put: (k: string, v: string, d: 'replace') => map.put(k.toLowerCase(), v, d) };
    w.put('TLS_Srv:127.0.0.12', 'VERIFY', 'replace');
    w.put('TLS_Srv:mx.unverified.test', 'VERIFY', 'replace');
    w.put('TLS_Srv:mx.auth.test', 'ENCR:128', 'replace');
    w.put('TLS_Srv:mx.verified.test', 'VERIFY+CN', 'replace');
    w.put('TLS_Srv:tlsfb.test', 'ENCR:128', 'replace');
    w.put('TLS_Srv:perm.test', 'PERM+VERIFY', 'replace');
    w.put('Try_TLS:mx.notls.test', 'NO', 'replace');
    w.put('Try_TLS:mx.lan.test', 'NO', 'replace');
  });
  const creds = `"U:relayuser" "P:${PASSWORD}"`;
  buildMap('/etc/mail/authinfo', { type: 'hash' }, (map) => {
    const w = { put: (k: string, v: string, d: 'replace') => map.put(k.toLowerCase(), v, d) };
    w.put('AuthInfo:mx.auth.test', creds, 'replace');
    w.put('AuthInfo:mx.login.test', `${creds} "M:LOGIN"`, 'replace');
    w.put('AuthInfo:mx.bad.test', '"U:relayuser" "P:wrong" "M:PLAIN"', 'replace');
    w.put('AuthInfo:mx.clear.test', `${creds} "M:PLAIN LOGIN"`, 'replace');
    w.put('AuthInfo:mx.lan.test', `${creds} "M:PLAIN LOGIN"`, 'replace');
    w.put('AuthInfo:mx.temp.test', creds, 'replace');
    w.put('AuthInfo:mx.malformed.test', '"U:relayuser"', 'replace');
  });
  buildMap('/etc/mail/mailertable', { type: 'hash' }, (w) => {
    w.put('port.test', 'relay:[127.0.0.45]', 'replace');
  });
  const verifiedCert = selfSigned('mx.verified.test');
  const access = openMap('/etc/mail/access');
  const authinfo = openMap('/etc/mail/authinfo');
  const options: RemoteOptions = {
    heloName: HELO,
    localNames: new Set([HELO, 'localhost']),
    mailertable: openMap('/etc/mail/mailertable'),
    timeouts: { connect: 5, initial: 10, helo: 10, mail: 10, rcpt: 10, datainit: 10, datablock: 30, datafinal: 30, rset: 10, quit: 5, starttls: 10 },
    eightBitMode: 'pass8',
    caCertificates: verifiedCert.cert,
    serverPolicy: serverPolicy({ access: () => access, authinfo: () => authinfo }),
    authMechanisms: ['PLAIN', 'LOGIN', 'CRAM-MD5'],
    mailerPorts: new Map([['relay', 2525]]),
  };
  const deps = { options, log, cache: new ConnectionCache(0, 0) };

  const authSeen: AuthSeen[] = [];
  const clearSeen: AuthSeen[] = [];
  const tempSeen: AuthSeen[] = [];
  // TLS and AUTH, no DSN: also the peer of the "relayed" notices
  const tlsAuth = await peer('127.0.0.41', { ...selfSigned('mx.auth.test'), hideDSN: true, ...authOptions(authSeen) });
  // AUTH in clear text, no STARTTLS at all
  const clearAuth = await peer('127.0.0.42', { ...authOptions(clearSeen), disabledCommands: ['STARTTLS'], allowInsecureAuth: true });
  const tempAuth = await peer('127.0.0.43', { ...selfSigned('mx.temp.test'), ...authOptions(tempSeen, [454, '4.7.0 Temporary authentication failure']) });
  const verified = await peer('127.0.0.44', { ...verifiedCert });
  const ported = await peer('127.0.0.45', { port: 2525 });
  await waitFor('dnsmasq', async () => (await new Resolver().resolveMx('tlsfb.test')).length > 0);
  await waitFor('smtp-sink on 127.0.0.12', portOpen('127.0.0.12'));

  const run = async (domain: string, extra: Parameters<typeof request>[3] = {}) => summary(await deliverRemote(request(domain, ['alice'], 'Subject: policy\r\n\r\nhello\r\n', extra), deps));
  const out: Record<string, unknown> = {};
  out.verifyNone = await run('[127.0.0.12]');
  out.verifyFail = await run('unverified.test');
  out.verifyFailSeen = tlsAuth.seen.mailArgs.length;
  out.verified = await run('verified.test');
  out.verifiedSeen = verified.seen.secure.slice();
  out.tlsFallbackMx = await run('tlsfb.test');
  out.perm = await run('perm.test');
  out.tryTlsNo = await run('notls.test');
  out.tryTlsNoSeen = verified.seen.secure.slice();

  const success = { never: false, success: true, failure: true, delay: false };
  out.authCram = await run('auth.test', { recipients: [{ index: 0, address: 'alice@auth.test', notify: success }] });
  out.authCramSeen = authSeen.splice(0);
  out.authLogin = await run('login.test');
  out.authLoginSeen = authSeen.splice(0);
  out.authBad = await run('bad.test');
  out.authBadSeen = authSeen.splice(0);
  out.authMalformed = await run('malformed.test');
  out.authMalformedSeen = authSeen.splice(0);
  out.clearRefused = await run('clear.test');
  out.clearRefusedSeen = clearSeen.splice(0);
  out.clearAllowed = await run('lan.test');
  out.clearAllowedSeen = clearSeen.splice(0);
  out.authTemp = await run('temp.test');
  out.authTempSeen = tempSeen.splice(0);
  out.authTempNextMx = await run('authfb.test');
  out.authTempNextMxSeen = { temp: tempSeen.splice(0), auth: authSeen.splice(0) };
  out.mailerPort = await run('port.test');
  out.mailerPortSeen = ported.seen.rcpts.map((r) => r.address);

  out.sink = sinkDumps(dirs.sink);
  out.log = sink.messages();
  for (const p of [tlsAuth, clearAuth, tempAuth, verified, ported]) await p.close();
  return out;
}
