/**
 * The queue runner (RunAsUser) asks the delivery broker (root) for one local
 * delivery per connection, over a Unix socket only RunAsUser can reach:
 *
 *   runner → broker   one JSON line: LocalDeliveryRequest
 *   broker → runner   one JSON line: the DeliveryStatus
 *
 * The runner names the queued message by its id; the broker opens the
 * content itself and only when the file is RunAsUser's own (so the runner
 * can never make root read a file the runner could not read itself), and
 * takes the recipient's identity from the passwd file, never from the runner.
 */
import { createConnection } from 'node:net';
import { ERR } from '../../common/errors.js';
import { failed, parseStatus, type DeliveryStatus } from '../mailbox/status.js';

export const BROKER_PROTOCOL_VERSION = 1;

export interface LocalDeliveryRequest {
  readonly version: typeof BROKER_PROTOCOL_VERSION;
  /** the queued message (its content file is df/<queueId>) */
  readonly queueId: string;
  /** envelope sender, '' for <> */
  readonly sender: string;
  /** the local user whose mailbox gets the message */
  readonly user: string;
}

/** Queue ids as the store makes them: letters and digits, nothing a path could hide in. */
export const QUEUE_ID = /^[0-9A-Za-z]{8,20}$/;

export function isLocalDeliveryRequest(value: unknown): value is LocalDeliveryRequest {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    r['version'] === BROKER_PROTOCOL_VERSION &&
    typeof r['queueId'] === 'string' &&
    QUEUE_ID.test(r['queueId']) &&
    typeof r['sender'] === 'string' &&
    typeof r['user'] === 'string' &&
    r['user'] !== ''
  );
}

/** The runner's side: one request, one status; a broker that cannot be reached defers. */
export function requestLocalDelivery(socketPath: string, request: LocalDeliveryRequest): Promise<DeliveryStatus> {
  return new Promise((resolve) => {
    const socket = createConnection({ path: socketPath, allowHalfOpen: true });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.end(`${JSON.stringify(request)}\n`));
    socket.on('data', (d: string) => (text += d));
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(failed(ERR.BROKER_UNAVAILABLE, `local delivery broker: ${e.code ?? e.message}`)));
    socket.on('close', () => {
      let status: DeliveryStatus | undefined;
      try {
        status = parseStatus(JSON.parse(text.split('\n')[0] ?? ''));
      } catch {
        status = undefined;
      }
      resolve(status ?? failed(ERR.BROKER_UNAVAILABLE, 'local delivery broker gave no answer'));
    });
  });
}
