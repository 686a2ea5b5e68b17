/**
 * Which mailers speak LMTP, and to what: a mailer with `P=[IPC]` and `F=z`,
 * as sendmail.cf declares them.
 *
 *   Mlocal, P=[IPC], F=lsDFMAw5:/|@qPSXmnz9, ..., A=FILE /var/run/dovecot/lmtp
 *   Mlmtp,  P=[IPC], F=PSXmnz9, ..., A=TCP $h 24
 *
 * `A=FILE path` is a Unix socket; `A=TCP host [port]` a TCP peer, where the
 * host `$h` is the one the address was routed to (the mailertable's) and
 * the port, as in sendmail, is 25 unless one is given.
 */
import { isIP } from 'node:net';
import type { Config, Mailer } from '../../config/index.js';

export type LmtpEndpoint =
  | { readonly kind: 'unix'; readonly path: string }
  /** `host` null: the routed host ($h); otherwise the host written in A=. */
  | { readonly kind: 'tcp'; readonly host: string | null; readonly port: number };

export interface LmtpMailer {
  readonly name: string;
  readonly endpoint: LmtpEndpoint;
  /** F=0: no MX look-up for the host. */
  readonly noMx: boolean;
  /** F=W: persistent host status is ignored for this mailer. */
  readonly ignoresHostStatus: boolean;
  /** r=: recipients per transaction. */
  readonly maxRecipients: number;
  /** F=w: a local recipient must have a passwd entry before the mailer is asked. */
  readonly checksPasswd: boolean;
  /** F=l: final delivery (no "relayed" notice owed when the peer lacks DSN). */
  readonly local: boolean;
}

/** The services sendmail would find in /etc/services for an A= port given by name. */
const SERVICES: Readonly<Record<string, number>> = { smtp: 25, lmtp: 24, submission: 587 };

function port(word: string | undefined): number | undefined {
  if (word === undefined || word === '') return 25;
  if (/^\d+$/.test(word)) {
    const n = Number(word);
    return n > 0 && n < 65536 ? n : undefined;
  }
  return SERVICES[word.toLowerCase()];
}

/**
 * The LMTP mailer `m` is, or why it cannot be used: undefined when it is not
 * an LMTP mailer at all (not [IPC], or no F=z).
 */
export function lmtpMailer(m: Mailer): LmtpMailer | { readonly problem: string } | undefined {
  if (m.path !== '[IPC]' || !m.flags.has('z')) return undefined;
  const [kind, where, service] = m.argv;
  const common = {
    name: m.name,
    noMx: m.flags.has('0'),
    ignoresHostStatus: m.flags.has('W'),
    maxRecipients: m.maxRecipients > 0 ? m.maxRecipients : 100,
    checksPasswd: m.flags.has('w'),
    local: m.flags.has('l'),
  };
  if (kind === 'FILE' && where !== undefined && where.startsWith('/')) return { ...common, endpoint: { kind: 'unix', path: where } };
  if (kind === 'TCP' && where !== undefined && where !== '') {
    const p = port(service);
    if (p === undefined) return { problem: `M${m.name}: Service ${service} unknown` };
    return { ...common, endpoint: { kind: 'tcp', host: where === '$h' ? null : where, port: p } };
  }
  return { problem: `M${m.name}: A=${m.argv.join(' ')}: an [IPC] LMTP mailer needs A=FILE /path or A=TCP $h [port]` };
}

/** Every usable LMTP mailer of the configuration by name; `onProblem` hears of the others. */
export function lmtpMailers(config: Config, onProblem?: (text: string) => void): Map<string, LmtpMailer> {
  const out = new Map<string, LmtpMailer>();
  for (const m of config.mailers.values()) {
    const found = lmtpMailer(m);
    if (found === undefined) continue;
    if ('problem' in found) onProblem?.(found.problem);
    else out.set(m.name.toLowerCase(), found);
  }
  return out;
}

/** Whether `host` (from A= or the mailertable) is an address, which is never looked up. */
export function isAddressLiteral(host: string): boolean {
  return isIP(host) !== 0;
}
