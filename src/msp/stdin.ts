import { readSync } from 'node:fs';
import { native } from '../privsep/native.js';

/**
 * Standard input as buffers, read with blocking reads on fd 0: no
 * process.stdin (Node's stream and tty machinery) and no libuv thread pool,
 * whose threads a one-message process would start only for this.  Reading
 * starts only when the consumer asks, so a message that could not be sent
 * to the daemon is still there for the client queue.
 */
export function* standardInputSync(): Generator<Buffer, void, undefined> {
  for (;;) {
    const buffer = Buffer.allocUnsafe(1 << 16);
    let n: number;
    try {
      n = readSync(0, buffer, 0, buffer.length, null);
    } catch (e) {
      // a descriptor someone sharing it made non-blocking: wait for input, then read again
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      native().waitReadable(0, -1);
      continue;
    }
    if (n === 0) return;
    yield buffer.subarray(0, n);
  }
}

/** The same, for consumers that take an async iterable. */
export async function* standardInput(): AsyncIterable<Buffer> {
  yield* standardInputSync();
}
