/**
 * Recovery at open.  A content file without a committed envelope was never
 * acknowledged (the envelope commit is the last step of accept()), so it is
 * removed -- unless the writer that made it may still be at work: the queue
 * id ends with the writer's pid, and a file of a live process is kept until
 * it is `graceMs` old.  An envelope whose content file is missing cannot
 * happen by construction; such ids are reported, never acted upon.  Small
 * messages have no content file: the database holds their content.
 *
 * Order matters: the directory is read before the envelopes, so a message
 * committed in between is seen as committed, not taken for an orphan.
 */
import { readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDirectory } from './content.js';

export interface RecoveryReport {
  /** content files removed: never-acknowledged messages */
  readonly removed: string[];
  /** envelopes without a content file (should never happen); left in place */
  readonly missing: string[];
  /** orphan content files kept because their writer may still be running */
  readonly kept: string[];
}

/** How many MessageQueues this process has open (its own files are in flight only then). */
export const openInProcess = { count: 0 };

const PID_MAX = 4_194_304;

function writerMayBeAlive(id: string): boolean {
  const tail = Number(id.slice(8));
  if (!Number.isInteger(tail)) return false;
  for (let pid = tail; pid <= PID_MAX; pid += 1_000_000) {
    if (pid === 0) continue;
    if (pid === process.pid) {
      if (openInProcess.count > 0) return true;
      continue;
    }
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === 'EPERM') return true;
    }
  }
  return false;
}

/**
 * `committedIds` gives every message with an envelope; `inDatabase` tells a
 * message whose content the database holds (it has no file to miss).
 */
export async function recover(contentDir: string, committedIds: () => Set<string>, graceMs: number, inDatabase: (id: string) => boolean): Promise<RecoveryReport> {
  const files = (await readdir(contentDir)).filter((f) => !f.startsWith('.'));
  const ids = committedIds();
  const removed: string[] = [];
  const kept: string[] = [];
  const now = Date.now();
  for (const f of files) {
    if (ids.has(f)) continue;
    const path = join(contentDir, f);
    if (writerMayBeAlive(f)) {
      const st = await stat(path).catch(() => undefined);
      if (st === undefined) continue;
      if (now - st.mtimeMs < graceMs) {
        kept.push(f);
        continue;
      }
    }
    // Re-check: the writer may have committed it since we read the ids.
    if (committedIds().has(f)) continue;
    await unlink(path).catch(() => {});
    removed.push(f);
  }
  if (removed.length > 0) await syncDirectory(contentDir).catch(() => {});
  const present = new Set(files);
  const missing: string[] = [];
  for (const id of ids) {
    if (present.has(id) || inDatabase(id)) continue;
    // created and committed by a live writer after readdir: not missing
    if (!present.has(id) && (await stat(join(contentDir, id)).catch(() => undefined)) === undefined) missing.push(id);
  }
  missing.sort();
  return { removed: removed.sort(), missing, kept: kept.sort() };
}

const RESERVE = 'reserve';
const RESERVE_SIZE = 256 * 1024;

/** Makes the space reserve when it is missing or short; false (and nothing done) when there is no room. */
export async function makeReserve(dir: string): Promise<boolean> {
  const path = join(dir, RESERVE);
  const st = await stat(path).catch(() => undefined);
  if (st !== undefined && st.size === RESERVE_SIZE) return true;
  try {
    await writeFile(path, Buffer.alloc(RESERVE_SIZE), { mode: 0o600, flush: true });
    return true;
  } catch {
    await unlink(path).catch(() => {});
    return false;
  }
}

/** Gives the reserve's space back; false when there was none. */
export async function releaseReserve(dir: string): Promise<boolean> {
  try {
    await unlink(join(dir, RESERVE));
    return true;
  } catch {
    return false;
  }
}
