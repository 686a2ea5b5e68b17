/**
 * M lines: mailer definitions.
 *
 *   Mesmtp, P=[IPC], F=mDFMuXa, S=EnvFromSMTP/HdrFromSMTP, R=EnvToSMTP,
 *           E=\r\n, L=990, T=DNS/RFC822/SMTP, A=TCP $h
 *
 * Equates are comma separated; a value may be double-quoted to hold commas.
 * S= and R= name an envelope ruleset and, after `/`, a header ruleset.
 */
import { munch } from './macros.js';
import { enterRuleset, type RulesetState } from './rulesets.js';
import type { Config, Mailer, RulesetRef } from './types.js';
import { ValueError, parseTime, parseUserSpec, words } from './values.js';

/** Problems of one M line: errors (sendmail's syserr) and warnings (plain messages). */
export interface MailerProblems {
  readonly errors: string[];
  readonly warnings: string[];
}

function int(name: string, code: string, v: string): number {
  const t = v.trim();
  if (t === '') return 0;
  if (!/^[-+]?\d+$/.test(t)) throw new ValueError(`M${name}: invalid number "${v}" for ${code}=`);
  return parseInt(t, 10);
}

/** Parses an M line (text after the M) into config.mailers. */
export function defineMailer(
  config: Config,
  rulesets: RulesetState,
  line: string,
  lineNo: number,
  out: MailerProblems,
): void {
  let p = 0;
  while (p < line.length && line[p] !== ',' && line[p] !== ' ' && line[p] !== '\t') p++;
  const name = line.slice(0, p);
  if (p < line.length) p++;
  if (name === '') {
    out.errors.push('name required for mailer');
    return;
  }
  const m: Mailer = {
    name,
    path: '',
    flags: new Set(),
    senderEnvelope: null,
    senderHeader: null,
    recipientEnvelope: null,
    recipientHeader: null,
    eol: '',
    argv: [],
    maxMessageSize: 0,
    maxDeliveries: 0,
    maxRecipients: 0,
    lineLimit: 0,
    nice: 0,
    execDir: null,
    charset: null,
    queueGroup: null,
    mtaType: null,
    addrType: null,
    diagType: null,
    user: null,
    wait: 0,
    rootDir: null,
    line: lineNo,
  };
  let hasArgv = false;
  while (p < line.length) {
    while (p < line.length && (line[p] === ',' || line[p] === ' ' || line[p] === '\t' || line[p] === '\n')) p++;
    if (p >= line.length) break;
    const code = line[p]!;
    while (p < line.length && line[p] !== '=' && line[p] !== ',') p++;
    if (line[p] !== '=') {
      out.errors.push(`mailer ${name}: \`=' expected`);
      return;
    }
    p++;
    while (p < line.length && (line[p] === ' ' || line[p] === '\t' || line[p] === '\n')) p++;
    const [value, end] = munch(line, p, ',');
    p = end;
    try {
      if (!setEquate(config, rulesets, m, code, value, out)) return;
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      out.errors.push(e.message);
      if (code === 'S' || code === 'R') return; // sendmail drops the mailer
    }
    if (code === 'A' && value !== '') hasArgv = true;
  }
  if (!hasArgv) {
    out.errors.push(`M${name}: A= argument required`);
    return;
  }
  if (m.path === '') {
    out.errors.push(`M${name}: P= argument required`);
    return;
  }
  if (m.maxRecipients <= 0) m.maxRecipients = 100;
  if (m.flags.has('L') && m.lineLimit === 0) m.lineLimit = 990;
  if (!checkSpecialPath(m, out)) return;
  if (m.eol === '') m.eol = m.argv.some((a) => a.includes('$u')) ? '\n' : '\r\n';
  config.mailers.set(name, m);
}

