/**
 * ESMTP parameters of MAIL and RCPT (SIZE, BODY, ENVID, RET, AUTH, BY;
 * NOTIFY, ORCPT), checked in sendmail's order and answered in its words.
 * The first bad parameter ends the command, as in sendmail.
 */
import { ERR } from '../../common/errors.js';
import type { Notify } from '../../queue/envelope.js';
import { classReply, echo, type Reply } from './replies.js';

export interface MailParams {
  size?: number;
  body?: '7BIT' | '8BITMIME';
  envid?: string;
  ret?: 'full' | 'hdrs';
  /** AUTH= as the client gave it (xtext or `<>`); what is kept of it is the session's judgement (trustedAuthParam) */
  auth?: string;
}

export interface RcptParams {
  notify?: Notify;
  orcpt?: string;
}

export interface ParamContext {
  /** DSN offered (not PrivacyOptions=noreceipts, SendMimeErrors set) */
  readonly dsn: boolean;
  /** MaxMessageSize; 0 = none */
  readonly maxMessageSize: number;
  /** DeliverByMin; < 0: no DELIVERBY */
  readonly deliverByMin: number;
  readonly noReflection: boolean;
}

/** sendmail's MAXSMTPARGS: the address counts as one. */
const MAX_ARGS = 20;

/** keyword[=value] pairs, split as parse_esmtp_args does. */
function splitParams(rest: string): Array<{ key: string; value: string | null }> {
  const out: Array<{ key: string; value: string | null }> = [];
  let p = 0;
  const n = rest.length;
  while (p < n) {
    while (p < n && (rest[p] === ' ' || rest[p] === '\t')) p++;
    if (p >= n) break;
    const k = p;
    while (p < n && /[A-Za-z0-9-]/.test(rest[p]!)) p++;
    let key = rest.slice(k, p);
    let value: string | null = null;
    if (rest[p] === '=') {
      const v = ++p;
      while (p < n && rest[p] !== ' ' && rest[p] !== '=' && !/[\x00-\x1f\x7f]/.test(rest[p]!)) p++;
      value = rest.slice(v, p);
    } else if (p < n && rest[p] !== ' ') {
      // a character that ends neither keyword nor value: sendmail cuts the word there
      while (p < n && rest[p] !== ' ') p++;
      key = rest.slice(k, p);
    }
    p++;
    out.push({ key, value });
  }
  return out;
}

/** RFC 3461 xtext: printable ASCII except '+' and '=', and +XX hex escapes. */
function isXtext(s: string): boolean {
  return /^(?:[!-*,-<>-~]|\+[0-9A-F]{2})*$/.test(s);
}

const tooMany = (): Reply => classReply(ERR.SMTP_BAD_PARAMETER, 'Too many parameters');

export function parseMailParams(rest: string, ctx: ParamContext): MailParams | Reply {
  const params: MailParams = {};
  const list = splitParams(rest);
  let envidSeen = false;
  let authSeen = false;
  for (let n = 0; n < list.length; n++) {
    const { key, value } = list[n]!;
    const k = key.toLowerCase();
    if (k === 'size') {
      if (value === null) return classReply(ERR.SMTP_SYNTAX, 'SIZE requires a value');
      // strtol(): leading digits count, anything else reads as 0
      const digits = /^\s*([+-]?\d*)/.exec(value)![1]!;
      const size = digits === '' || digits === '+' || digits === '-' ? 0 : Number(digits);
      if (size > Number.MAX_SAFE_INTEGER) return classReply(ERR.SMTP_MESSAGE_TOO_BIG, 'Message size exceeds maximum value');
      if (size < 0) return classReply(ERR.SMTP_MESSAGE_TOO_BIG, 'Message size invalid');
      params.size = size;
    } else if (k === 'body') {
      if (value === null) return classReply(ERR.SMTP_SYNTAX, 'BODY requires a value');
      if (value.toLowerCase() === '8bitmime') params.body = '8BITMIME';
      else if (value.toLowerCase() === '7bit') params.body = '7BIT';
      else return classReply(ERR.SMTP_BAD_PARAMETER, `Unknown BODY type ${echo(value, ctx.noReflection)}`);
    } else if (k === 'envid') {
      if (!ctx.dsn) return { code: 504, status: '5.7.0', text: 'Sorry, ENVID not supported, we do not allow DSN' };
      if (value === null) return classReply(ERR.SMTP_SYNTAX, 'ENVID requires a value');
      if (!isXtext(value)) return classReply(ERR.SMTP_BAD_PARAMETER, 'Syntax error in ENVID parameter value');
      if (envidSeen) return { code: 501, status: '5.5.0', text: 'Duplicate ENVID parameter' };
      envidSeen = true;
      params.envid = value;
    } else if (k === 'ret') {
      if (!ctx.dsn) return { code: 504, status: '5.7.0', text: 'Sorry, RET not supported, we do not allow DSN' };
      if (value === null) return classReply(ERR.SMTP_SYNTAX, 'RET requires a value');
      if (params.ret !== undefined) return { code: 501, status: '5.5.0', text: 'Duplicate RET parameter' };
      if (value.toLowerCase() === 'hdrs') params.ret = 'hdrs';
      else if (value.toLowerCase() === 'full') params.ret = 'full';
      else return classReply(ERR.SMTP_SYNTAX, `Bad argument "${echo(value, ctx.noReflection)}" to RET`);
    } else if (k === 'auth') {
      if (value === null) return classReply(ERR.SMTP_SYNTAX, 'AUTH= requires a value');
      if (authSeen) return { code: 501, status: '5.5.0', text: 'Duplicate AUTH parameter' };
      if (!isXtext(value)) return classReply(ERR.SMTP_BAD_PARAMETER, 'Syntax error in AUTH parameter value');
      authSeen = true;
      params.auth = value;
    } else if (k === 'by' && ctx.deliverByMin >= 0) {
      if (value === null) return classReply(ERR.SMTP_SYNTAX, 'BY= requires a value');
      const m = /^(-?\d+);([NnRr])([Tt]?)$/.exec(value);
      if (m === null) return classReply(ERR.SMTP_SYNTAX, value.includes(';') ? `illegal by-mode '${value.split(';')[1]?.[0] ?? ''}'` : 'BY= missing \';\'');
    } else {
      return classReply(ERR.SMTP_UNKNOWN_PARAMETER, `${echo(key, ctx.noReflection)} parameter unrecognized`);
    }
    if (n + 2 >= MAX_ARGS - 1) return tooMany();
  }
  if (ctx.maxMessageSize > 0 && params.size !== undefined && params.size > ctx.maxMessageSize) {
    return classReply(ERR.SMTP_MESSAGE_TOO_BIG, `Message size exceeds fixed maximum message size (${ctx.maxMessageSize})`);
  }
  return params;
}

