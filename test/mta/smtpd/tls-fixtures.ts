/**
 * What the STARTTLS, AUTH and access-map tests share: a self-signed pair made
 * by ensureSelfSignedCertificate, a credential file, a configuration that
 * names them, and a line client that can switch to TLS in the middle of a
 * session (the harness's RawClient speaks clear text only).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Config } from '../../../src/config/index.js';
import { hashPassword, writeCredentials } from '../../../src/mta/auth/credentials.js';
import { ensureSelfSignedCertificate } from '../../../src/mta/tls/self-signed.js';

export interface TlsFiles {
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
  readonly auth: string;
  cleanup(): void;
}

export const USER = 'alice';
export const PASSWORD = 'correct horse';

/** A certificate for mx.example.test and a credential file holding alice's hash. */
export async function tlsFiles(): Promise<TlsFiles> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-tls-'));
  const cert = join(dir, 'tls', 'server.crt');
  const key = join(dir, 'tls', 'server.key');
  ensureSelfSignedCertificate(cert, key, 'mx.example.test');
  const auth = join(dir, 'postern-auth');
  writeCredentials(auth, new Map([[USER, await hashPassword(PASSWORD)]]), { mode: 0o600 });
  return { dir, cert, key, auth, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** sendmail.cf options for STARTTLS with these files, AUTH LOGIN PLAIN, plain text only under TLS (p). */
export function withTls(files: TlsFiles, more?: (cf: Config) => void): (cf: Config) => void {
  return (cf) => {
    cf.options.ServerCertFile = files.cert;
    cf.options.ServerKeyFile = files.key;
    cf.options.AuthMechanisms = ['LOGIN', 'PLAIN'];
    cf.options.AuthOptions.add('p');
    more?.(cf);
  };
}

/** base64 of PLAIN's message. */
export function plain(user: string, password: string, authzid = ''): string {
  return Buffer.from(`${authzid}\0${user}\0${password}`, 'utf8').toString('base64');
}

export const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** A client that reads replies line by line, over TCP and, after startTls(), over TLS. */
export class LineClient {
  private buffer = '';
  private waiters: Array<() => void> = [];
  closed = false;
  private socket: Socket | TLSSocket;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.listen(socket);
  }

  private listen(socket: Socket | TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buffer += d;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ port, host, ...(localAddress !== undefined ? { localAddress } : {}) }, () => resolve(new LineClient(s)));
      s.once('error', reject);
    });
  }

  write(text: string): void {
    this.socket.write(Buffer.from(text, 'latin1'));
  }

  /** One whole reply, every line of it. */
  async reply(ms = 8000): Promise<string[]> {
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

  /** Sends a command; its reply's last line. */
  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    const r = await this.reply();
    return r[r.length - 1]!;
  }

  /** Sends a command; every line of its reply. */
  async lines(line: string): Promise<string[]> {
    this.write(`${line}\r\n`);
    return this.reply();
  }

  /** STARTTLS, then the handshake over the same connection; the 220 line. */
  async startTls(clientCert?: { cert: Buffer; key: Buffer }): Promise<string> {
    const r = await this.command('STARTTLS');
    if (!r.startsWith('220 ')) return r;
    const plainSocket = this.socket as Socket;
    plainSocket.removeAllListeners('data');
    const secure = await new Promise<TLSSocket>((resolve, reject) => {
      const t = tlsConnect({ socket: plainSocket, rejectUnauthorized: false, servername: 'mx.example.test', ...clientCert }, () => resolve(t));
      t.once('error', reject);
    });
    this.socket = secure;
    this.listen(secure);
    return r;
  }

  get tls(): TLSSocket | null {
    return 'encrypted' in this.socket ? (this.socket as TLSSocket) : null;
  }

  async closedByServer(ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  end(): void {
    this.socket.destroy();
  }
}
