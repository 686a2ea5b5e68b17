/**
 * STARTTLS required per destination, as sendmail 8.17's access map says it
 * (proto.m4's try_tls, tls_server and TLS_connection rulesets):
 *
 *   Try_TLS:broken.example.net   NO              never STARTTLS with it
 *   TLS_Srv:mx.example.net       VERIFY          a verified certificate
 *   TLS_Srv:secure.example.net   ENCR:128        at least 128 cipher bits
 *   TLS_Srv:bank.example.net     VERIFY:256+CN   both, and the certificate's CN is the host's name
 *   TLS_Srv:example.org          PERM+VERIFY     refuse for good (503 5.7.0) rather than for now
 *
 * A destination that does not meet its requirement is not sent to: the
 * session is ended and the recipients are deferred with sendmail's reply,
 * 454 4.7.0 by default since 8.17.1 (403 4.7.0 with TEMP+, 503 5.7.0 with
 * PERM+).  A failed handshake fails whatever the map says, as in sendmail.
 */

/** sendmail's ${verify} after the STARTTLS step. */
export type TlsVerify = 'OK' | 'FAIL' | 'NONE' | 'SOFTWARE';

export interface TlsState {
  readonly verify: TlsVerify;
  /** ${cipher_bits}; 0 without TLS. */
  readonly bits: number;
  /** ${cn_subject}: the CN of the server's certificate. */
  readonly cnSubject?: string;
}

export interface TlsRequirement {
  /** The reply code and enhanced status a failure gets. */
  readonly code: string;
  readonly dsn: string;
  readonly verify: boolean;
  readonly bits: number;
  /** `+CN` (true: the server's own name) or `+CN:name`. */
  readonly cn?: string | true;
  /** Requirements sendmail has that Postern does not check (CS, CI, CITag): failing, to be safe. */
  readonly unsupported: readonly string[];
}

/**
 * A TLS_Srv value, `[(PERM|TEMP)+](VERIFY[:bits]|ENCR:bits)[+extension...]`;
 * null for any other value, which sendmail takes as no requirement.
 */
export function parseTlsRequirement(value: string): TlsRequirement | null {
  const words = value.trim().split('+').map((w) => w.trim());
  let code = '454';
  let dsn = '4.7.0';
  const first = words[0]?.toUpperCase();
  if (first === 'PERM' || first === 'TEMP') {
    [code, dsn] = first === 'PERM' ? ['503', '5.7.0'] : ['403', '4.7.0'];
    words.shift();
  }
  const m = /^(VERIFY|ENCR)(?::(\d+))?$/i.exec(words.shift() ?? '');
  if (m === null) return null;
  const verify = m[1]!.toUpperCase() === 'VERIFY';
  if (!verify && m[2] === undefined) return null;
  const requirement: { -readonly [K in keyof TlsRequirement]: TlsRequirement[K] } = { code, dsn, verify, bits: Number(m[2] ?? 0), unsupported: [] };
  const unsupported: string[] = [];
  for (const w of words.filter((x) => x !== '')) {
    const cn = /^CN(?::(.+))?$/i.exec(w);
    if (cn !== null) requirement.cn = cn[1] ?? true;
    else unsupported.push(w);
  }
  requirement.unsupported = unsupported;
  return requirement;
}

/** `Try_TLS:host NO`: STARTTLS is not tried with that host. */
export function mayTryTls(value: string | undefined): boolean {
  return value === undefined || value.trim().toUpperCase() !== 'NO';
}

const VERIFY_FAILURES: Record<string, string> = {
  FAIL: 'authentication failed',
  NONE: 'other side does not support STARTTLS',
};

/**
 * The reply that refuses this server, or null when the connection is good
 * enough.  `serverName` is ${server_name}, for +CN.
 */
export function tlsRefusal(requirement: TlsRequirement | null, state: TlsState, serverName: string): string | null {
  const code = requirement?.code ?? '454';
  const dsn = requirement?.dsn ?? '4.7.0';
  const refuse = (text: string) => `${code} ${dsn} ${text}`;
  if (state.verify === 'SOFTWARE') return refuse('TLS handshake failed.');
  if (requirement === null) return null;
  if (requirement.verify && state.verify !== 'OK') return refuse(VERIFY_FAILURES[state.verify] ?? `authentication failure ${state.verify}`);
  if (state.bits < requirement.bits) return refuse(`encryption too weak ${state.bits} less than ${requirement.bits}`);
  if (requirement.cn !== undefined) {
    const wanted = requirement.cn === true ? serverName : requirement.cn;
    if ((state.cnSubject ?? '').toLowerCase() !== wanted.toLowerCase()) return refuse(`CN ${state.cnSubject ?? ''} does not match ${wanted}`);
  }
  if (requirement.unsupported.length > 0) return refuse(`requirement ${requirement.unsupported.join('+')} not supported`);
  return null;
}
