/**
 * The submission channel between the MSP (`sendmail -t`, running as the
 * caller) and the daemon, over a Unix stream socket.
 *
 *   client → daemon   one line of JSON: the SubmissionRequest, then '\n'
 *                     the message bytes as the caller gave them, in frames
 *                     (submit-wire.ts): a 4-byte length, that many bytes;
 *                     length 0 ends the message, 0xffffffff abandons it
 *   daemon → client   one line of JSON: the SubmissionReply
 *
 * Only the end frame makes a message whole.  A client that stops in the
 * middle (its standard input failed, it was killed) gets nothing queued,
 * rather than the first part taken for the whole.
 *
 * The MSP sends what the caller said and nothing it could be trusted for:
 * the daemon takes the caller's identity from the kernel (SO_PEERCRED), and
 * adds Received:, X-Authentication-Warning: and the rest itself, so a
 * program that talks to the socket directly gains nothing over sendmail -t.
 * Only root and the client-queue runner may submit on behalf of another
 * user (the owner of a file in the client queue, checked by the runner).
 *
 * Here: the daemon's server and an asynchronous client (the client-queue
 * runner, -bs).  `sendmail -t` and -bm use the blocking client of
 * submit-blocking.ts, which costs less to start.
 */
import { createConnection, createServer, type Server } from 'node:net';
import { ERR, isPosternError, PosternError } from '../common/errors.js';
import { native, socketFd, type PeerCredentials } from '../privsep/native.js';
import {
  ABANDON_MESSAGE,
  ABORT_FRAME,
  END_OF_MESSAGE,
  FRAME_HEADER_BYTES,
  framed,
  MAX_FRAME_BYTES,
  MAX_REQUEST_BYTES,
  MessageSourceError,
  PROTOCOL_VERSION,
  protocolError,
  refusal,
  replyFrom,
  type SubmissionReply,
  type SubmissionRequest,
} from './submit-wire.js';

export { MAX_REQUEST_BYTES, PROTOCOL_VERSION, refusal, type SubmissionReply, type SubmissionRequest } from './submit-wire.js';

export interface IncomingSubmission {
  readonly request: SubmissionRequest;
  /** who is on the other end, from the kernel */
  readonly peer: PeerCredentials;
  /**
   * The message bytes, streamed.  Ends only at the client's end frame; when
   * the client abandons the message or goes away before it, the iteration
   * throws a PosternError of class SUBMIT_ABANDONED, so nothing built from
   * the bytes can be completed.
   */
  readonly body: AsyncIterable<Buffer>;
}

export type SubmissionHandler = (submission: IncomingSubmission) => Promise<SubmissionReply>;

function isRequest(value: unknown): value is SubmissionRequest {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  const optionalString = (k: string) => r[k] === undefined || typeof r[k] === 'string';
  return (
    r['version'] === PROTOCOL_VERSION &&
    Array.isArray(r['recipients']) &&
    (r['recipients'] as unknown[]).every((a) => typeof a === 'string') &&
    typeof r['recipientsFromHeaders'] === 'boolean' &&
    typeof r['ignoreDots'] === 'boolean' &&
    ['sender', 'fullName', 'envid', 'bodyType', 'untrustedConfig'].every(optionalString) &&
    (r['senderFlag'] === undefined || ['f', 'r', 'bs'].includes(r['senderFlag'] as string)) &&
    (r['ret'] === undefined || r['ret'] === 'hdrs' || r['ret'] === 'full') &&
    (r['hopCount'] === undefined || Number.isInteger(r['hopCount'])) &&
    (r['deferred'] === undefined || typeof r['deferred'] === 'boolean') &&
    (r['onBehalfOf'] === undefined || (Number.isInteger(r['onBehalfOf']) && (r['onBehalfOf'] as number) >= 0))
  );
}

/**
 * Splits what a socket sends into the request line and the bytes after it,
 * without holding the message in memory: the body is yielded as it comes.
 */
async function readRequest(chunks: AsyncIterator<Buffer>): Promise<{ request: SubmissionRequest; body: AsyncIterable<Buffer> } | { error: string }> {
  let head = Buffer.alloc(0);
  for (;;) {
    const next = await chunks.next();
    if (next.done) return { error: 'connection closed before the request line' };
    head = Buffer.concat([head, next.value]);
    const newline = head.indexOf(0x0a);
    if (newline < 0) {
      if (head.length > MAX_REQUEST_BYTES) return { error: 'request line too long' };
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(head.subarray(0, newline).toString('utf8'));
    } catch {
      return { error: 'request line is not JSON' };
    }
    if (!isRequest(parsed)) {
      const version = (parsed as { version?: unknown } | null)?.version;
      return { error: version !== PROTOCOL_VERSION ? `unsupported protocol version ${String(version)} (this daemon speaks ${PROTOCOL_VERSION})` : 'malformed submission request' };
    }
    return { request: parsed, body: unframe(head.subarray(newline + 1), chunks) };
  }
}

