/**
 * The MSP's own copy of the message it is sending.  sendmail's MSP queues
 * every message in its client queue before it relays it to the MTA, so
 * when the MTA cannot take it (a filter's tempfail, a 4xx at the end of
 * the data, a connection that breaks before the reply, a full queue) the
 * message waits there and the MSP exits 0.  Postern's MSP streams standard
 * input to the daemon instead, so it keeps what it has sent until the
 * daemon answers: a small message in memory, a big one (past
 * MEMORY_LIMIT) in a temporary file in the client queue, written as the
 * message goes (no fsync: it only becomes a queue file if the daemon fails).
 * If the daemon takes the message, the copy goes; if it fails for now, the
 * copy and the rest of standard input become a client-queue file, made as
 * when no daemon runs at all.
 *
 * A read error on the input is never the end of the message: it is thrown
 * as a MessageSourceError, and the caller abandons the submission.
 *
 * The source may hand out one buffer again and again (standardInputSync's
 * reuseBuffer): every chunk is copied, written or sent before the next is
 * read, which is also what the consumer of sending() must do.
 */
import { ClientQueueFile, clientQueueRefusal } from './client-queue-file.js';
import { MessageSourceError, refusal, type SubmissionReply, type SubmissionRequest } from './submit-wire.js';
import { ERR } from '../common/errors.js';

/** Up to this much of a message is kept in memory; past it, in the client queue. */
export const MEMORY_LIMIT = 128 * 1024;

export class KeptMessage {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private spool: ClientQueueFile | undefined;
  /** why no copy is kept any more (no client queue, or it could not be written) */
  private lost: string | undefined;

  constructor(
    private readonly source: Iterator<Buffer>,
    private readonly queue: { readonly dir: string; readonly request: SubmissionRequest } | null,
  ) {}

  /** The message for the daemon: each chunk is kept before it is handed on.  Leaving early leaves the rest unread. */
  *sending(): Generator<Buffer, void, undefined> {
    for (let chunk = this.read(); chunk !== undefined; chunk = this.read()) {
      this.keep(chunk);
      yield chunk;
    }
  }

  /** The daemon has the message: the copy goes. */
  discard(): void {
    this.held = [];
    this.spool?.abandon();
    this.spool = undefined;
  }

  /**
   * The daemon could not take the message: what was read and the rest of
   * the input become a client-queue file.  The reply says so (its id), or
   * why the client queue could not take it.  A read error is thrown (and
   * nothing is queued).
   */
  toClientQueue(): SubmissionReply {
    if (this.queue === null) return refusal(ERR.CONFIG_MISSING, 'QueueDirectory (Q) option must be set');
    if (this.lost !== undefined) return refusal(ERR.OS_NO_SPACE, this.lost);
    let file = this.spool;
    this.spool = undefined;
    try {
      if (file === undefined) {
        file = ClientQueueFile.create(this.queue.dir, this.queue.request);
        for (const chunk of this.held) file.write(chunk);
      }
      this.held = [];
      for (let chunk = this.read(); chunk !== undefined; chunk = this.read()) file.write(chunk);
      file.commit();
      return { ok: true, id: file.id, lines: [] };
    } catch (e) {
      file?.abandon();
      if (e instanceof MessageSourceError) throw e;
      return clientQueueRefusal(this.queue.dir, e);
    }
  }

  private read(): Buffer | undefined {
    let next: IteratorResult<Buffer>;
    try {
      next = this.source.next();
    } catch (e) {
      throw new MessageSourceError(e);
    }
    return next.done === true ? undefined : next.value;
  }

  private keep(chunk: Buffer): void {
    if (this.lost !== undefined) return;
    if (this.spool === undefined && this.heldBytes + chunk.length <= MEMORY_LIMIT) {
      // the source may reuse its buffer for the next chunk
      this.held.push(Buffer.from(chunk));
      this.heldBytes += chunk.length;
      return;
    }
    try {
      if (this.spool === undefined) {
        if (this.queue === null) throw new Error('QueueDirectory (Q) option must be set');
        this.spool = ClientQueueFile.create(this.queue.dir, this.queue.request);
        for (const c of this.held) this.spool.write(c);
        this.held = [];
      }
      this.spool.write(chunk);
    } catch (e) {
      // the message still goes to the daemon; only a failure there would find no copy
      this.discard();
      this.lost = `no copy of the message could be kept${this.queue === null ? '' : ` in ${this.queue.dir}`}: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
}
