/**
 * Setting one option, from an `O` line or from the command line (-O/-o):
 * name lookup (long names, unique abbreviations, single letters), sticky
 * command-line values, and the value parsers of every option.
 */
import { ipVersion as isIP } from '../common/ip.js';
import { ERR } from '../common/errors.js';
import { expandMacros, munch, parseMacroName } from './macros.js';
import { parseAliasSpecs } from './maps.js';
import { setMilterOption } from './milters.js';
import { lookupLetter, lookupLongName, type OptionInfo } from './options-table.js';
import { DELIVERY_MODES, familyKey, parsePortOptions, splitFilterList } from './port-options.js';
import type { Reporter } from './problems.js';
import { setQueueTimeout, setTimeoutList, setTimeoutOption } from './timeouts.js';
import { addDontBlameSendmailFlags, addLetterFlags, addPrivacyFlags, addResolverOptions, addSslOptions } from './flags.js';
import type { Config, EightBitMode, ErrorMode, NoRecipientAction, QueueSortOrder } from './types.js';
import { ValueError, parseBool, parseInteger, parseOctal, parseTime, parseUserSpec, words } from './values.js';

/** Which options, timeouts and Milter sub-options the command line has fixed. */
export interface StickyState {
  readonly options: Set<string>;
  readonly timeouts: Set<string>;
  readonly milter: Set<string>;
}

export function newStickyState(): StickyState {
  return { options: new Set(), timeouts: new Set(), milter: new Set() };
}

export interface OptionContext {
  readonly config: Config;
  readonly report: Reporter;
  readonly sticky: StickyState;
  readonly fromCommandLine: boolean;
}

/** The option of an `O` line (text after the O) or of -o / -O. */
export function setOptionText(ctx: OptionContext, text: string, form: 'long' | 'letter'): void {
  if (form === 'letter') {
    const info = lookupLetter(text.slice(0, 1));
    if ('error' in info) {
      ctx.report.error(ERR.CONFIG_UNKNOWN_OPTION, info.error);
      return;
    }
    applyOption(ctx, info, null, text.slice(1));
    return;
  }
  const eq = text.indexOf('=');
  let name = eq < 0 ? text : text.slice(0, eq);
  let value = eq < 0 ? '' : text.slice(eq + 1);
  name = name.replace(/ +$/, '');
  value = value.replace(/^ +/, '');
  if (name === '') {
    ctx.report.error(ERR.CONFIG_UNKNOWN_OPTION, 'readcf: null option name');
    return;
  }
  const dot = name.indexOf('.');
  const base = dot < 0 ? name : name.slice(0, dot);
  const sub = dot < 0 ? null : name.slice(dot + 1);
  const found = lookupLongName(base);
  if ('error' in found) {
    ctx.report.error(ERR.CONFIG_UNKNOWN_OPTION, found.error);
    return;
  }
  if (found.abbreviation) {
    ctx.report.warn(`Option ${base} used as abbreviation for ${found.info.name}`, true, ERR.CONFIG_UNKNOWN_OPTION);
  }
  applyOption(ctx, found.info, found.info.subOptions ? sub : null, value);
}

/** Options sendmail never makes sticky: the command line adds to the file's value. */
const NEVER_STICKY = new Set(['PrivacyOptions', 'DontBlameSendmail', 'M']);

function applyOption(ctx: OptionContext, info: OptionInfo, sub: string | null, value: string): void {
  const key = info.name === '' ? info.letter : info.name;
  if (!ctx.fromCommandLine && ctx.sticky.options.has(key)) return;
  try {
    setValue(ctx, info, sub, value);
  } catch (e) {
    if (!(e instanceof ValueError)) throw e;
    ctx.report.error(ERR.CONFIG_BAD_VALUE, e.message, e.exit);
    return;
  }
  if (info.name !== '') ctx.config.optionsSet.add(info.name);
  else if (info.letter === 'g') ctx.config.optionsSet.add('DefaultUser');
  if (ctx.fromCommandLine && !info.subOptions && !NEVER_STICKY.has(key)) ctx.sticky.options.add(key);
}

