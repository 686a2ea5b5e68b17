/**
 * The message stage (sendmail's milter_data): after the whole message is
 * in, each filter in turn gets the headers, EOH, the body in chunks and
 * EOM, and answers EOM with its changes and its verdict.  Each filter's
 * changes are applied before the next filter starts, so a later filter
 * sees the headers and the body an earlier one left (as in sendmail).
 */
import { MilterIOError } from './connection.js';
import { ERR } from '../common/errors.js';
import type { Filter, Verdict } from './filter.js';
import type { MacroLookup } from './macros.js';
import {
  applyEnvelopeModification,
  applyHeaderModification,
  type HeaderModification,
  type MilterEnvelope,
  type MilterHeader,
  type Modification,
} from './modifications.js';
import { cstrings, printable, SMFIC, SMFIF, SMFIP, SMFIR, splitCStrings } from './protocol.js';
import { checkReplyCode } from './replies.js';
import { BodySpool, CrlfToLf, crlfChunks, type SpooledBody } from './spool.js';

export interface MessageInput {
  /** every header field the message will be queued with, in order; `generated` ones are not shown to filters */
  readonly headers: readonly MilterHeader[];
  /** the body as stored (LF line ends), readable from the start each time it is called */
  readonly body: () => AsyncIterable<Buffer>;
  /** the envelope, to keep current with chgfrom / addrcpt / delrcpt */
  readonly envelope?: MilterEnvelope;
  /** where a large replacement body is spooled (default: the system's temporary directory) */
  readonly spoolDir?: string;
}

export interface MessagePhaseResult {
  verdict: Verdict;
  response?: string;
  headers: MilterHeader[];
  envelope: MilterEnvelope | undefined;
  modifications: Modification[];
  /** the last replacement body, if a filter replaced it */
  body: SpooledBody | undefined;
  quarantine: string | undefined;
}

export interface MessagePhaseContext {
  log(threshold: number, priority: 'err' | 'warning' | 'info', text: string): void;
  macros: MacroLookup;
}

type Step = 'next' | 'finish' | 'go';

/** MILTER_CHECK_RESULTS: go on with this filter, go to the next one, or stop. */
function checkResults(f: Filter, r: MessagePhaseResult): Step {
  if (f.state === 'error' && r.verdict === 'continue') r.verdict = f.errorVerdict();
  if (r.verdict === 'accept' || f.state === 'done' || f.state === 'error') {
    if (f.state !== 'error') f.state = 'done';
    return 'next';
  }
  if (r.verdict !== 'continue') {
    f.state = 'done';
    return 'finish';
  }
  return 'go';
}

function headerData(f: Filter, h: MilterHeader): Buffer {
  const v = (f.pflags & SMFIP.HDR_LEADSPC) === 0 && h.value.startsWith(' ') ? h.value.slice(1) : h.value;
  return cstrings(h.name, v);
}

/** Runs the message stage over the chain's filters. */
export async function runMessagePhase(filters: readonly Filter[], input: MessageInput, ctx: MessagePhaseContext): Promise<MessagePhaseResult> {
  const r: MessagePhaseResult = {
    verdict: 'continue',
    headers: [...input.headers],
    envelope: input.envelope,
    modifications: [],
    body: undefined,
    quarantine: undefined,
  };
  let replfailed = false;
  for (const f of filters) {
    if (r.verdict !== 'continue' && r.verdict !== 'accept') break;
    r.verdict = 'continue';
    if (f.state === 'error') {
      const v = f.errorVerdict();
      if (v === 'continue') continue;
      r.verdict = v;
      break;
    }
    if (!f.listening) continue;
    f.state = 'inmsg';
    const step = await oneFilter(f, input, ctx, r, () => (replfailed = true));
    if (step === 'finish') break;
  }
  if (replfailed && (r.verdict === 'continue' || r.verdict === 'accept')) {
    r.verdict = 'tempfail';
    delete r.response;
  }
  if (r.verdict === 'accept') r.verdict = 'continue';
  return r;
}

