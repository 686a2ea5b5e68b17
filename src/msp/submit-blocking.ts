/**
 * The MSP's client of the submission channel (the protocol is in
 * submit-protocol.ts): blocking reads and writes on a socket the addon
 * connects, with no event loop in the way.  `sendmail -t` is a process that
 * lives for one message, and Node's net module with its streams costs it
 * more than the submission itself: loading them, a turn of the event loop
 * for the connect, libuv's thread pool for reading standard input (measured
 * in docs/architecture.md, "Start-up cost").  The daemon still learns the
 * caller from SO_PEERCRED of this connection, and still answers only once
 * the message is queued.
 */
import { closeSync, readSync, writeSync, writevSync } from 'node:fs';
import { native } from '../privsep/native.js';
import { ABANDON_MESSAGE, END_OF_MESSAGE, framed, MessageSourceError, protocolError, replyFrom, type SubmissionReply, type SubmissionRequest } from './submit-wire.js';

/** Errors that mean the daemon went away in the middle; its reply, if any, is still read. */
const LOST = new Set(['EPIPE', 'ECONNRESET']);

function writeAll(fd: number, data: Buffer): void {
  for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset);
}

/** One writev for a frame's header and bytes; a short write (a signal) is finished piece by piece. */
function writeFrames(fd: number, parts: Buffer[]): void {
  let written = writevSync(fd, parts);
  for (const part of parts) {
    if (written >= part.length) {
      written -= part.length;
      continue;
    }
    writeAll(fd, part.subarray(written));
    written = 0;
  }
}

/**
 * The daemon's reply is one line: it is whole at its newline.  Waiting for
 * the daemon to close as well cost a submission up to several milliseconds
 * (the worker closes in a later turn of its event loop, after other work).
 */
function readReply(fd: number): string {
  const parts: Buffer[] = [];
  const buffer = Buffer.allocUnsafe(4096);
  for (;;) {
    const n = readSync(fd, buffer, 0, buffer.length, null);
    if (n === 0) return Buffer.concat(parts).toString('utf8');
    parts.push(Buffer.from(buffer.subarray(0, n)));
    if (buffer.subarray(0, n).includes(0x0a)) return Buffer.concat(parts).toString('utf8');
  }
}

/**
 * Sends the request and `message` to the daemon at `path` and returns its
 * reply.  Throws the connect error (its `syscall` is 'connect': ENOENT,
 * ECONNREFUSED...) when no daemon listens, before anything of `message` is
 * read, so the caller can still queue the message itself.  When reading
 * `message` throws, the daemon is told the message is abandoned (it then
 * queues nothing) and the error is thrown on as a MessageSourceError.
 */
export function submitBlocking(path: string, request: SubmissionRequest, message: Iterable<Buffer>): SubmissionReply {
  const addon = native();
  const fd = addon.connectUnix(path);
  try {
    let lost: Error | undefined;
    try {
      writeAll(fd, Buffer.from(`${JSON.stringify(request)}\n`));
      const chunks = message[Symbol.iterator]();
      for (;;) {
        let next: IteratorResult<Buffer>;
        try {
          next = chunks.next();
        } catch (e) {
          abandon(fd);
          // wrapped, so that a reset of the caller's input is never taken for the daemon's
          throw e instanceof MessageSourceError ? e : new MessageSourceError(e);
        }
        // a reply before the message is all sent is a refusal: stop sending
        if (addon.waitReadable(fd, 0)) break;
        if (next.done === true) {
          writeAll(fd, END_OF_MESSAGE);
          break;
        }
        writeFrames(fd, framed(next.value));
      }
      addon.shutdownWrite(fd);
    } catch (e) {
      if (!LOST.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
      lost = e as Error;
    }
    let text: string;
    try {
      text = readReply(fd);
    } catch (e) {
      if (!LOST.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
      lost ??= e as Error;
      text = '';
    }
    return lost !== undefined && text === '' ? protocolError(`lost the daemon: ${lost.message}`) : replyFrom(text);
  } finally {
    closeSync(fd);
  }
}

/** Tells the daemon the message will not be finished; a daemon already gone needs no telling. */
function abandon(fd: number): void {
  try {
    writeAll(fd, ABANDON_MESSAGE);
  } catch {
    // closing the socket without an end frame says the same
  }
}
