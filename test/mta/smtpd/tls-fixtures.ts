/**
 * What the STARTTLS, AUTH and access-map tests share: a self-signed pair made
 * by ensureSelfSignedCertificate, a credential file, a configuration that
 * names them, and the harness's client able to switch to TLS in the middle
 * of a session.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Config } from '../../../src/config/index.js';
import { hashPassword, writeCredentials } from '../../../src/mta/auth/credentials.js';
import { ensureSelfSignedCertificate } from '../../../src/mta/tls/self-signed.js';
import { RawClient } from './harness.js';

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

/** The harness's client, and after startTls() the same session over TLS. */
export class LineClient extends RawClient {
  static override connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ port, host, ...(localAddress !== undefined ? { localAddress } : {}) }, () => resolve(new LineClient(s)));
      s.once('error', reject);
    });
  }

  /** One whole reply; a TLS handshake on a loaded machine may take a while. */
  override reply(ms = 8000): Promise<string[]> {
    return super.reply(ms);
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
}
