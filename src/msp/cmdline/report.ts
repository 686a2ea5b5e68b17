/** What parsing the command line has to say, and sendmail's exit status so far. */
import type { ErrorClass, PosternError } from '../../common/errors.js';
import type { Diagnostic } from './invocation.js';

export class Report {
  readonly output: Diagnostic[] = [];
  readonly errors: string[] = [];
  exitStatus = 0;

  /** sendmail's usrerr followed by an explicit ExitStat assignment */
  usage(cls: ErrorClass, text: string): void {
    this.say(cls, text);
    this.exitStatus = cls.exit;
  }

  /** sendmail's syserr: sets ExitStat only when nothing set it before */
  system(err: PosternError): void {
    this.say(err, err.message, true);
    if (this.exitStatus === 0) this.exitStatus = err.exit;
  }

  private say(cls: { code: string }, text: string, systemError = false): void {
    this.output.push(systemError ? { stream: 'stdout', text, systemError } : { stream: 'stdout', text });
    this.errors.push(cls.code);
  }
}
