/**
 * The -bd and -bD operation modes.  -bD runs the master in the foreground;
 * -bd detaches as sendmail does (src/common/detach.ts).
 */
import { ERR, PosternError, isPosternError } from '../common/errors.js';
import { backgroundStarter, detach } from '../common/detach.js';
import type { Output } from '../msp/output.js';
import { runDaemon, type DaemonRequest } from './master.js';

export async function daemonMode(req: Omit<DaemonRequest, 'onStarted'>, out: Output, syserr: (text: string) => void): Promise<number> {
  const say = (message: string) => out.stdout(`451 4.0.0 ${message}\r`);
  const starter = backgroundStarter();
  if (!req.foreground && starter === undefined) return detach(say);
  try {
    return await runDaemon({ ...req, ...(starter ? { onStarted: () => starter.started() } : {}) });
  } catch (e) {
    const err = isPosternError(e) ? e : new PosternError(ERR.INTERNAL, e instanceof Error ? e.message : String(e), { cause: e });
    syserr(err.message);
    if (starter !== undefined) await starter.failed(err.exit, err.message);
    else say(err.message);
    return err.exit;
  }
}
