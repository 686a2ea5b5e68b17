import { read } from 'node:fs';

/**
 * Standard input as a stream of buffers, read with plain reads on fd 0
 * (process.stdin would load Node's stream and tty machinery into every
 * submission).  Reading starts only when the consumer asks, so a message
 * that could not be sent to the daemon is still there for the client queue.
 */
export async function* standardInput(): AsyncIterable<Buffer> {
  for (;;) {
    const buffer = Buffer.allocUnsafe(1 << 16);
    const n = await new Promise<number>((resolve, reject) =>
      read(0, buffer, 0, buffer.length, null, (err, bytes) => (err ? reject(err) : resolve(bytes))),
    );
    if (n === 0) return;
    yield buffer.subarray(0, n);
  }
}
