/**
 * The delivery broker's service (root): one local delivery per connection,
 * from the queue runner only (SO_PEERCRED says RunAsUser or root).  Small on
 * purpose: it checks, opens the queued content safely, and hands the rest to
 * the mailbox code, which writes as the recipient.
 */
import { closeSync, constants, createReadStream, fstatSync, openSync, readSync, type ReadStream } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ERR } from '../../common/errors.js';
import { NOQID, type Logger } from '../../common/log.js';
import { CONTENT_DIR } from '../../queue/layout.js';
import { lookupUser } from '../../privsep/passwd.js';
import { native, socketFd } from '../../privsep/native.js';
import { deliverToMailbox } from '../mailbox/deliver.js';
import { describeError, failed } from '../mailbox/status.js';
import { handleLocalMailer } from './local-mailers.js';
import type { LocalMailerSettings } from './local-settings.js';
import { isLocalDeliveryRequest, isLocalMailerRequest, type BrokerReply, type BrokerRequest } from './protocol.js';
import type { MessageSource } from '../message-source.js';

export interface BrokerSettings {
  readonly queueDir: string;
  /** RunAsUser: the only non-root peer served, and the owner every content file must have */
  readonly runnerUid: number;
  /** MailSpool: /var/mail */
  readonly spoolDir: string;
  /** the mailbox agent program; default the one node-gyp built (deliver.ts) */
  readonly agentPath?: string;
  readonly log: Logger;
  /** .forward, :include:, programs and files; without them those requests are deferred */
  readonly localMailers?: LocalMailerSettings;
}

const MAX_REQUEST = 16 * 1024;

export function serveBroker(where: { fd: number } | string, settings: BrokerSettings): Server {
  // half-open: the runner ends its side after the request, and still waits for the answer
  return createServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    void handle(socket, settings).then(
      (status) => socket.end(`${JSON.stringify(status)}\n`),
      (e: unknown) => socket.end(`${JSON.stringify(failed(ERR.INTERNAL, describeError(e)))}\n`),
    );
  }).listen(where);
}

async function handle(socket: Socket, settings: BrokerSettings): Promise<BrokerReply> {
  const peer = native().peerCredentials(socketFd(socket));
  if (peer.uid !== 0 && peer.uid !== settings.runnerUid) {
    settings.log.log(0, 'alert', NOQID, `local delivery broker: uid ${peer.uid} (pid ${peer.pid}) is not the queue runner; refused`);
    return failed(ERR.PRIV_NO_PERMISSION, 'only the queue runner may ask for local deliveries');
  }
  const received = await readRequest(socket);
  if (received === undefined) return failed(ERR.SUBMIT_PROTOCOL, 'malformed local delivery request');
  const { request, bytes } = received;
  // the bytes the runner sent, or else the content file
  const open = (queueId: string): MessageSource => (bytes !== undefined ? { bytes } : { fd: openContent(settings, queueId) });
  const close = (source: MessageSource): void => {
    if ('fd' in source) closeSync(source.fd);
  };
  if (!isLocalDeliveryRequest(request)) {
    if (settings.localMailers === undefined) return failed(ERR.LOCAL_MAILER_UNAVAILABLE, `${request.kind}: not configured in this broker`);
    return handleLocalMailer(request, { settings: settings.localMailers, log: settings.log, openContent: open, closeContent: close });
  }
  const user = lookupUser(request.user);
  if (user === undefined) return failed(ERR.LOCAL_USER_UNKNOWN, `${request.user}... User unknown`);
  let source: MessageSource;
  try {
    source = open(request.queueId);
  } catch (e) {
    return failed(ERR.BROKER_CONTENT, `df/${request.queueId}: ${describeError(e)}`);
  }
  try {
    return await deliverToMailbox({
      user,
      sender: request.sender,
      spoolDir: settings.spoolDir,
      content: 'fd' in source ? messageContent(source.fd) : [source.bytes],
      ...(settings.agentPath !== undefined ? { agentPath: settings.agentPath } : {}),
    });
  } finally {
    close(source);
  }
}

const READ_AT_ONCE = 256 * 1024;

/**
 * Most messages are read at once, before the delivery waits its turn for the
 * mailbox, and without a trip through the thread pool per read; big ones are
 * streamed.  A queued message's content never changes.
 */
function messageContent(fd: number): Buffer[] | ReadStream {
  const size = fstatSync(fd).size;
  if (size > READ_AT_ONCE) return createReadStream('', { fd, autoClose: false, start: 0 });
  const bytes = Buffer.alloc(size);
  let got = 0;
  for (let n = 1; got < size && n > 0; got += n) n = readSync(fd, bytes, got, size - got, got);
  return [bytes.subarray(0, got)];
}

/** The content file, only when it is a plain file of RunAsUser's: anything else it could have planted. */
function openContent(settings: BrokerSettings, queueId: string): number {
  const fd = openSync(join(settings.queueDir, CONTENT_DIR, queueId), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  const st = fstatSync(fd);
  if (!st.isFile() || st.nlink !== 1 || st.uid !== settings.runnerUid) {
    closeSync(fd);
    throw Object.assign(new Error(`not a queue file of uid ${settings.runnerUid} (uid ${st.uid}, ${st.nlink} links)`), { code: 'EPERM' });
  }
  return fd;
}

/**
 * The request line, and the message's bytes when the request says how many
 * follow; undefined for anything malformed, short or too long.
 */
function readRequest(socket: Socket): Promise<{ request: BrokerRequest; bytes?: Buffer } | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let request: BrokerRequest | undefined;
    let lineEnd = -1;
    const done = (value: { request: BrokerRequest; bytes?: Buffer } | undefined) => {
      socket.removeAllListeners('data');
      socket.removeAllListeners('end');
      resolve(value);
    };
    const wanted = (r: BrokerRequest): number => ('contentLength' in r && r.contentLength !== undefined ? r.contentLength : 0);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      if (request === undefined) {
        const all = Buffer.concat(chunks, size);
        chunks.splice(0, chunks.length, all);
        lineEnd = all.indexOf(0x0a);
        if (lineEnd < 0) {
          if (size > MAX_REQUEST) done(undefined);
          return;
        }
        try {
          const value: unknown = JSON.parse(all.subarray(0, lineEnd).toString('utf8'));
          if (!isLocalDeliveryRequest(value) && !isLocalMailerRequest(value)) return done(undefined);
          request = value;
        } catch {
          return done(undefined);
        }
      }
      const length = wanted(request);
      if (size - lineEnd - 1 > length) done(undefined);
      else if (length === 0) done({ request });
      else if (size - lineEnd - 1 === length) done({ request, bytes: Buffer.concat(chunks, size).subarray(lineEnd + 1) });
    });
    socket.on('end', () => done(undefined));
  });
}
