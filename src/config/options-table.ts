/**
 * The option names sendmail 8.17 knows, in the order of its own table (which
 * is the order `sendmail -bO` lists them), with the old single-letter names,
 * whether an ordinary user may set the option without losing privileges
 * (sendmail's OI_SAFE), and the kind of value.  The set is that of Debian's
 * 8.17.1.9 build (its -bO output): compile-time options it lacks (DANE,
 * FIPSMode, KeepBcc...) are unknown options there, and here.
 *
 * Two entries have no long name: `g` (the DefaultUser group) and `M`
 * (define a macro); -bO prints an empty line for each.
 */

/** What an option's value is (Options in types.ts has the parsed type). */
export type OptionKind =
  | 'bool' // True/False (Postern also takes yes/no; an empty value is true)
  | 'int'
  | 'size' // a number of bytes
  | 'time' // sendmail interval: 1h30m, 5d, now; a bare number takes OptionInfo.unit
  | 'octal' // file mode
  | 'string'
  | 'enum' // one of a few words, usually by first letter (DeliveryMode=background)
  | 'flags' // a list of named flags (PrivacyOptions, DontBlameSendmail...)
  | 'list' // a list of names or files
  | 'user' // user[:group]
  | 'ports' // key=value pairs (DaemonPortOptions, ClientPortOptions)
  | 'suboptions' // Name.sub=value (Timeout, Milter)
  | 'macro'; // the letter-only M option: a macro definition

export interface OptionInfo {
  /** Long name ('' for the two letter-only entries). */
  readonly name: string;
  /** Single-letter name, or '' when the option has none. */
  readonly letter: string;
  /** An unprivileged caller may set it and keep sendmail's privileges. */
  readonly safe: boolean;
  /** Takes `.suboption` names (Timeout, Milter). */
  readonly subOptions: boolean;
  readonly kind: OptionKind;
  /** Parsed by its own code (defaults for empty values, side effects...), not just by kind. */
  readonly custom: boolean;
  /** Default unit of a time value. */
  readonly unit?: 'w' | 'd' | 'h' | 'm' | 's';
}

type Row = [name: string, letter: string, safe: 0 | 1, kind: OptionKind, custom: 0 | 1, unit?: 'w' | 'd' | 'h' | 'm' | 's'];

