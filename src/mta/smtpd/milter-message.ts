/**
 * The end of a message with filters attached (sendmail's milter_data at the
 * final dot): the body is spooled so each filter can read it in turn, the
 * chain is run, and what it decided becomes what is queued: the headers as
 * the filters left them, the replacement body if any, the envelope after
 * chgfrom / addrcpt / delrcpt, and the quarantine reason.
 */
import { headerFromText, headerToText, spoolBody, type MilterEnvelope, type SpooledBody } from '../../milter/index.js';
import { addressKey } from '../../msp/submission/addresses.js';
import type { Header } from '../../msp/submission/headers.js';
import type { Envelope, Recipient } from '../../queue/envelope.js';
import { isReply, parseMailParams, parseRcptParams, type ParamContext } from './esmtp-params.js';
import type { SessionMilters } from './milters.js';
import type { Reply } from './replies.js';

export type FilteredMessage =
  | {
      readonly kind: 'queue';
      /** the header block's lines, LF line ends */
      readonly headerText: string;
      readonly body: AsyncIterable<Buffer>;
      readonly envelope: Envelope;
      /** releases the spooled bodies once the message is queued (or was not) */
      dispose(): Promise<void>;
    }
  | { readonly kind: 'discard' }
  /** refused (reject, tempfail): the session goes on */
  | { readonly kind: 'refused'; readonly reply: Reply }
  /** the filter closed the session (421) */
  | { readonly kind: 'shutdown'; readonly reply: Reply };

/** What the filters could not have told: DSN and ESMTP arguments of an added recipient are read as RCPT's are. */
const PARAMS: ParamContext = { dsn: true, maxMessageSize: 0, deliverByMin: -1, noReflection: false };

/** Recipients after the filters: those kept keep their DSN settings, new ones take their ESMTP arguments. */
function recipientsAfter(before: readonly Recipient[], after: MilterEnvelope['recipients']): Recipient[] {
  const known = new Map(before.map((r) => [addressKey(r.address), r]));
  return after.map(({ address, args }) => {
    const kept = known.get(addressKey(address));
    if (kept !== undefined) return kept;
    const p = args === undefined ? {} : parseRcptParams(args, PARAMS);
    const params = isReply(p) ? {} : p;
    return {
      address,
      state: 'pending',
      ...(params.orcpt !== undefined ? { orcpt: params.orcpt } : {}),
      ...(params.notify !== undefined ? { notify: params.notify } : {}),
    };
  });
}

/** The envelope after chgfrom and the recipient changes. */
function envelopeAfter(envelope: Envelope, changed: MilterEnvelope | undefined, quarantine: string | undefined): Envelope {
  let out: Envelope = { ...envelope };
  if (changed !== undefined) {
    out = { ...out, sender: changed.sender, recipients: recipientsAfter(envelope.recipients, changed.recipients) };
    if (changed.senderArgs !== undefined) {
      const p = parseMailParams(changed.senderArgs, PARAMS);
      if (!isReply(p) && p.body !== undefined) out = { ...out, bodyType: p.body };
    }
  }
  if (quarantine !== undefined) out.quarantine = quarantine;
  return out;
}

/**
 * Runs the message through the filters.  `added` are the headers the MTA
 * made (Received, Date...: sendmail's headers without H_USER, which filters
 * are not shown), `own` the message's; the body (LF line ends) is read
 * here, once.
 */
export async function filterMessage(
  milters: SessionMilters,
  message: { added: readonly Header[]; own: readonly Header[]; body: AsyncIterable<Buffer>; envelope: Envelope; messageId: string | undefined },
): Promise<FilteredMessage> {
  const spooled: SpooledBody = await spoolBody(message.body);
  milters.messageId = message.messageId;
  const headers = [...message.added.map((h) => headerFromText(h.text, true)), ...message.own.map((h) => headerFromText(h.text))];
  const env = message.envelope;
  const o = await milters.chain.message({
    headers,
    body: () => spooled.read(),
    envelope: { sender: env.sender, recipients: env.recipients.map((r) => ({ address: r.address })) },
  });
  const dispose = async () => {
    await o.body?.dispose();
    await spooled.dispose();
  };
  switch (o.action) {
    case 'accept':
    case 'quarantine':
      return {
        kind: 'queue',
        headerText: o.headers.map(headerToText).join(''),
        body: (o.body ?? spooled).read(),
        envelope: envelopeAfter(env, o.envelope, o.quarantine),
        dispose,
      };
    case 'discard':
      await dispose();
      return { kind: 'discard' };
    case 'shutdown':
      await dispose();
      return { kind: 'shutdown', reply: o.reply! };
    default:
      await dispose();
      return { kind: 'refused', reply: o.reply! };
  }
}