async function oneFilter(f: Filter, input: MessageInput, ctx: MessagePhaseContext, r: MessagePhaseResult, replFailed: () => void): Promise<Step> {
  let step: Step;
  if ((f.pflags & SMFIP.NOHDRS) === 0) {
    ctx.log(17, 'info', `Milter (${f.name}): headers, send`);
    for (const h of r.headers) {
      if (h.generated === true) continue;
      const c = await f.command(SMFIC.HEADER, headerData(f, h), 'header');
      setVerdict(r, c.verdict, c.response);
      if (f.state === 'error' || f.state === 'done' || c.verdict !== 'continue') break;
    }
    ctx.log(17, 'info', `Milter (${f.name}): headers, sent`);
    if ((step = checkResults(f, r)) !== 'go') return step;
  }
  if ((f.pflags & SMFIP.NOEOH) === 0) {
    await f.sendMacros('eoh', ctx.macros);
    if ((step = checkResults(f, r)) !== 'go') return step;
    const c = await f.command(SMFIC.EOH, undefined, 'eoh');
    setVerdict(r, c.verdict, c.response);
    if ((step = checkResults(f, r)) !== 'go') return step;
  }
  if ((f.pflags & SMFIP.NOBODY) === 0) {
    ctx.log(17, 'info', `Milter (${f.name}): body, send`);
    const source = r.body !== undefined ? r.body.read() : input.body();
    for await (const chunk of crlfChunks(source)) {
      const c = await f.command(SMFIC.BODY, chunk, 'body chunk');
      setVerdict(r, c.verdict, c.response);
      if (f.state === 'error' || f.state === 'done' || f.state === 'skip' || c.verdict !== 'continue') break;
    }
    ctx.log(17, 'info', `Milter (${f.name}): body, sent`);
    if (f.state === 'skip') {
      // SMFIR_SKIP: the rest of the body is not wanted; EOM still is
      r.verdict = 'continue';
      f.state = 'ready';
    }
    if ((step = checkResults(f, r)) !== 'go') return step;
  }
  await f.sendMacros('eom', ctx.macros);
  if ((step = checkResults(f, r)) !== 'go') return step;
  if (await f.write(SMFIC.BODYEOB, undefined, 'eom')) await endOfMessage(f, input, ctx, r, replFailed);
  if (f.state === 'error') {
    const v = f.errorVerdict();
    if (v === 'continue') return 'next';
    r.verdict = v;
    return 'finish';
  }
  return 'next';
}

function setVerdict(r: MessagePhaseResult, verdict: Verdict, response?: string): void {
  r.verdict = verdict;
  if (response !== undefined) r.response = response;
}

