/**
 * The shapes a sendmail.cf turns into.  Option fields carry sendmail's own
 * long option names, so `config.options.QueueDirectory` is what the file's
 * `O QueueDirectory=` line said.  Times are in seconds, modes are numbers.
 *
 * Strings that sendmail expands when it uses them (ForwardPath,
 * SmtpGreetingMessage, header templates, macro values...) are kept in the
 * file's own notation: `$x`, `${name}`, `$&x`, `$?x ... $| ... $.`, and `$$`
 * for a literal dollar.  Pass them to `expandMacros()` at run time.
 */
import type { ErrorCode } from '../common/errors.js';
import type { DontBlameSendmailFlag, PrivacyFlag } from './flags.js';

export { DONT_BLAME_SENDMAIL_FLAGS, PRIVACY_FLAGS, type DontBlameSendmailFlag, type PrivacyFlag } from './flags.js';

// ---------------------------------------------------------------- problems

export type Severity = 'error' | 'warning';

/** One thing wrong with a configuration, worded and prefixed as sendmail prints it. */
export interface Problem {
  readonly severity: Severity;
  /** Error class from the registry (warnings carry the class they would have as errors). */
  readonly code: ErrorCode;
  /** The text without the location prefix, e.g. `readcf: unknown option name Foo`. */
  readonly text: string;
  /** What sendmail prints: `file: line 12: text`, or just `text` for the command line. */
  readonly message: string;
  /** The file, or null for a command-line option. */
  readonly file: string | null;
  /** Line number as sendmail counts it (the last physical line of a folded line); 0 for the file itself. */
  readonly line: number;
  /** The exit status sendmail would end with because of this problem. */
  readonly exit: number;
}

// ---------------------------------------------------------------- option values

export type DeliveryMode = 'interactive' | 'background' | 'queue' | 'defer';
export type EightBitMode = 'pass8' | 'mimify' | 'strict';
export type ErrorMode = 'print' | 'quiet' | 'mail' | 'write' | 'berknet';
export type SuperSafe = 'true' | 'false' | 'interactive' | 'postmilter';
export type QueueSortOrder =
  | 'priority'
  | 'host'
  | 'filename'
  | 'modification'
  | 'time'
  | 'random'
  | 'shuffle'
  | 'none';
export type NoRecipientAction = 'none' | 'add-to' | 'add-apparently-to' | 'add-bcc' | 'add-to-undisclosed';

/** A user as `user[:group]` (also `user.group`, `user/group`): names are resolved by the caller. */
export interface UserSpec {
  readonly user: string | number | null;
  readonly group: string | number | null;
}

export type AddressFamily = 'inet' | 'inet6' | 'local' | 'iso' | 'ns' | 'x.25' | number;

/** One `DaemonPortOptions` line (or the `ClientPortOptions` of one family). */
export interface PortOptions {
  /** N= name; daemons default to `Daemon<n>`, clients to `Client<family>`. */
  Name: string | null;
  /** P= port as a number (service names such as `smtp` are resolved), null when not given. */
  Port: number | null;
  /** A= address as written (host names are resolved when the socket is opened). */
  Addr: string | null;
  /** F= family; inet when not given. */
  Family: AddressFamily;
  /** M= modifier letters as written, e.g. `Ea`. */
  Modifiers: string;
  /** I= per-daemon InputMailFilters, null when not given. */
  InputMailFilters: string[] | null;
  /** L= listen queue size (10). */
  Listen: number;
  /** S= / R= socket buffer sizes. */
  SndBufSize: number | null;
  RcvBufSize: number | null;
  /** c= maximum children, D= delivery mode, d= delayLA, q= queueLA, r= refuseLA. */
  children: number | null;
  DeliveryMode: DeliveryMode | null;
  delayLA: number | null;
  queueLA: number | null;
  refuseLA: number | null;
}

export type TimeoutName =
  | 'initial'
  | 'mail'
  | 'rcpt'
  | 'datainit'
  | 'datablock'
  | 'datafinal'
  | 'command'
  | 'rset'
  | 'helo'
  | 'quit'
  | 'misc'
  | 'ident'
  | 'fileopen'
  | 'connect'
  | 'iconnect'
  | 'aconnect'
  | 'queuewarn.normal'
  | 'queuewarn.urgent'
  | 'queuewarn.non-urgent'
  | 'queuewarn.dsn'
  | 'queuereturn.normal'
  | 'queuereturn.urgent'
  | 'queuereturn.non-urgent'
  | 'queuereturn.dsn'
  | 'hoststatus'
  | 'resolver.retrans'
  | 'resolver.retrans.normal'
  | 'resolver.retrans.first'
  | 'resolver.retry'
  | 'resolver.retry.normal'
  | 'resolver.retry.first'
  | 'control'
  | 'lhlo'
  | 'auth'
  | 'starttls';

