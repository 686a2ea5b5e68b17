/**
 * The queue runner (RunAsUser) asks the delivery broker (root) for one local
 * delivery per connection, over a Unix socket only RunAsUser can reach:
 *
 *   runner → broker   one JSON line: LocalDeliveryRequest; then, when the
 *                     request says `contentLength`, that many bytes: the message
 *   broker → runner   one JSON line: the DeliveryStatus
 *
 * The runner names the queued message by its id.  A small message lives in
 * the queue database, which the broker does not open (root parsing a file
 * RunAsUser can write gains nothing and risks much): the runner sends its
 * bytes after the request.  A big one is in its content file, which the
 * broker opens itself and only when the file is RunAsUser's own (so the
 * runner can never make root read a file the runner could not read itself).
 * Either way the broker takes the recipient's identity from the passwd
 * file, never from the runner.
 *
 * Request kinds (`kind`; none is a mailbox delivery, the first kind):
 *   - mailbox: the message into /var/mail/USER;
 *   - forward: USER's .forward, if a usable one exists: its targets come
 *     back (`{status: 'forwarded', file, targets}`), or `{status: 'none'}`
 *     and the runner delivers to the mailbox;
 *   - include: an :include: list's targets, the same way;
 *   - program, file: a |program or /file target, run or written by the
 *     identity its origin gives.  The runner only says where the target
 *     came from (RecipientOrigin); the broker reads that .forward or list
 *     again, finds the target in it, and takes the identity from there, so
 *     the runner cannot choose who a program runs as.
 */
import { createConnection } from 'node:net';
import { ERR } from '../../common/errors.js';
import type { RecipientOrigin } from '../../queue/envelope.js';
import { failed, parseStatus, type DeliveryStatus } from '../mailbox/status.js';

export const BROKER_PROTOCOL_VERSION = 1;

export interface LocalDeliveryRequest {
  readonly version: typeof BROKER_PROTOCOL_VERSION;
  readonly kind?: 'mailbox';
  /** the queued message (its content file is df/<queueId>) */
  readonly queueId: string;
  /** envelope sender, '' for <> */
  readonly sender: string;
  /** the local user whose mailbox gets the message */
  readonly user: string;
  /** the message's bytes follow the request line (else the broker reads its content file) */
  readonly contentLength?: number;
}

/** The most a request may carry after its line: what the queue stores in its database, and then some. */
export const MAX_CONTENT_LENGTH = 1024 * 1024;

function isContentLength(v: unknown): boolean {
  return v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_CONTENT_LENGTH);
}

/** Queue ids as the store makes them: letters and digits, nothing a path could hide in. */
export const QUEUE_ID = /^[0-9A-Za-z]{8,20}$/;

export function isLocalDeliveryRequest(value: unknown): value is LocalDeliveryRequest {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    r['version'] === BROKER_PROTOCOL_VERSION &&
    (r['kind'] === undefined || r['kind'] === 'mailbox') &&
    typeof r['queueId'] === 'string' &&
    QUEUE_ID.test(r['queueId']) &&
    typeof r['sender'] === 'string' &&
    typeof r['user'] === 'string' &&
    r['user'] !== '' &&
    isContentLength(r['contentLength'])
  );
}

/** The runner's side: one request, one status; a broker that cannot be reached defers. */
export function requestLocalDelivery(socketPath: string, request: LocalDeliveryRequest, content?: Buffer): Promise<DeliveryStatus> {
  return roundTrip(socketPath, request, content, parseStatus);
}

/**
 * One request line out, one reply line back, over the broker's socket.  A
 * broker that cannot be reached, or answers nothing `parse` accepts, defers.
 */
function roundTrip<T>(socketPath: string, request: object, content: Buffer | undefined, parse: (value: unknown) => T | undefined): Promise<T | DeliveryStatus> {
  return new Promise((resolve) => {
    const socket = createConnection({ path: socketPath, allowHalfOpen: true });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      if (content === undefined) socket.end(`${JSON.stringify(request)}\n`);
      else {
        socket.write(`${JSON.stringify({ ...request, contentLength: content.length })}\n`);
        socket.end(content);
      }
    });
    socket.on('data', (d: string) => (text += d));
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(failed(ERR.BROKER_UNAVAILABLE, `local delivery broker: ${e.code ?? e.message}`)));
    socket.on('close', () => {
      let reply: T | undefined;
      try {
        reply = parse(JSON.parse(text.split('\n')[0] ?? ''));
      } catch {
        reply = undefined;
      }
      resolve(reply ?? failed(ERR.BROKER_UNAVAILABLE, 'local delivery broker gave no answer'));
    });
  });
}

