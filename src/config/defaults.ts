/**
 * What an option is when the .cf does not set it: sendmail 8.17's compiled-in
 * value.  Where the m4 files (cf/m4/proto.m4, OSTYPE(linux)/DOMAIN(generic))
 * write a different value into a generated .cf, the comment says "m4:" -- the
 * generated file then sets it explicitly, so reading it gives the m4 value.
 */
import type { Config, Mailer, Options, PortOptions, QueueGroup, Timeouts } from './types.js';

const MIN = 60;
const HOUR = 3600;
const DAY = 86400;

export function defaultTimeouts(): Timeouts {
  return {
    initial: 5 * MIN,
    mail: 10 * MIN, // m4 Debian: 2m
    rcpt: HOUR,
    datainit: 5 * MIN,
    datablock: HOUR,
    datafinal: HOUR,
    command: HOUR,
    rset: 5 * MIN,
    helo: 5 * MIN,
    quit: 2 * MIN,
    misc: 2 * MIN,
    ident: 5, // IDENTPROTO builds; 0 disables
    fileopen: 60,
    connect: 0, // 0 = the kernel's connect timeout
    iconnect: 0,
    aconnect: 0,
    'queuewarn.normal': 0, // m4: Timeout.queuewarn=4h
    'queuewarn.urgent': 0,
    'queuewarn.non-urgent': 0,
    'queuewarn.dsn': 0,
    'queuereturn.normal': 5 * DAY, // m4: 5d as well
    'queuereturn.urgent': 5 * DAY,
    'queuereturn.non-urgent': 5 * DAY,
    'queuereturn.dsn': 5 * DAY,
    hoststatus: 30 * MIN,
    'resolver.retrans': null,
    'resolver.retrans.normal': null,
    'resolver.retrans.first': null,
    'resolver.retry': null,
    'resolver.retry.normal': null,
    'resolver.retry.first': null,
    control: 2 * MIN,
    lhlo: 2 * MIN,
    auth: 10 * MIN,
    starttls: HOUR,
  };
}

export function defaultOptions(): Options {
  return {
    SevenBitInput: false,
    EightBitMode: 'pass8',
    AliasFile: [], // m4: /etc/mail/aliases
    AliasWait: 0, // m4: 10 (minutes)
    BlankSub: ' ', // m4: .
    MinFreeBlocks: 0, // m4: 100
    CheckpointInterval: 10,
    HoldExpensive: false,
    DeliveryMode: 'background',
    ErrorHeader: null,
    ErrorMode: 'print',
    TempFileMode: 0o600, // 0644 when sendmail runs set-id; m4: 0600
    SaveFromLine: false,
    MatchGECOS: false,
    HelpFile: null, // m4: /etc/mail/helpfile
    MaxHopCount: 25,
    ResolverOptions: [],
    IgnoreDots: false,
    ForwardPath: '$z/.forward', // m4: $z/.forward.$w+$h:$z/.forward+$h:$z/.forward.$w:$z/.forward
    SendMimeErrors: true,
    ConnectionCacheSize: 1, // m4: 2
    ConnectionCacheTimeout: 5 * MIN,
    UseErrorsTo: false, // true for configuration levels below 3
    LogLevel: 9,
    MeToo: true,
    CheckAliases: false,
    OldStyleHeaders: false, // m4: True
    DaemonPortOptions: [], // none: one daemon, Daemon0, port 25 (m4: MTA on 25 and MSA on 587 M=E)
    PrivacyOptions: new Set(), // "public"; m4: authwarnings
    PostmasterCopy: null,
    QueueFactor: 600000,
    QueueDirectory: null, // must be set; m4: /var/spool/mqueue
    DontPruneRoutes: false,
    Timeout: defaultTimeouts(),
    StatusFile: null,
    SuperSafe: 'true',
    TimeZoneSpec: null,
    UserDatabaseSpec: null,
    DefaultUser: null,
    FallbackMXhost: null,
    Verbose: false,
    TryNullMXList: false,
    QueueLA: null,
    RefuseLA: null,
    RecipientFactor: 30000,
    ForkEachJob: false,
    ClassFactor: 1800,
    RetryFactor: 90000,
    QueueSortOrder: 'priority',
    HostsFile: '/etc/hosts',
    MinQueueAge: 0,
    DefaultCharSet: null, // unknown-8bit is used
    ServiceSwitchFile: '/etc/mail/service.switch',
    DialDelay: 0,
    NoRecipientAction: 'none',
    SafeFileEnvironment: null,
    MaxMessageSize: 0,
    ColonOkInAddr: true, // a V line of level 6 or more turns it off
    MaxQueueRunSize: 0,
    MaxDaemonChildren: 0,
    DontExpandCnames: false,
    MustQuoteChars: "@,;:\\()[].'",
    SmtpGreetingMessage: null, // "$j Sendmail $v ready at $b"; m4: "$j Sendmail $v/$Z; $b"
    UnixFromLine: null, // "From $g  $d"; m4: "From $g $d"
    OperatorChars: null, // ".:@[]"; m4: ".:%@!^/[]+"
    DontInitGroups: false,
    SingleLineFromHeader: false,
    AllowBogusHELO: false,
    ConnectionRateThrottle: 0,
    UnsafeGroupWrites: true,
    DoubleBounceAddress: 'postmaster',
    HostStatusDirectory: null,
    SingleThreadDelivery: false,
    RunAsUser: null,
    RrtImpliesDsn: false,
    PidFile: '/var/run/sendmail.pid', // Debian's binary: /var/run/sendmail/mta/sendmail.pid
    DontBlameSendmail: new Set(),
    DontProbeInterfaces: false,
    MaxRecipientsPerMessage: 0,
    DeadLetterDrop: null,
    MaxAliasRecursion: 10,
    ConnectOnlyTo: null,
    TrustedUser: null,
    MaxMimeHeaderLength: { header: 2048, field: 1024 },
    ControlSocketName: null,
    MaxHeadersLength: 32768,
    ProcessTitlePrefix: null,
    DefaultAuthInfo: null,
    AuthMechanisms: ['EXTERNAL', 'GSSAPI', 'KERBEROS_V4', 'DIGEST-MD5', 'CRAM-MD5'],
    ClientPortOptions: {},
    DataFileBufferSize: 4096,
    XscriptFileBufferSize: 4096,
    LDAPDefaultSpec: null,
    ServerCertFile: null,
    ServerKeyFile: null,
    ClientCertFile: null,
    ClientKeyFile: null,
    CACertFile: null,
    CACertPath: null,
    DHParameters: null,
    InputMailFilters: [],
    Milter: {
      LogLevel: null,
      macros: { connect: null, helo: null, envfrom: null, envrcpt: null, data: null, eoh: null, eom: null },
    },
    AuthOptions: new Set(),
    QueueFileMode: 0o600, // 0644 when sendmail runs set-id; m4 (MSP): 0660
    CertFingerprintAlgorithm: null, // md5
    CipherList: null,
    RandFile: null,
    TLSSrvOptions: new Set(),
    BadRcptThrottle: 0,
    DeliverByMin: 0,
    MaxQueueChildren: 0,
    MaxRunnersPerQueue: 1,
    DirectSubmissionModifiers: null,
    NiceQueueRun: 0,
    SharedMemoryKey: 0,
    AuthMaxBits: 2147483647,
    MailboxDatabase: 'pw',
    UseMSP: false,
    DelayLA: 0,
    FastSplit: 1,
    SoftBounce: false,
    SharedMemoryKeyFile: null,
    RejectLogInterval: 3 * HOUR,
    RequiresDirfsync: true,
    ConnectionRateWindowSize: 60,
    CRLFile: null,
    FallbackSmartHost: null,
    AuthRealm: null,
    CRLPath: null,
    HeloName: null,
    MaxNOOPCommands: 20,
    BadRcptShutdown: 0,
    BadRcptShutdownGood: 0,
    ServerSSLOptions: [],
    ClientSSLOptions: [],
    MaxQueueAge: 0,
    RejectNUL: false,
    UseCompressedIPv6Addresses: false, // Debian builds with IPV6_FULL
    SSLEngine: null,
    SSLEnginePath: null,
    TLSFallbacktoClear: false,
    SetCertAltnames: false,
    SmtpUTF8: false,
    StrictTransportSecurity: false,
    CipherSuites: null,
  };
}

