/**
 * X lines (mail filter definitions) and the Milter.* option.
 *
 *   Xname, S=inet:8891@127.0.0.1, F=T, T=C:2s;S:2s;R:2s;E:5s
 *
 * The socket is checked for syntax only; whether it exists or answers is
 * the milter client's business when it connects.
 */
import { munch } from './macros.js';
import { resolvePort } from './port-options.js';
import type { MilterDef, MilterOptions, MilterSocket } from './types.js';
import { MILTER_MACRO_STAGES } from './types.js';
import { ValueError, isDigit, parseInteger, parseTime } from './values.js';

/** A problem found in an X line; `exit` is 71 where sendmail's message carries an errno. */
export interface LineError {
  readonly text: string;
  readonly exit?: number;
}

/**
 * Parses an X line (without the X).  Returns the filter (null when it is
 * unusable) and the name it defines (null when it defines none: sendmail
 * still enters a filter whose socket or timeouts are wrong).
 */
export function parseMilterLine(
  line: string,
  lineNo: number,
  errors: LineError[],
): { milter: MilterDef | null; name: string | null } {
  let p = 0;
  while (p < line.length && line[p] !== ',' && line[p] !== ' ' && line[p] !== '\t') p++;
  const name = line.slice(0, p);
  if (name === '') {
    errors.push({ text: 'name required for mail filter' });
    return { milter: null, name: null };
  }
  let socketSpec = '';
  const flags = new Set<string>();
  const timeouts = { connect: 300, send: 10, read: 10, eom: 300 };
  while (p < line.length) {
    while (p < line.length && (line[p] === ',' || line[p] === ' ' || line[p] === '\t')) p++;
    if (p >= line.length) break;
    const code = line[p]!;
    while (p < line.length && line[p] !== '=' && line[p] !== ',') p++;
    if (line[p] !== '=') {
      errors.push({ text: `X${name}: \`=' expected` });
      return { milter: null, name: null };
    }
    p++;
    while (line[p] === ' ' || line[p] === '\t') p++;
    const [value, end] = munch(line, p, ',');
    p = end;
    switch (code) {
      case 'S':
        socketSpec = value;
        break;
      case 'F':
        for (const c of value) if (c !== ' ' && c !== '\t') flags.add(c);
        break;
      case 'T':
        parseMilterTimeouts(name, value, timeouts, errors);
        break;
      default:
        errors.push({ text: `X${name}: unknown filter equate ${code}=` });
    }
  }
  const socket = parseMilterSocket(name, socketSpec, errors);
  if (socket === null) return { milter: null, name };
  return { milter: { name, socketSpec, socket, flags, timeouts, line: lineNo }, name };
}

function parseMilterTimeouts(
  name: string,
  spec: string,
  t: { connect: number; send: number; read: number; eom: number },
  errors: LineError[],
): void {
  let p = 0;
  while (p < spec.length) {
    while (p < spec.length && (spec[p] === ';' || spec[p] === ' ' || spec[p] === '\t')) p++;
    if (p >= spec.length) break;
    const code = spec[p]!;
    while (p < spec.length && spec[p] !== ':') p++;
    if (spec[p] !== ':') {
      errors.push({ text: `X${name}, T=: \`:' expected` });
      return;
    }
    p++;
    while (spec[p] === ' ' || spec[p] === '\t') p++;
    const [value, end] = munch(spec, p, ';');
    p = end;
    const slot = code === 'C' ? 'connect' : code === 'S' ? 'send' : code === 'R' ? 'read' : code === 'E' ? 'eom' : null;
    if (slot === null) {
      errors.push({ text: `X${name}: unknown filter timeout ${code}` });
      continue;
    }
    try {
      t[slot] = parseTime(value, 's');
    } catch (e) {
      errors.push({ text: (e as Error).message });
    }
  }
}

function parseMilterSocket(name: string, spec: string, errors: LineError[]): MilterSocket | null {
  if (spec === '') {
    errors.push({ text: `X${name}: empty or missing socket information` });
    return null;
  }
  const colon = spec.indexOf(':');
  let family: 'local' | 'inet' | 'inet6' = 'local';
  let rest = spec;
  if (colon >= 0) {
    const proto = spec.slice(0, colon).toLowerCase();
    rest = spec.slice(colon + 1);
    if (proto === '' || proto === 'unix' || proto === 'local') family = 'local';
    else if (proto === 'inet' || proto === 'inet6') family = proto;
    else {
      errors.push({ text: `X${name}: unknown socket type ${spec.slice(0, colon)}: Protocol not supported`, exit: 71 });
      return null;
    }
  }
  if (family === 'local') {
    if (rest.length >= 108) {
      errors.push({ text: `X${name}: local socket name ${rest} too long`, exit: 71 });
      return null;
    }
    return { family, path: rest };
  }
  const at = rest.indexOf('@');
  if (at < 0) {
    errors.push({ text: `X${name}: bad address ${rest} (expected port@host)` });
    return null;
  }
  const portText = rest.slice(0, at);
  const host = rest.slice(at + 1);
  let port: number;
  if (isDigit(portText[0] ?? '')) port = parseInt(portText, 10) & 0xffff;
  else {
    try {
      port = resolvePort(portText);
    } catch {
      errors.push({ text: `X${name}: unknown port name ${portText}` });
      return null;
    }
  }
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    const inner = close < 0 ? '' : host.slice(1, close);
    const ok = close >= 0 && (family === 'inet' ? isIPv4(inner) : isIPv6(inner));
    if (!ok) {
      errors.push({ text: `X${name}: Invalid numeric domain spec "${host}"` });
      return null;
    }
    return { family, port, host: inner };
  }
  return { family, port, host };
}

function isIPv4(s: string): boolean {
  return /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(s) && s.split('.').every((x) => Number(x) < 256);
}

function isIPv6(s: string): boolean {
  return s.includes(':') && /^[0-9A-Fa-f:.]+$/.test(s.replace(/^IPv6:/i, ''));
}

/**
 * One Milter.<suboption>: `LogLevel` or `macros.<stage>` (case-insensitive).
 * `sticky` holds sub-options set on the command line.
 */
export function setMilterOption(
  m: MilterOptions,
  sub: string | null,
  value: string,
  sticky: Set<string>,
  fromCommandLine: boolean,
): void {
  if (sub === null) throw new ValueError('milter_set_option: invalid Milter option, must specify suboption');
  const key = sub.toLowerCase();
  let stage: (typeof MILTER_MACRO_STAGES)[number] | null = null;
  if (key.startsWith('macros.')) {
    stage = MILTER_MACRO_STAGES.find((s) => 'macros.' + s === key) ?? null;
    if (stage === null) throw new ValueError(`milter_set_option: invalid Milter option ${sub}`);
  } else if (key !== 'loglevel') {
    throw new ValueError(`milter_set_option: invalid Milter option ${sub}`);
  }
  if (!fromCommandLine && sticky.has(key)) return;
  if (fromCommandLine) sticky.add(key);
  if (stage === null) {
    m.LogLevel = parseInteger('Milter.LogLevel', value);
    return;
  }
  const names = value.split(/[\s,]+/).filter((s) => s !== '');
  if (names.length > 50) throw new ValueError(`milter_set_option: too many macros in Milter.${sub} (max 50)`);
  m.macros[stage] = names;
}