export function parseRcptParams(rest: string, ctx: ParamContext): RcptParams | Reply {
  const params: RcptParams = {};
  const list = splitParams(rest);
  for (let n = 0; n < list.length; n++) {
    const { key, value } = list[n]!;
    const k = key.toLowerCase();
    if (k === 'notify') {
      if (!ctx.dsn) return { code: 504, status: '5.7.0', text: 'Sorry, NOTIFY not supported, we do not allow DSN' };
      if (value === null) return classReply(ERR.SMTP_SYNTAX, 'NOTIFY requires a value');
      const notify = { never: false, success: false, failure: false, delay: false };
      if (value.toLowerCase() === 'never') notify.never = true;
      else {
        for (const word of value.split(',')) {
          const w = word.toLowerCase();
          if (w === 'success' || w === 'failure' || w === 'delay') notify[w] = true;
          else return classReply(ERR.SMTP_BAD_PARAMETER, `Bad argument "${echo(word, ctx.noReflection)}"  to NOTIFY`);
        }
      }
      params.notify = notify;
    } else if (k === 'orcpt') {
      if (!ctx.dsn) return { code: 504, status: '5.7.0', text: 'Sorry, ORCPT not supported, we do not allow DSN' };
      if (value === null) return classReply(ERR.SMTP_SYNTAX, 'ORCPT requires a value');
      if (params.orcpt !== undefined) return { code: 501, status: '5.5.0', text: 'Duplicate ORCPT parameter' };
      const semi = value.indexOf(';');
      if (semi <= 0 || !/^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+$/.test(value.slice(0, semi)) || !isXtext(value.slice(semi + 1))) {
        return classReply(ERR.SMTP_BAD_PARAMETER, 'Syntax error in ORCPT parameter value');
      }
      params.orcpt = value;
    } else {
      return classReply(ERR.SMTP_UNKNOWN_PARAMETER, `${echo(key, ctx.noReflection)} parameter unrecognized`);
    }
    if (n + 2 >= MAX_ARGS - 1) return tooMany();
  }
  return params;
}

/**
 * What the queue keeps of MAIL's AUTH= (sendmail's e_auth_param), as
 * proto.m4's trust_auth ruleset judges it: the value when the client has
 * authenticated as that very identity (`alice` or `<alice>`, compared as
 * rulesets compare, without regard to case), `<>` otherwise.
 */
export function trustedAuthParam(value: string, authenticatedAs: string | null): string {
  if (value === '<>' || authenticatedAs === null) return '<>';
  const v = value.toLowerCase();
  const a = authenticatedAs.toLowerCase();
  return v === a || v === `<${a}>` ? value : '<>';
}

export function isReply(x: unknown): x is Reply {
  return typeof x === 'object' && x !== null && 'code' in x && 'text' in x && typeof (x as Reply).code === 'number';
}
