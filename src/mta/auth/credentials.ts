/**
 * Postern's SMTP AUTH credential store: a text file (default
 * /etc/mail/postern-auth) of `user:$scrypt$ln=14,r=8,p=1$SALT$HASH` lines,
 * one scrypt hash with its own salt per user; never a password in clear.
 *
 * Who reads it: the SMTP workers, which run as RunAsUser.  The passwd
 * command therefore writes it root-owned, group RunAsUser, mode 0640 (the
 * workers can read and never write it), or mode 0600 for its caller when not
 * run as root.  It is rewritten whole under a temporary name and renamed,
 * so a worker reads the old file or the new one; workers re-read it when it
 * changes, so adding a user needs no restart.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { closeSync, constants, fchownSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ERR, PosternError } from '../../common/errors.js';

export const DEFAULT_CREDENTIALS_FILE = '/etc/mail/postern-auth';

/** scrypt cost: N = 2^14, r = 8 (16 MiB, some 50 ms a check). */
const LOG_N = 14;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, logN: number, r: number, p: number, length: number): Promise<Buffer> {
  const options: ScryptOptions = { N: 2 ** logN, r, p, maxmem: 256 * 2 ** logN * r };
  return new Promise((resolve, reject) => scrypt(password.normalize('NFC'), salt, length, options, (e, key) => (e ? reject(e) : resolve(key))));
}

/** A new hash record for a password. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, LOG_N, R, P, KEY_LENGTH);
  return `$scrypt$ln=${LOG_N},r=${R},p=${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

function parseHash(record: string): ParsedHash | undefined {
  const m = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(record);
  if (m === null) return undefined;
  const logN = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  // bounds that keep a doctored file from making a worker allocate gigabytes
  if (logN < 10 || logN > 20 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  const key = Buffer.from(m[5]!, 'base64');
  if (key.length < 16 || key.length > 64) return undefined;
  return { logN, r, p, salt: Buffer.from(m[4]!, 'base64'), key };
}

/** Whether `password` matches the hash record. */
export async function verifyPassword(record: string, password: string): Promise<boolean> {
  const h = parseHash(record);
  if (h === undefined) return false;
  const key = await derive(password, h.salt, h.logN, h.r, h.p, h.key.length);
  return timingSafeEqual(key, h.key);
}

/** A user name the file can hold: no colon, blank or control character. */
export function validUserName(name: string): boolean {
  return name.length > 0 && name.length <= 256 && !/[:\s\x00-\x1f\x7f]/.test(name);
}

/** The file's entries, in file order: user → hash record.  Comments (#) and blank lines are skipped. */
export function parseCredentials(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const user = line.slice(0, colon);
    if (!out.has(user)) out.set(user, line.slice(colon + 1).trim());
  }
  return out;
}

export function readCredentials(file: string): Map<string, string> {
  try {
    return parseCredentials(readFileSync(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new PosternError(ERR.AUTH_STORE_UNAVAILABLE, `${file}: ${(e as Error).message}`, { cause: e });
  }
}

export interface WriteOptions {
  readonly mode: number;
  readonly owner?: { readonly uid: number; readonly gid: number };
}

/** Replaces the file whole: temporary file with its final mode and owner, fsync, rename. */
export function writeCredentials(file: string, entries: ReadonlyMap<string, string>, options: WriteOptions): void {
  const text = `# Postern SMTP AUTH users: managed by postern-passwd, one scrypt hash per user\n${[...entries].map(([u, h]) => `${u}:${h}\n`).join('')}`;
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, options.mode);
  try {
    try {
      if (options.owner !== undefined) fchownSync(fd, options.owner.uid, options.owner.gid);
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
  const dir = openSync(dirname(file), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

export type CheckResult = 'ok' | 'bad' | 'unavailable';

/** The store as a worker uses it: re-read when the file changes, checked without blocking the event loop. */
export class CredentialStore {
  private entries = new Map<string, string>();
  private seen: Stats | undefined;
  /** a hash to spend the same time on when the user is unknown (made when first needed) */
  private decoy: Promise<string> | undefined;

  constructor(readonly file: string = DEFAULT_CREDENTIALS_FILE) {}

  /** The file is there and readable (AUTH is offered only then). */
  available(): boolean {
    return this.refresh();
  }

  private refresh(): boolean {
    let st: Stats;
    try {
      st = statSync(this.file);
    } catch {
      this.seen = undefined;
      this.entries = new Map();
      return false;
    }
    const s = this.seen;
    if (s !== undefined && s.ino === st.ino && s.mtimeMs === st.mtimeMs && s.size === st.size && s.ctimeMs === st.ctimeMs) return true;
    try {
      this.entries = parseCredentials(readFileSync(this.file, 'utf8'));
      this.seen = st;
      return true;
    } catch {
      this.seen = undefined;
      this.entries = new Map();
      return false;
    }
  }

  async check(user: string, password: string): Promise<CheckResult> {
    if (!this.refresh()) return 'unavailable';
    const record = this.entries.get(user);
    if (record === undefined) {
      this.decoy ??= hashPassword(randomBytes(12).toString('hex'));
      await verifyPassword(await this.decoy, password);
      return 'bad';
    }
    return (await verifyPassword(record, password)) ? 'ok' : 'bad';
  }
}