/** The EOM answers: any number of changes and progress notes, then one verdict, within T=E. */
async function endOfMessage(f: Filter, input: MessageInput, ctx: MessagePhaseContext, r: MessagePhaseResult, replFailed: () => void): Promise<void> {
  const eomSent = Date.now();
  const limitE = f.timeouts.eom;
  let spool: BodySpool | null = null;
  let conv: CrlfToLf | null = null;
  let failed = false;
  const lied = (what: string) => ctx.log(9, 'warning', `milter_data(${f.name}): lied about ${what}, honoring request anyway`);
  while (r.verdict === 'continue') {
    const elapsed = (Date.now() - eomSent) / 1000;
    if (limitE > 0 && elapsed >= limitE) {
      f.fail(new MilterIOError(ERR.MILTER_TIMEOUT, `milter_data(${f.name}): EOM ACK/NAK timeout`));
      break;
    }
    const readLimit = limitE > 0 ? Math.min(f.timeouts.read > 0 ? f.timeouts.read : Infinity, limitE - elapsed) : f.timeouts.read;
    const p = await f.read(readLimit, 'eom');
    if (p === null) break;
    const data = p.data;
    switch (p.cmd) {
      case SMFIR.REPLYCODE:
        r.response = checkReplyCode(data, '554 5.7.1 Command rejected');
        ctx.log(12, 'info', `milter=${f.name}, reject=${r.response}`);
        r.verdict = 'replycode';
        f.state = 'done';
        break;
      case SMFIR.REJECT:
      case SMFIR.DISCARD:
      case SMFIR.TEMPFAIL: {
        const v = p.cmd === SMFIR.REJECT ? 'reject' : p.cmd === SMFIR.DISCARD ? 'discard' : 'tempfail';
        ctx.log(12, 'info', `milter=${f.name}, ${v}`);
        r.verdict = v;
        f.state = 'done';
        break;
      }
      case SMFIR.CONTINUE:
      case SMFIR.ACCEPT:
        r.verdict = 'accept';
        f.state = 'done';
        break;
      case SMFIR.PROGRESS:
        break;
      case SMFIR.QUARANTINE: {
        if ((f.actions & SMFIF.QUARANTINE) === 0) lied('quarantining');
        const reason = splitCStrings(data)[0] ?? '';
        ctx.log(3, 'info', `milter=${f.name}, quarantine=${reason}`);
        r.quarantine = reason;
        r.modifications.push({ filter: f.name, kind: 'quarantine', reason });
        break;
      }
      case SMFIR.ADDHEADER:
      case SMFIR.INSHEADER:
      case SMFIR.CHGHEADER: {
        const need = p.cmd === SMFIR.CHGHEADER ? SMFIF.CHGHDRS : SMFIF.ADDHDRS;
        if ((f.actions & need) === 0) lied(p.cmd === SMFIR.CHGHEADER ? 'changing headers' : 'adding headers');
        const mod = decodeHeaderChange(f, p.cmd, data);
        if (mod === null) break;
        logHeaderChange(ctx, mod);
        applyHeaderModification(r.headers, mod);
        r.modifications.push(mod);
        break;
      }
      case SMFIR.CHGFROM:
      case SMFIR.ADDRCPT:
      case SMFIR.ADDRCPT_PAR:
      case SMFIR.DELRCPT: {
        const mod = decodeEnvelopeChange(f, p.cmd, data, lied);
        if (mod === null) break;
        if (mod.kind === 'chgfrom') ctx.log(8, 'info', `Milter (${f.name}) chgfrom: ${mod.sender}`);
        else if (mod.kind === 'addrcpt') ctx.log(8, 'info', `Milter (${f.name}) add: rcpt: ${mod.recipient}`);
        else if (mod.kind === 'delrcpt') {
          const before = r.envelope?.recipients.length ?? 0;
          const after = r.envelope === undefined ? 0 : applyEnvelopeModification(r.envelope, mod).recipients.length;
          ctx.log(8, 'info', `Milter (${f.name}) delete: rcpt ${mod.recipient}, naddrs=${before - after}`);
        }
        if (r.envelope !== undefined) r.envelope = applyEnvelopeModification(r.envelope, mod);
        r.modifications.push(mod);
        break;
      }
      case SMFIR.REPLBODY:
        if ((f.actions & SMFIF.CHGBODY) === 0) {
          ctx.log(0, 'err', `milter_data(${f.name}): lied about replacing body, rejecting request and tempfailing message`);
          failed = true;
          break;
        }
        if (failed) break;
        if (spool === null) {
          spool = new BodySpool(input.spoolDir);
          conv = new CrlfToLf();
          ctx.log(8, 'info', `Milter (${f.name}) message: body replaced`);
        }
        try {
          await spool.write(conv!.push(data));
        } catch (e) {
          ctx.log(0, 'err', `milter_replbody: ${e instanceof Error ? e.message : String(e)}`);
          failed = true;
        }
        break;
      default:
        f.fail(new MilterIOError(ERR.MILTER_PROTOCOL, `milter_data(${f.name}): returned bogus response ${printable(p.cmd)}`));
        break;
    }
    if (f.state === 'error') break;
  }
  if (spool !== null) {
    if (failed || f.state === 'error') {
      await spool.discard();
    } else {
      await spool.write(conv!.end());
      const body = spool.finish();
      // a later replacement replaces the whole body: only the last one is kept
      const earlier = r.modifications.findIndex((m) => m.kind === 'replbody');
      if (earlier >= 0) r.modifications.splice(earlier, 1);
      await r.body?.dispose();
      r.body = body;
      r.modifications.push({ filter: f.name, kind: 'replbody', body });
    }
  }
  if (failed) replFailed();
}