/**
 * Timeout.* values in seconds (resolver.retry* are counts).  `queuewarn`,
 * `queuereturn`, `resolver.retrans` and `resolver.retry` set their variants;
 * the resolver ones are null while the system resolver's defaults apply.
 */
export type Timeouts = { [K in TimeoutName]: K extends `resolver.${string}` ? number | null : number };

export const MILTER_MACRO_STAGES = ['connect', 'helo', 'envfrom', 'envrcpt', 'data', 'eoh', 'eom'] as const;
export type MilterMacroStage = (typeof MILTER_MACRO_STAGES)[number];

export interface MilterOptions {
  /** Milter.LogLevel; null means "same as LogLevel". */
  LogLevel: number | null;
  /** Milter.macros.<stage>: macro names (`j`, `{daemon_name}`...) sent at that stage; null when not set. */
  macros: Record<MilterMacroStage, string[] | null>;
}

export interface ResolverOption {
  readonly name: string;
  readonly on: boolean;
}

export interface SslOption {
  /** An SSL_OP_* name or a number as written. */
  readonly value: string;
  readonly clear: boolean;
}

export interface AliasSpec {
  /** Map class (`implicit` for a plain file name). */
  readonly mapClass: string;
  readonly spec: string;
}

export interface ConnectOnlyTo {
  readonly address: string;
  readonly family: 'inet' | 'inet6';
  readonly port: number | null;
}