/** Applies one equate; false when the mailer must be dropped. */
function setEquate(
  config: Config,
  rulesets: RulesetState,
  m: Mailer,
  code: string,
  value: string,
  out: MailerProblems,
): boolean {
  const name = m.name;
  switch (code) {
    case 'P':
      if (value !== '') m.path = value;
      return true;
    case 'F':
      for (const c of value) if (c !== ' ' && c !== '\t' && c !== '\n') m.flags.add(c);
      return true;
    case 'S':
    case 'R': {
      const [env, hdr] = rulesetPair(config, rulesets, value);
      if (code === 'S') {
        m.senderEnvelope = env;
        m.senderHeader = hdr;
      } else {
        m.recipientEnvelope = env;
        m.recipientHeader = hdr;
      }
      return true;
    }
    case 'E':
      if (value === '') out.errors.push(`mailer ${name}: null end-of-line string`);
      else m.eol = value;
      return true;
    case 'A':
      if (value !== '') m.argv = words(value);
      return true;
    case 'M':
      m.maxMessageSize = int(name, code, value);
      return true;
    case 'm':
      m.maxDeliveries = int(name, code, value);
      return true;
    case 'r':
      m.maxRecipients = int(name, code, value);
      return true;
    case 'L':
      m.lineLimit = Math.max(0, int(name, code, value));
      return true;
    case 'N':
      m.nice = int(name, code, value);
      return true;
    case 'D':
      if (value === '') out.errors.push(`mailer ${name}: null working directory`);
      else m.execDir = value;
      return true;
    case 'C':
      if (value === '') out.errors.push(`mailer ${name}: null charset`);
      else m.charset = value;
      return true;
    case 'Q':
      if (value === '') out.errors.push(`mailer ${name}: null queue`);
      else if (!config.queueGroups.has(value)) out.errors.push(`mailer ${name}: unknown queue ${value}`);
      else m.queueGroup = value;
      return true;
    case 'T': {
      const s1 = value.indexOf('/');
      const s2 = s1 < 0 ? -1 : value.indexOf('/', s1 + 1);
      const mta = s1 < 0 ? value : value.slice(0, s1);
      const addr = s1 < 0 ? '' : s2 < 0 ? value.slice(s1 + 1) : value.slice(s1 + 1, s2);
      const diag = s2 < 0 ? '' : value.slice(s2 + 1);
      m.mtaType = mta === '' ? 'dns' : mta;
      m.addrType = addr === '' ? 'rfc822' : addr;
      m.diagType = diag === '' ? 'smtp' : diag;
      return true;
    }
    case 'U': {
      const u = parseUserSpec(value.trim(), ':');
      if (u.user === null) out.errors.push(`mailer ${name}: null user name`);
      else m.user = u;
      return true;
    }
    case 'W':
      m.wait = parseTime(value, 's');
      return true;
    case '/':
      if (value === '') out.errors.push(`mailer ${name}: null root directory`);
      else m.rootDir = value;
      return true;
    default:
      out.errors.push(`M${name}: unknown mailer equate ${code}=`);
      return true;
  }
}

function rulesetPair(config: Config, rulesets: RulesetState, value: string): [RulesetRef, RulesetRef] {
  const first = enterRuleset(config, rulesets, value);
  if (value[first.end] !== '/') return [first.ref, first.ref];
  const second = enterRuleset(config, rulesets, value.slice(first.end + 1));
  return [first.ref, second.ref];
}

/** The checks sendmail makes for P=[IPC], [TCP] and [FILE]. */
function checkSpecialPath(m: Mailer, out: MailerProblems): boolean {
  const name = m.name;
  if (m.path === '[TCP]') {
    out.errors.push(`M${name}: P=[TCP] must be replaced by P=[IPC]`);
    return false;
  }
  if (m.path === '[IPC]') {
    if (m.argv.length < 2 || m.argv[1] === '') {
      out.errors.push(`M${name}: too few parameters for [IPC] mailer`);
      return false;
    }
    if (m.argv[0] !== 'TCP' && m.argv[0] !== 'FILE') {
      out.warnings.push(`M${name}: Warning: first argument in [IPC] mailer must be TCP or FILE`);
    }
    m.mtaType ??= 'dns';
    m.addrType ??= 'rfc822';
    m.diagType ??= m.argv[0] === 'FILE' ? 'x-unix' : 'smtp';
  } else if (m.path === '[FILE]') {
    if (m.argv.length !== 2) {
      out.errors.push(`M${name}: too ${m.argv.length < 2 ? 'few' : 'many'} parameters for [FILE] mailer`);
      return false;
    }
    if (m.argv[0] !== 'FILE') {
      out.errors.push(`M${name}: first argument in [FILE] mailer must be FILE`);
      return false;
    }
  }
  return true;
}