function normalise(value: string): string {
  return value.replace(/\r\n/g, '\n');
}

/** SMFIR_ADDHEADER / INSHEADER / CHGHEADER data, with milter.c's checks (a malformed one is ignored). */
function decodeHeaderChange(f: Filter, cmd: string, data: Buffer): HeaderModification | null {
  const leadingSpace = (f.pflags & SMFIP.HDR_LEADSPC) === 0;
  let index = 0;
  let rest = data;
  if (cmd !== SMFIR.ADDHEADER) {
    if (data.length < 4) return null;
    index = data.readInt32BE(0);
    rest = data.subarray(4);
  }
  if (rest.length < 2 || rest[rest.length - 1] !== 0) return null;
  const parts = splitCStrings(rest);
  if (parts.length !== 2 || parts[0] === '') return null;
  const name = parts[0]!;
  const value = normalise(parts[1]!);
  const kind = cmd === SMFIR.ADDHEADER ? 'addheader' : cmd === SMFIR.INSHEADER ? 'insheader' : 'chgheader';
  return kind === 'addheader' ? { filter: f.name, kind, name, value, leadingSpace } : { filter: f.name, kind, index, name, value, leadingSpace };
}

function logHeaderChange(ctx: MessagePhaseContext, m: HeaderModification): void {
  const v = m.value;
  if (m.kind === 'addheader') ctx.log(8, 'info', `Milter (${m.filter}) add: header: ${m.name}: ${v}`);
  else if (m.kind === 'insheader') ctx.log(8, 'info', `Milter (${m.filter}) insert (${m.index}): header: ${m.name}: ${v}`);
  else if (v === '') ctx.log(8, 'info', `Milter (${m.filter}) delete: header ${m.name}`);
  else ctx.log(8, 'info', `Milter (${m.filter}) change: header ${m.name}: to ${v}`);
}

function decodeEnvelopeChange(f: Filter, cmd: string, data: Buffer, lied: (what: string) => void): Modification | null {
  const parts = splitCStrings(data);
  const first = parts[0] ?? '';
  switch (cmd) {
    case SMFIR.CHGFROM:
      if ((f.actions & SMFIF.CHGFROM) === 0) lied('changing sender');
      if (first === '' || parts.length > 2) return null;
      return parts.length === 2 ? { filter: f.name, kind: 'chgfrom', sender: first, args: parts[1]! } : { filter: f.name, kind: 'chgfrom', sender: first };
    case SMFIR.ADDRCPT:
      if ((f.actions & SMFIF.ADDRCPT) === 0) lied('adding recipients');
      if (first === '' || data.length !== first.length + 1) return null;
      return { filter: f.name, kind: 'addrcpt', recipient: first };
    case SMFIR.ADDRCPT_PAR:
      if ((f.actions & SMFIF.ADDRCPT_PAR) === 0) lied('adding recipients with parameters');
      if (first === '' || parts.length > 2) return null;
      return { filter: f.name, kind: 'addrcpt', recipient: first, args: parts[1] ?? '' };
    default:
      if ((f.actions & SMFIF.DELRCPT) === 0) lied('removing recipients');
      if (first === '' || data.length !== first.length + 1) return null;
      return { filter: f.name, kind: 'delrcpt', recipient: first };
  }
}
