/**
 * DaemonPortOptions and ClientPortOptions: `key=value` pairs separated by
 * commas, where only the key's first letter counts (Name=, N=, name= are the
 * same; a few letters differ by case: D= delivery mode / d= delayLA,
 * R= receive buffer / r= refuseLA).
 */
import { readFileSync } from 'node:fs';
import { ipVersion as isIP } from '../common/ip.js';
import { defaultPortOptions } from './defaults.js';
import { noteUnrecordedInput } from './inputs.js';
import type { AddressFamily, DeliveryMode, PortOptions } from './types.js';
import { ValueError, isDigit } from './values.js';

export const DELIVERY_MODES: Record<string, DeliveryMode> = {
  i: 'interactive',
  b: 'background',
  q: 'queue',
  d: 'defer',
};

const FAMILIES: Record<string, AddressFamily> = {
  unix: 'local',
  local: 'local',
  inet: 'inet',
  inet6: 'inet6',
};

/** Well-known TCP services, so that `Port=smtp` needs no /etc/services. */
const SERVICES: Record<string, number> = {
  smtp: 25,
  submission: 587,
  submissions: 465,
  smtps: 465,
  urd: 465,
  lmtp: 24,
};

let servicesFile: Map<string, number> | null = null;

/** A TCP service name from /etc/services (read once, on first need). */
function serviceFromFile(name: string): number | undefined {
  // read once per process, so a second parse would not see it read: such a parse is not frozen
  noteUnrecordedInput();
  if (servicesFile === null) {
    servicesFile = new Map();
    let text = '';
    try {
      text = readFileSync('/etc/services', 'utf8');
    } catch {
      // no services file: only the built-in names resolve
    }
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      if (line === '') continue;
      const parts = line.split(/\s+/);
      const m = /^(\d+)\/tcp$/.exec(parts[1] ?? '');
      if (m === null) continue;
      for (const n of [parts[0]!, ...parts.slice(2)]) {
        if (!servicesFile.has(n)) servicesFile.set(n, Number(m[1]));
      }
    }
  }
  return servicesFile.get(name);
}

export function resolvePort(port: string): number {
  if (port !== '' && isDigit(port[0]!)) return parseInt(port, 10) & 0xffff;
  const n = SERVICES[port] ?? serviceFromFile(port);
  if (n === undefined) throw new ValueError(`service "${port}" unknown`);
  return n;
}

function intValue(v: string): number {
  const n = parseInt(v, 10);
  return Number.isNaN(n) ? 0 : n;
}

/**
 * Parses one option value.  Errors are collected (sendmail reports each and
 * goes on), and returned with the result.
 */
export function parsePortOptions(value: string): { options: PortOptions; errors: string[] } {
  const d = defaultPortOptions();
  const errors: string[] = [];
  let port: string | null = null;
  for (const raw of value.split(',')) {
    const item = raw.replace(/^\s+/, '');
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq < 0) continue; // sendmail skips a word without '='
    const v = item.slice(eq + 1).replace(/^\s+/, '');
    switch (item[0]) {
      case 'A':
      case 'a':
        d.Addr = v;
        break;
      case 'c':
        d.children = intValue(v);
        break;
      case 'D': {
        const mode = DELIVERY_MODES[v[0] ?? ''];
        if (mode === undefined) errors.push(`Unknown delivery mode ${v[0] ?? ''}`);
        else d.DeliveryMode = mode;
        break;
      }
      case 'd':
        d.delayLA = intValue(v);
        break;
      case 'F':
      case 'f': {
        const fam = isDigit(v[0] ?? '') ? intValue(v) : FAMILIES[v.toLowerCase()];
        if (fam === undefined) errors.push(`Unknown address family ${v} in Family=option`);
        else d.Family = fam;
        break;
      }
      case 'I':
      case 'i':
        d.InputMailFilters = splitFilterList(v);
        break;
      case 'L':
      case 'l':
        d.Listen = intValue(v);
        break;
      case 'M':
      case 'm':
        d.Modifiers = modifierLetters(v);
        break;
      case 'N':
      case 'n':
        d.Name = v;
        break;
      case 'P':
      case 'p':
        port = v;
        break;
      case 'q':
        d.queueLA = intValue(v);
        break;
      case 'R':
        d.RcvBufSize = intValue(v);
        break;
      case 'r':
        d.refuseLA = intValue(v);
        break;
      case 'S':
      case 's':
        d.SndBufSize = intValue(v);
        break;
      default:
        errors.push(`PortOptions parameter "${item}" unknown`);
    }
  }
  if (d.Addr !== null && (d.Family === 'inet' || d.Family === 'inet6')) {
    const kind = isIP(d.Addr);
    if ((d.Family === 'inet6' && kind === 4) || (d.Family === 'inet' && kind === 6)) {
      errors.push(`host "${d.Addr}" unknown`);
    }
    // a host name is resolved when the socket is opened
  }
  if (port !== null) {
    if (d.Family === 'inet' || d.Family === 'inet6') {
      try {
        d.Port = resolvePort(port);
      } catch (e) {
        errors.push((e as Error).message);
      }
    } else if (d.Family !== 'local') {
      errors.push(`Port= option unsupported for family ${String(d.Family)}`);
    }
  }
  return { options: d, errors };
}

/** The printable, non-space characters of an M= value. */
export function modifierLetters(v: string): string {
  let out = '';
  for (const c of v) {
    const code = c.charCodeAt(0);
    if (code > 32 && code < 127) out += c;
  }
  return out;
}

/** InputMailFilters-style list: names separated by commas or semicolons. */
export function splitFilterList(v: string): string[] {
  return v
    .split(/[;,]/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Key under which ClientPortOptions stores a family's settings. */
export function familyKey(f: AddressFamily): string {
  return typeof f === 'number' ? String(f) : f;
}
