/**
 * Where mail for a domain goes before DNS is asked: the mailertable
 * (FEATURE(mailertable)), then the smart host (the S macro), then the
 * domain's own MX records.  Host names in brackets are used as they are,
 * without an MX look-up, as in sendmail.
 */
import { existsSync } from 'node:fs';
import { ERR } from '../../common/errors.js';
import type { Config } from '../../config/index.js';
import { failed } from '../mailbox/status.js';
import type { DeliveryStatus } from '../mailbox/status.js';
import type { KeyLookup } from './types.js';

/** One host to try: `name` as written; `mx` false for a [bracketed] name (no MX look-up). */
export interface HostSpec {
  readonly name: string;
  readonly mx: boolean;
}

export type Destination =
  | { readonly kind: 'hosts'; readonly mailer: string; readonly hosts: readonly HostSpec[]; readonly via: 'mailertable' | 'smarthost' | 'dns' }
  | { readonly kind: 'error'; readonly mailer: string; readonly status: DeliveryStatus; readonly reply?: string };

/** Mailers that speak SMTP to a host; anything else in a mailertable is not for remote delivery. */
const SMTP_MAILERS = new Set(['esmtp', 'smtp', 'smtp8', 'dsmtp', 'relay']);

/**
 * The mailertable entry for `domain`: the exact name, then `.parent`
 * wildcards from the nearest up, then `.` (the catch-all), as
 * FEATURE(mailertable) looks them up.
 */
export function mailertableEntry(table: KeyLookup, domain: string): string | undefined {
  const name = domain.toLowerCase().replace(/\.$/, '');
  const exact = table.get(name);
  if (exact !== undefined) return exact;
  if (name.startsWith('[')) return table.get('.');
  const labels = name.split('.');
  for (let i = 1; i < labels.length; i++) {
    const v = table.get(`.${labels.slice(i).join('.')}`);
    if (v !== undefined) return v;
  }
  return table.get('.');
}

/** Splits `host1:[host2]:[IPv6:2001:db8::1]` at the colons outside brackets. */
export function splitHosts(list: string): string[] {
  const hosts: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of list) {
    if (c === '[') depth++;
    if (c === ']') depth = Math.max(0, depth - 1);
    if (c === ':' && depth === 0) {
      hosts.push(current);
      current = '';
    } else current += c;
  }
  hosts.push(current);
  return hosts.map((h) => h.trim()).filter((h) => h !== '');
}

export function hostSpec(written: string): HostSpec {
  return written.startsWith('[') && written.endsWith(']') ? { name: written, mx: false } : { name: written.replace(/\.$/, ''), mx: true };
}

/**
 * An `error:` right-hand side: `error:5.1.2:550 text`, `error:550 text`,
 * `error:5.7.1:text` or `error:text`.  A 4xx code (or 4.x.x status) defers.
 */
export function mailertableError(rest: string): { status: DeliveryStatus; reply: string } {
  let text = rest.trim();
  let dsn: string | undefined;
  const d = /^([245]\.\d{1,3}\.\d{1,3}):\s*/.exec(text);
  if (d) {
    dsn = d[1];
    text = text.slice(d[0].length);
  }
  let code: number | undefined;
  const c = /^([245]\d\d)\s+/.exec(text);
  if (c) {
    code = Number(c[1]);
    text = text.slice(c[0].length);
  }
  const temporary = (dsn ?? String(code ?? 5)).startsWith('4');
  code ??= temporary ? 451 : 553;
  dsn ??= temporary ? '4.0.0' : '5.0.0';
  const cls = temporary ? ERR.REMOTE_TEMPORARY_REPLY : ERR.REMOTE_MAILERTABLE_ERROR;
  const status = { ...failed(cls, text === '' ? 'Unknown mailer error' : text), dsn };
  return { status, reply: `${code} ${dsn} ${text}` };
}

/** The destination written as `mailer:host[:host...]` (mailertable value, or the S macro). */
export function parseRelaySpec(value: string, defaultMailer: string): Destination {
  const trimmed = value.trim();
  const colon = trimmed.indexOf(':');
  const mailer = colon > 0 && !trimmed.startsWith('[') ? trimmed.slice(0, colon).toLowerCase() : defaultMailer;
  const rest = colon > 0 && !trimmed.startsWith('[') ? trimmed.slice(colon + 1) : trimmed;
  if (mailer === 'error') {
    const { status, reply } = mailertableError(rest);
    return { kind: 'error', mailer, status, reply };
  }
  if (!SMTP_MAILERS.has(mailer)) {
    return { kind: 'error', mailer, status: failed(ERR.REMOTE_TEMPORARY_REPLY, `mailer ${mailer} is not an SMTP mailer; remote delivery cannot use it`) };
  }
  const hosts = splitHosts(rest).map(hostSpec);
  if (hosts.length === 0) return { kind: 'error', mailer, status: failed(ERR.REMOTE_HOST_UNKNOWN, 'Host unknown (no host given)') };
  return { kind: 'hosts', mailer, hosts, via: 'mailertable' };
}

/**
 * Where `domain` goes: mailertable, smart host (mailer `relay`, as
 * SMART_HOST makes it), or the domain itself by DNS (mailer `esmtp`).  A
 * [literal] domain always goes to the literal.
 */
export function chooseDestination(domain: string, options: { mailertable?: KeyLookup | null; smartHost?: string | null }): Destination {
  if (options.mailertable) {
    const entry = mailertableEntry(options.mailertable, domain);
    if (entry !== undefined && entry.trim() !== '') return parseRelaySpec(entry, 'esmtp');
  }
  if (domain.startsWith('[')) return { kind: 'hosts', mailer: 'esmtp', hosts: [{ name: domain, mx: false }], via: 'dns' };
  const smart = options.smartHost?.trim();
  if (smart) {
    const d = parseRelaySpec(smart, 'relay');
    return d.kind === 'hosts' ? { ...d, via: 'smarthost' } : d;
  }
  return { kind: 'hosts', mailer: 'esmtp', hosts: [{ name: domain, mx: true }], via: 'dns' };
}

/**
 * The mailertable's file from the cf's `Kmailertable` line (`hash -o
 * /etc/mail/mailertable`), or undefined when there is none or the map is
 * optional and absent.
 */
export function mailertablePath(config: Config): string | undefined {
  const def = config.maps.get('mailertable');
  if (def === undefined) return undefined;
  const words = def.args.trim().split(/\s+/);
  let file: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (!w.startsWith('-')) {
      file = w;
      break;
    }
  }
  if (file === undefined) return undefined;
  const optional = def.flags.some((f) => f.flag === 'o') || /(^|\s)-o(\s|$)/.test(def.args);
  const path = file.endsWith('.db') ? file : `${file}.db`;
  if (optional && !existsSync(path)) return undefined;
  return file;
}
