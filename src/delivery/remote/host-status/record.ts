/**
 * One host's persistent status, in the file format sendmail 8.17 reads and
 * writes (mci.c): `V0`, `E<errno>`, `H<h_errno>`, `S<exit status>`,
 * optional `D<dsn>` and `R<smtp reply>`, `U<last use, seconds>`, `.`.
 * The numbers are Linux's, so a file sendmail wrote reads here and the
 * other way round.
 */
import { constants } from 'node:os';

export interface HostStatusRecord {
  /** The errno of the last connection failure (0: none). */
  readonly errno: number;
  /** The resolver's h_errno (1 HOST_NOT_FOUND, 2 TRY_AGAIN, ...; 0: none). */
  readonly herrno: number;
  /** sysexits: 0 the host answered, 75 try later, 69/68/78 it will not do. */
  readonly exitStatus: number;
  /** The enhanced status code of the last outcome. */
  readonly dsn?: string;
  /** The last SMTP reply line that counted. */
  readonly reply?: string;
  /** When the host was last tried, in seconds since the epoch. */
  readonly lastUse: number;
}

export const HOST_NOT_FOUND = 1;
export const TRY_AGAIN = 2;

/** sendmail keeps at most 80 bytes of D and R, with newlines made spaces (denlstring). */
function storedText(text: string): string {
  const flat = Buffer.from(text.replace(/\n/g, ' '), 'latin1');
  return flat.subarray(0, 80).toString('latin1');
}

export function formatRecord(r: HostStatusRecord): string {
  let out = `V0\nE${r.errno}\nH${r.herrno}\nS${r.exitStatus}\n`;
  if (r.dsn !== undefined) out += `D${storedText(r.dsn)}\n`;
  if (r.reply !== undefined) out += `R${storedText(r.reply)}\n`;
  return `${out}U${Math.floor(r.lastUse)}\n.\n`;
}

/** C's atoi/atol: leading blanks, a sign, digits; anything else ends the number. */
function atoi(text: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(text);
  return m === null ? 0 : Number(m[1]);
}

export type ParsedRecord =
  | { readonly ok: true; readonly record: HostStatusRecord; readonly version: number }
  | { readonly ok: false; readonly line: number; readonly text?: string };

/**
 * Reads a status file as sendmail does: an unknown line makes the file
 * corrupt; a file that stops before `.` is still good when it had its `V`.
 */
export function parseRecord(text: string): ParsedRecord {
  let version = -1;
  const r = { errno: 0, herrno: 0, exitStatus: 0, lastUse: 0 } as { -readonly [K in keyof HostStatusRecord]: HostStatusRecord[K] };
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const value = line.slice(1);
    switch (line[0]) {
      case 'V':
        version = atoi(value);
        break;
      case 'E':
        r.errno = atoi(value);
        break;
      case 'H':
        r.herrno = atoi(value);
        break;
      case 'S':
        r.exitStatus = atoi(value);
        break;
      case 'D':
        r.dsn = value;
        break;
      case 'R':
        r.reply = value;
        break;
      case 'U':
        r.lastUse = atoi(value);
        break;
      case '.':
        return { ok: true, record: r, version };
      default:
        return { ok: false, line: i + 1, text: line };
    }
  }
  return version < 0 ? { ok: false, line: lines.length } : { ok: true, record: r, version };
}

/** glibc's strerror() for the errors a connection meets (sendmail prints these). */
const STRERROR: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  EAGAIN: 'Resource temporarily unavailable',
  EACCES: 'Permission denied',
  EPIPE: 'Broken pipe',
  ENETDOWN: 'Network is down',
  ENETUNREACH: 'Network is unreachable',
  ENETRESET: 'Network dropped connection on reset',
  ECONNABORTED: 'Software caused connection abort',
  ECONNRESET: 'Connection reset by peer',
  ETIMEDOUT: 'Connection timed out',
  ECONNREFUSED: 'Connection refused',
  EHOSTDOWN: 'Host is down',
  EHOSTUNREACH: 'No route to host',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  EPROTO: 'Protocol error',
};

const ERRNO_NUMBERS = constants.errno as Readonly<Record<string, number>>;

/** The errno number of a Node error code (`ECONNREFUSED` → 111 on Linux); 0 when it has none. */
export function errnoNumber(code: string | undefined): number {
  return code !== undefined ? ERRNO_NUMBERS[code] ?? 0 : 0;
}

/** The errno name of a number (111 → `ECONNREFUSED`). */
export function errnoName(n: number): string | undefined {
  for (const [name, value] of Object.entries(ERRNO_NUMBERS)) if (value === n) return name;
  return undefined;
}

/** strerror(n) as glibc words it. */
export function strerror(n: number): string {
  const name = errnoName(n);
  return (name !== undefined ? STRERROR[name] : undefined) ?? `Unknown error ${n}`;
}

/** sm_sysexmsg() without its reply code: `5.0.0 Service unavailable`; undefined for a status it does not know. */
export function sysexitText(status: number): string | undefined {
  const texts: Readonly<Record<number, string>> = {
    64: '5.0.0 Command line usage error',
    65: '5.6.0 Data format error',
    66: '5.3.0 Cannot open input',
    67: '5.1.1 User unknown',
    68: '5.1.2 Host unknown',
    69: '5.0.0 Service unavailable',
    70: '5.3.0 Internal error',
    71: '4.0.0 Operating system error',
    72: '5.3.5 System file missing',
    73: '5.0.0 Can\'t create output',
    74: '4.0.0 I/O error',
    75: '4.0.0 Deferred',
    76: '5.5.0 Remote protocol error',
    77: '5.0.0 Insufficient permission',
    78: '5.3.5 Local configuration error',
  };
  return texts[status];
}
