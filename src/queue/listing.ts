/**
 * Reading the queue for `mailq` without changing it: the envelope database
 * opened read-only (no recovery, no writer), each message's body size taken
 * from its content (in the database, or its content file) as sendmail prints
 * its df file's size.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Envelope } from './envelope.js';
import { CONTENT_DIR, DB_NAME, selectEnvelopes } from './layout.js';
import { messagePriority, type MailqEntry } from './mailq.js';


export function readEnvelopes(dir: string): Envelope[] {
  return withDatabase(dir, () => [], (db) => selectEnvelopes(db));
}

/**
 * What mailq shows of every queued message: envelopes and stored content read
 * from one opening of the database, in one read transaction, so that a message
 * removed meanwhile cannot lose its size.
 */
export function listQueue(dir: string): MailqEntry[] {
  return withDatabase(dir, () => [], (db) => db.transaction(() => entries(dir, selectEnvelopes(db), storedContent(db)))());
}

/** What mailq shows of these messages: the recipients still to be delivered, the last deferral. */
export function mailqEntries(dir: string, envelopes: readonly Envelope[]): MailqEntry[] {
  return withDatabase(dir, () => entries(dir, envelopes, NO_CONTENT), (db) => entries(dir, envelopes, storedContent(db)));
}

/** Runs `read` on the database opened read-only, or `absent` when there is none. */
function withDatabase<T>(dir: string, absent: () => T, read: (db: Database.Database) => T): T {
  if (!existsSync(join(dir, DB_NAME))) return absent();
  const db = new Database(join(dir, DB_NAME), { readonly: true, fileMustExist: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

function entries(dir: string, envelopes: readonly Envelope[], stored: StoredContent): MailqEntry[] {
  return envelopes.map((e) => entry(dir, e, stored));
}

/** The size of the body: the message less its header block. */
function bodySize(dir: string, id: string, stored: StoredContent): number {
  const bytes = stored(id);
  if (bytes !== undefined) return sizeAfterHeaders(bytes, bytes.length);
  const path = join(dir, CONTENT_DIR, id);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return -1;
  }
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 256 * 1024));
    const n = readSync(fd, head, 0, head.length, 0);
    return sizeAfterHeaders(head.subarray(0, n), size);
  } finally {
    closeSync(fd);
  }
}

function sizeAfterHeaders(head: Buffer, size: number): number {
  const end = head.indexOf('\n\n');
  return end < 0 ? 0 : size - (end + 2);
}

type StoredContent = (id: string) => Buffer | undefined;

const NO_CONTENT: StoredContent = () => undefined;

/** Small messages' content, from the database (none when it predates stored content). */
function storedContent(db: Database.Database): StoredContent {
  try {
    const select = db.prepare<[string], { data: Buffer }>('SELECT data FROM content WHERE id = ?');
    return (id) => select.get(id)?.data;
  } catch {
    return NO_CONTENT;
  }
}

/**
 * sendmail lists addresses as they were written: over SMTP that is with the
 * angle brackets of MAIL FROM:<...> and RCPT TO:<...>; a local submission's
 * `alice` stays bare.  (Alias targets have no brackets to begin with.)
 */
function asWritten(e: Envelope, address: string): string {
  return e.protocol !== undefined && !address.startsWith('<') && !address.startsWith('|') && !address.startsWith('/') ? `<${address}>` : address;
}

function entry(dir: string, e: Envelope, stored: StoredContent): MailqEntry {
  const open = e.recipients.filter((r) => r.state === 'pending' || r.state === 'deferred');
  // a recipient still waiting says why; one delivered or returned in the same attempt does not
  const status = (open.find((r) => r.statusText !== undefined) ?? e.recipients.find((r) => r.statusText !== undefined))?.statusText;
  return {
    id: e.id,
    bodySize: bodySize(dir, e.id, stored),
    priority: messagePriority(e.size, open.length, e.attempts),
    arrival: e.arrival,
    sender: e.sender === '' ? '<>' : asWritten(e, e.sender),
    recipients: open.map((r) => (r.aliased === true ? r.address : asWritten(e, r.address))),
    ...(status !== undefined ? { statusText: status } : {}),
    ...(e.bodyType !== undefined ? { bodyType: e.bodyType } : {}),
    ...(e.quarantine !== undefined ? { quarantine: e.quarantine } : {}),
    ...(e.submitter !== undefined ? { controllingUser: e.submitter.name } : {}),
  };
}
