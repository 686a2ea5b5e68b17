/**
 * The server side of STARTTLS: the certificate, key and CAs named by
 * sendmail.cf (ServerCertFile, ServerKeyFile, CACertFile, CACertPath,
 * CipherList, CipherSuites, DHParameters, TLSSrvOptions), read once when a
 * worker creates its SMTP engine (SIGHUP replaces the worker, so a renewed
 * certificate is picked up then), and what a finished handshake tells the
 * session: the macros sendmail defines ({tls_version}, {cipher},
 * {cipher_bits}, {verify}, {cert_subject}, ...) and its STARTTLS log line.
 *
 * Workers run as RunAsUser, not root as sendmail does when it reads its
 * key, so the key must be readable by RunAsUser: the install step makes it
 * RunAsUser's own, mode 0600.  A key readable by others is refused as
 * sendmail refuses it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import { NOQID, type Logger } from '../../common/log.js';
import type { Config } from '../../config/index.js';

export interface ServerTls {
  readonly context: SecureContext;
  /** ask the client for a certificate (sendmail does unless TLSSrvOptions=V) */
  readonly requestCert: boolean;
}

/** Why STARTTLS cannot be offered: no certificate configured, or one that cannot be used. */
export type ServerTlsProblem = { readonly kind: 'unconfigured' } | { readonly kind: 'unusable'; readonly reason: string };

