/**
 * `mailq` / `sendmail -bp` for the MTA queue.  Who may look is the file
 * system's answer, as with sendmail's mode 0700 queue: a user who cannot
 * enter QueueDirectory gets sendmail's "can not chdir" and exit 78.  The
 * queue library (and better-sqlite3 with it) is loaded only here, never on
 * the submission path.
 */
import { accessSync, constants } from 'node:fs';
import { EX } from '../common/sysexits.js';
import type { Config } from '../config/index.js';
import { cannotEnterQueue } from './queue-access.js';
import type { Output } from './output.js';
import { writeRaw } from './output.js';

export async function printQueue(config: Config, out: Output): Promise<number> {
  const dir = config.options.QueueDirectory;
  if (dir === null) {
    out.stdout('QueueDirectory (Q) option must be set');
    return EX.CONFIG;
  }
  try {
    accessSync(dir, constants.R_OK | constants.X_OK);
  } catch (e) {
    return cannotEnterQueue(dir, e, out);
  }
  const { listQueue } = await import('../queue/listing.js');
  const { formatMailq, sortForListing } = await import('../queue/mailq.js');
  const entries = sortForListing(listQueue(dir), config.options.QueueSortOrder);
  writeRaw(out, formatMailq([{ label: dir, entries }], config.options.Verbose));
  return EX.OK;
}