/** The message's bytes out of its frames; throws SUBMIT_ABANDONED unless the end frame comes. */
async function* unframe(first: Buffer, chunks: AsyncIterator<Buffer>): AsyncIterable<Buffer> {
  let pending = first;
  const more = async (): Promise<void> => {
    const next = await chunks.next();
    if (next.done === true) throw new PosternError(ERR.SUBMIT_ABANDONED, 'unexpected close before the end of the message');
    pending = pending.length === 0 ? next.value : Buffer.concat([pending, next.value]);
  };
  for (;;) {
    while (pending.length < FRAME_HEADER_BYTES) await more();
    const length = pending.readUInt32BE(0);
    pending = pending.subarray(FRAME_HEADER_BYTES);
    if (length === 0) return;
    if (length === ABORT_FRAME) throw new PosternError(ERR.SUBMIT_ABANDONED, 'message abandoned by the submitter');
    if (length > MAX_FRAME_BYTES) throw new PosternError(ERR.SUBMIT_PROTOCOL, `frame of ${length} bytes`);
    for (let left = length; left > 0; ) {
      if (pending.length === 0) await more();
      const part = pending.subarray(0, left);
      pending = pending.subarray(part.length);
      left -= part.length;
      yield part;
    }
  }
}

/** May this peer submit for `onBehalfOf`? Only root and the client-queue runner may name another user. */
export function mayActFor(peer: PeerCredentials, request: SubmissionRequest, queueRunnerUid: number | undefined): boolean {
  if (request.onBehalfOf === undefined || request.onBehalfOf === peer.uid) return true;
  return peer.uid === 0 || (queueRunnerUid !== undefined && peer.uid === queueRunnerUid);
}

/**
 * Listens on `where` (a socket path, or a listening descriptor inherited from
 * the master) and hands each submission to `handler`; one reply line per
 * connection.
 */
export function serveSubmissions(where: string | { fd: number }, handler: SubmissionHandler, options: { queueRunnerUid?: number } = {}): Server {
  return createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    void (async () => {
      let reply: SubmissionReply;
      // destroyOnReturn: false keeps the socket open for the reply once the body is read
      const chunks = socket.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer>;
      try {
        const peer = native().peerCredentials(socketFd(socket));
        const read = await readRequest(chunks);
        if ('error' in read) reply = protocolError(read.error);
        else if (!mayActFor(peer, read.request, options.queueRunnerUid)) {
          reply = refusal(ERR.PRIV_NO_PERMISSION, `uid ${peer.uid} may not submit for uid ${read.request.onBehalfOf}`);
        } else reply = await handler({ request: read.request, peer, body: read.body });
      } catch (e) {
        reply = isPosternError(e) ? refusal(ERR[e.code], e.message) : refusal(ERR.INTERNAL, `submission failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      socket.end(`${JSON.stringify(reply)}\n`);
      // whatever the client still sends (a refused message) is read and dropped,
      // so that the connection closes when the client is done
      await chunks.return?.();
      socket.resume();
    })();
  }).listen(where);
}

/**
 * The MSP's side: sends the request and the message, then waits for the
 * reply.  Rejects with the socket error (ENOENT, ECONNREFUSED...) when no
 * daemon listens, so the caller can fall back to the client queue.  When
 * reading `message` fails, the daemon is told the message is abandoned and
 * the reply is SUBMIT_INPUT_ERROR.
 */
export function submitMessage(path: string, request: SubmissionRequest, message: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<SubmissionReply> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path, allowHalfOpen: true });
    let connected = false;
    let replyText = '';
    socket.on('error', (e) => (connected ? resolve(protocolError(`lost the daemon: ${e.message}`)) : reject(e)));
    // a reply before the message is all sent is a refusal: stop sending
    socket.on('data', (d: Buffer) => (replyText += d.toString('utf8')));
    socket.on('end', () => resolve(replyFrom(replyText)));
    socket.on('connect', () => {
      connected = true;
      void (async () => {
        socket.write(`${JSON.stringify(request)}\n`);
        let whole = true;
        try {
          for await (const chunk of message) {
            if (replyText !== '' || socket.destroyed) {
              whole = false;
              break;
            }
            for (const part of framed(chunk)) if (!socket.write(part)) await new Promise((r) => socket.once('drain', r));
          }
        } catch (e) {
          socket.end(ABANDON_MESSAGE);
          resolve(refusal(ERR.SUBMIT_INPUT_ERROR, new MessageSourceError(e).message));
          return;
        }
        if (whole) socket.end(END_OF_MESSAGE);
        else socket.end();
      })().catch((e: unknown) => socket.destroy(e instanceof Error ? e : new Error(String(e))));
    });
  });
}