type OptionRecord = Record<string, unknown>;

function setValue(ctx: OptionContext, info: OptionInfo, sub: string | null, value: string): void {
  const o = ctx.config.options;
  const rec = o as unknown as OptionRecord;
  if (!info.custom) {
    switch (info.kind) {
      case 'bool':
        rec[info.name] = parseBool(info.name, value);
        return;
      case 'int':
      case 'size':
        rec[info.name] = parseInteger(info.name, value);
        return;
      case 'time':
        rec[info.name] = parseTime(value, info.unit ?? 'm');
        return;
      case 'octal':
        rec[info.name] = parseOctal(info.name, value);
        return;
      case 'string':
        rec[info.name] = value;
        return;
      default:
        throw new Error(`option ${info.name} of kind ${info.kind} needs its own parser`);
    }
  }
  const first = value[0] ?? '';
  const bad = (text: string): void => ctx.report.error(ERR.CONFIG_BAD_VALUE, text);
  const warn = (text: string): void => ctx.report.warn(text);
  switch (info.name || info.letter) {
    case 'EightBitMode': {
      const modes: Record<string, EightBitMode> = { p: 'pass8', m: 'mimify', s: 'strict' };
      const m = modes[first];
      if (m === undefined) throw new ValueError(`Unknown 8-bit mode ${first}`, 64);
      o.EightBitMode = m;
      return;
    }
    case 'AliasFile':
      o.AliasFile.push(...parseAliasSpecs(value === '' ? 'aliases' : value));
      return;
    case 'BlankSub':
      o.BlankSub = first === '' ? ' ' : first;
      return;
    case 'MinFreeBlocks': {
      const slash = value.indexOf('/');
      if (slash >= 0) o.MaxMessageSize = parseInteger('MaxMessageSize', value.slice(slash + 1));
      o.MinFreeBlocks = parseInteger(info.name, slash >= 0 ? value.slice(0, slash) : value);
      return;
    }
    case 'DeliveryMode': {
      const m = first === '' ? 'interactive' : DELIVERY_MODES[first];
      if (m === undefined) throw new ValueError(`Unknown delivery mode ${first}`, 64);
      o.DeliveryMode = m;
      return;
    }
    case 'ErrorHeader':
      if (value !== '') o.ErrorHeader = value;
      return;
    case 'ErrorMode': {
      const modes: Record<string, ErrorMode> = { p: 'print', q: 'quiet', m: 'mail', w: 'write', e: 'berknet' };
      const m = modes[first];
      if (m !== undefined) o.ErrorMode = m; // sendmail ignores other letters
      return;
    }
    case 'g': {
      const g = first >= '0' && first <= '9' ? parseInt(value, 10) : value;
      o.DefaultUser = { user: o.DefaultUser?.user ?? null, group: g };
      return;
    }
    case 'HelpFile':
      o.HelpFile = value === '' ? 'helpfile' : value;
      return;
    case 'ResolverOptions':
      addResolverOptions(o.ResolverOptions, value, bad);
      return;
    case 'ConnectionCacheSize':
      o.ConnectionCacheSize = Math.max(0, parseInteger(info.name, value));
      return;
    case 'M': {
      const m = parseMacroName(value);
      if ('error' in m) throw new ValueError(m.error);
      ctx.config.macros.set(m[0], m[1]);
      return;
    }
    case 'DaemonPortOptions': {
      const { options, errors } = parsePortOptions(value);
      for (const e of errors) ctx.report.error(ERR.CONFIG_BAD_VALUE, e);
      if (o.DaemonPortOptions.length >= 10) throw new ValueError('too many daemons defined (10 max)');
      o.DaemonPortOptions.push(options);
      return;
    }
    case 'PrivacyOptions':
      addPrivacyFlags(o.PrivacyOptions, value, bad);
      return;
    case 'QueueDirectory':
      o.QueueDirectory = value === '' ? 'mqueue' : value;
      return;
    case 'Timeout':
      if (sub === null) {
        setTimeoutList(o.Timeout, value, ctx.sticky.timeouts, ctx.fromCommandLine, (e) =>
          ctx.report.error(ERR.CONFIG_BAD_VALUE, e.message, e.exit),
        );
      } else {
        setTimeoutOption(o.Timeout, sub, value, ctx.sticky.timeouts, ctx.fromCommandLine);
      }
      return;
    case 'StatusFile':
      o.StatusFile = value === '' ? 'statistics' : value;
      return;
    case 'SuperSafe': {
      const c = first.toLowerCase();
      o.SuperSafe = c === 'i' ? 'interactive' : c === 'p' ? 'postmilter' : parseBool(info.name, value) ? 'true' : 'false';
      return;
    }
    case 'QueueTimeout':
      setQueueTimeout(o.Timeout, value, ctx.sticky.timeouts, ctx.fromCommandLine);
      return;
    case 'DefaultUser': {
      const u = parseUserSpec(value);
      o.DefaultUser = { user: u.user, group: u.group ?? null };
      return;
    }
    case 'FallbackMXhost':
      if (value !== '') o.FallbackMXhost = value;
      return;
    case 'FallbackSmartHost':
      if (value !== '') o.FallbackSmartHost = value;
      return;
    case 'QueueSortOrder': {
      const orders: Record<string, QueueSortOrder> = {
        f: 'filename',
        h: 'host',
        m: 'modification',
        p: 'priority',
        t: 'time',
        r: 'random',
        s: 'shuffle',
        n: 'none',
      };
      const q = orders[first.toLowerCase()];
      if (q === undefined) throw new ValueError(`Invalid queue sort order "${value}"`);
      o.QueueSortOrder = q;
      return;
    }
    case 'NoRecipientAction': {
      const v = value.toLowerCase();
      const actions: NoRecipientAction[] = ['none', 'add-to', 'add-apparently-to', 'add-bcc', 'add-to-undisclosed'];
      const a = actions.find((x) => x === v);
      if (a === undefined) throw new ValueError(`Invalid NoRecipientAction: ${value}`);
      o.NoRecipientAction = a;
      return;
    }
    case 'SafeFileEnvironment': {
      const v = value.replace(/\/+$/, '');
      if (v !== '') o.SafeFileEnvironment = v; // "/" alone leaves it unset, as in sendmail
      return;
    }
    case 'MustQuoteChars':
      if (value.length < 40) o.MustQuoteChars = '@,;:\\()[]' + value;
      else ctx.report.warn('Warning: MustQuoteChars too long, ignored.');
      return;
    case 'SmtpGreetingMessage':
      o.SmtpGreetingMessage = munch(value, 0, '')[0];
      return;
    case 'UnixFromLine':
      o.UnixFromLine = munch(value, 0, '')[0];
      return;
    case 'OperatorChars':
      if (o.OperatorChars !== null) {
        ctx.report.warn(
          'Warning: OperatorChars is being redefined.\n         It should only be set before ruleset definitions.',
        );
      }
      o.OperatorChars = munch(value, 0, '')[0];
      return;
    case 'UnsafeGroupWrites':
      o.UnsafeGroupWrites = parseBool(info.name, value);
      if (!o.UnsafeGroupWrites) {
        o.DontBlameSendmail.add('GroupWritableForwardFileSafe');
        o.DontBlameSendmail.add('GroupWritableIncludeFileSafe');
      }
      return;
    case 'HostStatusDirectory':
      if (value !== '') o.HostStatusDirectory = value;
      return;
    case 'RunAsUser':
      o.RunAsUser = parseUserSpec(value);
      return;
    case 'DontBlameSendmail':
      addDontBlameSendmailFlags(o.DontBlameSendmail, value, bad);
      return;
    case 'DontProbeInterfaces':
      o.DontProbeInterfaces = value.toLowerCase() === 'loopback' ? 'loopback' : parseBool(info.name, value);
      return;
    case 'ConnectOnlyTo':
      o.ConnectOnlyTo = parseConnectOnlyTo(value);
      return;
    case 'TrustedUser':
      o.TrustedUser = first >= '0' && first <= '9' ? parseInt(value, 10) : value;
      return;
    case 'MaxMimeHeaderLength':
      setMaxMimeHeaderLength(ctx, value);
      return;
    case 'MaxHeadersLength':
      o.MaxHeadersLength = parseInteger(info.name, value);
      if (o.MaxHeadersLength > 0 && o.MaxHeadersLength < 16384) {
        ctx.report.warn('Warning: MaxHeadersLength: headers length limit set lower than 16384');
      }
      return;
    case 'AuthMechanisms':
      o.AuthMechanisms = words(value);
      return;
    case 'AuthRealm':
      o.AuthRealm = value === '' ? null : value;
      return;
    case 'ClientPortOptions': {
      const { options, errors } = parsePortOptions(value);
      for (const e of errors) ctx.report.error(ERR.CONFIG_BAD_VALUE, e);
      o.ClientPortOptions[familyKey(options.Family)] = options;
      return;
    }
    case 'InputMailFilters':
      o.InputMailFilters = splitFilterList(value);
      return;
    case 'Milter':
      setMilterOption(o.Milter, sub, value, ctx.sticky.milter, ctx.fromCommandLine);
      return;
    case 'AuthOptions':
      addLetterFlags(o.AuthOptions, info.name, value, 'Aacdfmpy', warn);
      return;
    case 'TLSSrvOptions':
      addLetterFlags(o.TLSSrvOptions as Set<string>, info.name, value, 'VC', warn);
      return;
    case 'DirectSubmissionModifiers':
      o.DirectSubmissionModifiers = value;
      return;
    case 'ServerSSLOptions':
      addSslOptions(o.ServerSSLOptions, info.name, value, bad);
      return;
    case 'ClientSSLOptions':
      addSslOptions(o.ClientSSLOptions, info.name, value, bad);
      return;
    case 'ServerCertFile':
    case 'ServerKeyFile':
    case 'ClientCertFile':
    case 'ClientKeyFile':
    case 'CACertFile':
    case 'CACertPath':
    case 'DHParameters':
    case 'CertFingerprintAlgorithm':
    case 'CipherList':
    case 'SharedMemoryKeyFile':
    case 'CRLFile':
    case 'CRLPath':
    case 'SSLEnginePath':
    case 'CipherSuites':
      // sendmail expands these with the macros defined so far
      rec[info.name] = expandMacros(value, ctx.config.macros);
      return;
    default:
      throw new Error(`option ${info.name || info.letter} has no parser`);
  }
}