/** Every option sendmail 8.17 (Debian's build) knows, by its long name. */
export interface Options {
  SevenBitInput: boolean;
  EightBitMode: EightBitMode;
  AliasFile: AliasSpec[];
  AliasWait: number;
  BlankSub: string;
  MinFreeBlocks: number;
  CheckpointInterval: number;
  HoldExpensive: boolean;
  DeliveryMode: DeliveryMode;
  ErrorHeader: string | null;
  ErrorMode: ErrorMode;
  TempFileMode: number;
  SaveFromLine: boolean;
  MatchGECOS: boolean;
  HelpFile: string | null;
  MaxHopCount: number;
  ResolverOptions: ResolverOption[];
  IgnoreDots: boolean;
  ForwardPath: string;
  SendMimeErrors: boolean;
  ConnectionCacheSize: number;
  ConnectionCacheTimeout: number;
  UseErrorsTo: boolean;
  LogLevel: number;
  MeToo: boolean;
  CheckAliases: boolean;
  OldStyleHeaders: boolean;
  DaemonPortOptions: PortOptions[];
  PrivacyOptions: Set<PrivacyFlag>;
  PostmasterCopy: string | null;
  QueueFactor: number;
  QueueDirectory: string | null;
  DontPruneRoutes: boolean;
  Timeout: Timeouts;
  StatusFile: string | null;
  SuperSafe: SuperSafe;
  /** QueueTimeout is the old name of Timeout.queuereturn[/queuewarn]: it writes into Timeout. */
  TimeZoneSpec: string | null;
  UserDatabaseSpec: string | null;
  /** DefaultUser (and the nameless option `g` for its group); null = mailnull, else sendmail, else daemon. */
  DefaultUser: UserSpec | null;
  FallbackMXhost: string | null;
  Verbose: boolean;
  TryNullMXList: boolean;
  /** null = sendmail's default of 8 (QueueLA) / 12 (RefuseLA) times the number of CPUs. */
  QueueLA: number | null;
  RefuseLA: number | null;
  RecipientFactor: number;
  ForkEachJob: boolean;
  ClassFactor: number;
  RetryFactor: number;
  QueueSortOrder: QueueSortOrder;
  HostsFile: string;
  MinQueueAge: number;
  DefaultCharSet: string | null;
  ServiceSwitchFile: string;
  DialDelay: number;
  NoRecipientAction: NoRecipientAction;
  SafeFileEnvironment: string | null;
  MaxMessageSize: number;
  ColonOkInAddr: boolean;
  MaxQueueRunSize: number;
  MaxDaemonChildren: number;
  DontExpandCnames: boolean;
  MustQuoteChars: string;
  SmtpGreetingMessage: string | null;
  UnixFromLine: string | null;
  OperatorChars: string | null;
  DontInitGroups: boolean;
  SingleLineFromHeader: boolean;
  AllowBogusHELO: boolean;
  ConnectionRateThrottle: number;
  UnsafeGroupWrites: boolean;
  DoubleBounceAddress: string;
  HostStatusDirectory: string | null;
  SingleThreadDelivery: boolean;
  RunAsUser: UserSpec | null;
  RrtImpliesDsn: boolean;
  PidFile: string;
  DontBlameSendmail: Set<DontBlameSendmailFlag>;
  DontProbeInterfaces: boolean | 'loopback';
  MaxRecipientsPerMessage: number;
  DeadLetterDrop: string | null;
  MaxAliasRecursion: number;
  ConnectOnlyTo: ConnectOnlyTo | null;
  /** null = root (uid 0). */
  TrustedUser: string | number | null;
  MaxMimeHeaderLength: { header: number; field: number };
  ControlSocketName: string | null;
  MaxHeadersLength: number;
  ProcessTitlePrefix: string | null;
  DefaultAuthInfo: string | null;
  AuthMechanisms: string[];
  ClientPortOptions: Partial<Record<string, PortOptions>>;
  DataFileBufferSize: number;
  XscriptFileBufferSize: number;
  LDAPDefaultSpec: string | null;
  ServerCertFile: string | null;
  ServerKeyFile: string | null;
  ClientCertFile: string | null;
  ClientKeyFile: string | null;
  CACertFile: string | null;
  CACertPath: string | null;
  DHParameters: string | null;
  InputMailFilters: string[];
  Milter: MilterOptions;
  AuthOptions: Set<string>;
  QueueFileMode: number;
  CertFingerprintAlgorithm: string | null;
  CipherList: string | null;
  RandFile: string | null;
  TLSSrvOptions: Set<'V' | 'C'>;
  BadRcptThrottle: number;
  DeliverByMin: number;
  MaxQueueChildren: number;
  MaxRunnersPerQueue: number;
  DirectSubmissionModifiers: string | null;
  NiceQueueRun: number;
  SharedMemoryKey: number;
  AuthMaxBits: number;
  MailboxDatabase: string;
  UseMSP: boolean;
  DelayLA: number;
  FastSplit: number;
  SoftBounce: boolean;
  SharedMemoryKeyFile: string | null;
  RejectLogInterval: number;
  RequiresDirfsync: boolean;
  ConnectionRateWindowSize: number;
  CRLFile: string | null;
  FallbackSmartHost: string | null;
  AuthRealm: string | null;
  CRLPath: string | null;
  HeloName: string | null;
  MaxNOOPCommands: number;
  BadRcptShutdown: number;
  BadRcptShutdownGood: number;
  ServerSSLOptions: SslOption[];
  ClientSSLOptions: SslOption[];
  MaxQueueAge: number;
  RejectNUL: boolean;
  UseCompressedIPv6Addresses: boolean;
  SSLEngine: string | null;
  SSLEnginePath: string | null;
  TLSFallbacktoClear: boolean;
  SetCertAltnames: boolean;
  SmtpUTF8: boolean;
  StrictTransportSecurity: boolean;
  CipherSuites: string | null;
}

// ---------------------------------------------------------------- other lines

export interface RulesetRef {
  /** Name or number as written in S=/R=. */
  readonly name: string;
  readonly number: number;
}

/** An `M` line. */
export interface Mailer {
  readonly name: string;
  /** P= program path, or [IPC], [FILE], [LPC]. */
  path: string;
  /** F= flag letters. */
  flags: Set<string>;
  /** S= envelope/header sender rulesets, R= envelope/header recipient rulesets. */
  senderEnvelope: RulesetRef | null;
  senderHeader: RulesetRef | null;
  recipientEnvelope: RulesetRef | null;
  recipientHeader: RulesetRef | null;
  /** E= end-of-line string (default `\r\n`, or `\n` when an argument uses `$u`). */
  eol: string;
  /** A= argument vector, each word in $-notation. */
  argv: string[];
  /** M= maximum message size (0 = unlimited). */
  maxMessageSize: number;
  /** m= messages per connection (0 = unlimited). */
  maxDeliveries: number;
  /** r= recipients per envelope (100 when not given). */
  maxRecipients: number;
  /** L= line limit (990 for F=L when not given; 0 = none). */
  lineLimit: number;
  /** N= niceness. */
  nice: number;
  /** D= working directories (colon separated, in $-notation). */
  execDir: string | null;
  /** C= default charset. */
  charset: string | null;
  /** Q= queue group. */
  queueGroup: string | null;
  /** T= MTA-name / address / diagnostic types. */
  mtaType: string | null;
  addrType: string | null;
  diagType: string | null;
  /** U= user[:group], resolved by the caller. */
  user: UserSpec | null;
  /** W= wait at the end, seconds. */
  wait: number;
  /** /= chroot directory. */
  rootDir: string | null;
  /** Where it was defined; null for sendmail's built-in prog, *file*, *include*. */
  line: number | null;
}

