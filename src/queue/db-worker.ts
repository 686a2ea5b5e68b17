/**
 * The queue's one writing SQLite connection, run in a worker_thread.
 *
 * Why a worker: with journal_mode=WAL and synchronous=FULL every COMMIT ends
 * in an fsync of the WAL file, done synchronously by better-sqlite3.  On the
 * main thread that stalls every SMTP session of the process for the length
 * of the fsync.  Measured on this machine (virtio disk with a write cache):
 * 0.25 ms median, 0.5 ms p99, 2 ms max per one-row commit -- harmless here,
 * but one fsync on a spinning disk or a busy array is 5-30 ms, and that is
 * the latency every session would see.  In a worker it blocks only this
 * thread; the event loop keeps reading other sessions' DATA meanwhile, which
 * is what fills the next group commit.  The price, also measured: one
 * postMessage round trip per batch (70 us measured) and the worker's
 * own V8 isolate (opening a queue adds 14 MB of RSS, measured).  Reads (list, read one envelope) stay
 * on the main thread's own read-only connection: WAL readers never fsync.
 *
 * Protocol (parentPort): requests { seq, op: 'batch', writes } (one
 * transaction: new messages, updates and removals from every caller that
 * was waiting, see writer.ts) or { seq, op: 'close' }; replies { seq, ok,
 * result } (a batch's result: each write's own WriteResult) or { seq, ok:
 * false, error: { code, message } } where code is the SQLite or errno code as
 * better-sqlite3 gives it.
 */
