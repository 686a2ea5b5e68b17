/**
 * The header addresses of a local submission as sendmail's MTA receives
 * them.  sendmail's MSP keeps `From: Alice <alice>` and `To: bob` in its
 * own queue, and qualifies them when it relays the message to the MTA
 * (submit.cf's relay mailer: HdrFromSMTP for the sender headers, MasqSMTP
 * for the recipient ones, each adding @$j to a bare user name; ruleset 96
 * turns `@localhost` and the like into @$j too).  Postern's
 * daemon takes the message over in one hop, so it makes the same change
 * where sendmail's MTA would first see the message: the copy it queues,
 * and what its filters (opendkim needs the From: domain) are shown.
 */
import { splitAddressList } from '../delivery/aliases/targets.js';
import { canonicalLocalAddress } from '../msp/submission/addresses.js';

/** Headers whose addresses the relay mailer rewrites. */
const ADDRESS_HEADERS = new Set([
  'from',
  'sender',
  'reply-to',
  'errors-to',
  'return-receipt-to',
  'to',
  'cc',
  'apparently-to',
  'resent-from',
  'resent-sender',
  'resent-reply-to',
  'resent-to',
  'resent-cc',
]);

/** One address of a list, with a bare user name or this host's local names made canonical; null when it needs no change. */
function qualifyOne(address: string, domain: string): string | null {
  const open = address.lastIndexOf('<');
  if (open >= 0 && address.endsWith('>')) {
    const inner = canonicalLocalAddress(address.slice(open + 1, -1).trim(), domain);
    return inner === undefined ? null : `${address.slice(0, open)}<${inner}>`;
  }
  // `alice (Alice Liddell)`: the comment stays where it was
  const m = /^([^\s(]+)(\s*\(.*\))?$/s.exec(address);
  const canonical = m === null ? undefined : canonicalLocalAddress(m[1]!, domain);
  return canonical === undefined ? null : `${canonical}${m![2] ?? ''}`;
}

/** A header field's value with its bare addresses qualified, or null when none is bare (a group is left alone). */
function qualifyValue(value: string, domain: string): string | null {
  if (/[:;]/.test(value.replace(/"[^"]*"|\([^)]*\)|<[^>]*>/g, ''))) return null;
  const parts = splitAddressList(value);
  let changed = false;
  const out = parts.map((p) => {
    const q = qualifyOne(p, domain);
    if (q === null) return p;
    changed = true;
    return q;
  });
  return changed ? ` ${out.join(', ')}` : null;
}

/** The header block (LF line ends, blank line included or not) with the relay mailer's qualification applied. */
export function qualifyHeaderAddresses(block: string, domain: string): string {
  const lines = block.split(/(?<=\n)/);
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let field = lines[i]!;
    while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1]!)) field += lines[++i]!;
    const colon = field.indexOf(':');
    const name = colon > 0 ? field.slice(0, colon).trim().toLowerCase() : '';
    const value = ADDRESS_HEADERS.has(name) ? qualifyValue(field.slice(colon + 1).replace(/\n$/, ''), domain) : null;
    out.push(value === null ? field : `${field.slice(0, colon)}:${value}\n`);
  }
  return out.join('');
}