/** USER's .forward: its targets, or none. */
export interface ForwardRequest {
  readonly version: typeof BROKER_PROTOCOL_VERSION;
  readonly kind: 'forward';
  readonly queueId: string;
  readonly user: string;
  /** the +detail of user+detail ($h in ForwardPath) */
  readonly detail?: string;
  /** the recipient as the runner has it, for the log and for "Address ... is unsafe" */
  readonly address: string;
}

export interface IncludeRequest {
  readonly version: typeof BROKER_PROTOCOL_VERSION;
  readonly kind: 'include';
  readonly queueId: string;
  readonly path: string;
  readonly origin?: RecipientOrigin;
}

export interface ProgramRequest {
  readonly version: typeof BROKER_PROTOCOL_VERSION;
  readonly kind: 'program';
  readonly queueId: string;
  readonly sender: string;
  /** without the leading "|" */
  readonly command: string;
  readonly origin?: RecipientOrigin;
  readonly contentLength?: number;
}

export interface FileRequest {
  readonly version: typeof BROKER_PROTOCOL_VERSION;
  readonly kind: 'file';
  readonly queueId: string;
  readonly sender: string;
  readonly path: string;
  readonly origin?: RecipientOrigin;
  readonly contentLength?: number;
}

export type LocalMailerRequest = ForwardRequest | IncludeRequest | ProgramRequest | FileRequest;
export type BrokerRequest = LocalDeliveryRequest | LocalMailerRequest;

/** A target read from a .forward or :include: list, as the runner adds it as a recipient. */
export interface ForwardedTarget {
  /** `|command`, `/file`, `:include:/list`, `\\user` (no further forwarding) or an address */
  readonly address: string;
  readonly origin: RecipientOrigin;
}

/** The controlling user of a program or file delivery, for the log's ctladdr=. */
export interface ControllingUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

export type BrokerReply =
  | (DeliveryStatus & { readonly ctladdr?: ControllingUser })
  | { readonly status: 'forwarded'; readonly file: string; readonly targets: readonly ForwardedTarget[] }
  | { readonly status: 'none' };

const isString = (v: unknown): v is string => typeof v === 'string';

export function isOrigin(v: unknown): v is RecipientOrigin {
  const o = v as Record<string, unknown> | null;
  if (o === null || typeof o !== 'object') return false;
  if (o['kind'] === 'forward') return isString(o['user']) && (o['detail'] === undefined || isString(o['detail']));
  if (o['kind'] === 'include') return isString(o['file']) && o['file'].startsWith('/');
  return false;
}

export function isLocalMailerRequest(value: unknown): value is LocalMailerRequest {
  const r = value as Record<string, unknown> | null;
  if (r === null || typeof r !== 'object' || r['version'] !== BROKER_PROTOCOL_VERSION) return false;
  if (!isString(r['queueId']) || !QUEUE_ID.test(r['queueId'])) return false;
  if (r['origin'] !== undefined && !isOrigin(r['origin'])) return false;
  if (!isContentLength(r['contentLength'])) return false;
  switch (r['kind']) {
    case 'forward':
      return isString(r['user']) && r['user'] !== '' && isString(r['address']) && (r['detail'] === undefined || isString(r['detail']));
    case 'include':
      return isString(r['path']) && r['path'].startsWith('/');
    case 'program':
      return isString(r['sender']) && isString(r['command']);
    case 'file':
      return isString(r['sender']) && isString(r['path']) && r['path'].startsWith('/');
    default:
      return false;
  }
}

/** A reply as read by the runner; undefined when it is not one. */
export function parseBrokerReply(value: unknown): BrokerReply | undefined {
  const v = value as Record<string, unknown> | null;
  if (v === null || typeof v !== 'object') return undefined;
  if (v['status'] === 'none') return { status: 'none' };
  if (v['status'] === 'forwarded') {
    const targets = v['targets'];
    if (!isString(v['file']) || !Array.isArray(targets)) return undefined;
    if (!targets.every((t: Record<string, unknown>) => isString(t?.['address']) && isOrigin(t['origin']))) return undefined;
    return { status: 'forwarded', file: v['file'], targets: targets as ForwardedTarget[] };
  }
  const status = parseStatus(value);
  if (status === undefined) return undefined;
  const c = v['ctladdr'] as Record<string, unknown> | undefined;
  const ctladdr = c !== undefined && isString(c['name']) && typeof c['uid'] === 'number' && typeof c['gid'] === 'number' ? { name: c['name'], uid: c['uid'], gid: c['gid'] } : undefined;
  return { ...status, ...(ctladdr ? { ctladdr } : {}) };
}

/** The runner's side for the local mailers: one request, one reply; a broker that cannot be reached defers. */
export function requestLocalMailer(socketPath: string, request: LocalMailerRequest, content?: Buffer): Promise<BrokerReply> {
  return roundTrip(socketPath, request, content, parseBrokerReply);
}
