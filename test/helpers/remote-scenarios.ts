/**
 * The remote delivery scenarios, run inside the test sandbox (see
 * test/delivery/remote-peers.test.ts) where dnsmasq answers for *.test on
 * 127.0.0.1 and Postfix's smtp-sink listens on 127.0.0.12 (8BITMIME) and
 * 127.0.0.13 (no 8BITMIME).  Scripted peers are smtp-server instances of
 * this process.  Prints nothing itself: returns what each scenario saw, as
 * JSON-able data, for the test to judge outside.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import forge from 'node-forge';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { createLogger, MemorySink } from '../../src/common/log.js';
import { buildMap, openMap } from '../../src/maps/index.js';
import { ConnectionCache, deliverRemote, deliveryLogFields, type RemoteOptions, type RemoteRequest, type RemoteResult } from '../../src/delivery/remote/index.js';

const HELO = 'mx.example.test';

/** A self-signed certificate for `name`, made with node-forge (the key with node:crypto, which is faster). */
export function selfSigned(name: string): { key: string; cert: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 86400_000);
  const attrs = [{ name: 'commonName', value: name }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 2, value: name }] }]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  return { key: privateKey, cert: forge.pki.certificateToPem(cert) };
}

export interface Seen {
  connections: number;
  secure: boolean[];
  mailArgs: unknown[];
  rcpts: { address: string; args: unknown }[];
  messages: string[];
}

