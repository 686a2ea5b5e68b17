/**
 * The text of sendmail's log lines, built from typed inputs.
 *
 * Each builder reproduces the field order, punctuation, omissions and length
 * limits of the sendmail 8.17 function named in its comment (behaviour read
 * from the source; Linux build, where SYSLOG_BUFSIZE is 1024).  The builders
 * return the message text only; the queue-id prefix ("QID: ", "NOQUEUE: ")
 * and the splitting of over-long messages belong to the logger (see
 * `syslogMessages` in log.ts), as they belong to sm_syslog in sendmail.
 *
 * Lengths are counted in bytes of UTF-8, as C counts them.  Where sendmail
 * would cut inside a multi-byte character, the cut moves back to the start of
 * that character instead (sendmail would log half a character as octal
 * escapes).
 */

import { ipVersion } from './ip.js';

/** syslog(3) buffer size sendmail assumes on Linux (conf.h). */
export const SYSLOG_BUFSIZE = 1024;
/** Longest string shortenstring() returns (conf.h MAXSHORTSTR). */
export const MAXSHORTSTR = 203;
/** Length limit of the stat=/reply= texts of a delivery line (STATLEN in deliver.c). */
export const STATLEN = Math.min(203, Math.max(63, Math.floor((SYSLOG_BUFSIZE - 100) / 4)));
/** Longest enhanced status code (conf.h ENHSCLEN). */
export const ENHSCLEN = 10;
/** How much of a Message-Id the sender line keeps (MSGIDLOGLEN). */
export const MSGIDLOGLEN = 100;
/** How much of the sender line precedes ", relay=" at most (FIRSTLOGLEN). */
export const FIRSTLOGLEN = 850;

/** A point in time: a Date, or milliseconds since the epoch (Date.now()). */
export type TimeValue = Date | number;

// ---------------------------------------------------------------------------
// byte-length helpers

function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** The first `n` bytes of `s` (C's "%.*s"), never splitting a character. */
export function headBytes(s: string, n: number): string {
  if (n <= 0) return '';
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= n) return s;
  let end = n;
  // a continuation byte at the cut means the character started before it
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

/** The last `n` bytes of `s`, never splitting a character. */
function tailBytes(s: string, n: number): string {
  if (n <= 0) return '';
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= n) return s;
  let start = buf.length - n;
  while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
  return buf.subarray(start).toString('utf8');
}

// ---------------------------------------------------------------------------
// sendmail's small formatting utilities

/**
 * shortenstring(): a string of `m` bytes or more becomes its head and tail
 * around "..." (at most MAXSHORTSTR bytes); very small limits keep the head.
 */
export function shortenString(s: string, m: number): string {
  const l = byteLength(s);
  if (l < m) return s;
  if (m > MAXSHORTSTR) m = MAXSHORTSTR;
  else if (m < 10) {
    if (m < 5) return headBytes(s, m);
    return headBytes(s, m - 3) + '...';
  }
  const half = Math.floor((m - 3) / 2);
  return headBytes(s, half) + '...' + tailBytes(s, half);
}

/**
 * str2prt(): what sm_syslog does to every message before logging it.  Bytes
 * that are not printable ASCII become backslash escapes (\t, \n, \r, or three
 * octal digits) and a backslash is doubled.
 */
export function str2prt(s: string): string {
  // fast path: nothing to change
  if (/^[\x20-\x5b\x5d-\x7e]*$/.test(s)) return s;
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    if (byte === 0x5c) out += '\\\\';
    else if (byte >= 0x20 && byte <= 0x7e) out += String.fromCharCode(byte);
    else if (byte === 0x09) out += '\\t';
    else if (byte === 0x0a) out += '\\n';
    else if (byte === 0x0d) out += '\\r';
    else out += '\\' + byte.toString(8).padStart(3, '0');
  }
  return out;
}

/** C's integer division and remainder (truncating toward zero). */
function cdiv(a: number, b: number): number {
  return Math.trunc(a / b);
}
function crem(a: number, b: number): number {
  return a - cdiv(a, b) * b;
}
function pad2(n: number): string {
  return n >= 0 && n < 10 ? `0${n}` : String(n);
}

