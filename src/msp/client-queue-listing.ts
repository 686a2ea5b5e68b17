/**
 * `mailq -Ac` / `sendmail -Ac -bp`: the client queue in sendmail's mailq
 * layout.  Each file holds the MSP's request line and the message; the
 * sender is what -f said or the file's owner, the recipients those of the
 * command line or, with -t, of the header.  Only those who may list the
 * directory (root, smmsp) see it: its mode keeps users from listing it.
 */
import { closeSync, constants, fstatSync, openSync, readSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EX } from '../common/sysexits.js';
import type { Config } from '../config/index.js';
import { cannotEnterQueue } from './queue-access.js';
import { lookupUser } from '../privsep/passwd.js';
import { formatMailq, messagePriority, sortForListing, type MailqEntry } from '../queue/mailq.js';
import { READY_PREFIX } from './client-queue.js';
import { parseAddressList } from './submission/addresses.js';
import { parseHeaders } from './submission/headers.js';
import type { SubmissionRequest } from './submit-protocol.js';
import { writeRaw, type Output } from './output.js';

const HEAD_BYTES = 128 * 1024;

/** The header lines of `text` up to the blank line (or all of it, when there is none within reach). */
function headerLines(text: string): string[] {
  const end = text.search(/\r?\n\r?\n/);
  const block = end < 0 ? text : text.slice(0, end + 1);
  return block.split(/(?<=\n)/).filter((l) => l !== '');
}

function entryOf(dir: string, name: string): MailqEntry | undefined {
  let fd: number;
  try {
    fd = openSync(join(dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    const head = Buffer.alloc(Math.min(HEAD_BYTES, st.size));
    const n = readSync(fd, head, 0, head.length, 0);
    const text = head.subarray(0, n).toString('latin1');
    const newline = text.indexOf('\n');
    if (newline < 0) return undefined;
    const request = JSON.parse(text.slice(0, newline)) as SubmissionRequest;
    const message = text.slice(newline + 1);
    const headers = parseHeaders(headerLines(message));
    const recipients = request.recipientsFromHeaders
      ? headers.filter((h) => ['to', 'cc', 'bcc'].includes(h.lname)).flatMap((h) => parseAddressList(h.value))
      : [...request.recipients];
    const headerEnd = message.search(/\n\n/);
    const bodySize = headerEnd < 0 ? 0 : st.size - (newline + 1) - Buffer.byteLength(message.slice(0, headerEnd + 2), 'latin1');
    return {
      id: name.slice(READY_PREFIX.length),
      bodySize,
      priority: messagePriority(st.size, recipients.length, 0),
      arrival: st.mtimeMs,
      sender: request.sender ?? lookupUser(st.uid)?.name ?? `Unknown UID ${st.uid}`,
      recipients,
    };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

export function printClientQueue(config: Config, out: Output): number {
  const dir = config.options.QueueDirectory;
  if (dir === null) {
    out.stdout('QueueDirectory (Q) option must be set');
    return EX.CONFIG;
  }
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith(READY_PREFIX));
  } catch (e) {
    return cannotEnterQueue(dir, e, out);
  }
  const entries = names.map((n) => entryOf(dir, n)).filter((e): e is MailqEntry => e !== undefined);
  writeRaw(out, formatMailq([{ label: dir, entries: sortForListing(entries, config.options.QueueSortOrder) }], config.options.Verbose));
  return EX.OK;
}
