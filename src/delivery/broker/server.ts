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
import { describeError, failed, type DeliveryStatus } from '../mailbox/status.js';
import { handleLocalMailer } from './local-mailers.js';
import type { LocalMailerSettings } from './local-settings.js';
import { isLocalDeliveryRequest, isLocalMailerRequest, type BrokerReply, type BrokerRequest, type LocalDeliveryRequest } from './protocol.js';

export interface BrokerSettings {
  readonly queueDir: string;
  /** RunAsUser: the only non-root peer served, and the owner every content file must have */
  readonly runnerUid: number;
  /** MailSpool: /var/mail */
  readonly spoolDir: string;
  /** the mailbox agent's module (the bundle's own entry when bundled) */
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
  const request = await readRequest(socket);
  if (request === undefined) return failed(ERR.SUBMIT_PROTOCOL, 'malformed local delivery request');
  if (!isLocalDeliveryRequest(request)) {
    if (settings.localMailers === undefined) return failed(ERR.LOCAL_MAILER_UNAVAILABLE, `${request.kind}: not configured in this broker`);
    return handleLocalMailer(request, {
      settings: settings.localMailers,
      log: settings.log,
      openContent: (queueId) => openContent(settings, queueId),
      closeContent: (fd) => closeSync(fd),
    });
  }
  return deliverMailbox(request, settings);
}

async function deliverMailbox(request: LocalDeliveryRequest, settings: BrokerSettings): Promise<DeliveryStatus> {
  const user = lookupUser(request.user);
  if (user === undefined) return failed(ERR.LOCAL_USER_UNKNOWN, `${request.user}... User unknown`);
  let fd: number;
  try {
    fd = openContent(settings, request.queueId);
  } catch (e) {
    return failed(ERR.BROKER_CONTENT, `df/${request.queueId}: ${describeError(e)}`);
  }
  try {
    return await deliverToMailbox({
      user,
      sender: request.sender,
      spoolDir: settings.spoolDir,
      content: messageContent(fd),
      ...(settings.agentPath !== undefined ? { agentPath: settings.agentPath } : {}),
    });
  } finally {
    closeSync(fd);
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

function readRequest(socket: Socket): Promise<BrokerRequest | undefined> {
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('utf8');
    const done = (value: BrokerRequest | undefined) => {
      socket.removeAllListeners('data');
      resolve(value);
    };
    socket.on('data', (d: string) => {
      text += d;
      const newline = text.indexOf('\n');
      if (newline < 0) {
        if (text.length > MAX_REQUEST) done(undefined);
        return;
      }
      try {
        const value: unknown = JSON.parse(text.slice(0, newline));
        done(isLocalDeliveryRequest(value) || isLocalMailerRequest(value) ? value : undefined);
      } catch {
        done(undefined);
      }
    });
    socket.on('end', () => done(undefined));
  });
}