/** time_t value sendmail uses for "never"/"now" in queue returns (NOW in sendmail.h). */
const NOW = -1;

/**
 * pintvl(): an interval in seconds as sendmail prints it.  Brief (the
 * delay=/xdelay= form): `HH:MM:SS`, preceded by `D+` when a day or more.
 * Verbose (DSN and warning texts): `2 days, 3 hours, 1 second`, or
 * `zero seconds`.
 */
export function formatInterval(seconds: number, brief = true): string {
  let intvl = Math.trunc(seconds);
  if (intvl === 0 && !brief) return 'zero seconds';
  if (intvl === NOW) return 'too long';
  const se = crem(intvl, 60);
  intvl = cdiv(intvl, 60);
  const mi = crem(intvl, 60);
  intvl = cdiv(intvl, 60);
  const hr = crem(intvl, 24);
  intvl = cdiv(intvl, 24);
  let dy: number;
  let wk: number;
  if (brief) {
    dy = intvl;
    wk = 0;
  } else {
    dy = crem(intvl, 7);
    wk = cdiv(intvl, 7);
  }
  if (brief) return `${dy > 0 ? `${dy}+` : ''}${pad2(hr)}:${pad2(mi)}:${pad2(se)}`;
  const parts: string[] = [];
  const unit = (n: number, name: string): void => {
    if (n > 0) parts.push(`${n} ${name}${n === 1 ? '' : 's'}`);
  };
  unit(wk, 'week');
  unit(dy, 'day');
  unit(hr, 'hour');
  unit(mi, 'minute');
  unit(se, 'second');
  return parts.join(', ');
}

/** time_t (whole seconds) of a TimeValue. */
export function timeT(t: TimeValue): number {
  const ms = typeof t === 'number' ? t : t.getTime();
  return Math.floor(ms / 1000);
}

/** The largest `long`, which PRT_NONNEGL prints for a negative value. */
const LONG_MAX = '9223372036854775807';

function nonNegLong(n: number): string {
  return n < 0 ? LONG_MAX : String(Math.trunc(n));
}

function expandIPv6(address: string): string {
  // split around "::" and fill the gap with zero groups; an embedded IPv4 tail counts as two groups
  const toGroups = (part: string): string[] => {
    if (part === '') return [];
    return part.split(':').flatMap((g) => {
      if (g.includes('.')) {
        const o = g.split('.').map((x) => Number(x));
        return [((o[0]! << 8) | o[1]!).toString(16), ((o[2]! << 8) | o[3]!).toString(16)];
      }
      return [parseInt(g, 16).toString(16)];
    });
  };
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const h = toGroups(head ?? '');
  const t = tail === undefined ? [] : toGroups(tail);
  const zeros = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].join(':');
}

/**
 * anynet_ntoa(): how sendmail prints a peer address.  IPv4 as is; an
 * IPv4-mapped IPv6 address as its IPv4 part; other IPv6 addresses with the
 * "IPv6:" tag, compressed unless UseCompressedIPv6Addresses is false.
 */
