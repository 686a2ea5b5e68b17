/**
 * Options whose value is a list of named flags: PrivacyOptions,
 * DontBlameSendmail, ResolverOptions, Server/ClientSSLOptions, and the
 * letter lists of AuthOptions and TLSSrvOptions.  Each parser adds to what
 * is there (as sendmail does) and reports a word it does not know through
 * `bad` (an error) or `warn`.
 */
import type { ResolverOption, SslOption } from './types.js';
import { flagWords, words } from './values.js';

export const PRIVACY_FLAGS = [
  'public',
  'needmailhelo',
  'needexpnhelo',
  'needvrfyhelo',
  'noexpn',
  'novrfy',
  'restrictexpand',
  'restrictmailq',
  'restrictqrun',
  'noetrn',
  'noverb',
  'authwarnings',
  'noreceipts',
  'nobodyreturn',
  'goaway',
  'noactualrecipient',
] as const;
/** A PrivacyOptions flag as stored: `public` sets nothing and `goaway` is expanded to its members. */
export type PrivacyFlag = Exclude<(typeof PRIVACY_FLAGS)[number], 'public' | 'goaway'> | 'noreflection';

export const DONT_BLAME_SENDMAIL_FLAGS = [
  'safe',
  'AssumeSafeChown',
  'GroupWritableDirPathSafe',
  'GroupWritableForwardFileSafe',
  'GroupWritableIncludeFileSafe',
  'GroupWritableAliasFile',
  'WorldWritableAliasFile',
  'ForwardFileInUnsafeDirPath',
  'IncludeFileInUnsafeDirPath',
  'MapInUnsafeDirPath',
  'LinkedAliasFileInWritableDir',
  'LinkedClassFileInWritableDir',
  'LinkedForwardFileInWritableDir',
  'LinkedIncludeFileInWritableDir',
  'LinkedMapInWritableDir',
  'LinkedServiceSwitchFileInWritableDir',
  'FileDeliveryToHardLink',
  'FileDeliveryToSymLink',
  'WriteMapToHardLink',
  'WriteMapToSymLink',
  'WriteStatsToHardLink',
  'WriteStatsToSymLink',
  'ForwardFileInGroupWritableDirPath',
  'IncludeFileInGroupWritableDirPath',
  'ClassFileInUnsafeDirPath',
  'ErrorHeaderInUnsafeDirPath',
  'HelpFileInUnsafeDirPath',
  'ForwardFileInUnsafeDirPathSafe',
  'IncludeFileInUnsafeDirPathSafe',
  'RunProgramInUnsafeDirPath',
  'RunWritableProgram',
  'NonRootSafeAddr',
  'TrustStickyBit',
  'DontWarnForwardFileInUnsafeDirPath',
  'InsufficientEntropy',
  'GroupReadableSASLDBFile',
  'GroupWritableSASLDBFile',
  'GroupWritableForwardFile',
  'GroupWritableIncludeFile',
  'WorldWritableForwardFile',
  'WorldWritableIncludeFile',
  'GroupReadableKeyFile',
  'GroupReadableDefaultAuthInfoFile',
] as const;
/** A DontBlameSendmail flag in its canonical spelling (input is case-insensitive; `safe` clears the set). */
export type DontBlameSendmailFlag = Exclude<(typeof DONT_BLAME_SENDMAIL_FLAGS)[number], 'safe'>;

/** What PrivacyOptions=goaway stands for (sendmail's PRIV_GOAWAY). */
const GOAWAY: readonly PrivacyFlag[] = [
  'needmailhelo',
  'needexpnhelo',
  'needvrfyhelo',
  'noexpn',
  'novrfy',
  'authwarnings',
  'noverb',
  'noreflection',
];

export function addPrivacyFlags(set: Set<PrivacyFlag>, value: string, bad: (text: string) => void): void {
  for (const w of flagWords(value)) {
    const flag = PRIVACY_FLAGS.find((f) => f === w.toLowerCase());
    if (flag === undefined) bad(`readcf: Op line: ${w} unrecognized`);
    else if (flag === 'goaway') for (const f of GOAWAY) set.add(f);
    else if (flag !== 'public') set.add(flag);
  }
}

let dbsByLower: Map<string, DontBlameSendmailFlag | 'safe'> | null = null;

/** Case-insensitive names, kept in their canonical spelling; `safe` clears the set. */
export function addDontBlameSendmailFlags(set: Set<DontBlameSendmailFlag>, value: string, bad: (text: string) => void): void {
  dbsByLower ??= new Map(DONT_BLAME_SENDMAIL_FLAGS.map((f) => [f.toLowerCase(), f]));
  for (const w of flagWords(value)) {
    const flag = dbsByLower.get(w.toLowerCase());
    if (flag === undefined) bad(`readcf: DontBlameSendmail option: ${w} unrecognized`);
    else if (flag === 'safe') set.clear();
    else set.add(flag);
  }
}