// prettier-ignore
const ROWS: Row[] = [
  ['SevenBitInput', '7', 1, 'bool', 0],
  ['EightBitMode', '8', 1, 'enum', 1],
  ['AliasFile', 'A', 0, 'list', 1],
  ['AliasWait', 'a', 0, 'time', 0, 'm'],
  ['BlankSub', 'B', 0, 'string', 1],
  ['MinFreeBlocks', 'b', 1, 'int', 1],
  ['CheckpointInterval', 'C', 1, 'int', 0],
  ['HoldExpensive', 'c', 0, 'bool', 0],
  ['DeliveryMode', 'd', 1, 'enum', 1],
  ['ErrorHeader', 'E', 0, 'string', 1],
  ['ErrorMode', 'e', 1, 'enum', 1],
  ['TempFileMode', 'F', 0, 'octal', 0],
  ['SaveFromLine', 'f', 0, 'bool', 0],
  ['MatchGECOS', 'G', 0, 'bool', 0],
  ['', 'g', 0, 'user', 1],
  ['HelpFile', 'H', 0, 'string', 1],
  ['MaxHopCount', 'h', 0, 'int', 0],
  ['ResolverOptions', 'I', 0, 'flags', 1],
  ['IgnoreDots', 'i', 1, 'bool', 0],
  ['ForwardPath', 'J', 0, 'string', 0],
  ['SendMimeErrors', 'j', 1, 'bool', 0],
  ['ConnectionCacheSize', 'k', 0, 'int', 1],
  ['ConnectionCacheTimeout', 'K', 0, 'time', 0, 'm'],
  ['UseErrorsTo', 'l', 0, 'bool', 0],
  ['LogLevel', 'L', 1, 'int', 0],
  ['MeToo', 'm', 1, 'bool', 0],
  ['', 'M', 0, 'macro', 1],
  ['CheckAliases', 'n', 0, 'bool', 0],
  ['OldStyleHeaders', 'o', 1, 'bool', 0],
  ['DaemonPortOptions', 'O', 0, 'ports', 1],
  ['PrivacyOptions', 'p', 1, 'flags', 1],
  ['PostmasterCopy', 'P', 0, 'string', 0],
  ['QueueFactor', 'q', 0, 'int', 0],
  ['QueueDirectory', 'Q', 0, 'string', 1],
  ['DontPruneRoutes', 'R', 0, 'bool', 0],
  ['Timeout', 'r', 0, 'suboptions', 1],
  ['StatusFile', 'S', 0, 'string', 1],
  ['SuperSafe', 's', 1, 'enum', 1],
  ['QueueTimeout', 'T', 0, 'time', 1, 'd'],
  ['TimeZoneSpec', 't', 0, 'string', 0],
  ['UserDatabaseSpec', 'U', 0, 'string', 0],
  ['DefaultUser', 'u', 0, 'user', 1],
  ['FallbackMXhost', 'V', 0, 'string', 1],
  ['Verbose', 'v', 1, 'bool', 0],
  ['TryNullMXList', 'w', 0, 'bool', 0],
  ['QueueLA', 'x', 0, 'int', 0],
  ['RefuseLA', 'X', 0, 'int', 0],
  ['RecipientFactor', 'y', 0, 'int', 0],
  ['ForkEachJob', 'Y', 0, 'bool', 0],
  ['ClassFactor', 'z', 0, 'int', 0],
  ['RetryFactor', 'Z', 0, 'int', 0],
  ['QueueSortOrder', '', 1, 'enum', 1],
  ['HostsFile', '', 0, 'string', 0],
  ['MinQueueAge', '', 1, 'time', 0, 'm'],
  ['DefaultCharSet', '', 1, 'string', 0],
  ['ServiceSwitchFile', '', 0, 'string', 0],
  ['DialDelay', '', 1, 'time', 0, 's'],
  ['NoRecipientAction', '', 1, 'enum', 1],
  ['SafeFileEnvironment', '', 0, 'string', 1],
  ['MaxMessageSize', '', 0, 'size', 0],
  ['ColonOkInAddr', '', 1, 'bool', 0],
  ['MaxQueueRunSize', '', 1, 'int', 0],
  ['MaxDaemonChildren', '', 0, 'int', 0],
  ['DontExpandCnames', '', 0, 'bool', 0],
  ['MustQuoteChars', '', 0, 'string', 1],
  ['SmtpGreetingMessage', '', 0, 'string', 1],
  ['UnixFromLine', '', 0, 'string', 1],
  ['OperatorChars', '', 0, 'string', 1],
  ['DontInitGroups', '', 0, 'bool', 0],
  ['SingleLineFromHeader', '', 1, 'bool', 0],
  ['AllowBogusHELO', '', 1, 'bool', 0],
  ['ConnectionRateThrottle', '', 0, 'int', 0],
  ['UnsafeGroupWrites', '', 0, 'bool', 1],
  ['DoubleBounceAddress', '', 0, 'string', 0],
  ['HostStatusDirectory', '', 0, 'string', 1],
  ['SingleThreadDelivery', '', 0, 'bool', 0],
  ['RunAsUser', '', 0, 'user', 1],
  ['RrtImpliesDsn', '', 0, 'bool', 0],
  ['PidFile', '', 0, 'string', 0],
  ['DontBlameSendmail', '', 0, 'flags', 1],
  ['DontProbeInterfaces', '', 0, 'enum', 1],
  ['MaxRecipientsPerMessage', '', 1, 'int', 0],
  ['DeadLetterDrop', '', 0, 'string', 0],
  ['MaxAliasRecursion', '', 0, 'int', 0],
  ['ConnectOnlyTo', '', 0, 'string', 1],
  ['TrustedUser', '', 0, 'user', 1],
  ['MaxMimeHeaderLength', '', 0, 'size', 1],
  ['ControlSocketName', '', 0, 'string', 0],
  ['MaxHeadersLength', '', 0, 'size', 1],
  ['ProcessTitlePrefix', '', 0, 'string', 0],
  ['DefaultAuthInfo', '', 0, 'string', 0],
  ['AuthMechanisms', '', 0, 'list', 1],
  ['ClientPortOptions', '', 0, 'ports', 1],
  ['DataFileBufferSize', '', 0, 'size', 0],
  ['XscriptFileBufferSize', '', 0, 'size', 0],
  ['LDAPDefaultSpec', '', 0, 'string', 0],
  ['ServerCertFile', '', 0, 'string', 1],
  ['ServerKeyFile', '', 0, 'string', 1],
  ['ClientCertFile', '', 0, 'string', 1],
  ['ClientKeyFile', '', 0, 'string', 1],
  ['CACertFile', '', 0, 'string', 1],
  ['CACertPath', '', 0, 'string', 1],
  ['DHParameters', '', 0, 'string', 1],
  ['InputMailFilters', '', 0, 'list', 1],
  ['Milter', '', 0, 'suboptions', 1],
  ['AuthOptions', '', 0, 'flags', 1],
  ['QueueFileMode', '', 0, 'octal', 0],
  ['CertFingerprintAlgorithm', '', 0, 'string', 1],
  ['CipherList', '', 0, 'string', 1],
  ['RandFile', '', 0, 'string', 0],
  ['TLSSrvOptions', '', 0, 'flags', 1],
  ['BadRcptThrottle', '', 1, 'int', 0],
  ['DeliverByMin', '', 0, 'time', 0, 's'],
  ['MaxQueueChildren', '', 0, 'int', 0],
  ['MaxRunnersPerQueue', '', 0, 'int', 0],
  ['DirectSubmissionModifiers', '', 0, 'string', 1],
  ['NiceQueueRun', '', 0, 'int', 0],
  ['SharedMemoryKey', '', 0, 'int', 0],
  ['AuthMaxBits', '', 0, 'int', 0],
  ['MailboxDatabase', '', 0, 'string', 0],
  ['UseMSP', '', 0, 'bool', 0],
  ['DelayLA', '', 0, 'int', 0],
  ['FastSplit', '', 0, 'int', 0],
  ['SoftBounce', '', 0, 'bool', 0],
  ['SharedMemoryKeyFile', '', 0, 'string', 1],
  ['RejectLogInterval', '', 0, 'time', 0, 'h'],
  ['RequiresDirfsync', '', 0, 'bool', 0],
  ['ConnectionRateWindowSize', '', 0, 'time', 0, 's'],
  ['CRLFile', '', 0, 'string', 1],
  ['FallbackSmartHost', '', 0, 'string', 1],
  ['AuthRealm', '', 0, 'string', 1],
  ['CRLPath', '', 0, 'string', 1],
  ['HeloName', '', 0, 'string', 0],
  ['MaxNOOPCommands', '', 0, 'int', 0],
  ['BadRcptShutdown', '', 1, 'int', 0],
  ['BadRcptShutdownGood', '', 1, 'int', 0],
  ['ServerSSLOptions', '', 0, 'flags', 1],
  ['ClientSSLOptions', '', 0, 'flags', 1],
  ['MaxQueueAge', '', 0, 'time', 0, 'm'],
  ['RejectNUL', '', 1, 'bool', 0],
  ['UseCompressedIPv6Addresses', '', 0, 'bool', 0],
  ['SSLEngine', '', 0, 'string', 0],
  ['SSLEnginePath', '', 0, 'string', 1],
  ['TLSFallbacktoClear', '', 0, 'bool', 0],
  ['SetCertAltnames', '', 0, 'bool', 0],
  ['SmtpUTF8', '', 0, 'bool', 0],
  ['StrictTransportSecurity', '', 0, 'bool', 0],
  ['CipherSuites', '', 0, 'string', 1],
];

