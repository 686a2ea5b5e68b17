/**
 * The submission channel between the MSP (`sendmail -t`, running as the
 * caller) and the daemon, over a Unix stream socket.
 *
 *   client → daemon   one line of JSON: the SubmissionRequest, then '\n'
 *                     the message bytes as the caller gave them, until the
 *                     client half-closes its side
 *   daemon → client   one line of JSON: the SubmissionReply
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
import { ERR } from '../common/errors.js';
import { native, socketFd, type PeerCredentials } from '../privsep/native.js';
import { MAX_REQUEST_BYTES, PROTOCOL_VERSION, protocolError, refusal, replyFrom, type SubmissionReply, type SubmissionRequest } from './submit-wire.js';

export { MAX_REQUEST_BYTES, PROTOCOL_VERSION, refusal, type SubmissionReply, type SubmissionRequest } from './submit-wire.js';

export interface IncomingSubmission {
  readonly request: SubmissionRequest;
  /** who is on the other end, from the kernel */
  readonly peer: PeerCredentials;
  /** the message bytes, streamed */
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
    if (!isRequest(parsed)) return { error: 'malformed submission request' };
    const rest = head.subarray(newline + 1);
    async function* body(): AsyncIterable<Buffer> {
      if (rest.length > 0) yield rest;
      for (;;) {
        const more = await chunks.next();
        if (more.done) return;
        yield more.value;
      }
    }
    return { request: parsed, body: body() };
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
        reply = refusal(ERR.INTERNAL, `submission failed: ${e instanceof Error ? e.message : String(e)}`);
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
 * daemon listens, so the caller can fall back to the client queue.
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
        for await (const chunk of message) {
          if (replyText !== '' || socket.destroyed) break;
          if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
        }
        socket.end();
      })().catch((e: unknown) => socket.destroy(e instanceof Error ? e : new Error(String(e))));
    });
  });
}