/** A `K` line. */
export interface MapDef {
  readonly name: string;
  readonly mapClass: string;
  /** Everything after the class, after read-time macro expansion. */
  readonly args: string;
  /** Leading `-x` flags of classes parsed like a database map (`-o`, `-T<TMPF>`, `-a.` ...). */
  readonly flags: ReadonlyArray<{ flag: string; value: string }>;
  readonly file: string | null;
  readonly line: number;
}

export type MilterSocket =
  | { readonly family: 'local'; readonly path: string }
  | { readonly family: 'inet' | 'inet6'; readonly port: number | string; readonly host: string };

/** An `X` line. */
export interface MilterDef {
  readonly name: string;
  /** S= as written, and parsed. */
  readonly socketSpec: string;
  readonly socket: MilterSocket;
  /** F= flags: R reject, T tempfail when the filter is unavailable (none: skip it). */
  readonly flags: Set<string>;
  /** T= timeouts in seconds: C connect, S send, R read, E end of message. */
  readonly timeouts: { connect: number; send: number; read: number; eom: number };
  readonly line: number;
}

/** An `H` line. */
export interface HeaderDef {
  readonly name: string;
  /** Field value in $-notation (may contain folded `\n\t`). */
  readonly value: string;
  /** `?F?` mailer-flag conditions: add the header only for mailers with one of these flags. */
  readonly mailerFlags: string | null;
  /** `?$x?` / `?${name}?` condition: add the header only if this macro is set. */
  readonly macroCondition: string | null;
  readonly line: number;
}

/** `HName: $>ruleset` and `HName: $>+ruleset`: a header check ruleset. */
export interface HeaderCheck {
  readonly header: string;
  readonly ruleset: string;
  /** `$>+` keeps comments; plain `$>` strips them. */
  readonly stripComments: boolean;
}

export interface Rule {
  readonly lhs: string;
  readonly rhs: string;
  readonly comment: string;
  readonly line: number;
}

export interface Ruleset {
  readonly number: number;
  name: string | null;
  readonly rules: Rule[];
}

/** A `Q` line (and the default group `mqueue`). */
export interface QueueGroup {
  readonly name: string;
  /** P= directory; the QueueDirectory when not given. */
  path: string | null;
  flags: Set<string>;
  /** I= run interval, seconds. */
  interval: number;
  /** N= nice, R= runners, J= jobs per run, r= recipients per envelope. */
  nice: number;
  runners: number | null;
  maxJobs: number;
  maxRecipients: number;
  readonly line: number | null;
}

/** An `F` line that is not a plain file: recorded, not run. */
export interface ClassSource {
  readonly className: string;
  readonly kind: 'file' | 'program' | 'map';
  readonly source: string;
  readonly format: string;
  readonly optional: boolean;
  readonly line: number;
}

export interface Config {
  /** The file read, as given. */
  readonly file: string;
  /** V line: level and vendor. */
  configLevel: number;
  vendor: string | null;
  options: Options;
  /** Long names of the options the file or the command line set. */
  readonly optionsSet: Set<string>;
  /** Macros from D lines (and -M); single-letter names or long names without braces. */
  readonly macros: Map<string, string>;
  /** Classes from C, F and T lines; T lines and `Ft` fill class `t` (trusted users). */
  readonly classes: Map<string, Set<string>>;
  readonly classSources: ClassSource[];
  readonly mailers: Map<string, Mailer>;
  readonly maps: Map<string, MapDef>;
  readonly milters: Map<string, MilterDef>;
  readonly headers: HeaderDef[];
  readonly headerChecks: Map<string, HeaderCheck>;
  /** P lines: precedence name as written (matched case-insensitively) → value. */
  readonly precedences: Map<string, number>;
  /** S/R lines by ruleset number, and names → numbers. */
  readonly rulesets: Map<number, Ruleset>;
  readonly rulesetNames: Map<string, number>;
  /** E lines: variable → value, or null to pass the caller's value through. */
  readonly environment: Map<string, string | null>;
  readonly queueGroups: Map<string, QueueGroup>;
}