function readPem(path: string, what: string, secret: boolean): Buffer | string {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return `file ${path} unsafe: ${code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : String(code)}`;
  }
  if (!st.isFile()) return `file ${path} unsafe: not a regular file`;
  // sendmail's safefile() check for the key: no access for group or others
  if (secret && (st.mode & 0o077) !== 0) return `file ${path} unsafe: ${what} readable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  try {
    return readFileSync(path);
  } catch (e) {
    return `file ${path} unsafe: ${(e as NodeJS.ErrnoException).code === 'EACCES' ? 'Permission denied' : String(e)}`;
  }
}

/** The certificates of a CACertPath directory (hashed links or plain PEM files). */
function caDirectory(dir: string): Buffer[] {
  const out: Buffer[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names.sort()) {
    try {
      const data = readFileSync(join(dir, n));
      if (data.includes('-----BEGIN CERTIFICATE-----')) out.push(data);
    } catch {
      // unreadable entries are skipped, as OpenSSL's directory lookup skips them
    }
  }
  return out;
}

/**
 * The TLS context for the server side of STARTTLS, or why there is none.
 * A problem is logged once (`STARTTLS=server: file ... unsafe: ...`); the
 * session then answers STARTTLS with `454 4.3.3 TLS not available after start`.
 */
export function loadServerTls(config: Config, log?: Logger): ServerTls | ServerTlsProblem {
  const o = config.options;
  if (o.ServerCertFile === null || o.ServerKeyFile === null || o.ServerCertFile === '' || o.ServerKeyFile === '') {
    return { kind: 'unconfigured' };
  }
  const cert = readPem(o.ServerCertFile, 'certificate', false);
  const key = readPem(o.ServerKeyFile, 'key', !o.DontBlameSendmail.has('GroupReadableKeyFile'));
  const problem = [cert, key].find((x): x is string => typeof x === 'string');
  if (problem !== undefined) {
    log?.warning(7, NOQID, `STARTTLS=server: ${problem}`);
    return { kind: 'unusable', reason: problem };
  }
  const ca: Buffer[] = [];
  if (o.CACertFile !== null && o.CACertFile !== '') {
    const file = readPem(o.CACertFile, 'CA certificates', false);
    if (typeof file === 'string') log?.warning(7, NOQID, `STARTTLS=server: ${file}`);
    else ca.push(file);
  }
  if (o.CACertPath !== null && o.CACertPath !== '') ca.push(...caDirectory(o.CACertPath));
  let dhparam: Buffer | undefined;
  if (o.DHParameters !== null && o.DHParameters.startsWith('/')) {
    const dh = readPem(o.DHParameters, 'DH parameters', false);
    if (typeof dh !== 'string') dhparam = dh;
  }
  // Node takes TLS 1.3 suites (CipherSuites) and older ciphers (CipherList) in one list
  const ciphers = [o.CipherSuites, o.CipherList].filter((c): c is string => c !== null && c !== '').join(':');
  try {
    const context = createSecureContext({
      cert: cert as Buffer,
      key: key as Buffer,
      ...(ca.length > 0 ? { ca } : {}),
      ...(ciphers !== '' ? { ciphers } : {}),
      ...(dhparam !== undefined ? { dhparam } : {}),
      honorCipherOrder: true,
    });
    return { context, requestCert: !o.TLSSrvOptions.has('V') };
  } catch (e) {
    const reason = `${o.ServerCertFile}, ${o.ServerKeyFile}: ${e instanceof Error ? e.message : String(e)}`;
    log?.warning(7, NOQID, `STARTTLS=server, error: ${reason}`);
    return { kind: 'unusable', reason };
  }
}

/** Strength of a cipher from its OpenSSL name (Node does not report SSL_CIPHER_get_bits): [bits, algorithm bits]. */
export function cipherBits(name: string): [number, number] {
  const n = name.toUpperCase();
  if (n.includes('CHACHA20')) return [256, 256];
  if (n.includes('3DES') || n.includes('DES-CBC3')) return [112, 168];
  const m = /(?:AES|CAMELLIA|ARIA)[_-]?(\d{3})/.exec(n);
  if (m !== null) return [Number(m[1]), Number(m[1])];
  if (/(?:^|[-_])AES(?:[-_]|$)/.test(n)) return [128, 128];
  return [0, 0];
}

/** sendmail's xtextify: bytes outside `!`..`~`, `+`, `\`, `(` and the taboo characters as `+XX`. */
export function xtextify(s: string, taboo = ''): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (b < 0x21 || b > 0x7e || c === '+' || c === '\\' || c === '(' || taboo.includes(c)) out += `+${b.toString(16).toUpperCase().padStart(2, '0')}`;
    else out += c;
  }
  return out;
}

/** An X.509 name as OpenSSL's X509_NAME_oneline writes it: `/C=US/O=Example/CN=host`. */
function oneline(name: string): string {
  return name
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => `/${l}`)
    .join('');
}

function commonName(name: string): string | undefined {
  const cn = name.split('\n').reverse().find((l) => l.startsWith('CN='));
  return cn?.slice(3);
}

/** What the handshake tells: sendmail's macros and its log fields. */
export interface TlsSessionInfo {
  /** {tls_version} {cipher} {cipher_bits} {alg_bits} {verify} {cert_subject} {cert_issuer} {cn_subject} {cn_issuer} */
  readonly macros: ReadonlyMap<string, string>;
  readonly version: string;
  readonly cipher: string;
  readonly bits: number;
  readonly algBits: number;
  readonly verify: string;
}

/**
 * The macros of a finished handshake.  {verify} as sendmail sets it: NOT
 * (no certificate asked for), NO (none presented), OK, or FAIL.
 */
export function tlsSessionInfo(socket: TLSSocket, requested: boolean): TlsSessionInfo {
  const version = socket.getProtocol() ?? 'unknown';
  const cipher = socket.getCipher()?.name ?? 'unknown';
  const [bits, algBits] = cipherBits(cipher);
  const macros = new Map<string, string>([
    ['tls_version', version],
    ['cipher', cipher],
    ['cipher_bits', String(bits)],
    ['alg_bits', String(algBits)],
  ]);
  let verify = 'NOT';
  if (requested) {
    const peer = socket.getPeerCertificate(false);
    if (peer === undefined || peer === null || Object.keys(peer).length === 0 || peer.raw === undefined) verify = 'NO';
    else {
      verify = socket.authorized ? 'OK' : 'FAIL';
      try {
        const x = new X509Certificate(peer.raw);
        macros.set('cert_subject', xtextify(oneline(x.subject), '<>")'));
        macros.set('cert_issuer', xtextify(oneline(x.issuer), '<>")'));
        const cs = commonName(x.subject);
        const ci = commonName(x.issuer);
        if (cs !== undefined) macros.set('cn_subject', xtextify(cs, '<>")'));
        if (ci !== undefined) macros.set('cn_issuer', xtextify(ci, '<>")'));
      } catch {
        verify = 'FAIL';
      }
    }
  }
  macros.set('verify', verify);
  return { macros, version, cipher, bits, algBits, verify };
}

/** `STARTTLS=server, relay=..., version=TLSv1.3, verify=NO, cipher=TLS_AES_256_GCM_SHA384, bits=256/256` */
export function startTlsLogLine(relay: string, info: TlsSessionInfo): string {
  return `STARTTLS=server, relay=${relay.slice(0, 100)}, version=${info.version.slice(0, 16)}, verify=${info.verify.slice(0, 16)}, cipher=${info.cipher.slice(0, 64)}, bits=${info.bits}/${info.algBits}`;
}
