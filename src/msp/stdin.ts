import { readSync } from 'node:fs';
import { native } from '../privsep/native.js';

/**
 * Standard input as buffers, read with blocking reads on fd 0: no
 * process.stdin (Node's stream and tty machinery) and no libuv thread pool,
 * whose threads a one-message process would start only for this.  Reading
 * starts only when the consumer asks, so a message that could not be sent
 * to the daemon is still there for the client queue.  With `reuseBuffer`,
 * each chunk is valid only until the next one is asked for.
 */
export function* standardInputSync(options: { reuseBuffer?: boolean } = {}): Generator<Buffer, void, undefined> {
  // one buffer for every read, when the consumer is done with each chunk before it asks for the next:
  // a 50 MB message then leaves no trail of garbage for the collector to catch up with
  const shared = options.reuseBuffer === true ? Buffer.allocUnsafe(1 << 16) : undefined;
  for (;;) {
    const buffer = shared ?? Buffer.allocUnsafe(1 << 16);
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