function parseConnectOnlyTo(value: string): NonNullable<Config['options']['ConnectOnlyTo']> {
  let port: number | null = null;
  let addr = value;
  const at = value.indexOf('@');
  if (at >= 0) {
    const p = parseInt(value.slice(0, at), 10) || 0;
    if (p > 65535) throw new ValueError(`readcf: option ConnectOnlyTo: invalid port ${value.slice(0, at)}`);
    port = p === 0 ? null : p;
    addr = value.slice(at + 1);
  }
  const kind = isIP(addr);
  if (kind === 0) throw new ValueError(`readcf: option ConnectOnlyTo: invalid IP address ${addr}`);
  return { address: addr, family: kind === 6 ? 'inet6' : 'inet', port };
}

function setMaxMimeHeaderLength(ctx: OptionContext, value: string): void {
  const slash = value.indexOf('/');
  const header = Math.max(0, parseInteger('MaxMimeHeaderLength', slash < 0 ? value : value.slice(0, slash)));
  const fieldText = slash < 0 ? '' : value.slice(slash + 1);
  const field = Math.max(0, fieldText === '' ? Math.trunc(header / 2) : parseInteger('MaxMimeHeaderLength', fieldText));
  if (header > 0 && header < 128) {
    ctx.report.warn('Warning: MaxMimeHeaderLength: header length limit set lower than 128');
  }
  if (field > 0 && field < 40) ctx.report.warn('Warning: MaxMimeHeaderLength: field length limit set lower than 40');
  ctx.config.options.MaxMimeHeaderLength = { header, field };
}

