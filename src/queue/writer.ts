/**
 * The client side of db-worker.ts, and the group commit.
 *
 * Group commit: every write -- a new message whose content is on disk or in
 * hand, a queue run's update or removal -- joins `pending`.  When no commit
 * is running, one starts and takes everything pending: one fsync of the
 * content directory when new messages have content files, then one SQLite
 * transaction (one WAL fsync) in the worker, each write in it a savepoint
 * of its own.  Writes that arrive while it runs wait and form the next
 * batch.  Nothing waits on a timer, so a lone write commits at once, and
 * under load batches grow by themselves: the SMTP sessions' new messages
 * share fsyncs, and so do the queue runner's lanes, whose two commits per
 * delivered message would otherwise each cost an fsync of their own.  No
 * fsync is ever skipped.
 */
import { Worker } from 'node:worker_threads';
import type { EnvelopePatch, Removal, Reply, Request, Row, Write, WriteResult } from './db-worker.js';
import { entryPoint } from '../common/package-root.js';
import { queueError, syncDirectory } from './content.js';

type Pending = { write: Write; what: string; resolve: (value: unknown) => void; reject: (e: unknown) => void };

/** Counters for tests and the bench. */
export interface CommitStats {
  /** database transactions committed (each one WAL fsync) for accepted messages */
  commits: number;
  /** fsyncs of the content directory */
  dirSyncs: number;
  /** messages committed */
  messages: number;
  /** the largest batch so far */
  largestBatch: number;
}

type DistributiveOmit<T, K extends keyof never> = T extends unknown ? Omit<T, K> : never;

export class QueueWriter {
  readonly stats: CommitStats = { commits: 0, dirSyncs: 0, messages: 0, largestBatch: 0 };
  private pending: Pending[] = [];
  private running = false;
  private seq = 0;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private dead: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly contentDir: string,
  ) {
    worker.on('message', (reply: Reply) => {
      const call = this.calls.get(reply.seq);
      if (call === undefined) return;
      this.calls.delete(reply.seq);
      if (this.calls.size === 0) worker.unref();
      if (reply.ok) call.resolve(reply.result);
      else call.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    });
    const fail = (e: Error): void => {
      this.dead = e;
      for (const c of this.calls.values()) c.reject(e);
      this.calls.clear();
    };
    worker.on('error', fail);
    worker.on('exit', () => fail(new Error('the queue database worker has exited')));
    // The thread holds the process only while a call waits for it: an open but
    // idle queue (everything it was given committed) does not keep a process
    // alive, so a forgotten close() cannot hang one.  (After the listeners: a
    // 'message' listener refs the worker's port again.)
    worker.unref();
  }

  static async start(dbPath: string, contentDir: string, fileMode: number): Promise<QueueWriter> {
    // The worker inherits execArgv; --input-type (node -e callers) would stop it from loading.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    const worker = new Worker(entryPoint(import.meta.url, 'queue-db', './db-worker.js'), { workerData: { dbPath, fileMode }, execArgv });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (reply: Reply): void => {
        worker.off('error', onError);
        if (reply.ok) resolve();
        else {
          void worker.terminate();
          reject(queueError(Object.assign(new Error(reply.error.message), { code: reply.error.code }), `cannot open ${dbPath}`));
        }
      };
      const onError = (e: Error): void => reject(queueError(e, `cannot open ${dbPath}`));
      worker.once('message', onMessage);
      worker.once('error', onError);
    });
    return new QueueWriter(worker, contentDir);
  }

  private call(req: DistributiveOmit<Request, 'seq'>): Promise<unknown> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      if (this.calls.size === 0) this.worker.ref();
      this.calls.set(seq, { resolve, reject });
      this.worker.postMessage({ ...req, seq } as Request);
    });
  }

  /** Commits one new message (its content file, if it has one, written and fsync'd); resolves when it is durable. */
  async commit(row: Row): Promise<void> {
    await this.write({ kind: 'insert', row }, 'cannot commit to the queue');
  }

  /** Records a queue run's results for one message; false when there is no such message. */
  async update(id: string, patch: EnvelopePatch): Promise<boolean> {
    return (await this.write({ kind: 'update', id, patch }, `cannot update ${id}`)) as boolean;
  }

  /** Removes messages' envelopes and stored content; says which had content files to unlink. */
  async remove(ids: string[]): Promise<Removal> {
    return (await this.write({ kind: 'remove', ids }, 'cannot remove from the queue')) as Removal;
  }

  private write(write: Write, what: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.push({ write, what, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      const inserts = batch.filter((p) => p.write.kind === 'insert').length;
      try {
        if (batch.some((p) => p.write.kind === 'insert' && p.write.row.content === undefined)) {
          await syncDirectory(this.contentDir);
          this.stats.dirSyncs++;
        }
        const results = (await this.call({ op: 'batch', writes: batch.map((p) => p.write) })) as WriteResult[];
        if (inserts > 0) {
          this.stats.commits++;
          this.stats.messages += inserts;
          this.stats.largestBatch = Math.max(this.stats.largestBatch, inserts);
        }
        for (const [i, p] of batch.entries()) {
          const r = results[i];
          if (r?.ok === true) p.resolve(r.value);
          else p.reject(queueError(Object.assign(new Error(r?.error.message ?? 'no result'), { code: r?.error.code ?? 'UNKNOWN' }), p.what));
        }
      } catch (e) {
        for (const p of batch) p.reject(queueError(e, p.what));
      }
    }
    this.running = false;
  }

  async close(): Promise<void> {
    while (this.running || this.pending.length > 0) await new Promise((r) => setTimeout(r, 5));
    if (this.dead === undefined) await this.call({ op: 'close' }).catch(() => {});
    await this.worker.terminate();
  }
}
