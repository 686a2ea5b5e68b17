/** What a sendmail command line asks for, once parsed. */

/** sendmail's operation modes, by the letter that selects them (`-bX`). */
export const OP_MODES = {
  m: 'deliver',
  s: 'smtp',
  a: 'arpaftp',
  d: 'daemon',
  D: 'fgdaemon',
  v: 'verify',
  t: 'test',
  i: 'initalias',
  p: 'print',
  P: 'printnqe',
  h: 'hoststat',
  H: 'purgestat',
  C: 'checkconfig',
  O: 'showconfig',
  q: 'queuerun',
} as const;

export type OpModeLetter = keyof typeof OP_MODES;
export type OpMode = (typeof OP_MODES)[OpModeLetter];

/** -Ac / -Am: which configuration file to read when -C does not name one. */
export type ConfigChoice = 'by-mode' | 'submit' | 'sendmail';

export interface QueueMatch {
  readonly pattern: string;
  readonly negate: boolean;
}

export interface QueueRunRequest {
  /** -q interval in seconds; 0 = a single run */
  interval: number;
  foreground: boolean;
  persistent: boolean;
  group: string | undefined;
  readonly byId: QueueMatch[];
  readonly byRecipient: QueueMatch[];
  readonly bySender: QueueMatch[];
  readonly byQuarantine: QueueMatch[];
  /** -qQ acts on quarantined items, -qL on lost ones */
  items: 'normal' | 'quarantined' | 'lost';
}

/** An `-O Name=value`, `-o xvalue` or compatibility flag, kept in command-line order. */
export interface OptionSetting {
  /** the single-letter form (`-o`, `-i`, `-v` ...), or ' ' for a long name given with -O */
  readonly letter: string;
  readonly text: string;
}

export interface MacroSetting {
  readonly name: string;
  readonly value: string;
}

export interface Invocation {
  readonly argv0: string;
  /** the basename of argv[0], which chose the initial mode */
  readonly programName: string;
  mode: OpMode;
  configChoice: ConfigChoice;
  /** -C file */
  configFile: string | undefined;
  /** -G: a relayed (gateway) submission rather than an initial one */
  gateway: boolean;
  readonly options: OptionSetting[];
  readonly macros: MacroSetting[];
  /** -f / -r: the envelope sender as given ("<>" for an empty argument) */
  sender: string | undefined;
  senderFlag: 'f' | 'r' | undefined;
  /** -F */
  fullName: string | undefined;
  /** -h */
  hopCount: number | undefined;
  /** -B, checked against the known body types after the configuration is read */
  bodyType: string | undefined;
  /** -N as given, and its parsed form */
  dsnNotify: string | undefined;
  notify: { success: boolean; failure: boolean; delay: boolean; never: boolean } | undefined;
  /** -R */
  dsnReturn: 'hdrs' | 'full' | undefined;
  /** -V */
  envid: string | undefined;
  /** -t */
  recipientsFromHeaders: boolean;
  /** -n */
  noAliasing: boolean;
  /** -U */
  initialSubmission: boolean;
  /** -p protocol[:host] */
  protocol: string | undefined;
  protocolHost: string | undefined;
  /** -q (any form) */
  queueRun: QueueRunRequest | undefined;
  /** -Q reason ("." releases) */
  quarantineReason: string | undefined;
  /** -d categories, -D file */
  readonly debug: string[];
  debugFile: string | undefined;
  /** -X file */
  trafficLog: string | undefined;
  /** -L tag */
  syslogLabel: string | undefined;
  /** the words after the options: recipients, or queue-run arguments */
  readonly operands: string[];
}

/** Exit early, before a configuration is read, with this output and status. */
export interface Diagnostic {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
  /** a system error (sendmail's syserr), which is also logged as SYSERR */
  readonly systemError?: true;
}

export function initialMode(programName: string): OpMode {
  switch (programName) {
    case 'newaliases':
      return 'initalias';
    case 'mailq':
      return 'print';
    case 'smtpd':
      return 'daemon';
    case 'hoststat':
      return 'hoststat';
    case 'purgestat':
      return 'purgestat';
    default:
      return 'deliver';
  }
}

export function modeLetter(mode: OpMode): OpModeLetter {
  for (const [letter, name] of Object.entries(OP_MODES)) if (name === mode) return letter as OpModeLetter;
  throw new Error(`unknown mode ${mode}`);
}

/** sendmail's choice of configuration file (libsmutil getcfname). */
export function configPath(inv: Invocation, configDir: string, submitExists: (path: string) => boolean): string {
  if (inv.configFile !== undefined) return inv.configFile;
  const submit = `${configDir}/submit.cf`;
  if (inv.configChoice === 'submit') return submit;
  const submission = inv.gateway || inv.mode === 'deliver' || inv.mode === 'arpaftp' || inv.mode === 'smtp';
  if (submission && inv.configChoice !== 'sendmail' && submitExists(submit)) return submit;
  return `${configDir}/sendmail.cf`;
}
