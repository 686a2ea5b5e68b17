/**
 * Going into the background as sendmail's daemons do (-bd, -q30m): the
 * command starts the same command line again, detached, and returns once
 * that background process reports it has started, or with its error when it
 * cannot start, so that an init script sees a port already taken.  Node has
 * no fork(), hence the re-execution; the background copy learns its role
 * from the environment and reports over the IPC channel.
 */
import { spawn } from 'node:child_process';

const DETACHED = 'POSTERN_DETACHED';

export type StartReport = { type: 'started' } | { type: 'failed'; exit: number; message: string };

/** In the background copy: how to tell the foreground command; undefined in the foreground. */
export interface Starter {
  started(): void;
  failed(exit: number, message: string): Promise<void>;
}

export function backgroundStarter(): Starter | undefined {
  if (process.env[DETACHED] !== '1' || process.send === undefined) return undefined;
  delete process.env[DETACHED];
  const send = (m: StartReport) => new Promise<void>((resolve) => process.send!(m, undefined, {}, () => resolve()));
  return {
    started: () => void send({ type: 'started' }).then(() => process.disconnect?.()),
    failed: (exit, message) => send({ type: 'failed', exit, message }),
  };
}

/** In the foreground: start the background copy and wait for its report; resolves to the exit status. */
export function detach(onFailure: (message: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      argv0: process.argv0,
      detached: true,
      cwd: '/',
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: { ...process.env, [DETACHED]: '1' },
    });
    let settled = false;
    const settle = (status: number) => {
      if (settled) return;
      settled = true;
      if (child.connected) child.disconnect();
      child.unref();
      resolve(status);
    };
    child.on('message', (m: StartReport) => {
      if (m.type === 'failed') onFailure(m.message);
      settle(m.type === 'started' ? 0 : m.exit);
    });
    child.on('error', (e) => {
      onFailure(`cannot start in the background: ${e.message}`);
      settle(71);
    });
    child.on('exit', (code) => settle(code ?? 71));
  });
}