import Database from 'better-sqlite3';
import { constants, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { native } from '../privsep/native.js';
import { CLAIMS_FILE, WRITER_LOCK_AT } from './claims.js';
import type { Envelope, Recipient, RecipientState } from './envelope.js';

export interface Row {
  readonly id: string;
  readonly json: string;
  readonly arrival: number;
  readonly nextAttempt: number;
  /** the message itself, when it is small enough to live in the database (else it is in df/<id>) */
  readonly content?: Uint8Array;
}

/** What a removal did: rows removed, and the ids whose content is in a file the caller must unlink. */
export interface Removal {
  readonly removed: number;
  readonly withFiles: string[];
}

/** Changes a queue run makes to a message: recipients by index. */
export interface EnvelopePatch {
  attempts?: number;
  nextAttempt?: number;
  quarantine?: string | null;
  /** a delay warning has been queued for this message */
  warned?: boolean;
  /** recipients appended (the targets of an expanded alias), after the states above are applied */
  addRecipients?: readonly Recipient[];
  recipients?: ReadonlyArray<{
    readonly index: number;
    readonly state: RecipientState;
    readonly statusText?: string;
    readonly dsnStatus?: string;
    readonly adoptedBy?: string;
  }>;
}

/** One change to the queue; a batch of them is one transaction. */
export type Write = { kind: 'insert'; row: Row } | { kind: 'update'; id: string; patch: EnvelopePatch } | { kind: 'remove'; ids: string[] };

/** Each write's own outcome: a write that fails is rolled back alone (a savepoint), the others commit. */
export type WriteResult = { ok: true; value?: unknown } | { ok: false; error: { code: string; message: string } };

export type Request = { seq: number; op: 'batch'; writes: Write[] } | { seq: number; op: 'close' };

export type Reply =
  | { seq: number; ok: true; result?: unknown }
  | { seq: number; ok: false; error: { code: string; message: string } };

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY,
  arrival INTEGER NOT NULL,
  next_attempt INTEGER NOT NULL,
  envelope TEXT NOT NULL
) WITHOUT ROWID;
DROP INDEX IF EXISTS messages_next;
CREATE TABLE IF NOT EXISTS content (
  id TEXT PRIMARY KEY,
  data BLOB NOT NULL
);
`;

// Each B-tree a write touches is another WAL frame (two pwrite calls) in
// every commit: no index that no query reads (messages_next was one).  (The
// content table stays a rowid table: WITHOUT ROWID, with its payloads
// spilling into overflow pages, doubled the reads per accepted message.)

function main(): void {
  const port = parentPort;
  if (port === null) throw new Error('db-worker must run as a worker_thread');
  const { dbPath, fileMode } = workerData as { dbPath: string; fileMode: number };
  let db: Database.Database;
  try {
    db = new Database(dbPath);
    db.pragma('journal_mode = WAL');
    // FULL: in WAL mode, NORMAL does not fsync at COMMIT; invariant 3 needs it.
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 10000');
    db.exec(SCHEMA);
  } catch (e) {
    port.postMessage({ seq: 0, ok: false, error: describe(e) } satisfies Reply);
    return;
  }
  port.postMessage({ seq: 0, ok: true } satisfies Reply);

  const insert = db.prepare('INSERT INTO messages (id, arrival, next_attempt, envelope) VALUES (?, ?, ?, ?)');
  const select = db.prepare<[string], { envelope: string }>('SELECT envelope FROM messages WHERE id = ?');
  const change = db.prepare('UPDATE messages SET envelope = ?, next_attempt = ? WHERE id = ?');
  const del = db.prepare('DELETE FROM messages WHERE id = ?');
  const insertContent = db.prepare('INSERT INTO content (id, data) VALUES (?, ?)');
  const delContent = db.prepare('DELETE FROM content WHERE id = ?');

  const insertRow = (r: Row): void => {
    insert.run(r.id, r.arrival, r.nextAttempt, r.json);
    if (r.content !== undefined) insertContent.run(r.id, r.content);
  };
  const removeAll = (ids: string[]): Removal => {
    let removed = 0;
    const withFiles: string[] = [];
    for (const id of ids) {
      removed += del.run(id).changes;
      if (delContent.run(id).changes === 0) withFiles.push(id);
    }
    return { removed, withFiles };
  };
  const update = (id: string, patch: EnvelopePatch): boolean => {
    const row = select.get(id);
    if (row === undefined) return false;
    const env = JSON.parse(row.envelope) as Envelope;
    if (patch.attempts !== undefined) env.attempts = patch.attempts;
    if (patch.nextAttempt !== undefined) env.nextAttempt = patch.nextAttempt;
    if (patch.quarantine === null) delete env.quarantine;
    else if (patch.quarantine !== undefined) env.quarantine = patch.quarantine;
    if (patch.warned !== undefined) env.warned = patch.warned;
    for (const r of patch.recipients ?? []) {
      const rcpt = env.recipients[r.index];
      if (rcpt === undefined) throw Object.assign(new Error(`${id} has no recipient ${r.index}`), { code: 'BAD_INDEX' });
      rcpt.state = r.state;
      if (r.statusText !== undefined) rcpt.statusText = r.statusText;
      if (r.dsnStatus !== undefined) rcpt.dsnStatus = r.dsnStatus;
      if (r.adoptedBy !== undefined) rcpt.adoptedBy = r.adoptedBy;
    }
    // alias expansion: the targets join the envelope, each with its own state from now on
    for (const r of patch.addRecipients ?? []) env.recipients.push({ ...r });
    change.run(JSON.stringify(env), env.nextAttempt, id);
    return true;
  };
  // inside the batch's transaction each write is a savepoint: one that fails leaves the others be
  const one = db.transaction((w: Write): unknown => (w.kind === 'insert' ? insertRow(w.row) : w.kind === 'update' ? update(w.id, w.patch) : removeAll(w.ids)));
  const writerLock = openWriterLock(join(dirname(dbPath), CLAIMS_FILE), fileMode);
  const batch = db.transaction((writes: Write[]): WriteResult[] =>
    writes.map((w) => {
      try {
        return { ok: true, value: one(w) };
      } catch (e) {
        return { ok: false, error: describe(e) };
      }
    }),
  );

  // FULL while the batch holds something the queue has promised to keep; see mustSurvivePowerLoss()
  let synchronousFull = true;
  port.on('message', (req: Request) => {
    try {
      switch (req.op) {
        case 'batch': {
          let results: WriteResult[];
          const full = req.writes.some(mustSurvivePowerLoss);
          if (full !== synchronousFull) {
            db.pragma(`synchronous = ${full ? 'FULL' : 'NORMAL'}`);
            synchronousFull = full;
          }
          try {
            // BEGIN IMMEDIATE: the write lock first, waiting under busy_timeout.  A
            // deferred transaction that reads before it writes (update()) holds a
            // snapshot another process's commit makes stale, and SQLite then answers
            // SQLITE_BUSY at once, without waiting ("database is locked").
            results = writerLock(() => batch.immediate(req.writes));
          } catch (e) {
            // A failed COMMIT (e.g. an fsync error) may leave its rows in the
            // database after all; the callers will unlink their content, so
            // make sure no envelope without content survives.
            const inserted = req.writes.flatMap((w) => (w.kind === 'insert' ? [w.row.id] : []));
            try {
              if (inserted.length > 0) db.transaction(removeAll).immediate(inserted);
            } catch {
              /* the database is unwritable; recovery reports such rows */
            }
            throw e;
          }
          port.postMessage({ seq: req.seq, ok: true, result: results } satisfies Reply);
          break;
        }
        case 'close':
          db.close();
          port.postMessage({ seq: req.seq, ok: true } satisfies Reply);
          port.close();
          break;
      }
    } catch (e) {
      port.postMessage({ seq: req.seq, ok: false, error: describe(e) } satisfies Reply);
    }
  });
}

/**
 * Whether a write must be on disk before its caller hears "done".  A new
 * message must: the 250 or exit 0 that follows is the promise never to lose
 * it.  So must a quarantine (an administrator's order).  A queue run's
 * removal of a delivered message, or its record of what was delivered, need
 * not survive a power cut, only a crash of the process, which WAL with
 * synchronous=NORMAL gives without an fsync: lost, it makes the message go
 * out again (at least once, never lost), as sendmail's unlink of a qf file,
 * which it does not fsync, would.  The next FULL commit, or checkpoint,
 * makes such a commit durable too.  A relayed message then costs one WAL
 * fsync (its acceptance) instead of two.
 */
function mustSurvivePowerLoss(w: Write): boolean {
  return w.kind === 'insert' || (w.kind === 'update' && w.patch.quarantine !== undefined);
}

/**
 * Runs a transaction holding the queue's writer lock (claims.ts).  Why:
 * SQLite makes a writer that finds the database locked sleep and retry (1,
 * 2, 5, 10 ms...), so two processes committing in turn (the SMTP workers,
 * the queue runner) lost milliseconds per commit, up to 19 ms measured.
 * The lock is polled at short intervals instead (50 us doubling to 200 us;
 * polling every 20 us measured a third more CPU per message),
 * and never waited for unboundedly: after WRITER_LOCK_PATIENCE_MS the
 * transaction goes ahead without it, under SQLite's own locking, which keeps
 * transactions apart by itself.  (A blocking F_OFD_SETLKW would wait forever
 * on a holder that somehow never let go, stalling every writer of the queue.)
 * Without the file (a queue this process may not write) the same holds.
 */
const WRITER_LOCK_PATIENCE_MS = 2000;
const pause = new Int32Array(new SharedArrayBuffer(4));

function openWriterLock(path: string, mode: number): <T>(run: () => T) => T {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, mode);
  } catch {
    fd = undefined;
  }
  const take = (lockFd: number): boolean => {
    const deadline = performance.now() + WRITER_LOCK_PATIENCE_MS;
    for (let wait = 0.05; ; wait = Math.min(wait * 2, 0.2)) {
      if (native().descriptionLock(lockFd, 'write', WRITER_LOCK_AT, 1)) return true;
      if (performance.now() > deadline) return false;
      Atomics.wait(pause, 0, 0, wait);
    }
  };
  return (run) => {
    let held = false;
    if (fd !== undefined) {
      try {
        held = take(fd);
      } catch {
        held = false;
      }
    }
    try {
      return run();
    } finally {
      if (held) native().descriptionLock(fd!, 'unlock', WRITER_LOCK_AT, 1);
    }
  };
}

function describe(e: unknown): { code: string; message: string } {
  const err = e as { code?: unknown; message?: unknown };
  return { code: typeof err.code === 'string' ? err.code : 'UNKNOWN', message: String(err.message ?? e) };
}

main();
