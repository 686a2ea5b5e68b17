/**
 * Collecting problems while reading, worded and located as sendmail prints
 * them (`file: line N: text`; command-line options have no prefix), and the
 * error thrown when a configuration cannot be used.
 */
import { ERR, PosternError, type ErrorClass } from '../common/errors.js';
import type { Problem } from './types.js';

export class Reporter {
  readonly problems: Problem[] = [];
  /** Current file (null for the command line) and line. */
  file: string | null;
  line = 0;

  constructor(file: string | null) {
    this.file = file;
  }

  private prefix(): string {
    return this.file === null ? '' : `${this.file}: line ${this.line}: `;
  }

  /** An error at the current line. */
  error(cls: ErrorClass, text: string, exit: number = cls.exit): void {
    this.problems.push({
      severity: 'error',
      code: cls.code as Problem['code'],
      text,
      message: this.prefix() + text,
      file: this.file,
      line: this.line,
      exit,
    });
  }

  /** A warning; `located` prefixes it with file and line (sendmail does for some, not others). */
  warn(text: string, located = false, cls: ErrorClass = ERR.CONFIG_BAD_VALUE): void {
    this.problems.push({
      severity: 'warning',
      code: cls.code as Problem['code'],
      text,
      message: located ? this.prefix() + text : text,
      file: this.file,
      line: this.line,
      exit: 0,
    });
  }

  /** A problem about the file as a whole, printed as `file: text` (no line). */
  fileProblem(severity: Problem['severity'], cls: ErrorClass, text: string, exit: number): void {
    this.problems.push({
      severity,
      code: cls.code as Problem['code'],
      text,
      message: this.file === null ? text : `${this.file}: ${text}`,
      file: this.file,
      line: 0,
      exit,
    });
  }

  errors(): Problem[] {
    return this.problems.filter((p) => p.severity === 'error');
  }

  warnings(): Problem[] {
    return this.problems.filter((p) => p.severity === 'warning');
  }
}

/**
 * A configuration that cannot be used.  `code` is that of the first error;
 * `message` holds every error line, as sendmail would print them; `problems`
 * has them all (warnings too).
 */
export class ConfigError extends PosternError {
  readonly problems: readonly Problem[];
  /** The exit status sendmail would end with (see problemsExitCode()). */
  readonly exitStatus: number;

  constructor(problems: readonly Problem[]) {
    const errors = problems.filter((p) => p.severity === 'error');
    const first = errors[0];
    const cls = first === undefined ? ERR.INTERNAL : ERR[first.code];
    super(cls, errors.map((p) => p.message).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
    this.exitStatus = problemsExitCode(problems);
  }
}

/**
 * The exit status sendmail ends with after these problems: that of the
 * first error, except that an unusable queue directory (78) wins; 0 when
 * there are only warnings.
 */
export function problemsExitCode(problems: readonly Problem[]): number {
  let status = 0;
  for (const p of problems) {
    if (p.severity !== 'error') continue;
    if (p.exit === 78) return 78;
    if (status === 0) status = p.exit;
  }
  return status;
}
