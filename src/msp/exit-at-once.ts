/**
 * Ends a finished `sendmail -t` without Node's teardown.
 *
 * A submission is done when the daemon has said the message is queued (or
 * it is in the client queue): what is left is Node freeing its heap, handles
 * and platform threads, measured at about 4 ms of a 40 ms `sendmail -t`,
 * which cron and PHP start thousands of times.  process.reallyExit() is what
 * process.exit() calls after the 'exit' event; the submission path has no
 * listener there, and everything it writes (stdout, stderr, syslog) went out
 * synchronously: stdio pipes and files are written synchronously on Linux.
 */
export function exitAtOnce(status: number): void {
  process.exitCode = status;
  (process as unknown as { reallyExit(code: number): void }).reallyExit(status);
}
