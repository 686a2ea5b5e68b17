/**
 * `sendmail -bP`: how many messages wait, in sendmail's words
 * ("DIR is empty", "DIR: entries=N", and "Total requests: N" when a queue
 * has any).  sendmail counts in shared memory; Postern counts what the queue
 * holds, which is exact.  -Ac counts the client queue's files.
 */
import { readdirSync } from 'node:fs';
import { EX } from '../common/sysexits.js';
import type { Config } from '../config/index.js';
import { cannotEnterQueue } from './queue-access.js';
import type { Output } from './output.js';

export async function printQueueCount(config: Config, out: Output): Promise<number> {
  const dir = config.options.QueueDirectory;
  if (dir === null) {
    out.stdout('QueueDirectory (Q) option must be set');
    return EX.CONFIG;
  }
  let count: number;
  try {
    if (config.options.UseMSP) {
      const { READY_PREFIX } = await import('./client-queue.js');
      count = readdirSync(dir).filter((n) => n.startsWith(READY_PREFIX)).length;
    } else {
      readdirSync(dir);
      const { readEnvelopes } = await import('../queue/listing.js');
      count = readEnvelopes(dir).length;
    }
  } catch (e) {
    return cannotEnterQueue(dir, e, out);
  }
  if (count === 0) out.stdout(`${dir} is empty`);
  else {
    out.stdout(`${dir}: entries=${count}`);
    out.stdout(`\t\tTotal requests: ${count}`);
  }
  return EX.OK;
}
