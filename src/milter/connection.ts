/**
 * One socket to one filter: connect (T=C), framed writes (T=S) and reads
 * (T=R), each bounded by its timeout.  Every failure becomes a
 * MilterIOError whose message is the line sendmail's milter.c logs for it
 * (`Milter (name): error connecting to filter: Connection refused by
 * 127.0.0.1`, `Milter (name): timeout before data read, where=eom`...), so
 * the caller logs it and puts the filter into its error state.
 */
import { stat } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { ERR, PosternError, type ErrorClass } from '../common/errors.js';
import type { MilterDef } from '../config/types.js';
import { encodePacket, MILTER_MAX_DATA_SIZE, type Packet } from './protocol.js';

/** A reply longer than this is refused: libmilter never sends more than MILTER_MAX_DATA_SIZE. */
const MAX_INCOMING = 16 * (MILTER_MAX_DATA_SIZE + 1);

export class MilterIOError extends PosternError {
  constructor(cls: ErrorClass, message: string, options?: { cause?: unknown }) {
    super(cls, message, options);
    this.name = 'MilterIOError';
  }
}

const STRERROR: Record<string, string> = {
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  EPIPE: 'Broken pipe',
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ENOTSOCK: 'Socket operation on non-socket',
  ENOTFOUND: 'Unknown host',
  EAI_AGAIN: 'Host name lookup failure',
};

function errnoCode(e: unknown): string {
  return String((e as { code?: unknown })?.code ?? 'EIO');
}

/** strerror() of a Node error. */
export function strerror(e: unknown): string {
  const code = errnoCode(e);
  return STRERROR[code] ?? (e instanceof Error ? e.message : code);
}

/** sm_errstring(): a few errors name the host they happened with. */
function smErrstring(e: unknown, host: string): string {
  const code = errnoCode(e);
  if (code === 'ECONNREFUSED') return `Connection refused by ${host}`;
  if (code === 'ETIMEDOUT') return `Connection timed out with ${host}`;
  if (code === 'ECONNRESET') return `Connection reset by ${host}`;
  return strerror(e);
}

/** The host part as sendmail's milter_open names it in messages: the path, or what follows `@`. */
function peerName(def: MilterDef): string {
  const s = def.socket;
  if (s.family === 'local') return s.path;
  const at = def.socketSpec.indexOf('@');
  return at < 0 ? s.host : def.socketSpec.slice(at + 1);
}

export class MilterConnection {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private failure: unknown = null;
  private ended = false;
  private wake: (() => void) | null = null;

  private constructor(
    readonly name: string,
    private readonly socket: Socket,
  ) {
    socket.on('data', (b: Buffer) => {
      this.chunks.push(b);
      this.buffered += b.length;
      this.notify();
    });
    socket.on('end', () => {
      this.ended = true;
      this.notify();
    });
    socket.on('error', (e) => {
      this.failure ??= e;
      this.notify();
    });
    socket.on('close', () => {
      this.ended = true;
      this.notify();
    });
  }

