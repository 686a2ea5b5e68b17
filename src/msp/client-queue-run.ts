/**
 * The client-queue runner: `sendmail -Ac -q` (one pass) and
 * `sendmail -L sm-msp-queue -Ac -q30m` (a pass every 30 minutes, in the
 * background), handing each message the MSP left in the client queue to the
 * daemon on behalf of the file's owner.
 *
 * It runs as the owner of the client queue directory (smmsp): started as
 * root, it becomes that user before reading anything, since the files it
 * reads are written by users.  Only root and that user are allowed to name
 * another submitter to the daemon, which is why the identity matters.
 */
import { accessSync, constants, lstatSync } from 'node:fs';
import { EX } from '../common/sysexits.js';
import { NOQID, type Logger } from '../common/log.js';
import { backgroundStarter, detach } from '../common/detach.js';
import { errnoText } from '../config/values.js';
import type { Config } from '../config/index.js';
import { lookupUser } from '../privsep/passwd.js';
import type { Invocation } from './cmdline/invocation.js';
import { runClientQueue, type RunnerOutcome } from './client-queue.js';
import type { Output } from './output.js';
import { submitSocketPath } from './submit.js';
import { NEEDS_PRIVILEGE, refuseQueueRun } from './queue-access.js';
import { removePidFile, writePidFile } from '../mta/pidfile.js';

export async function clientQueueRun(inv: Invocation, config: Config, log: Logger, out: Output, commandLine: readonly string[]): Promise<number> {
  const dir = config.options.QueueDirectory;
  const refused = refuseQueueRun(dir, config, out);
  if (refused !== undefined || dir === null) return refused ?? EX.CONFIG;
  const interval = inv.queueRun?.interval ?? 0;
  const starter = backgroundStarter();
  if (interval > 0 && !(inv.queueRun?.foreground ?? false) && starter === undefined) {
    return detach((message) => out.stdout(message));
  }
  const problem = becomeQueueOwner(dir) ?? cannotEnter(dir);
  if (problem !== undefined) {
    if (starter !== undefined) await starter.failed(EX.CONFIG, problem.text);
    out.stdout(problem.text);
    if (problem.privileges) out.stderr(NEEDS_PRIVILEGE);
    return EX.CONFIG;
  }
  const socket = submitSocketPath(config);
  const pass = async () => {
    for (const outcome of await runClientQueue(dir, socket)) logOutcome(log, outcome);
  };
  if (interval === 0) {
    await pass();
    return EX.OK;
  }
  writePidFile(config.options.PidFile, process.pid, commandLine);
  starter?.started();
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> = Promise.resolve();
    const cycle = () => {
      running = pass().catch((e: unknown) => log.err(0, NOQID, `client queue run failed: ${e instanceof Error ? e.message : String(e)}`));
      void running.then(() => (timer = setTimeout(cycle, interval * 1000)));
    };
    const stop = () => {
      if (timer !== undefined) clearTimeout(timer);
      void running.then(() => {
        removePidFile(config.options.PidFile, process.pid);
        resolve(EX.OK);
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    cycle();
  });
}

/** Root becomes the client queue's owner (smmsp), with that user's group only. */
function becomeQueueOwner(dir: string): { text: string; privileges: boolean } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  let owner;
  try {
    owner = lstatSync(dir);
  } catch (e) {
    return { text: `can not chdir(${dir}/): ${errnoText(e)}`, privileges: false };
  }
  if (owner.uid === 0) return undefined;
  const gid = lookupUser(owner.uid)?.gid ?? owner.gid;
  const { setgroups, setgid, setuid } = process;
  if (setgroups === undefined || setgid === undefined || setuid === undefined) return { text: 'cannot change identity on this system', privileges: false };
  setgroups([]);
  setgid(gid);
  setuid(owner.uid);
  return undefined;
}

function cannotEnter(dir: string): { text: string; privileges: boolean } | undefined {
  try {
    accessSync(dir, constants.R_OK | constants.X_OK);
    return undefined;
  } catch (e) {
    return { text: `can not chdir(${dir}/): ${errnoText(e)}`, privileges: (e as NodeJS.ErrnoException).code === 'EACCES' };
  }
}

function logOutcome(log: Logger, o: RunnerOutcome): void {
  const name = o.file.slice(o.file.lastIndexOf('/') + 1);
  switch (o.outcome) {
    case 'delivered':
      log.info(4, name, `submitted for uid ${o.owner}, stat=Sent (${o.id} Message accepted for delivery)`);
      break;
    case 'kept':
      log.info(4, name, `stat=Deferred: ${o.reason}`);
      break;
    case 'rejected':
      log.warning(0, name, `not a client queue file the MSP wrote, left alone: ${o.reason}`);
      break;
  }
}