/** A scripted peer on `host`:25 (or `port`). `rcpt`/`data` may refuse with an SMTP reply. */
export async function peer(
  host: string,
  options: Partial<SMTPServerOptions> & { rcpt?: (address: string) => [number, string] | undefined; data?: (n: number) => [number, string] | undefined; greeting?: [number, string]; port?: number },
): Promise<{ seen: Seen; close: () => Promise<void> }> {
  const seen: Seen = { connections: 0, secure: [], mailArgs: [], rcpts: [], messages: [] };
  const refuse = ([code, text]: [number, string]) => Object.assign(new Error(text), { responseCode: code });
  const server = new SMTPServer({
    logger: false,
    authOptional: true,
    disabledCommands: ['AUTH'],
    hideDSN: false,
    // smtp-server greets with the host name by default, which in the sandbox is ours: a loop
    name: `peer-${host}.test`,
    ...options,
    onConnect(_session, cb) {
      seen.connections++;
      cb(options.greeting ? refuse(options.greeting) : undefined);
    },
    onMailFrom(address, session, cb) {
      seen.mailArgs.push(address.args);
      seen.secure.push(session.secure);
      cb();
    },
    onRcptTo(address, _session, cb) {
      seen.rcpts.push({ address: address.address, args: address.args });
      const r = options.rcpt?.(address.address);
      cb(r ? refuse(r) : undefined);
    },
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        seen.messages.push(Buffer.concat(chunks).toString('latin1'));
        const r = options.data?.(seen.messages.length);
        cb(r ? refuse(r) : null, r ? undefined : 'queued as T3ST');
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 25, host, () => resolve());
  });
  return { seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

export async function waitFor(what: string, ready: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await ready().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} never came up`);
}

export const portOpen = (host: string) => () =>
  new Promise<boolean>((resolve) => {
    const s = connect(25, host, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

export function summary(result: RemoteResult) {
  return {
    mailer: result.mailer,
    tls: result.tls ?? null,
    transcript: result.transcript,
    recipients: result.recipients.map((r) => ({ index: r.index, ...r.status, relay: r.relay ?? null, reply: r.reply ?? null, relayedWithoutDsn: r.relayedWithoutDsn ?? false, acceptedReply: r.acceptedReply ?? null, log: deliveryLogFields(result, r) })),
  };
}

export function request(domain: string, users: string[], body = 'Subject: test\r\n\r\nhello\r\n', extra: Partial<RemoteRequest> = {}): RemoteRequest {
  const data = Buffer.from(body, 'latin1');
  return {
    queueId: 'TESTQID1',
    sender: 'sender@outside.test',
    domain,
    recipients: users.map((u, index) => ({ index, address: `${u}@${domain}` })),
    content: () => Readable.from([data]),
    size: data.length,
    ...extra,
  };
}

/** The messages Postfix's smtp-sink dumped into `dir`, oldest first. */
export function sinkDumps(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((f) => readFileSync(join(dir, f), 'latin1'));
}

export async function runRemoteScenarios(dirs: { sink8: string; sink7: string }): Promise<Record<string, unknown>> {
  const sink = new MemorySink();
  const log = createLogger({ sink, logLevel: 9 });
  const mailertable = '/etc/mail/mailertable';
  buildMap(mailertable, { type: 'hash' }, (w) => {
    w.put('blocked.test', 'error:5.7.1:550 Mail to this domain is not accepted', 'replace');
    w.put('.sub.mt.test', 'esmtp:[127.0.0.12]', 'replace');
  });
  const options: RemoteOptions = {
    heloName: HELO,
    localNames: new Set([HELO, 'localhost']),
    mailertable: openMap(mailertable),
    timeouts: { connect: 5, initial: 10, helo: 10, mail: 10, rcpt: 10, datainit: 10, datablock: 30, datafinal: 30, rset: 10, quit: 5, starttls: 10 },
    eightBitMode: 'pass8',
  };
  const noCache = new ConnectionCache(0, 0);
  const deps = { options, log, cache: noCache };

  const tls = await peer('127.0.0.21', { name: 'mx.tls.test', ...selfSigned('mx.tls.test') });
  const flaky = await peer('127.0.0.22', { data: (n) => (n === 1 ? [451, '4.3.0 Temporary failure, try again'] : undefined) });
  const picky = await peer('127.0.0.23', { rcpt: (a) => (a.startsWith('nobody@') ? [550, `5.1.1 <${a}>... User unknown`] : undefined) });
  const refuser = await peer('127.0.0.24', { greeting: [421, '4.3.2 Too busy, go away'] });
  const mirror = await peer('127.0.0.25', { name: HELO });
  await waitFor('dnsmasq', async () => (await new Resolver().resolveMx('pref.test')).length > 0);
  for (const h of ['127.0.0.12', '127.0.0.13']) await waitFor(`smtp-sink on ${h}`, portOpen(h));

  const out: Record<string, unknown> = {};
  out.mxFallback = summary(await deliverRemote(request('pref.test', ['alice']), deps));
  out.greeting421 = summary(await deliverRemote(request('g421.test', ['alice']), deps));
  out.greeting421Seen = refuser.seen.connections;
  out.tls = summary(await deliverRemote(request('tls.test', ['alice']), deps));
  out.tlsSeen = tls.seen.secure;
  out.flakyFirst = summary(await deliverRemote(request('[127.0.0.22]', ['alice']), deps));
  out.flakySecond = summary(await deliverRemote(request('[127.0.0.22]', ['alice']), deps));
  out.split = summary(
    await deliverRemote(
      {
        ...request('[127.0.0.23]', ['alice', 'nobody']),
        recipients: [
          { index: 0, address: 'alice@[127.0.0.23]', notify: { never: false, success: true, failure: true, delay: false }, orcpt: 'rfc822;alice+2Bx@orig.test' },
          { index: 1, address: 'nobody@[127.0.0.23]', notify: { never: true, success: false, failure: false, delay: false } },
        ],
        envid: 'ENV+2B1',
        ret: 'hdrs',
      },
      deps,
    ),
  );
  out.splitSeen = { rcpts: picky.seen.rcpts, mailArgs: picky.seen.mailArgs };

  // 1 MiB of 8-bit text in a MIME message: to a peer without 8BITMIME (converted) and to one with it (as is)
  const line = 'Ünïcödé text, 8-bit bytes on every line: àéîõü ß €\n';
  const big = 'MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\nSubject: big\n\n' + line.repeat(Math.ceil((1 << 20) / Buffer.byteLength(line)));
  const bigBytes = Buffer.from(big, 'utf8').toString('latin1');
  out.eightBitTo7 = summary(await deliverRemote(request('[127.0.0.13]', ['alice'], bigBytes, { bodyType: '8BITMIME' }), deps));
  out.eightBitTo8 = summary(await deliverRemote(request('[127.0.0.12]', ['carol'], bigBytes, { bodyType: '8BITMIME' }), deps));
  out.bigBody = Buffer.from(big.slice(big.indexOf('\n\n') + 2), 'utf8').toString('base64');

  out.nullMx = summary(await deliverRemote(request('nullmx.test', ['alice']), deps));
  out.hostUnknown = summary(await deliverRemote(request('nosuch.test', ['alice']), deps));
  out.mailertableError = summary(await deliverRemote(request('blocked.test', ['alice']), deps));
  out.mailertableWildcard = summary(await deliverRemote(request('x.sub.mt.test', ['dave']), deps));
  out.literal = summary(await deliverRemote(request('[127.0.0.12]', ['erin']), deps));
  out.mxLoop = summary(await deliverRemote(request('loop.test', ['alice']), deps));
  out.greetsAsUs = summary(await deliverRemote(request('[127.0.0.25]', ['alice']), deps));
  out.greetsAsUsSeen = mirror.seen.connections;

  // one connection for two messages when the cache keeps it
  const cache = new ConnectionCache(2, 60);
  const before = picky.seen.connections;
  const reuse1 = await deliverRemote(request('[127.0.0.23]', ['frank']), { ...deps, cache });
  const reuse2 = await deliverRemote(request('[127.0.0.23]', ['grace']), { ...deps, cache });
  out.reuse = { first: reuse1.recipients[0]!.status.status, second: reuse2.recipients[0]!.status.status, connections: picky.seen.connections - before, idle: cache.idleCount };
  cache.closeAll();

  out.sink8 = sinkDumps(dirs.sink8);
  out.sink7 = sinkDumps(dirs.sink7);
  out.log = sink.messages();
  for (const p of [tls, flaky, picky, refuser, mirror]) await p.close();
  return out;
}
