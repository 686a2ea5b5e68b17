/**
 * The LMTP delivery scenarios, run inside the test sandbox (see
 * test/delivery/lmtp-peers.test.ts) where Dovecot's LMTP server listens on
 * a Unix socket and on 127.0.0.1, and /etc/mail/sendmail.cf declares the
 * LMTP mailers as an administrator would.  Delivers through the same setup
 * the queue runner makes (lmtpFromConfig) and returns what each scenario
 * saw, as JSON-able data, for the test to judge outside.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { systemIdentity } from '../../src/common/identity.js';
import { createLogger, MemorySink } from '../../src/common/log.js';
import { loadConfig } from '../../src/config/index.js';
import { lmtpFromConfig, type LmtpDestination } from '../../src/delivery/lmtp/index.js';
import { deliveryLogFields, remoteOptionsFromConfig, type RemoteRequest, type RemoteResult } from '../../src/delivery/remote/index.js';
import { route } from '../../src/delivery/route.js';

function summary(result: RemoteResult) {
  return {
    mailer: result.mailer,
    transcript: result.transcript,
    recipients: result.recipients.map((r) => ({ index: r.index, ...r.status, relay: r.relay ?? null, reply: r.reply ?? null, log: deliveryLogFields(result, r) })),
  };
}

function request(domain: string, addresses: string[]): RemoteRequest {
  const data = Buffer.from('From: sender@outside.test\r\nSubject: lmtp test\r\n\r\nhello over LMTP\r\n', 'latin1');
  return {
    queueId: 'TESTQID1',
    sender: 'sender@outside.test',
    domain,
    recipients: addresses.map((address, index) => ({ index, address })),
    content: () => Readable.from([data]),
    size: data.length,
  };
}

/** Each user's delivered messages (maildir new/), by user. */
function maildirs(root: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const user of readdirSync(root)) {
    let files: string[] = [];
    try {
      files = readdirSync(join(root, user, 'new'));
    } catch {
      // a mailbox made for a delivery that failed has no new/
    }
    out[user] = files.map((f) => readFileSync(join(root, user, 'new', f), 'latin1'));
  }
  return out;
}

/** A few lines of LMTP server on a Unix socket: `answer` is called for each line the client sends. */
async function scriptedPeer(path: string, answer: (c: Socket, line: string) => void, greeting = '220 scripted LMTP ready'): Promise<{ close: () => void }> {
  const server = createServer((c) => {
    c.write(`${greeting}\r\n`);
    if (greeting.startsWith('4')) return void c.end();
    let buffered = '';
    let inData = false;
    c.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let i = buffered.indexOf('\r\n'); i >= 0; i = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, i);
        buffered = buffered.slice(i + 2);
        if (inData && line !== '.') continue;
        if (line === '.') inData = false;
        else if (/^DATA$/i.test(line)) inData = true;
        answer(c, line);
      }
    });
    c.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { close: () => server.close() };
}

export async function runLmtpScenarios(dovecotMail: string): Promise<Record<string, unknown>> {
  const sink = new MemorySink();
  const log = createLogger({ sink, logLevel: 9 });
  const { config } = loadConfig('/etc/mail/sendmail.cf', { mode: 'daemon' });
  const options = remoteOptionsFromConfig(config, systemIdentity(), (p) => log.warning(0, 'NOQUEUE', p));
  const lmtp = lmtpFromConfig(config, options, log);
  const out: Record<string, unknown> = {};
  const to = (domain: string): LmtpDestination => {
    const d = lmtp.forDomain(domain);
    if (d === undefined) throw new Error(`no LMTP destination for ${domain}`);
    return d;
  };

  out.routing = {
    local: lmtp.local !== undefined && !('problem' in lmtp.local) ? lmtp.local.mailer : lmtp.local ?? null,
    tcp: to('lmtp.test'),
    smtpDomain: lmtp.forDomain('smtp.test') ?? null,
    unrouted: lmtp.forDomain('elsewhere.test') ?? null,
    // the local mailer's RCPT addresses: the local part, +detail kept; a user without passwd entry is not its (F=w)
    mailboxes: ['bob', 'bob+folder@mx.example.test', '<dave@localhost>', 'nosuchuser', 'someone@remote.test'].map((a) => lmtp.localMailbox?.(a, route(a, options.localNames)) ?? null),
  };

  // one transaction, four recipients: delivered, refused at RCPT, refused after the message for good, and for now
  out.local = summary(await lmtp.deliverLocal(request('', ['bob', 'carol', 'dave', 'erin'])));
  out.tcp = summary(await lmtp.deliver(request('lmtp.test', ['bob@lmtp.test', 'carol@lmtp.test', 'dave@lmtp.test', 'erin@lmtp.test']), to('lmtp.test')));
  out.missing = summary(await lmtp.deliver(request('sock.test', ['bob@sock.test']), to('sock.test')));
  out.stale = summary(await lmtp.deliver(request('stale.test', ['bob@stale.test']), to('stale.test')));
  out.closed = summary(await lmtp.deliver(request('closed.test', ['bob@closed.test']), to('closed.test')));

  // a socket in a world-writable directory is not used: anyone could have put it there
  let unsafeConnections = 0;
  const planted = createServer((c) => {
    unsafeConnections++;
    c.end('220 planted LMTP\r\n');
  });
  await new Promise<void>((resolve) => planted.listen('/run/ww/lmtp', resolve));
  out.unsafe = summary(await lmtp.deliver(request('unsafe.test', ['bob@unsafe.test']), to('unsafe.test')));
  out.unsafeConnections = unsafeConnections;
  planted.close();

  // a server that answers the first recipient after the message and then goes away: what came is kept
  const abrupt = await scriptedPeer('/run/scripted/lmtp', (c, line) => {
    if (/^LHLO /i.test(line)) c.write('250-scripted\r\n250 PIPELINING\r\n');
    else if (/^(MAIL|RCPT) /i.test(line)) c.write('250 2.1.0 ok\r\n');
    else if (/^DATA$/i.test(line)) c.write('354 go ahead\r\n');
    else if (line === '.') {
      c.write('250 2.0.0 <first> delivered\r\n');
      setTimeout(() => c.destroy(), 50);
    }
  });
  out.abrupt = summary(await lmtp.deliver(request('scripted.test', ['first@scripted.test', 'second@scripted.test']), to('scripted.test')));
  abrupt.close();
  // a server too busy to talk: 421 at the greeting defers everyone with its reply
  const busy = await scriptedPeer('/run/scripted/lmtp', () => undefined, '421 4.3.2 Too busy, go away');
  out.busy = summary(await lmtp.deliver(request('scripted.test', ['first@scripted.test']), to('scripted.test')));
  busy.close();

  out.log = sink.messages();
  out.maildirs = maildirs(dovecotMail);
  return out;
}
