/**
 * The MTA queue store.
 *
 *   const q = await openQueue({ dir: '/var/spool/mqueue', fileMode: 0o600 });
 *   q.recovery                        // { removed: orphan content ids, missing: envelopes without content }
 *   const { id, size } = await q.accept(newEnvelope, readable);   // durable when it resolves: reply 250 then
 *   q.list()                          // every envelope, oldest first (mailq, queue runs)
 *   q.read(id)                        // one envelope, or undefined
 *   q.openContent(id)                 // a Readable of the stored message
 *   await q.update(id, { recipients: [{ index: 0, state: 'sent' }], attempts: 1, nextAttempt })
 *   await q.remove(id)                // after delivery: envelope first, then the content file
 *   q.stats                           // { commits, dirSyncs, messages, largestBatch }
 *   await q.close()
 *
 * Layout of the queue directory (created 0700 when absent; the caller makes
 * it belong to RunAsUser): `queue.db` (+ `-wal`, `-shm`), SQLite in WAL mode
 * with synchronous=FULL, one row per message holding the envelope as JSON,
 * and the content of messages up to INLINE_LIMIT bytes; `df/<id>`, the
 * content of bigger messages, mode `fileMode` (TempFileMode); `claims`, the
 * empty file queue runners lock ranges of (claims.ts); `reserve`, 256 KiB of
 * zeros given back when a full file system refuses even the DELETE of a
 * delivered message (see remove()).
 *
 * Order of durability for accept(): a small message is held in memory; a
 * big one's content file is created O_EXCL, streamed, fsync'd, closed.
 * Then, shared by the whole batch (group commit, see writer.ts), fsync of
 * `df/` when the batch has content files, and one transaction inserting the
 * envelopes and small contents, fsync'd by SQLite.  accept() resolves only
 * after all of that.  A crash before the commit leaves at most a content
 * file without an envelope, which recovery at the next open removes; after
 * it, the message is whole.
 *
 * Queue ids: the store assigns them (QueueIdGenerator of qid.ts, this
 * process's pid); the caller learns the id from accept()'s result.  The
 * pid in the id also tells recovery which writer a content file belongs to.
 *
 * Errors: running out of space, quota, a read-only queue or a permission
 * failure while writing or committing reject with PosternError OS_NO_SPACE
 * (452 4.3.1, exit 75); other OS failures with OS_CALL_FAILED.  Either way
 * nothing of the message remains.  An error of the content source itself
 * (the client went away) is passed through as it is.
 *
 * Several processes may open the same queue (workers, runner, mailq): SQLite
 * serialises the writes.  Concurrent update()/remove() of one message by two
 * runners is the caller's business (a runner must own a message it works on).
 */
