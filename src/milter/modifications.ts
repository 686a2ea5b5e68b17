/**
 * What filters may change at end of message, and how sendmail applies each
 * change (milter.c's milter_addheader/insheader/changeheader, chgfrom,
 * addrcpt, delrcpt, replbody; headers.c's addheader/insheader).  Pure
 * functions: the chain uses them to keep its own view of the headers
 * current (a later filter sees an earlier filter's header changes, as in
 * sendmail), and the session uses applyModifications() on the message it
 * queues.
 */
import { splitAddressList } from '../delivery/aliases/targets.js';
import { addressKey } from '../msp/submission/addresses.js';
import { TRACE_HEADERS } from '../msp/submission/headers.js';
import type { SpooledBody } from './spool.js';

/** One header field as the message stores it. */
export interface MilterHeader {
  readonly name: string;
  /** everything after the colon as stored: the leading space included, folded lines joined by "\n" */
  readonly value: string;
  /**
   * Added by the MTA (Received, Date, Message-Id...): sendmail's headers
   * without H_USER.  Filters are not shown them, and addheader/chgheader
   * treat the non-trace ones as "default headers" whose value they replace.
   */
  readonly generated?: boolean;
}

/** The envelope as filters can change it. */
export interface MilterEnvelope {
  /** without angle brackets; '' for <> */
  readonly sender: string;
  /** ESMTP arguments of MAIL as chgfrom gave them ("SIZE=10 BODY=8BITMIME"), when it gave any */
  readonly senderArgs?: string;
  readonly recipients: ReadonlyArray<{ readonly address: string; readonly args?: string }>;
}

interface HeaderChange {
  readonly name: string;
  /** the value as the filter sent it (CR LF made LF) */
  readonly value: string;
  /** add a space after the colon: the filter did not negotiate SMFIP_HDR_LEADSPC */
  readonly leadingSpace: boolean;
}

export type Modification = { readonly filter: string } & (
  | ({ readonly kind: 'addheader' } & HeaderChange)
  | ({ readonly kind: 'insheader'; readonly index: number } & HeaderChange)
  /** an empty value deletes the field */
  | ({ readonly kind: 'chgheader'; readonly index: number } & HeaderChange)
  | { readonly kind: 'chgfrom'; readonly sender: string; readonly args?: string }
  /** addrcpt (args undefined; the text may list several addresses) or addrcpt_par (one address; args '' when it gave none) */
  | { readonly kind: 'addrcpt'; readonly recipient: string; readonly args?: string }
  | { readonly kind: 'delrcpt'; readonly recipient: string }
  /** the whole new body, LF line ends, as the message stores it */
  | { readonly kind: 'replbody'; readonly body: SpooledBody }
  | { readonly kind: 'quarantine'; readonly reason: string }
);

export type HeaderModification = Extract<Modification, { kind: 'addheader' | 'insheader' | 'chgheader' }>;

function stored(c: HeaderChange): string {
  return c.leadingSpace ? ' ' + c.value : c.value;
}

function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function isTrace(name: string): boolean {
  return TRACE_HEADERS.has(name.toLowerCase());
}

/** headers.c addheader(): before the first field of that name, else at the end. */
function addField(headers: MilterHeader[], h: MilterHeader): void {
  const at = headers.findIndex((x) => same(x.name, h.name));
  if (at < 0) headers.push(h);
  else headers.splice(at, 0, h);
}

/** Applies one header change to `headers` (in place). */
export function applyHeaderModification(headers: MilterHeader[], mod: HeaderModification): void {
  const value = stored(mod);
  switch (mod.kind) {
    case 'addheader': {
      // a default header of that name takes the value instead (milter_addheader)
      const dflt = headers.findIndex((h) => same(h.name, mod.name) && h.generated === true && !isTrace(h.name));
      if (dflt >= 0) headers[dflt] = { name: headers[dflt]!.name, value };
      else addField(headers, { name: mod.name, value });
      return;
    }
    case 'insheader':
      // index 0 is the top of the stored header (sendmail: before its Received: line)
      headers.splice(Math.max(0, Math.min(mod.index, headers.length)), 0, { name: mod.name, value });
      return;
    case 'chgheader': {
      let index = mod.index;
      let target = -1;
      let sysheader = -1;
      for (let i = 0; i < headers.length; i++) {
        const h = headers[i]!;
        if (!same(h.name, mod.name)) continue;
        if (h.generated !== true) {
          if (--index <= 0) {
            target = i;
            break;
          }
        } else if (!isTrace(h.name)) {
          sysheader = i;
        }
      }
      if (target < 0) target = sysheader;
      if (target < 0) {
        // changing a field that is not there adds it; deleting it does nothing
        if (mod.value !== '') addField(headers, { name: mod.name, value });
        return;
      }
      if (mod.value === '') headers.splice(target, 1);
      else headers[target] = { name: headers[target]!.name, value };
      return;
    }
  }
}

