/**
 * Remote delivery for the queue runner: deliverRemote() sends one message to
 * the recipients of one domain and says, per recipient, what became of it.
 *
 *   const options = remoteOptionsFromConfig(config, identity);
 *   const result = await deliverRemote(request, { options, log });
 *   for (const r of result.recipients) log.logDelivery(qid, { to, ..., ...deliveryLogFields(result, r) });
 */
import type { DeliveryLogInput } from '../../common/log-format.js';
import { EX } from '../../common/sysexits.js';
import type { RecipientResult, RemoteResult } from './types.js';

export { deliverRemote, closeCachedConnections, starttlsLine } from './deliver.js';
export { remoteOptionsFromConfig, openMailertable } from './options.js';
export { ConnectionCache } from './connection-cache.js';
export { systemResolver } from './mx.js';
export { chooseDestination, mailertableEntry } from './routing.js';
export type * from './types.js';

/**
 * The to= line's fields that come from the delivery: mailer, relay=host [ip],
 * dsn, reply= (failures only) and stat (`Sent (...)`, `Deferred: ...`, or the
 * sysexits text of a bounce).
 */
export function deliveryLogFields(result: RemoteResult, r: RecipientResult): Pick<DeliveryLogInput, 'mailer' | 'relay' | 'dsn' | 'rcode' | 'reply' | 'status'> {
  const s = r.status;
  return {
    mailer: result.mailer,
    relay: r.relay ? { host: r.relay.host, address: r.relay.address ?? null } : null,
    dsn: s.dsn,
    rcode: s.status === 'sent' ? EX.OK : s.status === 'deferred' ? EX.TEMPFAIL : EX.UNAVAILABLE,
    reply: r.reply ?? null,
    status: s.status === 'deferred' ? `Deferred: ${s.text}` : s.text,
  };
}
