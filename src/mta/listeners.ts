/**
 * The daemon's listening sockets, bound by the master (as root, for ports
 * below 1024) and handed to the workers as file descriptors; the master
 * itself never accepts on them.  One socket per DaemonPortOptions line, and
 * the local submission socket of submit.cf's ${SubmitSocket}.
 */
import { chmodSync, chownSync, closeSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { ERR, PosternError } from '../common/errors.js';
import { ipVersion } from '../common/ip.js';
import type { PortOptions } from '../config/types.js';
import { native } from '../privsep/native.js';

export type Listener =
  | { readonly kind: 'smtp'; readonly fd: number; readonly daemon: PortOptions; readonly where: string }
  | { readonly kind: 'submit'; readonly fd: number; readonly path: string; readonly where: string };

/** sendmail's wording for a socket that cannot be had: "daemon MTA: cannot bind: Address already in use". */
function socketError(daemon: string, e: unknown): PosternError {
  const err = e as NodeJS.ErrnoException;
  const what = err.syscall === 'listen' ? 'cannot listen' : 'cannot bind';
  const reason = err.message.replace(/^E[A-Z]+: /, '').replace(/, \w+$/, '');
  return new PosternError(ERR.DAEMON_SOCKET, `opendaemonsocket: daemon ${daemon}: ${what}: ${reason}`, { cause: e });
}

async function bindDaemon(d: PortOptions): Promise<Listener | undefined> {
  const name = d.Name ?? 'Daemon0';
  const optional = d.Modifiers.includes('O');
  try {
    if (d.Family === 'local') {
      if (d.Addr === null) throw new PosternError(ERR.DAEMON_SOCKET, `daemon ${name}: Family=local needs Addr=path`);
      const fd = await bindUnix(d.Addr, d.Listen, 0o666);
      return { kind: 'smtp', fd, daemon: d, where: d.Addr };
    }
    if (d.Family !== 'inet' && d.Family !== 'inet6') {
      throw new PosternError(ERR.DAEMON_SOCKET, `daemon ${name}: address family ${String(d.Family)} is not supported`);
    }
    const family = d.Family === 'inet6' ? 6 : 4;
    let address = d.Addr ?? (family === 6 ? '::' : '0.0.0.0');
    if (ipVersion(address) === 0) address = (await lookup(address, { family })).address;
    const fd = native().listenSocket(d.Family, address, d.Port ?? 25, d.Listen);
    return { kind: 'smtp', fd, daemon: d, where: family === 6 ? `[${address}]:${d.Port}` : `${address}:${d.Port}` };
  } catch (e) {
    if (optional) return undefined;
    throw e instanceof PosternError ? e : socketError(name, e);
  }
}

/** Binds every daemon's socket; on a failure the ones already bound are closed again. */
export async function bindDaemonSockets(daemons: readonly PortOptions[]): Promise<Listener[]> {
  const bound: Listener[] = [];
  try {
    for (const d of daemons) {
      const l = await bindDaemon(d);
      if (l !== undefined) bound.push(l);
    }
    return bound;
  } catch (e) {
    closeListeners(bound);
    throw e;
  }
}

/**
 * A Unix socket at `path`.  A socket file left by a daemon that died is
 * replaced; one that still answers belongs to a running daemon, and is left
 * alone.  Anything that is not a socket is never removed.
 */
async function bindUnix(path: string, backlog: number, mode: number): Promise<number> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  let existing;
  try {
    existing = lstatSync(path);
  } catch {
    existing = undefined;
  }
  if (existing !== undefined) {
    if (!existing.isSocket()) throw new PosternError(ERR.DAEMON_SOCKET, `${path} exists and is not a socket`);
    if (await answers(path)) throw new PosternError(ERR.DAEMON_ALREADY_RUNNING, `${path}: a daemon is already listening there`);
    rmSync(path);
  }
  const fd = native().listenSocket('unix', path, 0, backlog);
  // anyone may connect: the daemon learns who from SO_PEERCRED
  chmodSync(path, mode);
  return fd;
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ path });
    c.on('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

export async function bindSubmissionSocket(path: string): Promise<Listener> {
  try {
    return { kind: 'submit', fd: await bindUnix(path, 128, 0o666), path, where: path };
  } catch (e) {
    throw e instanceof PosternError ? e : socketError('submission', e);
  }
}

export function closeListeners(listeners: readonly Listener[]): void {
  for (const l of listeners) {
    try {
      closeSync(l.fd);
    } catch {
      // already closed
    }
  }
}

/** Removes the Unix socket files the daemon created (at exit). */
export function unlinkSocketFiles(listeners: readonly Listener[]): void {
  for (const l of listeners) {
    const path = l.kind === 'submit' ? l.path : l.daemon.Family === 'local' ? l.daemon.Addr : null;
    if (path !== null) rmSync(path, { force: true });
  }
}

/** A socket only RunAsUser (and root) may connect to: the delivery broker's. */
export async function bindPrivateSocket(path: string, owner: { uid: number; gid: number; switchIdentity: boolean }): Promise<number> {
  try {
    const fd = await bindUnix(path, 64, 0o600);
    if (owner.switchIdentity) chownSync(path, owner.uid, owner.gid);
    return fd;
  } catch (e) {
    throw e instanceof PosternError ? e : socketError('broker', e);
  }
}