/** `<a@b>` and `Name <a@b>` → `a@b`. */
export function stripBrackets(address: string): string {
  const t = address.trim();
  if (!t.endsWith('>')) return t;
  const open = t.lastIndexOf('<');
  return open < 0 ? t : t.slice(open + 1, -1).trim();
}

/** Applies one envelope change. */
export function applyEnvelopeModification(env: MilterEnvelope, mod: Modification): MilterEnvelope {
  switch (mod.kind) {
    case 'chgfrom':
      return {
        ...env,
        sender: stripBrackets(mod.sender),
        ...(mod.args !== undefined ? { senderArgs: mod.args } : {}),
      };
    case 'addrcpt': {
      const recipients = [...env.recipients];
      const addresses = mod.args === undefined ? splitAddressList(mod.recipient) : [mod.recipient];
      for (const a of addresses) {
        const address = stripBrackets(a);
        // recipient() drops a duplicate of an address already on the list
        if (address === '' || recipients.some((r) => addressKey(r.address) === addressKey(address))) continue;
        recipients.push(mod.args === undefined || mod.args === '' ? { address } : { address, args: mod.args });
      }
      return { ...env, recipients };
    }
    case 'delrcpt': {
      const gone = new Set(splitAddressList(mod.recipient).map((a) => addressKey(stripBrackets(a))));
      return { ...env, recipients: env.recipients.filter((r) => !gone.has(addressKey(r.address))) };
    }
    default:
      return env;
  }
}

export interface ModifiedMessage {
  readonly headers: MilterHeader[];
  /** the body to queue: the original, or the last replacement */
  readonly body: AsyncIterable<Buffer>;
  readonly bodyReplaced: boolean;
  readonly envelope: MilterEnvelope;
  /** the reason the message is held, when a filter quarantined it */
  readonly quarantine: string | undefined;
}

/**
 * The message as the filters left it: header changes in order, envelope
 * changes in order, the last body replacement (each filter's replacement
 * replaces the whole body), the last quarantine reason.  The body is
 * streamed from the spool, never read whole.
 */
export function applyModifications(
  headers: readonly MilterHeader[],
  body: AsyncIterable<Buffer>,
  envelope: MilterEnvelope,
  mods: readonly Modification[],
): ModifiedMessage {
  const out = [...headers];
  let env = envelope;
  let replacement: SpooledBody | undefined;
  let quarantine: string | undefined;
  for (const mod of mods) {
    if (mod.kind === 'addheader' || mod.kind === 'insheader' || mod.kind === 'chgheader') applyHeaderModification(out, mod);
    else if (mod.kind === 'replbody') replacement = mod.body;
    else if (mod.kind === 'quarantine') quarantine = mod.reason;
    else env = applyEnvelopeModification(env, mod);
  }
  return {
    headers: out,
    body: replacement === undefined ? body : replacement.read(),
    bodyReplaced: replacement !== undefined,
    envelope: env,
    quarantine,
  };
}

/** A stored field (`Name: value\n\tmore\n`) as a MilterHeader. */
export function headerFromText(text: string, generated = false): MilterHeader {
  const colon = text.indexOf(':');
  const name = text.slice(0, colon).trimEnd();
  const value = text.slice(colon + 1).replace(/\r?\n$/, '');
  return generated ? { name, value, generated } : { name, value };
}

/** The field as the message stores it, LF-terminated. */
export function headerToText(h: MilterHeader): string {
  return `${h.name}:${h.value}\n`;
}
