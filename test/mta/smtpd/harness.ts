/**
 * An smtpd listener on a loopback port with a real queue in a temporary
 * directory, a memory log, and clients to talk to it: a raw socket that
 * writes exactly what a test says, Python's smtplib and swaks.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Logger, MemorySink } from '../../../src/common/log.js';
import type { SystemIdentity } from '../../../src/common/identity.js';
import { loadConfig, type Config, type PortOptions } from '../../../src/config/index.js';
import { createSmtpd, type SmtpdDeps } from '../../../src/mta/smtpd/index.js';
import type { Envelope } from '../../../src/queue/envelope.js';
import { openQueue, type MessageQueue } from '../../../src/queue/index.js';
import { repoRoot } from '../../helpers/peers.js';

export const IDENTITY: SystemIdentity = {
  shortName: 'mx',
  canonicalName: 'mx.example.test',
  domain: 'example.test',
  nodeName: 'mx',
  qualified: true,
};

/** sendmail.cf as shipped, the daemon entry named MTA. */
export function baseConfig(): Config {
  return loadConfig(join(repoRoot, 'conf/sendmail.cf')).config;
}

export function daemonEntry(config: Config, name: string): PortOptions {
  const d = config.options.DaemonPortOptions.find((p) => p.Name === name);
  if (d === undefined) throw new Error(`no daemon ${name} in the test configuration`);
  return d;
}

export const USERS: Record<string, { fullName: string } | true> = { bob: { fullName: 'Bob Smith' }, alice: true };

export interface Harness {
  readonly port: number;
  readonly host: string;
  readonly queue: MessageQueue;
  readonly sink: MemorySink;
  readonly config: Config;
  /** every stored message: envelope and text */
  stored(): Promise<Array<{ envelope: Envelope; text: string }>>;
  /** closes the listener; sessions still open are cut, or with `drain` left to the grace period */
  stop(options?: { drain?: boolean }): Promise<void>;
}

export interface HarnessOptions {
  /** changes to sendmail.cf's options before the listener starts */
  readonly configure?: (config: Config) => void;
  readonly daemon?: string;
  /** listen on this address (default 127.0.0.1) */
  readonly host?: string;
  readonly deps?: Partial<SmtpdDeps>;
  readonly queue?: SmtpdDeps['queue'];
}

export async function startSmtpd(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-smtpd-'));
  const queue = await openQueue({ dir });
  const config = baseConfig();
  options.configure?.(config);
  const sink = new MemorySink();
  const log = new Logger({ sink, logLevel: 9, label: 'sm-mta' });
  const server = createSmtpd({
    config,
    identity: IDENTITY,
    daemon: daemonEntry(config, options.daemon ?? 'MTA'),
    queue: options.queue ?? {
      assignId: () => queue.assignId(),
      accept: ({ id, size: _s, attempts: _a, nextAttempt: _n, ...rest }, content) => queue.accept(rest, content, { id }).then(() => undefined),
    },
    log,
    localUser: (name) => USERS[name] ?? false,
    lookupPeer: async () => ({ hostName: 'client.example.test', mayBeForged: false }),
    sleep: async () => {},
    ...options.deps,
  });
  const host = options.host ?? '127.0.0.1';
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    host,
    queue,
    sink,
    config,
    async stored() {
      const out = [];
      for (const envelope of queue.list()) {
        const chunks: Buffer[] = [];
        for await (const c of queue.openContent(envelope.id)) chunks.push(c as Buffer);
        out.push({ envelope, text: Buffer.concat(chunks).toString('latin1') });
      }
      return out;
    },
    async stop(stopOptions = {}) {
      if (stopOptions.drain !== true) for (const c of server.connections) (c as unknown as { socket: Socket }).socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queue.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A client that writes bytes as given and reads replies line by line (tls-fixtures' LineClient adds STARTTLS). */
export class RawClient {
  private buffer = '';
  private waiters: Array<() => void> = [];
  closed = false;
  protected socket: Socket | TLSSocket;

  protected constructor(socket: Socket) {
    this.socket = socket;
    this.listen(socket);
  }

  /** Reads from `socket`: the connection's, or the TLS socket that replaced it. */
  protected listen(socket: Socket | TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buffer += d;
      this.wakeAll();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wakeAll();
    });
    socket.on('error', () => {});
  }

  private wakeAll(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host, ...(localAddress !== undefined ? { localAddress } : {}) }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  write(text: string | Buffer): void {
    this.socket.write(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  }

  /** One whole reply (all its lines); throws when the connection closes first or after `ms`. */
  async reply(ms = 5000): Promise<string[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const lines: string[] = [];
      let rest = this.buffer;
      for (;;) {
        const nl = rest.indexOf('\r\n');
        if (nl < 0) break;
        const line = rest.slice(0, nl);
        lines.push(line);
        rest = rest.slice(nl + 2);
        if (!/^\d{3}-/.test(line)) {
          this.buffer = rest;
          return lines;
        }
      }
      if (this.closed) throw new Error(`connection closed; unread: ${JSON.stringify(this.buffer)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply in time; unread: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  /** Sends one command and returns its reply (the last line when several). */
  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    const r = await this.reply();
    return r[r.length - 1]!;
  }

  /** Resolves once the server has closed the connection. */
  async closedByServer(ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
    return this.closed;
  }

  /** What arrived and was not read as a reply yet. */
  unread(): string {
    return this.buffer;
  }

  end(): void {
    this.socket.destroy();
  }
}

/** Python 3 for smtplib: /usr/bin/python3 when there is one (the system's, not a shim). */
export const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

export function findProgram(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(':')) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function run(cmd: string, args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}
