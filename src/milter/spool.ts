/**
 * Bodies the milter code must read more than once (every filter gets the
 * whole body in turn, after the previous filter's replacement) or keep
 * until the session queues it (a replacement body).  Small ones stay in
 * memory; larger ones go to a file that is unlinked as soon as it is open,
 * so a crash leaves nothing behind and no other process can open it.
 *
 * Also the line-end conversions sendmail makes: filters see CR LF (the
 * message is stored with LF), and a replacement body's CR LF is stored as LF.
 */
import { randomBytes } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MILTER_CHUNK_SIZE } from './protocol.js';

/** A body that can be read from the start any number of times. */
export interface SpooledBody {
  readonly size: number;
  read(): AsyncIterable<Buffer>;
  dispose(): Promise<void>;
}

const MEMORY_LIMIT = 256 * 1024;
const READ_SIZE = 64 * 1024;

/** A body held in memory. */
export function memoryBody(chunks: readonly Buffer[]): SpooledBody {
  const size = chunks.reduce((n, c) => n + c.length, 0);
  return {
    size,
    async *read() {
      for (const c of chunks) yield c;
    },
    async dispose() {},
  };
}

function fileBody(fh: FileHandle, size: number): SpooledBody {
  let closed = false;
  return {
    size,
    async *read() {
      let pos = 0;
      while (pos < size) {
        const buf = Buffer.alloc(Math.min(READ_SIZE, size - pos));
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        yield buf.subarray(0, bytesRead);
      }
    },
    async dispose() {
      if (closed) return;
      closed = true;
      await fh.close();
    },
  };
}

/** Collects a body chunk by chunk, in memory until it grows past the limit. */
export class BodySpool {
  private chunks: Buffer[] = [];
  private size = 0;
  private fh: FileHandle | null = null;

  constructor(
    private readonly dir: string = tmpdir(),
    private readonly memoryLimit: number = MEMORY_LIMIT,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    if (this.fh === null && this.size + chunk.length <= this.memoryLimit) {
      this.chunks.push(chunk);
      this.size += chunk.length;
      return;
    }
    if (this.fh === null) {
      const path = join(this.dir, `.milter-body-${process.pid}-${randomBytes(6).toString('hex')}`);
      this.fh = await open(path, 'wx+', 0o600);
      await unlink(path);
      const held = Buffer.concat(this.chunks);
      this.chunks = [];
      if (held.length > 0) await this.fh.write(held, 0, held.length, 0);
    }
    await this.fh.write(chunk, 0, chunk.length, this.size);
    this.size += chunk.length;
  }

  finish(): SpooledBody {
    return this.fh === null ? memoryBody(this.chunks) : fileBody(this.fh, this.size);
  }

  async discard(): Promise<void> {
    this.chunks = [];
    if (this.fh !== null) await this.fh.close();
    this.fh = null;
  }
}

/** Spools a one-shot source so that it can be read again. */
export async function spoolBody(source: AsyncIterable<Buffer>, dir?: string): Promise<SpooledBody> {
  const spool = new BodySpool(dir);
  try {
    for await (const chunk of source) await spool.write(chunk);
  } catch (e) {
    await spool.discard();
    throw e;
  }
  return spool.finish();
}

/**
 * The body as filters receive it: every LF not already after a CR becomes
 * CR LF (milter_body), cut into chunks of at most MILTER_CHUNK_SIZE bytes.
 */
export async function* crlfChunks(source: AsyncIterable<Buffer>, max: number = MILTER_CHUNK_SIZE): AsyncGenerator<Buffer> {
  let out = Buffer.alloc(max);
  let n = 0;
  let prev = -1;
  for await (const chunk of source) {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === 0x0a && prev !== 0x0d) {
        out[n++] = 0x0d;
        if (n === max) {
          yield out;
          out = Buffer.alloc(max);
          n = 0;
        }
      }
      out[n++] = c;
      prev = c;
      if (n === max) {
        yield out;
        out = Buffer.alloc(max);
        n = 0;
      }
    }
  }
  if (n > 0) yield out.subarray(0, n);
}

/** A replacement body's CR LF made LF, across chunk boundaries (milter_replbody). */
export class CrlfToLf {
  private pendingCR = false;

  push(chunk: Buffer): Buffer {
    const out = Buffer.alloc(chunk.length + 1);
    let n = 0;
    let i = 0;
    if (this.pendingCR) {
      this.pendingCR = false;
      if (chunk[0] !== 0x0a) out[n++] = 0x0d;
    }
    for (; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === 0x0d) {
        if (i + 1 < chunk.length) {
          if (chunk[i + 1] === 0x0a) continue; // the LF that follows is written alone
        } else {
          this.pendingCR = true;
          continue;
        }
      }
      out[n++] = c;
    }
    return out.subarray(0, n);
  }

  /** What is still held at the end (a CR that ended the last chunk). */
  end(): Buffer {
    const held = this.pendingCR;
    this.pendingCR = false;
    return held ? Buffer.from([0x0d]) : Buffer.alloc(0);
  }
}