  /**
   * Connects to the filter's S= socket within T=C seconds (0: no limit).
   * A Unix socket that cannot be stat()ed is "unsafe", as sendmail's
   * safefile() check calls it before connecting.
   */
  static async open(def: MilterDef, timeoutSeconds: number): Promise<MilterConnection> {
    const name = def.name;
    const host = peerName(def);
    const s = def.socket;
    if (s.family === 'local') {
      try {
        await stat(s.path);
      } catch (e) {
        // sendmail says no more; a directory this process may not search is worth naming (a worker runs as RunAsUser)
        const why = (e as NodeJS.ErrnoException).code === 'EACCES' ? ': Permission denied' : '';
        throw new MilterIOError(ERR.MILTER_CONNECT_FAILED, `Milter (${name}): local socket name ${s.path} unsafe${why}`, { cause: e });
      }
    }
    const socket =
      s.family === 'local'
        ? netConnect({ path: s.path })
        : netConnect({ host: s.host, port: Number(s.port), family: s.family === 'inet6' ? 6 : 4 });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer =
          timeoutSeconds > 0
            ? setTimeout(() => reject(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), timeoutSeconds * 1000)
            : null;
        socket.once('connect', () => {
          if (timer) clearTimeout(timer);
          resolve();
        });
        socket.once('error', (e) => {
          if (timer) clearTimeout(timer);
          reject(e);
        });
      });
    } catch (e) {
      socket.destroy();
      throw new MilterIOError(ERR.MILTER_CONNECT_FAILED, `Milter (${name}): error connecting to filter: ${smErrstring(e, host)}`, { cause: e });
    }
    socket.setNoDelay(true);
    return new MilterConnection(name, socket);
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  /** Writes one packet; waits for the socket to drain at most T=S seconds. */
  async write(cmd: string, data: Buffer | undefined, timeoutSeconds: number, where: string): Promise<void> {
    const len = data?.length ?? 0;
    if (len > MILTER_MAX_DATA_SIZE) {
      throw new MilterIOError(ERR.MILTER_PROTOCOL, `milter_write(${this.name}): length ${len} out of range, cmd=${cmd}`);
    }
    const failed = () =>
      new MilterIOError(
        ERR.MILTER_PROTOCOL,
        `Milter (${this.name}): write(${cmd}) returned -1, expected ${len + 5}: ${this.failure === null ? 'Broken pipe' : strerror(this.failure)}`,
        { cause: this.failure },
      );
    if (this.failure !== null || this.socket.destroyed || !this.socket.writable) throw failed();
    if (this.socket.write(encodePacket(cmd, data))) return;
    const drained = await new Promise<boolean>((resolve) => {
      const timer = timeoutSeconds > 0 ? setTimeout(() => done(false), timeoutSeconds * 1000) : null;
      const done = (ok: boolean) => {
        if (timer) clearTimeout(timer);
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(true);
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
    if (!drained) throw new MilterIOError(ERR.MILTER_TIMEOUT, `Milter (${this.name}): timeout before data write, where=${where}`);
    if (this.failure !== null || this.socket.destroyed) throw failed();
  }

  /** Reads one packet within T=R seconds (0: no limit). */
  async read(timeoutSeconds: number, where: string): Promise<Packet> {
    const deadline = timeoutSeconds > 0 ? Date.now() + timeoutSeconds * 1000 : Infinity;
    const head = await this.take(5, deadline, where, 0);
    const size = head.readUInt32BE(0);
    if (size < 1 || size > MAX_INCOMING) {
      throw new MilterIOError(ERR.MILTER_PROTOCOL, `milter_read(${this.name}): read size ${size - 1} out of range, where=${where}`);
    }
    const cmd = head.toString('latin1', 4, 5);
    const data = size > 1 ? await this.take(size - 1, deadline, where, 5) : Buffer.alloc(0);
    return { cmd, data };
  }

  /** `n` bytes from the stream; `before` is how much of the packet was already read, for the log words. */
  private async take(n: number, deadline: number, where: string, before: number): Promise<Buffer> {
    while (this.buffered < n) {
      if (this.failure !== null) {
        throw new MilterIOError(ERR.MILTER_PROTOCOL, `Milter (${this.name}): read returned -1: ${strerror(this.failure)}`, { cause: this.failure });
      }
      if (this.ended) {
        const got = before + this.buffered;
        const expected = before === 0 ? 5 : n + before;
        throw new MilterIOError(ERR.MILTER_PROTOCOL, `milter_sys_read(${this.name}): cmd read returned ${got}, expecting ${expected}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        const started = before > 0 || this.buffered > 0 ? 'during' : 'before';
        throw new MilterIOError(ERR.MILTER_TIMEOUT, `Milter (${this.name}): timeout ${started} data read, where=${where}`);
      }
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(left) ? setTimeout(resolve, left) : null;
        this.wake = () => {
          if (timer) clearTimeout(timer);
          resolve();
        };
      });
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks.length = 0;
    if (rest.length > 0) this.chunks.push(rest);
    this.buffered = rest.length;
    return out;
  }

  /** Closes the socket; what was written is still sent. */
  close(): void {
    if (this.socket.destroyed) return;
    this.socket.end();
    // a filter that keeps its side open does not keep ours
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  /** Drops the connection at once (an I/O error: sendmail closes without a QUIT). */
  destroy(): void {
    this.socket.destroy();
  }
}
