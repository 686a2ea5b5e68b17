/**
 * The calls Node 20 lacks, from Postern's own N-API addon (src/privsep/native).
 * INTERFACE CONTRACT — implemented by postern_native.c; see docs/architecture.md.
 *
 * Every function is synchronous.  A failed call throws an Error shaped like
 * Node's system errors: `code` is the errno name ('EPERM', 'EBADF', ... or
 * 'E<n>' for rare ones), `errno` the negated errno as in libuv (so
 * util.getSystemErrorName(err.errno) works), `syscall` the C call.  An
 * argument of the wrong type or outside its range (ids, fds and limits are
 * integers; a limit may also be Infinity) throws a TypeError with code ERR_INVALID_ARG_TYPE before any
 * system call is made.
 */
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { packageRootFrom } from '../common/package-root.js';

export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

export type FlockOperation = 'shared' | 'exclusive' | 'unlock';
export type RecordLockType = 'read' | 'write' | 'unlock';
export type RlimitResource = 'core' | 'cpu' | 'data' | 'fsize' | 'nofile' | 'nproc' | 'as' | 'stack' | 'memlock';

export interface NativeBindings {
  /** SO_PEERCRED of a connected AF_UNIX socket's file descriptor. */
  peerCredentials(fd: number): PeerCredentials;
  /** setresuid(2); -1 leaves that id unchanged. */
  setresuid(ruid: number, euid: number, suid: number): void;
  /** setresgid(2); -1 leaves that id unchanged. */
  setresgid(rgid: number, egid: number, sgid: number): void;
  /** [real, effective, saved] */
  getresuid(): [number, number, number];
  getresgid(): [number, number, number];
  setgroups(gids: readonly number[]): void;
  /** flock(2); returns false instead of throwing when `nonBlocking` and the lock is held elsewhere. */
  flock(fd: number, operation: FlockOperation, nonBlocking: boolean): boolean;
  /** fcntl F_SETLK / F_SETLKW on [start, start+length) (length 0 = to end of file); false when F_SETLK would block. */
  recordLock(fd: number, type: RecordLockType, wait: boolean, start?: number, length?: number): boolean;
  /**
   * fcntl F_OFD_SETLK on [start, start+length): a lock of the open file
   * description; false when it is held by another description.  With `wait`,
   * F_OFD_SETLKW: blocks the calling thread until it is free.
   */
  descriptionLock(fd: number, type: RecordLockType, start: number, length: number, wait?: boolean): boolean;
  /** fcntl F_GETLK: the process holding a conflicting lock, or null when the lock could be placed. */
  recordLockHolder(fd: number, type: 'read' | 'write', start?: number, length?: number): { pid: number; type: 'read' | 'write' } | null;
  /** setrlimit(2); Infinity stands for RLIM_INFINITY. */
  setrlimit(resource: RlimitResource, soft: number, hard: number): void;
  /** getrlimit(2); RLIM_INFINITY comes back as Infinity. */
  getrlimit(resource: RlimitResource): { soft: number; hard: number };
  /** prctl(PR_SET_NO_NEW_PRIVS, 1): exec can never again raise privileges. */
  setNoNewPrivs(): void;
  /**
   * socket+bind+listen without accepting: the master binds as root and the
   * workers, given the descriptor, accept.  `address` is an IP address for
   * inet/inet6 (inet6 is v6-only) or a path for unix.  Close-on-exec.
   */
  listenSocket(family: 'inet' | 'inet6' | 'unix', address: string, port: number, backlog: number): number;
  /**
   * A connected, blocking AF_UNIX stream socket, close-on-exec, for a client
   * that does plain blocking reads and writes (the MSP: no net module, no
   * event loop).  Errors as connect(2) gives them: ENOENT, ECONNREFUSED...
   */
  connectUnix(path: string): number;
  /** shutdown(fd, SHUT_WR): the peer reads the end of what this side sends. */
  shutdownWrite(fd: number): void;
  /** poll(2) for input on `fd` (end of file and errors count); -1 waits for ever.  False when the time ran out. */
  waitReadable(fd: number, timeoutMs: number): boolean;
  /** syslog(3) through libc, which speaks /dev/log as the system expects (Node has no AF_UNIX datagram sockets). */
  /** openlog(3); `ident` is copied, since libc keeps only the pointer. */
  openlog(ident: string, option: number, facility: number): void;
  /** The message is passed to syslog(3) as data ("%s"), never as a format. */
  syslog(priority: number, message: string): void;
  closelog(): void;
  /** _exit(2): no exit(3) handlers, no teardown; what was written must already be out. */
  exitNow(status: number): never;
}

/** The addon as node-gyp leaves it, relative to the package root. */
const ADDON = 'src/privsep/native/build/Release/postern_native.node';

let bindings: NativeBindings | undefined;

/**
 * The addon, loaded on first use.  The package root is found by walking up
 * from this module, because the module runs from three places at different
 * depths: dist/src/privsep/ (tsc), dist/bundle/ and dist/bundle/chunks/
 * (esbuild).  Failures to load are thrown each time, not cached, so a later
 * `npm install` can fix a running test session.
 */
export function native(): NativeBindings {
  if (bindings) return bindings;
  const path = join(packageRootFrom(import.meta.filename), ADDON);
  // what require() does with a .node file, without the module loader's
  // lookups: `sendmail -t` loads the addon on every start
  const addon = { exports: {} as Partial<NativeBindings> };
  try {
    process.dlopen(addon, path);
  } catch (error) {
    throw new Error(`cannot load Postern's native addon ${path} (npm install builds it with node-gyp)`, { cause: error });
  }
  // an addon built from an older postern_native.c lacks the newest calls
  if (typeof addon.exports.waitReadable !== 'function') {
    throw new Error(`Postern's native addon ${path} is older than this build (npm install rebuilds it)`);
  }
  bindings = addon.exports as NativeBindings;
  return bindings;
}


/**
 * The file descriptor under a net.Socket, for peerCredentials().  Node has no
 * public accessor; libuv's handle carries it as `fd` (-1 once closed, absent
 * for sockets not backed by a descriptor).  Only valid while the socket is open.
 */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw new Error('socketFd: the socket has no open file descriptor (closed, not yet connected, or not a libuv stream)');
  }
  return fd;
}

/** openlog(3) options and facility, and syslog(3) priorities, as <syslog.h> defines them on Linux. */
export const LOG_PID = 0x01;
export const LOG_NDELAY = 0x08;
/** Also write each message to stderr (glibc, musl); the tests use it to see what syslog() was given. */
export const LOG_PERROR = 0x20;
export const LOG_MAIL = 2 << 3;
export const LOG_EMERG = 0;
export const LOG_ALERT = 1;
export const LOG_CRIT = 2;
export const LOG_ERR = 3;
export const LOG_WARNING = 4;
export const LOG_NOTICE = 5;
export const LOG_INFO = 6;
export const LOG_DEBUG = 7;
