/**
 * The client side of db-worker.ts, and the group commit.
 *
 * Group commit: accept() calls whose content is on disk join `pending`.
 * When no commit is running, one starts and takes every pending message:
 * one fsync of the content directory (new entries of big messages' files),
 * then one SQLite transaction (one WAL fsync) in the worker, which stores
 * small messages' content with their envelopes.  Messages that become ready
 * while it runs wait and form the next batch.  Nothing waits on a timer, so
 * a lone message is committed at once, and under load batches grow by
 * themselves.  No fsync is ever skipped.
 */
import { Worker } from 'node:worker_threads';
import type { EnvelopePatch, Removal, Reply, Request, Row } from './db-worker.js';
import { entryPoint } from '../common/package-root.js';
import { queueError, syncDirectory } from './content.js';

type Pending = { row: Row; resolve: () => void; reject: (e: unknown) => void };

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
  }

  static async start(dbPath: string, contentDir: string): Promise<QueueWriter> {
    // The worker inherits execArgv; --input-type (node -e callers) would stop it from loading.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    const worker = new Worker(entryPoint(import.meta.url, 'queue-db', './db-worker.js'), { workerData: { dbPath }, execArgv });
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
      this.calls.set(seq, { resolve, reject });
      this.worker.postMessage({ ...req, seq } as Request);
    });
  }

  /** Commits one envelope whose content file is already written and fsync'd; resolves when it is durable. */
  commit(row: Row): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ row, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        if (batch.some((p) => p.row.content === undefined)) {
          await syncDirectory(this.contentDir);
          this.stats.dirSyncs++;
        }
        await this.call({ op: 'commit', rows: batch.map((p) => p.row) });
        this.stats.commits++;
        this.stats.messages += batch.length;
        this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
        for (const p of batch) p.resolve();
      } catch (e) {
        const err = queueError(e, 'cannot commit to the queue');
        for (const p of batch) p.reject(err);
      }
    }
    this.running = false;
  }

  async update(id: string, patch: EnvelopePatch): Promise<boolean> {
    try {
      return (await this.call({ op: 'update', id, patch })) as boolean;
    } catch (e) {
      throw queueError(e, `cannot update ${id}`);
    }
  }

  async remove(ids: string[]): Promise<Removal> {
    try {
      return (await this.call({ op: 'remove', ids })) as Removal;
    } catch (e) {
      throw queueError(e, 'cannot remove from the queue');
    }
  }

  async close(): Promise<void> {
    while (this.running || this.pending.length > 0) await new Promise((r) => setTimeout(r, 5));
    if (this.dead === undefined) await this.call({ op: 'close' }).catch(() => {});
    await this.worker.terminate();
  }
}
