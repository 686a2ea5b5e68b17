/**
 * Filters for local submissions (`sendmail -t`, `sendmail addr`, the
 * client-queue runner).  sendmail's MSP hands such mail to the MTA over
 * SMTP on 127.0.0.1 port 25, so the MTA's filters see a connection from
 * `localhost [127.0.0.1]` to the daemon on port 25, an EHLO with the host's
 * own name, the envelope and the message with the MSP's headers (which,
 * having come over SMTP, are all the message's own).  Postern makes the
 * same calls on the daemon's side of the submission socket, so opendkim
 * signs cron's mail as it signs SMTP mail.
 */
import type { SystemIdentity } from '../common/identity.js';
import type { Logger } from '../common/log.js';
import type { Config, PortOptions } from '../config/index.js';
import { parseHeaders } from '../msp/submission/headers.js';
import type { Envelope } from '../queue/envelope.js';
import { filterMessage, type FilteredMessage } from './smtpd/milter-message.js';
import { SessionMilters, usesMilters, type MacroSource, type ResolvedAddress } from './smtpd/milters.js';
import type { Reply } from './smtpd/replies.js';

export interface LocalMilterContext {
  /** sendmail.cf: its X lines, InputMailFilters and Milter.* options */
  readonly config: Config;
  readonly identity: SystemIdentity;
  readonly log?: Logger;
}

/** The daemon the MSP would reach: the one on port 25 (submit.cf relays to [127.0.0.1]:25), else the first. */
export function submissionDaemon(config: Config): PortOptions | undefined {
  const daemons = config.options.DaemonPortOptions;
  return daemons.find((d) => (d.Port ?? 25) === 25 && (d.Family === 'inet' || d.Family === undefined)) ?? daemons[0];
}

/** Whether local submissions go through filters at all (no filter: nothing is opened). */
export function localSubmissionsFiltered(config: Config): boolean {
  const daemon = submissionDaemon(config);
  return daemon !== undefined && usesMilters(config, daemon);
}

function resolved(address: string, localDomains: (d: string) => boolean): ResolvedAddress {
  if (address === '') return { mailer: 'local', host: 'localhost', addr: '<>' };
  const at = address.lastIndexOf('@');
  if (at < 0) return { mailer: 'local', host: 'localhost', addr: address };
  const domain = address.slice(at + 1);
  return localDomains(domain) ? { mailer: 'local', host: 'localhost', addr: address.slice(0, at) } : { mailer: 'esmtp', host: domain, addr: address };
}

type Refusal = { readonly kind: 'refused' | 'shutdown'; readonly reply: Reply };

function stop(o: { action: string; reply?: Reply }): Refusal | null {
  if (o.action === 'continue' || o.action === 'discard' || o.reply === undefined) return null;
  return { kind: o.action === 'shutdown' ? 'shutdown' : 'refused', reply: o.reply };
}

/**
 * Runs one submission through the filters, as the MTA would see it from
 * the MSP.  `envelope` is what would be queued; the result says what to
 * queue instead, or why not.  Refused recipients are dropped (the filter's
 * reply is logged); when none is left, the message is refused.
 */
export async function filterLocalSubmission(
  ctx: LocalMilterContext,
  message: { envelope: Envelope; headers: string; body: AsyncIterable<Buffer>; messageId: string | undefined },
): Promise<FilteredMessage> {
  const { config, identity } = ctx;
  const daemon = submissionDaemon(config)!;
  const hostname = config.macros.get('j') ?? identity.canonicalName;
  const classW = new Set([...(config.classes.get('w') ?? []), hostname, identity.shortName, 'localhost'].map((d) => d.toLowerCase()));
  const isLocal = (d: string) => classW.has(d.toLowerCase());
  const source: MacroSource = {
    base: (name) => (name === 'j' ? hostname : name === '_' ? 'localhost [127.0.0.1]' : name === 'r' ? 'ESMTP' : name === 's' ? hostname : config.macros.get(name)),
    session: () => new Map(),
    daemonName: daemon.Name ?? 'MTA',
    client: { hostname: 'localhost', family: 'inet', port: 0, address: '127.0.0.1' },
    clientName: 'localhost',
    clientAddr: '127.0.0.1',
    clientPtr: 'localhost',
    clientResolve: 'OK',
    local: { address: '127.0.0.1', port: daemon.Port ?? 25, name: 'localhost' },
    queueId: () => message.envelope.id,
  };
  const m = await SessionMilters.open(config, daemon, source, ctx.log);
  if (m === null) throw new Error('filterLocalSubmission: no filter for local submissions');
  const chain = m.chain;
  chain.logId = message.envelope.id;
  try {
    const refused = await envelopeSteps(m, message.envelope, hostname, isLocal);
    if (refused !== null) {
      for await (const _ of message.body); // read to its end, as the MSP's SMTP client would not send it
      return refused;
    }
    const own = parseHeaders(message.headers.replace(/\n$/, '').split(/(?<=\n)/));
    return await filterMessage(m, { added: [], own, body: message.body, envelope: message.envelope, messageId: message.messageId });
  } finally {
    await chain.close();
  }
}

/** connect, EHLO, MAIL, RCPT..., DATA: null when the message may go on to the filters. */
async function envelopeSteps(m: SessionMilters, envelope: Envelope, hostname: string, isLocal: (d: string) => boolean): Promise<Refusal | null> {
  const chain = m.chain;
  let o = chain.initOutcome;
  if (o.action === 'continue') o = await chain.connect({ hostname: 'localhost', family: 'inet', port: 0, address: '127.0.0.1' });
  // a refused connection refuses MAIL: 550 5.0.0 for a reject, 451 4.3.2 for a tempfail
  if (o.action !== 'continue') return stop(o) ?? null;
  const helo = await chain.helo(hostname);
  if (helo.action !== 'continue') return stop(helo);
  m.queueId = envelope.id;
  m.sender = resolved(envelope.sender, isLocal);
  // the MSP's SMTP client qualifies a bare user name with $j
  const qualify = (a: string) => (a === '' || a.includes('@') ? a : `${a}@${hostname}`);
  const from = await chain.envfrom([`<${qualify(envelope.sender)}>`]);
  const refusedFrom = stop(from);
  if (refusedFrom !== null) return refusedFrom;
  const kept = [];
  let lastRefusal: Refusal | null = null;
  for (const r of envelope.recipients) {
    m.recipient = resolved(r.address, isLocal);
    const to = await chain.envrcpt([`<${qualify(r.address)}>`]);
    m.recipient = undefined;
    const refusal = stop(to);
    if (refusal?.kind === 'shutdown') return refusal;
    if (refusal !== null) {
      chain.log(3, 'info', `${r.address}... ${refusal.reply.code} ${refusal.reply.status} ${refusal.reply.text.split('\n').join(' ')}`);
      lastRefusal = refusal;
      continue;
    }
    kept.push(r);
  }
  if (kept.length === 0) return lastRefusal;
  envelope.recipients.splice(0, envelope.recipients.length, ...kept);
  return stop(await chain.data());
}
