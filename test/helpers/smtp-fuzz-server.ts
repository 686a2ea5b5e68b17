/**
 * The SMTP engine for the fuzzer, in a process of its own so that a crash
 * is seen as a crash: the shipped sendmail.cf, a real queue in a temporary
 * directory, loopback relaying, every local name a user, no tarpit pauses.
 * Prints the port on its first line, then serves until stdin closes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Logger, MemorySink } from '../../src/common/log.js';
import { loadConfig } from '../../src/config/index.js';
import { createSmtpd } from '../../src/mta/smtpd/index.js';
import { openQueue } from '../../src/queue/index.js';
import { repoRoot } from './peers.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-fuzz-'));
const config = loadConfig(join(repoRoot, 'conf/sendmail.cf')).config;
// small limits so that the limit paths are reached often
config.options.MaxMessageSize = 64 * 1024;
config.options.MaxRecipientsPerMessage = 20;
const daemon = config.options.DaemonPortOptions.find((d) => d.Name === 'MTA')!;
const queue = await openQueue({ dir });
const sink = new MemorySink();
const log = new Logger({ sink, logLevel: 14 });
let accepted = 0;
const server = createSmtpd({
  config,
  identity: { shortName: 'mx', canonicalName: 'mx.example.test', domain: 'example.test', nodeName: 'mx', qualified: true },
  daemon,
  log,
  localUser: () => true,
  lookupPeer: async () => ({ hostName: 'localhost', mayBeForged: false }),
  sleep: async () => undefined,
  queue: {
    assignId: () => queue.assignId(),
    accept: async ({ id, size: _s, attempts: _a, nextAttempt: _n, ...envelope }, content) => {
      await queue.accept(envelope, content, { id });
      accepted++;
      // the log and the queue are not what is being tested: keep both small
      sink.records.length = 0;
      if (accepted % 200 === 0) for (const e of queue.list()) await queue.remove(e.id);
    },
  },
});
server.on('error', (e: Error) => process.stderr.write(`server error: ${e.message}\n`));
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.server.address() as AddressInfo).port}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => {
  server.close(() => undefined);
  void queue.close().then(() => {
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(`accepted ${accepted}\n`);
    process.exit(0);
  });
});
