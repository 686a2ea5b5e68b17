/**
 * The MTA side of the sendmail milter protocol (version 6), as sendmail
 * 8.17 speaks it, for the SMTP session.
 *
 * How a session uses it (sendmail's srvrsmtp.c order):
 *
 *   const m = await MilterChain.open({ config, log, macros, daemon });
 *       at connection time, before the greeting.  m.initOutcome:
 *       - reject: greet with 554 and answer every command but QUIT, HELO,
 *         EHLO, NOOP, RSET with `550 5.0.0 Command rejected` (nullServer);
 *       - tempfail: answer MAIL and ETRN with m.initOutcome.reply
 *         (451 4.3.2 Please try again later), VRFY/EXPN with
 *         550 5.7.1 Please try again later;
 *       - shutdown: write the reply (421 4.7.0 host closing connection), close.
 *   await m.connect({ hostname, family, port, address })  same outcomes.
 *   HELO/EHLO: await m.helo(name): reject/tempfail: HELO is still answered
 *       250; later commands get `reply` as above (a filter's own reply code
 *       is the nullServer text); shutdown: write reply, close.
 *   MAIL: m.logId = queue id; await m.envfrom(['<a@b>', 'SIZE=10', ...]):
 *       reject/tempfail: answer `reply` instead of 250; discard: answer 250,
 *       accept the message and drop it; shutdown: write `reply`, close.
 *   RCPT: await m.envrcpt(['<b@c>', 'NOTIFY=...'], refusedAlready): the same;
 *       a refused recipient is not added.
 *   DATA: await m.data() before 354: the same.
 *   unknown command: await m.unknown(line) before the 500: the same.
 *   end of data: the message must be readable twice (spoolBody() helps):
 *       const o = await m.message({ headers, body: () => read(), envelope });
 *       accept / quarantine: queue o.headers, o.body ?? the original body,
 *       o.envelope (o.quarantine: hold the message, it shows in mailq);
 *       reject / tempfail: answer o.reply; discard: answer 250, drop it;
 *       shutdown: write o.reply, close.  Dispose of o.body once queued.
 *       Or apply o.modifications yourself with applyModifications().
 *   RSET, a refused MAIL: await m.abort().   QUIT / end: await m.close().
 */
export { MilterChain, type ConnectInfo, type MessageOutcome, type MilterChainOptions, type StageOutcome } from './chain.js';
export { MilterConnection, MilterIOError } from './connection.js';
export { Filter, type FilterState, type Verdict } from './filter.js';
export { configuredMacros, DEFAULT_MILTER_MACROS, macroKey, macroPacketData, type MacroLookup } from './macros.js';
export type { MessageInput } from './message-phase.js';
// one address-list splitter for aliases, milters and headers: sendmail's sendtolist()
export { splitAddressList } from '../delivery/aliases/targets.js';
export {
  applyEnvelopeModification,
  applyHeaderModification,
  applyModifications,
  headerFromText,
  headerToText,
  stripBrackets,
  type HeaderModification,
  type MilterEnvelope,
  type MilterHeader,
  type ModifiedMessage,
  type Modification,
} from './modifications.js';
export * from './protocol.js';
export { checkReplyCode, parseReplyText, type MilterReply } from './replies.js';
export { BodySpool, CrlfToLf, crlfChunks, memoryBody, spoolBody, type SpooledBody } from './spool.js';
