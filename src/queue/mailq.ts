/**
 * `mailq` / `sendmail -bp` in sendmail 8.17's layout, column for column:
 * scripts (and people's eyes) parse it.  This module formats; reading the
 * queue and deciding who may see it is the caller's.
 */
import { ctime } from '../common/ctime.js';

/** The listing's date form. */
export { ctime };

export interface MailqEntry {
  readonly id: string;
  /** size of the body as stored (sendmail prints its df file's size) */
  readonly bodySize: number;
  /** sendmail's queue priority (see messagePriority) */
  readonly priority: number;
  /** arrival, ms since the epoch */
  readonly arrival: number;
  readonly sender: string;
  /** the last deferral text ("Deferred: Connection refused by ..."), if any */
  readonly statusText?: string;
  readonly bodyType?: string;
  readonly quarantine?: string;
  /** the controlling user, shown with -v */
  readonly controllingUser?: string;
  /** recipients not yet delivered, in queue order */
  readonly recipients: readonly string[];
  /** being worked on now (sendmail: its qf is locked) */
  readonly locked?: boolean;
  /** younger than MinQueueAge */
  readonly tooYoung?: boolean;
  /** would only be queued at the current load */
  readonly wouldQueue?: boolean;
  /** a delay warning has been sent */
  readonly warned?: boolean;
}

export interface MailqListing {
  /** how the queue is named in the listing: its directory */
  readonly label: string;
  readonly entries: readonly MailqEntry[];
  /** MaxQueueRun, when the listing is cut to it */
  readonly maxQueueRun?: number;
}

/** sendmail's msgpriority: size, plus RecipientFactor a recipient, less ClassFactor a precedence class, plus RetryFactor a try. */
export function messagePriority(
  size: number,
  recipients: number,
  attempts: number,
  factors: { recipient: number; class: number; retry: number } = { recipient: 30000, class: 1800, retry: 90000 },
  precedenceClass = 0,
): number {
  return size + recipients * factors.recipient - precedenceClass * factors.class + attempts * factors.retry;
}

/** Queue order for QueueSortOrder priority (the default), time, and filename; others fall back to priority. */
export function sortForListing(entries: readonly MailqEntry[], order: string = 'priority'): MailqEntry[] {
  const byId = (a: MailqEntry, b: MailqEntry) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const sorted = [...entries];
  switch (order.toLowerCase()[0]) {
    case 'f':
      return sorted.sort(byId);
    case 't':
      return sorted.sort((a, b) => a.arrival - b.arrival || byId(a, b));
    default:
      return sorted.sort((a, b) => a.priority - b.priority || a.arrival - b.arrival || byId(a, b));
  }
}

/** The lines of one queue's listing; `Total requests` is added by formatMailq. */
export function formatQueue(listing: MailqListing, verbose: boolean): string {
  const shown = listing.maxQueueRun !== undefined && listing.maxQueueRun > 0 ? listing.entries.slice(0, listing.maxQueueRun) : listing.entries;
  const n = listing.entries.length;
  if (n === 0) return `${listing.label} is empty\n`;
  let out = `\t\t${listing.label} (${n} request${n === 1 ? '' : 's'}`;
  if (shown.length < n) out += `, only ${shown.length} printed`;
  out += verbose
    ? ')\n-----Q-ID----- --Size-- -Priority- ---Q-Time--- --------Sender/Recipient--------\n'
    : ')\n-----Q-ID----- --Size-- -----Q-Time----- ------------Sender/Recipient-----------\n';
  for (const e of shown) out += formatEntry(e, verbose);
  return out;
}

export function formatMailq(listings: readonly MailqListing[], verbose: boolean): string {
  let out = '';
  let total = 0;
  for (const listing of listings) {
    out += formatQueue(listing, verbose);
    total += listing.entries.length;
  }
  return `${out}\t\tTotal requests: ${total}\n`;
}

function formatEntry(e: MailqEntry, verbose: boolean): string {
  const mark = e.locked ? '*' : e.tooYoung ? '-' : e.wouldQueue ? 'X' : ' ';
  let out = e.id.padStart(13) + mark;
  const when = ctime(e.arrival);
  out += verbose
    ? `${String(e.bodySize).padStart(8)} ${String(e.priority).padStart(10)}${e.warned ? '+' : ' '}${when.slice(4, 16)} ${printable(e.sender, 78)}`
    : `${String(e.bodySize).padStart(8)} ${when.slice(0, 16)} ${printable(e.sender, 39)}`;
  if (e.quarantine) out += `\n     QUARANTINE: ${e.quarantine.slice(0, verbose ? 100 : 60)}`;
  if (e.statusText || e.bodyType) {
    out += `\n    ${(e.bodyType ?? '').slice(0, 10).padStart(10)}`;
    if (e.statusText) out += `   (${e.statusText.slice(0, verbose ? 100 : 60)})`;
  }
  if (verbose && e.controllingUser) out += `\n\t\t\t\t\t\t(---${e.controllingUser.slice(0, 64)}---)`;
  for (const r of e.recipients) out += verbose ? `\n\t\t\t\t\t\t${printable(r, 71)}` : `\n\t\t\t\t\t ${printable(r, 38)}`;
  return `${out}\n`;
}

/**
 * sendmail's prtstr: at most `room` characters; a backslash is doubled,
 * other unprintable bytes are shown as \ooo, each counting against the room.
 */
export function printable(text: string, room: number): string {
  let out = '';
  let left = room;
  for (const byte of Buffer.from(text, 'utf8')) {
    if (left-- <= 0) break;
    if (byte === 0x5c) {
      if (left-- > 0) out += '\\\\';
    } else if (byte >= 0x20 && byte < 0x7f) {
      out += String.fromCharCode(byte);
    } else if ((left -= 3) > 0) {
      out += `\\${byte.toString(8).padStart(3, '0')}`;
    }
  }
  return out;
}
