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
  if (!existsSync(join(dir, DB_NAME))) return [];
  const db = new Database(join(dir, DB_NAME), { readonly: true, fileMustExist: true });
  try {
    return selectEnvelopes(db);
  } finally {
    db.close();
  }
}

/** The size of the body: the message less its header block. */
function bodySize(dir: string, id: string, stored: StoredContent): number {
  const bytes = stored.get(id);
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

interface StoredContent {
  get(id: string): Buffer | undefined;
  close(): void;
}

/** Small messages' content, read from the database (none when there is no database, or it predates stored content). */
function openStoredContent(dir: string): StoredContent {
  const none: StoredContent = { get: () => undefined, close: () => {} };
  if (!existsSync(join(dir, DB_NAME))) return none;
  const db = new Database(join(dir, DB_NAME), { readonly: true, fileMustExist: true });
  try {
    const select = db.prepare<[string], { data: Buffer }>('SELECT data FROM content WHERE id = ?');
    return { get: (id) => select.get(id)?.data, close: () => db.close() };
  } catch {
    db.close();
    return none;
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

/** What mailq shows of each queued message: the recipients still to be delivered, the last deferral. */
export function mailqEntries(dir: string, envelopes: readonly Envelope[]): MailqEntry[] {
  const stored = openStoredContent(dir);
  try {
    return envelopes.map((e) => entry(dir, e, stored));
  } finally {
    stored.close();
  }
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