export function defaultPortOptions(): PortOptions {
  return {
    Name: null,
    Port: null,
    Addr: null,
    Family: 'inet',
    Modifiers: '',
    InputMailFilters: null,
    Listen: 10,
    SndBufSize: null,
    RcvBufSize: null,
    children: null,
    DeliveryMode: null,
    delayLA: null,
    queueLA: null,
    refuseLA: null,
  };
}

/** sendmail's three built-in mailers, defined before the .cf is read (a cf line may redefine them). */
function builtinMailers(): Mailer[] {
  const base = (name: string, path: string, flags: string, argv: string[], types: boolean): Mailer => ({
    name,
    path,
    flags: new Set(flags),
    senderEnvelope: null,
    senderHeader: null,
    recipientEnvelope: null,
    recipientHeader: null,
    eol: '\n',
    argv,
    maxMessageSize: 0,
    maxDeliveries: 0,
    maxRecipients: 100,
    lineLimit: 0,
    nice: 0,
    execDir: null,
    charset: null,
    queueGroup: null,
    mtaType: types ? 'X-Unix' : null,
    addrType: types ? 'X-Unix' : null,
    diagType: types ? 'X-Unix' : null,
    user: null,
    wait: 0,
    rootDir: null,
    line: null,
  });
  return [
    base('prog', '/bin/sh', 'lsouDq9', ['sh', '-c', '$u'], true),
    base('*file*', '[FILE]', 'lsDFMPEouq9', ['FILE', '$u'], true),
    base('*include*', '/dev/null', 'su', ['INCLUDE', '$u'], false),
  ];
}

function defaultQueueGroup(): QueueGroup {
  return {
    name: 'mqueue',
    path: null, // the QueueDirectory
    flags: new Set(),
    interval: 0,
    nice: 0,
    runners: null,
    maxJobs: 0,
    maxRecipients: 0,
    line: null,
  };
}

export function newConfig(file: string): Config {
  const mailers = new Map<string, Mailer>();
  for (const m of builtinMailers()) mailers.set(m.name, m);
  return {
    file,
    configLevel: 0,
    vendor: null,
    options: defaultOptions(),
    optionsSet: new Set(),
    macros: new Map([['n', 'MAILER-DAEMON']]),
    classes: new Map(),
    classSources: [],
    mailers,
    maps: new Map(),
    milters: new Map(),
    headers: [],
    headerChecks: new Map(),
    precedences: new Map(),
    rulesets: new Map(),
    rulesetNames: new Map(),
    environment: new Map(),
    queueGroups: new Map([['mqueue', defaultQueueGroup()]]),
  };
}
