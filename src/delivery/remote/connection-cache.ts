/**
 * Open SMTP sessions kept between messages to the same host, as sendmail's
 * connection cache: at most ConnectionCacheSize idle sessions, each closed
 * (QUIT) after ConnectionCacheTimeout seconds unused.  A session is taken
 * out while a message uses it, so two deliveries never share one.
 */
import type { SmtpSession } from './smtp-session.js';

interface Idle {
  readonly session: SmtpSession;
  readonly timer: NodeJS.Timeout;
}

export class ConnectionCache {
  private readonly idle = new Map<string, Idle[]>();
  private count = 0;

  constructor(
    private readonly size: number,
    private readonly timeoutSeconds: number,
  ) {}

  /** An idle session to `key` (address, port and name), if one is still usable. */
  take(key: string): SmtpSession | undefined {
    const list = this.idle.get(key);
    while (list !== undefined && list.length > 0) {
      const entry = list.pop()!;
      this.count--;
      clearTimeout(entry.timer);
      if (list.length === 0) this.idle.delete(key);
      if (entry.session.usable) return entry.session;
      entry.session.quit();
    }
    return undefined;
  }

  /**
   * Keeps `session` for the next message to `key`, or closes it when it
   * cannot go on or the cache is off or full of newer ones.  A kept session
   * sends the RSET that goes before its next message now (SmtpSession.resetAhead()).
   */
  put(key: string, session: SmtpSession): void {
    if (this.size <= 0 || this.timeoutSeconds <= 0 || !session.usable) {
      session.quit();
      return;
    }
    session.resetAhead();
    while (this.count >= this.size) this.evictOldest();
    const timer = setTimeout(() => this.drop(key, session), this.timeoutSeconds * 1000);
    // an idle connection must not keep a finished queue run alive
    timer.unref();
    const list = this.idle.get(key) ?? [];
    list.push({ session, timer });
    this.idle.set(key, list);
    this.count++;
  }

  /** QUITs every idle session (end of a queue run). */
  closeAll(): void {
    for (const list of this.idle.values()) {
      for (const entry of list) {
        clearTimeout(entry.timer);
        entry.session.quit();
      }
    }
    this.idle.clear();
    this.count = 0;
  }

  get idleCount(): number {
    return this.count;
  }

  private drop(key: string, session: SmtpSession): void {
    const list = this.idle.get(key);
    const i = list?.findIndex((e) => e.session === session) ?? -1;
    if (list === undefined || i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.idle.delete(key);
    this.count--;
    session.quit();
  }

  private evictOldest(): void {
    let oldest: { key: string; session: SmtpSession } | undefined;
    for (const [key, list] of this.idle) {
      for (const e of list) if (oldest === undefined || e.session.lastUsed < oldest.session.lastUsed) oldest = { key, session: e.session };
    }
    if (oldest === undefined) {
      this.count = 0;
      return;
    }
    const list = this.idle.get(oldest.key)!;
    const entry = list.find((e) => e.session === oldest!.session)!;
    clearTimeout(entry.timer);
    this.drop(oldest.key, oldest.session);
  }
}
