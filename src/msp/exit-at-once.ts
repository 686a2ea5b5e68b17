/**
 * Ends a finished `sendmail -t` without Node's teardown.
 *
 * A submission is done when the daemon has said the message is queued (or
 * it is in the client queue): what is left is Node freeing its heap, handles
 * and platform threads, and exit(3)'s handlers (V8's, OpenSSL's), measured
 * at about 4 ms of a 40 ms `sendmail -t` with Node's own teardown and 0.5 ms
 * more with process.reallyExit(), which cron and PHP start thousands of
 * times.  This is process.exit() with _exit(2) in place of exit(3): the
 * 'exit' event is still emitted (the build's code-cache warm-up listens
 * there, see scripts/boot.cjs; the submission path itself has no listener),
 * and everything it wrote (stdout, stderr, syslog) went out synchronously:
 * stdio pipes, files and terminals are written synchronously on Linux.
 */
import { native } from '../privsep/native.js';

export function exitAtOnce(status: number): void {
  process.exitCode = status;
  process.emit('exit', status);
  let exitNow: ((status: number) => never) | undefined;
  try {
    exitNow = native().exitNow;
  } catch {
    exitNow = undefined;
  }
  if (exitNow !== undefined) exitNow(status);
  (process as unknown as { reallyExit(code: number): void }).reallyExit(status);
}