// Built row by row on first use: a submission looks up one or two options by
// letter, and building all of them was 0.2 ms of its start.
const infos: Array<OptionInfo | undefined> = [];
let lowerNames: string[] | null = null;

function infoAt(i: number): OptionInfo {
  let info = infos[i];
  if (info === undefined) {
    const [name, letter, safe, kind, custom, unit] = ROWS[i]!;
    info = Object.freeze({
      name,
      letter,
      safe: safe === 1,
      subOptions: kind === 'suboptions',
      kind,
      custom: custom === 1,
      ...(unit === undefined ? {} : { unit }),
    });
    infos[i] = info;
  }
  return info;
}

/** The option table. */
export function optionTable(): readonly OptionInfo[] {
  return ROWS.map((_, i) => infoAt(i));
}

/** The long names, in sendmail's order (the two letter-only entries as ''). */
export function optionNames(): string[] {
  return optionTable().map((o) => o.name);
}

/** `sendmail -bO`: every option name on its own line, as sendmail prints them. */
export function formatOptionNames(): string {
  return optionTable()
    .map((o) => o.name + '\n')
    .join('');
}

export type LongNameLookup =
  | { readonly info: OptionInfo; readonly abbreviation: boolean }
  | { readonly error: string };

/**
 * Finds a long option name as sendmail does: case-insensitively, and a
 * unique prefix is accepted as an abbreviation (sendmail then says so).
 */
export function lookupLongName(name: string): LongNameLookup {
  const lower = name.toLowerCase();
  lowerNames ??= ROWS.map((row) => row[0].toLowerCase());
  let candidate: OptionInfo | null = null;
  for (let i = 0; i < ROWS.length; i++) {
    if (!lowerNames[i]!.startsWith(lower)) continue;
    if (lowerNames[i]!.length === lower.length) return { info: infoAt(i), abbreviation: false };
    if (candidate !== null) {
      return { error: `readcf: ambiguous option name ${name} (matches ${candidate.name} and ${ROWS[i]![0]})` };
    }
    candidate = infoAt(i);
  }
  if (candidate === null) return { error: `readcf: unknown option name ${name}` };
  return { info: candidate, abbreviation: true };
}

/** Finds an option by its single-letter name. */
export function lookupLetter(letter: string): OptionInfo | { readonly error: string } {
  if (letter !== '') {
    for (let i = 0; i < ROWS.length; i++) if (ROWS[i]![1] === letter) return infoAt(i);
  }
  const code = letter === '' ? 0 : letter.charCodeAt(0) & 0xff;
  return { error: `readcf: unknown option name 0x${code.toString(16)}` };
}