export function anynetNtoa(address: string, options: { compressedIPv6?: boolean } = {}): string {
  const zone = address.indexOf('%');
  const bare = zone >= 0 ? address.slice(0, zone) : address;
  if (ipVersion(bare) !== 6) return address;
  const lower = bare.toLowerCase();
  const groups = expandIPv6(lower).split(':');
  if (groups.slice(0, 6).join(':') === '0:0:0:0:0:ffff') {
    const hi = parseInt(groups[6]!, 16);
    const lo = parseInt(groups[7]!, 16);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  if (options.compressedIPv6 === false) return `IPv6:${expandIPv6(lower)}`;
  return `IPv6:${compressIPv6(lower)}`;
}

/** inet_ntop's compressed form (longest run of two or more zero groups becomes "::"). */
function compressIPv6(address: string): string {
  const groups = expandIPv6(address).split(':');
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return groups.join(':');
  const head = groups.slice(0, bestStart).join(':');
  const tail = groups.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}

// ---------------------------------------------------------------------------
// $_ : who is on the other end (getauthinfo in daemon.c)

/** `$_` of a local submission (no socket on stdin): `user@localhost`. */
export function localAuthinfo(realUserName: string): string {
  return `${realUserName}@localhost`;
}

export interface RemotePeer {
  /**
   * The client's host name as resolved from its address (RealHostName); null
   * when it has none, which sendmail prints as the bracketed address.
   */
  readonly hostName: string | null;
  /** The client's IP address, as Node gives it (formatted with anynetNtoa). */
  readonly address: string;
  /** The user name an RFC 1413 ident query returned, when one was made and answered. */
  readonly identUser?: string | null;
  /** The forward lookup of hostName did not give back `address`. */
  readonly mayBeForged?: boolean;
}

/**
 * `$_` of an SMTP client: `host [1.2.3.4]`, `[1.2.3.4]` when the address has
 * no name, `user@host [1.2.3.4]` after an ident answer, followed by
 * ` (may be forged)` when the name does not resolve back to the address.
 */
export function remoteAuthinfo(peer: RemotePeer): string {
  const addr = anynetNtoa(peer.address);
  const realHostName = peer.hostName ?? `[${addr}]`;
  let s = peer.identUser ? `${peer.identUser}@${realHostName}` : realHostName;
  if (!realHostName.startsWith('[')) s += ` [${headBytes(addr, 100)}]`;
  if (peer.mayBeForged && !realHostName.startsWith('[')) s += ' (may be forged)';
  return s;
}

// ---------------------------------------------------------------------------
// the sender line (logsender in headers.c): logged at LOG_INFO when LogLevel > 4

/** Where the relay= of a sender line comes from, in sendmail's order of preference. */
export type SenderRelay =
  /** The message is a DSN/response sendmail made itself (EF_RESPONSE): `[RESPONSE]`. */
  | { readonly kind: 'response' }
  /** `$_` is defined (localAuthinfo / remoteAuthinfo): printed as it is. */
  | { readonly kind: 'authinfo'; readonly authinfo: string }
  /**
   * No `$_`: the client's host name (null prints `localhost`) and, unless the
   * name is already a bracketed address, its address in parentheses.
   */
  | { readonly kind: 'peer'; readonly hostName: string | null; readonly address?: string | null };

export interface SenderLogInput {
  /**
   * The envelope sender as sendmail keeps it (e_from.q_paddr): the MAIL FROM
   * argument with its angle brackets (`<a@b>`, `<>`), or for a command-line
   * submission the login name or -f argument as given (`alice`).  null when
   * the envelope has none: `<NONE>`.
   */
  readonly from: string | null;
  /** Message size in bytes (e_msgsize). */
  readonly size: number;
  /** Precedence class (e_class). */
  readonly class: number;
  /** Number of accepted recipients (e_nrcpts). */
  readonly nrcpts: number;
  /** The Message-Id header's value; omitted when absent (null/undefined). */
  readonly msgid?: string | null;
  /** BODY= of MAIL FROM or -B: `8BITMIME`, `7BIT`; omitted when not given. */
  readonly bodytype?: string | null;
  /** `$r`: `ESMTP`, `SMTP`, `ESMTPA`, `ESMTPS`, `ESMTPSA`, `LMTP`...; omitted when undefined. */
  readonly proto?: string | null;
  /** `${daemon_name}`: `MTA`, `MSA`...; omitted when undefined. */
  readonly daemon?: string | null;
  readonly relay: SenderRelay;
}

function senderRelayText(relay: SenderRelay): string {
  switch (relay.kind) {
    case 'response':
      return '[RESPONSE]';
    case 'authinfo':
      return relay.authinfo;
    case 'peer': {
      if (relay.hostName === null) return 'localhost';
      if (relay.hostName.startsWith('[')) return relay.hostName;
      let name = headBytes(relay.hostName, 80);
      if (relay.address) name += ` (${headBytes(anynetNtoa(relay.address), 100)})`;
      return name;
    }
  }
}

/** `from=<a@b>, size=N, class=N, nrcpts=N, msgid=<..>, bodytype=.., proto=.., daemon=.., relay=..` */
export function senderLine(e: SenderLogInput): string {
  let s = `from=${headBytes(e.from ?? '<NONE>', 200)}, size=${nonNegLong(e.size)}, class=${Math.trunc(e.class)}, nrcpts=${Math.trunc(e.nrcpts)}`;
  if (e.msgid != null) s += `, msgid=${headBytes(e.msgid, MSGIDLOGLEN)}`;
  if (e.bodytype != null) s += `, bodytype=${headBytes(e.bodytype, 20)}`;
  if (e.proto != null) s += `, proto=${headBytes(e.proto, 20)}`;
  if (e.daemon != null) s += `, daemon=${headBytes(e.daemon, 20)}`;
  return `${headBytes(s, FIRSTLOGLEN)}, relay=${senderRelayText(e.relay)}`;
}

// ---------------------------------------------------------------------------
// the delivery line (logdelivery in deliver.c)

/** The controlling address of a delivery (ctladdr): whose identity the mailer ran with. */
export interface ControllingAddress {
  /** q_paddr of the controlling address: `<alice@mx.example.test>`, `alice`. */
  readonly paddr: string;
  /** Printed as ` (uid/gid)` when both are known (QGOODUID). */
  readonly uid?: number | null;
  readonly gid?: number | null;
}

/** The server's reply on a failed delivery (reply=). */
export type DeliveryReply =
  /** The recipient's own status line from the server (q_rstatus), as received. */
  | string
  /** The envelope's last reply: code, enhanced status and text (e_rcode, e_renhsc, e_text). */
  | { readonly code: number; readonly enhanced?: string | null; readonly text: string };

export interface DeliveryLogInput {
  /**
   * The recipients delivered in this mailer call (e_to), in the order sendmail
   * prints them (the most recently added first); null prints `NO-TO-LIST`.
   */
  readonly to: readonly string[] | null;
  /** Omitted when the controlling user is not a different one (null/undefined). */
  readonly ctladdr?: ControllingAddress | null;
  /** When the message was queued (e_ctime): delay= is now minus this. */
  readonly queuedAt: TimeValue;
  /** When this delivery attempt started (xstart); xdelay= is omitted without it. */
  readonly transactionStart?: TimeValue | null;
  /** The time of logging (curtime()); defaults to now. */
  readonly now?: TimeValue;
  /** Mailer name (m_name); omitted for the initial queueing, where there is none. */
  readonly mailer?: string | null;
  /** Queue priority (e_msgpriority). */
  readonly priority: number;
  /**
   * The host the mailer talked to (mci_host, or `$h` when no connection):
   * `mx.example.net.`, `[127.0.0.1]`, `local` (the LMTP local mailer).
   * Omitted for prog and file deliveries and for status `queued`.
   * `address` is the connected peer (CurHostAddr), printed ` [a.b.c.d]`.
   */
  readonly relay?: { readonly host: string; readonly address?: string | null } | null;
  /** Reason of a quarantine, printed as quarantine= when status is `quarantined` and no relay is known. */
  readonly quarantine?: string | null;
  /** The enhanced status code (dsn=); omitted when empty. */
  readonly dsn?: string | null;
  /** sysexits result of the attempt (rcode): reply= is printed only when it is not EX_OK (0). Default 0. */
  readonly rcode?: number;
  /** reply=, on failure (rcode != 0) only. */
  readonly reply?: DeliveryReply | null;
  /** stat=: `Sent`, `Sent (<id> Message accepted for delivery)`, `Deferred: Connection refused by ...`, `User unknown`, `queued`... */
  readonly status: string;
}

/**
 * The delivery line `to=..., ctladdr=... (uid/gid), delay=.., xdelay=..,
 * mailer=.., pri=.., relay=.. [ip], dsn=.., reply=.., stat=..`.  A recipient
 * list too long for one line is continued over several: each but the last
 * ends its list at a comma and says ` [more]`, and all carry the rest of the
 * fields.
 */
export function deliveryLines(d: DeliveryLogInput): string[] {
  const now = timeT(d.now ?? Date.now());
  let buf = '';
  if (d.ctladdr) {
    buf += `, ctladdr=${shortenString(d.ctladdr.paddr, 83)}`;
    if (d.ctladdr.uid != null && d.ctladdr.gid != null) buf += ` (${Math.trunc(d.ctladdr.uid)}/${Math.trunc(d.ctladdr.gid)})`;
  }
  buf += `, delay=${formatInterval(now - timeT(d.queuedAt))}`;
  if (d.transactionStart != null && timeT(d.transactionStart) !== 0) {
    buf += `, xdelay=${formatInterval(now - timeT(d.transactionStart))}`;
  }
  if (d.mailer != null) buf += `, mailer=${d.mailer}`;
  buf += `, pri=${nonNegLong(d.priority)}`;
  if (d.relay) {
    buf += `, relay=${shortenString(d.relay.host, 40)}`;
    if (d.relay.address) buf += ` [${anynetNtoa(d.relay.address)}]`;
  } else if (d.status === 'quarantined') {
    if (d.quarantine != null) buf += `, quarantine=${shortenString(d.quarantine, 40)}`;
  }
  if (d.dsn) buf += `, dsn=${shortenString(d.dsn, ENHSCLEN)}`;
  const rcode = d.rcode ?? 0;
  if (rcode !== 0 && d.reply != null) {
    if (typeof d.reply === 'string') {
      if (d.reply !== '') buf += `, reply=${shortenString(d.reply, STATLEN)}`;
    } else {
      const enh = d.reply.enhanced ?? '';
      buf += `, reply=${Math.trunc(d.reply.code)} ${enh}${enh !== '' ? ' ' : ''}${shortenString(d.reply.text, STATLEN)}`;
    }
  }
  // "desperation move": keep room for the status
  const bufSize = 1024;
  if (byteLength(buf) > bufSize - (STATLEN + 20)) {
    buf = headBytes(buf, bufSize - (STATLEN + 17)) + '...';
  }
  buf += `, stat=${shortenString(d.status, STATLEN)}`;
  buf = headBytes(buf, bufSize - 1);

  // the recipient list, split at commas over as many lines as needed
  const l = Math.max(0, SYSLOG_BUFSIZE - 100 - byteLength(buf));
  let p = Buffer.from(d.to === null ? 'NO-TO-LIST' : d.to.join(','), 'utf8');
  const lines: string[] = [];
  while (p.length >= l) {
    let q = l;
    while (q > 0 && p[q] !== 0x2c /* , */) q--;
    if (q === 0) break;
    q++; // keep the comma
    lines.push(`to=${p.subarray(0, q).toString('utf8')} [more]${buf}`);
    p = p.subarray(q);
  }
  lines.push(`to=${headBytes(p.toString('utf8'), l)}${buf}`);
  return lines;
}

// ---------------------------------------------------------------------------
// policy rulesets (rscheck in parseaddr.c): LOG_NOTICE when LogLevel > 3 (check_* rulesets)

export type RulesetOutcome =
  /** `reject=` followed by the reply as the client saw it: `550 5.7.1 <a@b>... Relaying denied`. */
  | { readonly kind: 'reject'; readonly reply: string }
  | { readonly kind: 'discard' }
  /** `quarantine=` followed by the reason. */
  | { readonly kind: 'quarantine'; readonly reason: string };

export interface RulesetLogInput {
  /** `check_relay`, `check_mail`, `check_rcpt`, `check_compat`, ... */
  readonly ruleset: string;
  readonly arg1: string;
  /** Second argument (check_relay's address, check_compat's recipient); omitted when absent. */
  readonly arg2?: string | null;
  /** The client (`$_`, see remoteAuthinfo) or the host the ruleset was given; omitted when unknown. */
  readonly relay?: string | null;
  readonly outcome: RulesetOutcome;
}

/** `ruleset=check_rcpt, arg1=<a@b>, relay=host [1.2.3.4], reject=550 5.7.1 <a@b>... Relaying denied` */
export function rulesetLine(r: RulesetLogInput): string {
  let s = `ruleset=${r.ruleset}, arg1=${r.arg1}`;
  if (r.arg2 != null) s += `, arg2=${r.arg2}`;
  if (r.relay != null) s += `, relay=${r.relay}`;
  switch (r.outcome.kind) {
    case 'discard':
      return `${s}, discard`;
    case 'quarantine':
      return `${s}, quarantine=${r.outcome.reason}`;
    case 'reject':
      return `${s}, reject=${r.outcome.reply}`;
  }
}

// ---------------------------------------------------------------------------
// bounces and clones

/** What kind of message returntosender made (savemail.c), in sendmail's words. */
export type ReturnKind = 'DSN' | 'return to sender' | 'sender notify' | 'postmaster notify';

export interface ReturnLogInput {
  /** Queue id of the new message (the DSN). */
  readonly newId: string;
  readonly kind: ReturnKind;
  /** Why: `User unknown`, `Warning: could not send message for past 4 hours`, `Return receipt`... */
  readonly message: string;
}

/**
 * `NEWQID: DSN: User unknown`, logged (at LOG_INFO when LogLevel > 5) under the
 * id of the message it reports on: `ORIGQID: NEWQID: DSN: User unknown`.
 */
export function returnLine(r: ReturnLogInput): string {
  return `${r.newId}: ${r.kind}: ${shortenString(r.message, MAXSHORTSTR)}`;
}

/**
 * `NEWQID: clone: owner=alice`, logged (LOG_INFO, LogLevel > 4) under the id of
 * the envelope split off for an owner- alias.
 */
export function cloneLine(newId: string, owner: string): string {
  return `${newId}: clone: owner=${owner}`;
}

// ---------------------------------------------------------------------------
// aliases (alias.c)

/** `alias database /etc/mail/aliases rebuilt by root` (LOG_NOTICE, LogLevel > 7, no queue id). */
export function aliasRebuiltLine(a: { readonly file: string; readonly automatic?: boolean; readonly user: string }): string {
  return `alias database ${a.file} ${a.automatic ? 'auto' : ''}rebuilt by ${a.user}`;
}

/** `/etc/mail/aliases: 12 aliases, longest 10 bytes, 144 bytes total` (LOG_INFO, LogLevel > 7, no queue id). */
export function aliasStatsLine(a: { readonly file: string; readonly aliases: number; readonly longest: number; readonly bytes: number }): string {
  return `${a.file}: ${a.aliases} aliases, longest ${a.longest} bytes, ${a.bytes} bytes total`;
}

// ---------------------------------------------------------------------------
// user errors (usrerr in err.c): LOG_NOTICE when LogLevel > 3 and LogUsrErrs

/**
 * The logged text of a user error: `<nobody@mx.example.test>... User unknown`.
 * The address (e_to) precedes the text only for replies 050, 250, 252, 450,
 * 550 and 553, as fmtmsg() does; give `to` null otherwise.  At most 900 bytes.
 */
export function userErrorLine(to: string | null, text: string): string {
  const prefix = to !== null && to !== '' ? `${shortenString(to, MAXSHORTSTR)}... ` : '';
  return headBytes(prefix + text, 900);
}

// ---------------------------------------------------------------------------
// SMTP session events (srvrsmtp.c)

/**
 * `host [1.2.3.4] did not issue MAIL/EXPN/VRFY/ETRN during connection to MTA`
 * (LOG_INFO, LogLevel > 5); `daemonName` null prints `stdin`.
 */
export function noTransactionLine(client: string, daemonName: string | null): string {
  return `${client} did not issue MAIL/EXPN/VRFY/ETRN during connection to ${daemonName ?? 'stdin'}`;
}

/** `host [1.2.3.4]: possible SMTP attack: command=VRFY, count=6` (LOG_INFO, LogLevel > 5). */
export function smtpAttackLine(client: string, command: string, count: number): string {
  return `${client}: possible SMTP attack: command=${headBytes(command, 40)}, count=${Math.trunc(count)}`;
}
