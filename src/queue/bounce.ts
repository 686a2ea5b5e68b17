/**
 * Returning what failed to its sender: the RFC 3464 notification is built
 * (dsn/) and queued like any message before the original may go.
 */
import type { SystemIdentity } from '../common/identity.js';
import { ERR, PosternError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Config } from '../config/index.js';
import type { Envelope } from './envelope.js';
import type { MessageQueue } from './index.js';
import type { RecipientOutcome } from './runner.js';

export interface BounceDeps {
  readonly queue: MessageQueue;
  readonly config: Config;
  readonly identity: SystemIdentity;
  readonly log: Logger;
}

export async function returnToSender(_deps: BounceDeps, envelope: Envelope, _failed: readonly RecipientOutcome[]): Promise<void> {
  throw new PosternError(ERR.INTERNAL, `${envelope.id}: delivery status notifications are not built yet; the message stays queued`);
}