const RESOLVER_FLAGS = new Set([
  'debug',
  'aaonly',
  'usevc',
  'primary',
  'igntc',
  'recurse',
  'defnames',
  'stayopen',
  'dnsrch',
  'use_edns0',
  'use_dnssec',
  'trustad',
  'true',
  'haswildcardmx',
  'workaroundbrokenaaaa',
]);

/** ResolverOptions: `+name` / `-name` / `name` words, separated by spaces. */
export function addResolverOptions(list: ResolverOption[], value: string, bad: (text: string) => void): void {
  for (const token of value.split(' ')) {
    if (token === '') continue;
    const on = token[0] !== '-';
    const word = words(token[0] === '-' || token[0] === '+' ? token.slice(1) : token)[0] ?? '';
    if (RESOLVER_FLAGS.has(word.toLowerCase())) list.push({ name: word, on });
    else bad(`readcf: I option value ${word} unrecognized`);
  }
}

/** The SSL_OP_* names sendmail's build knows (OpenSSL 3). */
const SSL_OPTIONS =
  'MICROSOFT_SESS_ID_BUG NETSCAPE_CHALLENGE_BUG LEGACY_SERVER_CONNECT NETSCAPE_REUSE_CIPHER_CHANGE_BUG ' +
  'SSLREF2_REUSE_CERT_TYPE_BUG MICROSOFT_BIG_SSLV3_BUFFER MSIE_SSLV2_RSA_PADDING SSLEAY_080_CLIENT_DH_BUG ' +
  'TLS_D5_BUG TLS_BLOCK_PADDING_BUG DONT_INSERT_EMPTY_FRAGMENTS ALL NO_QUERY_MTU COOKIE_EXCHANGE NO_TICKET ' +
  'CISCO_ANYCONNECT NO_SESSION_RESUMPTION_ON_RENEGOTIATION NO_COMPRESSION ALLOW_UNSAFE_LEGACY_RENEGOTIATION ' +
  'SINGLE_ECDH_USE SINGLE_DH_USE EPHEMERAL_RSA CIPHER_SERVER_PREFERENCE TLS_ROLLBACK_BUG NO_SSLV2 NO_SSLV3 ' +
  'NO_TLSV1 NO_TLSV1_3 NO_TLSV1_2 NO_TLSV1_1 PKCS1_CHECK_1 PKCS1_CHECK_2 NETSCAPE_CA_DN_BUG ' +
  'NETSCAPE_DEMO_CIPHER_CHANGE_BUG CRYPTOPRO_TLSEXT_BUG TLSEXT_PADDING NO_RENEGOTIATION NO_ANTI_REPLAY ' +
  'ALLOW_NO_DHE_KEX NO_ENCRYPT_THEN_MAC ENABLE_MIDDLEBOX_COMPAT PRIORITIZE_CHACHA';
let sslNames: Set<string> | null = null;

/** Server/ClientSSLOptions: `+SSL_OP_x` / `-SSL_OP_x` names (any case) or numbers. */
export function addSslOptions(list: SslOption[], option: string, value: string, bad: (text: string) => void): void {
  sslNames ??= new Set(SSL_OPTIONS.split(' ').map((n) => 'SSL_OP_' + n));
  for (const raw of value.split(/[\s,]+/)) {
    const clear = raw[0] === '-';
    const v = raw[0] === '-' || raw[0] === '+' ? raw.slice(1) : raw;
    if (v === '') continue;
    if (v[0]! >= '0' && v[0]! <= '9') {
      if (Number.isNaN(Number(v))) {
        bad(`readcf: ${option} option value ${v} not a number`);
        continue;
      }
    } else if (!sslNames.has(v.toUpperCase())) {
      bad(`readcf: ${option} option value ${v} unrecognized`);
      continue;
    }
    list.push({ value: v, clear });
  }
}

/** AuthOptions / TLSSrvOptions: the first letter of each comma/space separated word. */
export function addLetterFlags(set: Set<string>, option: string, value: string, known: string, warn: (text: string) => void): void {
  for (const w of value.split(/[, \t]+/)) {
    if (w === '') continue;
    const c = w[0]!;
    if (known.includes(c)) set.add(c);
    else warn(`Warning: Option: ${option} unknown parameter '${c >= ' ' && c <= '~' ? c : '?'}'`);
  }
}
