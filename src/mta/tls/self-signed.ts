/**
 * The install step's certificate: a self-signed pair for STARTTLS when the
 * files sendmail.cf names do not exist yet, so that a fresh install offers
 * encryption at once.  An existing pair is never touched.
 *
 * The key is written under a temporary name with mode 0600 from the start
 * (never briefly readable by others), then linked into place, so a crash
 * leaves either no key or a whole one.  Its owner may be given: workers run
 * as RunAsUser and read the key themselves.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fchownSync, fsyncSync, linkSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import forge from 'node-forge';
import { ERR, PosternError } from '../../common/errors.js';

export interface SelfSignedOptions {
  /** owner of the key (RunAsUser), when the caller is root; default: the caller */
  readonly keyOwner?: { readonly uid: number; readonly gid: number };
  /** validity in days; default 3650 */
  readonly days?: number;
  readonly now?: Date;
}

/** Writes `data` to `path` only when nothing is there, with `mode` from the first byte on. */
function writeNew(path: string, data: string, mode: number, owner?: { uid: number; gid: number }): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    try {
      if (owner !== undefined) fchownSync(fd, owner.uid, owner.gid);
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // link() fails when the name exists: a pair made meanwhile by someone else is kept
    linkSync(temp, path);
  } finally {
    rmSync(temp, { force: true });
  }
}

function certificatePem(hostname: string, publicPem: string, privatePem: string, days: number, now: Date): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  // a positive serial: the first byte's high bit clear
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(now.getTime() - 86_400_000);
  cert.validity.notAfter = new Date(now.getTime() + days * 86_400_000);
  const name = [{ name: 'commonName', value: hostname }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    // clientAuth too: the same pair may serve as ClientCertFile when this host relays
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: hostname }] },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privatePem), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/**
 * Makes a self-signed certificate for `hostname` at certPath and its key at
 * keyPath (mode 0600) when neither exists.  Returns false when both exist
 * already; throws TLS_CONFIG when only one of them does (a key without its
 * certificate is not guessed at).
 */
export function ensureSelfSignedCertificate(certPath: string, keyPath: string, hostname: string, options: SelfSignedOptions = {}): boolean {
  const haveCert = existsSync(certPath);
  const haveKey = existsSync(keyPath);
  if (haveCert && haveKey) return false;
  if (haveCert || haveKey) {
    throw new PosternError(ERR.TLS_CONFIG, `${haveCert ? certPath : keyPath} exists without ${haveCert ? `its key ${keyPath}` : `its certificate ${certPath}`}`);
  }
  for (const dir of new Set([dirname(certPath), dirname(keyPath)])) mkdirSync(dir, { recursive: true, mode: 0o755 });
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const certPem = certificatePem(hostname, publicKey, privateKey, options.days ?? 3650, options.now ?? new Date());
  writeNew(keyPath, privateKey, 0o600, options.keyOwner);
  try {
    writeNew(certPath, certPem, 0o644);
  } catch (e) {
    rmSync(keyPath, { force: true });
    throw e;
  }
  return true;
}