import { createReadStream, mkdirSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import type { Envelope } from './envelope.js';
import { CONTENT_DIR, DB_NAME, selectEnvelopes } from './layout.js';
import { QueueIdGenerator } from './qid.js';
import { holdContent, queueError, writeContent, type ContentSource } from './content.js';
import { Claims, type Claim } from './claims.js';
import { QueueWriter, type CommitStats } from './writer.js';
import { makeReserve, openInProcess, recover, releaseReserve, type RecoveryReport } from './recovery.js';
import { ERR, isPosternError } from '../common/errors.js';
import type { EnvelopePatch } from './db-worker.js';

export type { ContentSource } from './content.js';
export type { CommitStats } from './writer.js';
export type { EnvelopePatch } from './db-worker.js';
export type { RecoveryReport } from './recovery.js';

/** What accept() takes: an envelope without the fields the store fills in. */
export type NewEnvelope = Omit<Envelope, 'id' | 'size' | 'attempts' | 'nextAttempt'> & {
  attempts?: number;
  nextAttempt?: number;
};

export interface QueueOptions {
  /** the queue directory (QueueDirectory) */
  readonly dir: string;
  /** content files' mode (TempFileMode); default 0600 */
  readonly fileMode?: number;
  /** ids; default a generator for this process */
  readonly ids?: QueueIdGenerator;
  /** orphan content files of a live writer are kept this long (ms); default 1 hour */
  readonly orphanGraceMs?: number;
}

export { CONTENT_DIR, DB_NAME } from './layout.js';

/**
 * Messages up to this size are stored in the database with their envelope,
 * bigger ones in a content file.  Why: a content file costs a create, an
 * fsync of its own and an unlink per message (measured: about half the CPU
 * of accepting a 10 KiB message), while rows share their batch's one WAL
 * fsync.  This much is held in memory per message being received.
 */
export const INLINE_LIMIT = 128 * 1024;

export class MessageQueue {
  private closed = false;
  private claims: Claims | undefined;
  /** this process gave the space reserve back to delete on a full file system */
  private reserveGiven = false;
  private readonly selectEnvelope: Database.Statement<[string], { envelope: string }>;
  private readonly inlineContent: Database.Statement<[string], { data: Buffer }>;

  private constructor(
    readonly dir: string,
    private readonly fileMode: number,
    private readonly ids: QueueIdGenerator,
    private readonly writer: QueueWriter,
    private readonly db: Database.Database,
    /** what recovery found at open */
    readonly recovery: RecoveryReport,
  ) {
    this.inlineContent = db.prepare('SELECT data FROM content WHERE id = ?');
    this.selectEnvelope = db.prepare('SELECT envelope FROM messages WHERE id = ?');
  }

  static async open(options: QueueOptions): Promise<MessageQueue> {
    const dir = options.dir;
    const contentDir = join(dir, CONTENT_DIR);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      mkdirSync(contentDir, { mode: 0o700, recursive: true });
    } catch (e) {
      throw queueError(e, `cannot create the queue ${dir}`);
    }
    await makeReserve(dir);
    const dbPath = join(dir, DB_NAME);
    const writer = await QueueWriter.start(dbPath, contentDir, options.fileMode ?? 0o600);
    let db: Database.Database;
    try {
      db = new Database(dbPath, { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 10000');
    } catch (e) {
      await writer.close();
      throw queueError(e, `cannot open ${dbPath}`);
    }
    const select = db.prepare<[], { id: string }>('SELECT id FROM messages');
    let report: RecoveryReport;
    try {
      const stored = db.prepare<[string], { n: number }>('SELECT 1 AS n FROM content WHERE id = ?');
      report = await recover(contentDir, () => new Set(select.all().map((r) => r.id)), options.orphanGraceMs ?? 3_600_000, (id) => stored.get(id) !== undefined);
    } catch (e) {
      db.close();
      await writer.close();
      throw queueError(e, `cannot recover the queue ${dir}`);
    }
    openInProcess.count++;
    return new MessageQueue(dir, options.fileMode ?? 0o600, options.ids ?? new QueueIdGenerator(), writer, db, report);
  }

  /** Commit counters (group commit), for tests and benchmarks. */
  get stats(): Readonly<CommitStats> {
    return this.writer.stats;
  }

  private contentPath(id: string): string {
    return join(this.dir, CONTENT_DIR, id);
  }

  /**
   * Claims a message for delivery (claims.ts), so that two queue runners
   * (the daemon's and a `sendmail -q`) never work on one message at once.
   * Undefined when another runner has it.  The claim goes with the process,
   * should the runner die.
   */
  claim(id: string): Claim | undefined {
    this.claims ??= Claims.open(this.dir, this.fileMode);
    return this.claims.take(id);
  }

  /**
   * A queue id for a message about to be accepted, for callers that must
   * write it into the message first (Received: ... id QID, Message-Id).
   */
  assignId(): Promise<string> {
    return this.ids.assign();
  }

  /**
   * Stores a message durably; resolves once content and envelope are
   * fsync'd.  `options.id` is an id from assignId(); without it the store
   * assigns one.
   */
  async accept(envelope: NewEnvelope, content: ContentSource, options: { id?: string } = {}): Promise<{ id: string; size: number }> {
    if (this.closed) throw queueError(Object.assign(new Error('the queue is closed'), { code: 'ECLOSED' }), 'accept');
    const received = await holdContent(content, INLINE_LIMIT);
    let id = options.id ?? (await this.assignId());
    let size = received.size;
    if (received.bytes === undefined) {
      try {
        for (let tries = 0; ; tries++) {
          try {
            size = await writeContent(this.contentPath(id), received.held, received.rest, this.fileMode);
            break;
          } catch (e) {
            // the same id left by an earlier process with the same pid: take the next one
            // (an id the caller already wrote into the message cannot be swapped for another)
            const cause = (e as { cause?: { code?: unknown } }).cause;
            if (options.id !== undefined || cause?.code !== 'EEXIST' || tries > 100) throw e;
            id = await this.assignId();
          }
        }
      } finally {
        await received.rest.return?.();
      }
    }
    for (let tries = 0; ; tries++) {
      const full: Envelope = { ...envelope, id, size, attempts: envelope.attempts ?? 0, nextAttempt: envelope.nextAttempt ?? envelope.arrival };
      try {
        await this.writer.commit({
          id,
          json: JSON.stringify(full),
          arrival: full.arrival,
          nextAttempt: full.nextAttempt,
          ...(received.bytes !== undefined ? { content: received.bytes } : {}),
        });
        return { id, size };
      } catch (e) {
        // The id is taken by a message an earlier process with the same pid
        // queued in the same second (ids are not checked beforehand: a query
        // per message for what needs a pid reused within a second).  Take
        // the next one, unless the caller already wrote it into the message.
        // (A big message's file was created O_EXCL under the id, so its id is rarely taken; it fails.)
        const retry = options.id === undefined && received.bytes !== undefined && tries < 100 && (e as { cause?: { code?: unknown } }).cause?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
        if (!retry) {
          if (received.bytes === undefined) await unlink(this.contentPath(id)).catch(() => {});
          throw e;
        }
        id = await this.assignId();
      }
    }
  }

  /** Every envelope, oldest arrival first. */
  list(): Envelope[] {
    return selectEnvelopes(this.db);
  }

  /** One envelope, or undefined when there is no such message. */
  read(id: string): Envelope | undefined {
    const row = this.selectEnvelope.get(id);
    return row === undefined ? undefined : (JSON.parse(row.envelope) as Envelope);
  }

  /** The stored message, as a stream. */
  openContent(id: string): Readable {
    const bytes = this.storedBytes(id);
    return bytes !== undefined ? Readable.from([bytes], { objectMode: false }) : createReadStream(this.contentPath(id));
  }

  /** The message's bytes when the database holds them (a small message); undefined when they are in its content file. */
  storedBytes(id: string): Buffer | undefined {
    return this.inlineContent.get(id)?.data;
  }

  /** Records delivery results; false when there is no such message. */
  update(id: string, patch: EnvelopePatch): Promise<boolean> {
    return this.writer.update(id, patch);
  }

  /** Removes a delivered message: the envelope and stored content (committed), then any content file.  False when absent. */
  async remove(id: string): Promise<boolean> {
    let removed: { removed: number; withFiles: string[] };
    try {
      removed = await this.writer.remove([id]);
    } catch (e) {
      // A full file system refuses even a DELETE (the WAL must grow): give
      // back the reserve, delete, and make the reserve again when space allows.
      if (!isPosternError(e, ERR.OS_NO_SPACE) || !(await releaseReserve(this.dir))) throw e;
      this.reserveGiven = true;
      removed = await this.writer.remove([id]);
    }
    for (const file of removed.withFiles) {
      await unlink(this.contentPath(file)).catch((e: { code?: string }) => {
        if (e.code !== 'ENOENT') throw queueError(e, `cannot remove ${file}`);
      });
    }
    // made again by the process that gave it back, once there is room (not checked at every removal: a stat each)
    if (this.reserveGiven) this.reserveGiven = !(await makeReserve(this.dir));
    return removed.removed > 0;
  }

  /** Waits for commits in progress, then closes both connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    openInProcess.count--;
    await this.writer.close();
    this.db.close();
  }
}

/** Opens (creating when needed) the queue in `options.dir`, recovering what a crash left. */
export function openQueue(options: QueueOptions): Promise<MessageQueue> {
  return MessageQueue.open(options);
}
