/**
 * The address argument of MAIL FROM: and RCPT TO:, taken as sendmail's
 * parseaddr() takes it: the address runs to the first blank outside
 * quotes, comments and angle brackets (ESMTP parameters follow), nested
 * angle brackets are accepted (`<<a@b>>`), a source route is kept apart.
 * Errors are the replies sendmail gives.
 */
import { lastAtOutsideQuotes, stripComments } from '../../common/address-text.js';
import { ERR } from '../../common/errors.js';
import { addressReply, classReply, type Reply } from './replies.js';

/** sendmail's MAXNAME: an address of this many bytes or more is refused. */
const MAXNAME = 256;

export interface ParsedAddress {
  /** the address as the client wrote it (`<a@b>`): what replies and the from= log show */
  readonly written: string;
  /** without angle brackets and source route; '' for the null address `<>` */
  readonly mailbox: string;
  /** the hosts of a source route (`<@a,@b:u@c>` gives a, b), first hop first */
  readonly route: readonly string[];
  /** local part and domain of `mailbox` (domain '' when there is none) */
  readonly local: string;
  readonly domain: string;
  /** the ESMTP parameters after the address */
  readonly rest: string;
}

/** Which command the address came with: the sender's errors say 5.1.7, a recipient's 5.1.3. */
export type AddressRole = 'sender' | 'recipient';

/** Splits the argument after `FROM:` / `TO:` into the address and the rest, and checks the address. */
export function parseAddressArgument(arg: string, role: AddressRole): ParsedAddress | Reply {
  let quoted = false;
  let angle = 0;
  let paren = 0;
  let i = 0;
  for (; i < arg.length; i++) {
    const c = arg[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (quoted) {
      if (c === '"') quoted = false;
      continue;
    }
    if (c === '"') quoted = true;
    else if (c === '(') paren++;
    else if (c === ')') {
      if (--paren < 0) return unbalanced(arg, ')');
    } else if (c === '<') angle++;
    else if (c === '>') {
      if (--angle < 0) return unbalanced(arg.slice(0, i + 1), '>');
    } else if ((c === ' ' || c === '\t') && angle === 0 && paren === 0) break;
  }
  const written = arg.slice(0, i);
  if (quoted) return unbalanced(written, '"');
  if (paren > 0) return unbalanced(written, '(');
  if (angle > 0) return unbalanced(written, '<');
  const rest = arg.slice(i);

  if (Buffer.byteLength(written, 'latin1') >= MAXNAME) {
    return addressReply(553, '5.1.0', null, `Address "${written}" too long (${MAXNAME - 1} bytes max)`);
  }
  const status = role === 'sender' ? '5.1.7' : '5.1.3';
  if (/[\x80-\xff]/.test(written)) return addressReply(501, status, null, `8-bit character in mailbox address "${written}"`);
  if (/[\x00-\x1f\x7f]/.test(written)) return addressReply(501, status, null, `Syntax error in mailbox address "${written}" (illegal character)`);

  let inner = stripComments(written).trim();
  while (inner.startsWith('<') && inner.endsWith('>')) inner = inner.slice(1, -1).trim();
  const open = inner.indexOf('<');
  if (open >= 0) inner = inner.slice(open + 1, inner.lastIndexOf('>') > open ? inner.lastIndexOf('>') : undefined).trim();

  const route: string[] = [];
  if (inner.startsWith('@')) {
    const colon = inner.indexOf(':');
    if (colon < 0) return classReply(ERR.SMTP_HOSTNAME_REQUIRED, 'User address required', written);
    for (const hop of inner.slice(0, colon).split(',')) route.push(hop.trim().replace(/^@/, ''));
    inner = inner.slice(colon + 1);
  }
  const at = lastAtOutsideQuotes(inner);
  const local = at < 0 ? inner : inner.slice(0, at);
  const domain = at < 0 ? '' : inner.slice(at + 1);
  if (at >= 0 && domain === '') return classReply(ERR.SMTP_HOSTNAME_REQUIRED, 'Hostname required', written);
  if (at === 0) return classReply(ERR.SMTP_HOSTNAME_REQUIRED, 'User address required', written);
  return { written, mailbox: inner, route, local, domain, rest };
}

function unbalanced(written: string, what: string): Reply {
  return classReply(ERR.SMTP_BAD_ADDRESS, `Unbalanced '${what}'`, written);
}

