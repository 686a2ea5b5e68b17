/**
 * A hermetic place for tests that touch system paths: /etc (users, /etc/mail),
 * /var/spool, /var/mail, /dev/log, ports 25 and 587.
 *
 * Each run is a fresh set of Linux namespaces made by util-linux's unshare
 * (mount, network, pid, UTS, IPC) whose pid 1 is a setup shell:
 *   - /etc is a private copy (a bind mount of a copied directory, so that
 *     useradd can rename /etc/passwd+ over /etc/passwd), with an empty tmpfs
 *     on /etc/mail;
 *   - empty tmpfs file systems, with the original owner and mode, on
 *     /var/spool, /var/mail, /var/log, /run and /home (and any path asked for);
 *   - only a loopback interface, brought up: nothing reaches the host's
 *     network and any port can be bound;
 *   - optionally a private /dev: a tmpfs holding null, zero, full, random,
 *     urandom and tty (bind mounts of the real ones), a new devpts instance,
 *     /dev/shm and the fd/stdin/stdout/stderr links, where a test may create
 *     /dev/log;
 *   - the host name mx.example.test (or as asked).
 * Then the test's command or script runs as a child of that shell.  When it
 * exits, pid 1 exits with its status and the kernel kills everything else in
 * the namespace; the mounts vanish with it; the temporary directory is
 * removed.  A timeout kills unshare, whose --kill-child takes pid 1 down too.
 *
 * Needs root and unshare; where that is not so, `sandboxSkipReason()` says
 * why, for `t.skip(reason)`.  `runInSandbox` then throws rather than run
 * anything outside a sandbox.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './peers.js';

export { repoRoot };

/** The project's bin/ (sendmail and its other names), first on PATH inside the sandbox. */
export const binDir = join(repoRoot, 'bin');

export interface SandboxOptions {
  /** More paths to cover with an empty tmpfs (each must exist on the host). */
  readonly tmpfs?: readonly string[];
  /** A private /dev where /dev/log can be created; default true. */
  readonly privateDev?: boolean;
  /** Host name inside; default mx.example.test. */
  readonly hostname?: string;
  /** Environment variables added to (or, when undefined, removed from) the test's environment. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Given to the command's standard input; default none (end of file). */
  readonly stdin?: string | Buffer;
  /** Working directory of the command inside; default the repository root. */
  readonly cwd?: string;
  /** Milliseconds before everything is killed; default 120 000. */
  readonly timeoutMs?: number;
}

export interface SandboxResult {
  /** Exit status of the command; null when it was killed (timeout). */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  /** The temporary directory the run used (already removed). */
  readonly workDir: string;
}

/** Exit status of the setup shell when the sandbox itself could not be made. */
export const SETUP_FAILED = 125;

const DEFAULT_TMPFS = ['/var/spool', '/var/mail', '/var/log', '/run', '/home'];

function which(program: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir !== '' && existsSync(join(dir, program))) return join(dir, program);
  }
  return null;
}

let cachedSkip: Promise<string | null> | undefined;

/**
 * Why sandboxed tests cannot run here, or null when they can.  Checked once
 * per process: root, Linux, unshare, ip, and a trial namespace.
 */
export function sandboxSkipReason(): Promise<string | null> {
  cachedSkip ??= probe();
  return cachedSkip;
}

async function probe(): Promise<string | null> {
  if (process.platform !== 'linux') return `the sandbox needs Linux namespaces (this is ${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'the sandbox needs root (unshare of mount/net/pid namespaces)';
  for (const [program, pkg] of [
    ['unshare', 'util-linux'],
    ['ip', 'iproute2'],
    ['mount', 'mount'],
    ['bash', 'bash'],
  ] as const) {
    if (which(program) === null) return `${program} is not installed (Debian package ${pkg})`;
  }
  for (const path of DEFAULT_TMPFS) {
    if (!existsSync(path)) return `${path} does not exist on this host, so nothing can be mounted over it`;
  }
  return new Promise((resolve) => {
    execFile(
      'unshare',
      ['--mount', '--net', '--pid', '--uts', '--ipc', '--fork', '--kill-child', '--mount-proc', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs tmpfs /mnt && ip link set lo up'],
      { timeout: 20_000 },
      (error, _stdout, stderr) => {
        if (error) resolve(`unshare does not work here: ${(stderr || error.message).trim().split('\n').pop()}`);
        else resolve(null);
      },
    );
  });
}

/** The pid 1 of the sandbox: sets everything up, then runs "$@" and exits with its status. */
const SETUP = String.raw`
set -u
W=$SANDBOX_WORK
exec 3>&2 2>"$W/setup.log" 4</dev/null
fail() { echo "sandbox setup failed: $*" >&3; cat "$W/setup.log" >&3; exit ${SETUP_FAILED}; }
run() { "$@" <&4 >>"$W/setup.log" 2>&1 || fail "$*"; }

run sh -c 'printf %s "$SANDBOX_HOSTNAME" > /proc/sys/kernel/hostname'
run ip link set lo up

# /etc: a private copy, so files can be renamed over
run cp -a /etc "$W/etc"
run mkdir -p "$W/etc/mail"
run mount --bind "$W/etc" /etc
run mount -t tmpfs -o mode=0755 tmpfs /etc/mail

# empty file systems over the spool, mail, log, run and home directories
for d in $SANDBOX_TMPFS; do
  [ -d "$d" ] || fail "$d is not a directory"
  mode=$(stat -c %a "$d") owner=$(stat -c %u:%g "$d")
  run mount -t tmpfs -o mode=0755 tmpfs "$d"
  run chmod "$mode" "$d"
  run chown "$owner" "$d"
done

if [ "$SANDBOX_PRIVATE_DEV" = 1 ]; then
  run mkdir "$W/dev"
  run mount --rbind /dev "$W/dev"
  run mount -t tmpfs -o mode=0755,nosuid tmpfs /dev
  for n in null zero full random urandom tty; do
    if [ -e "$W/dev/$n" ]; then
      run touch "/dev/$n"
      run mount --bind "$W/dev/$n" "/dev/$n"
    fi
  done
  run mkdir /dev/pts /dev/shm
  if mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts <&4 >>"$W/setup.log" 2>&1; then
    run ln -s pts/ptmx /dev/ptmx
  elif [ -e "$W/dev/ptmx" ]; then
    run mount --rbind "$W/dev/pts" /dev/pts
    run touch /dev/ptmx
    run mount --bind "$W/dev/ptmx" /dev/ptmx
  fi
  run mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
  run ln -s /proc/self/fd /dev/fd
  run ln -s /proc/self/fd/0 /dev/stdin
  run ln -s /proc/self/fd/1 /dev/stdout
  run ln -s /proc/self/fd/2 /dev/stderr
  # nothing may reach the host's /dev through the work directory
  run umount -l "$W/dev"
fi

exec 2>&3 3>&- 4<&-
cd "$SANDBOX_CWD" || exit ${SETUP_FAILED}
"$@"
exit $?
`;

/**
 * Runs `command` in a new sandbox: a string is a bash script, an array is a
 * program and its arguments.  Resolves when the sandbox is gone.
 */
export async function runInSandbox(command: string | readonly string[], options: SandboxOptions = {}): Promise<SandboxResult> {
  const skip = await sandboxSkipReason();
  if (skip !== null) throw new Error(`no sandbox here: ${skip}`);

  const workDir = mkdtempSync(join(tmpdir(), 'postern-sandbox-'));
  try {
    let argv: string[];
    if (typeof command === 'string') {
      const script = join(workDir, 'script.sh');
      writeFileSync(script, command);
      argv = ['/bin/bash', script];
    } else {
      argv = [...command];
    }
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    delete env.NODE_TEST_CONTEXT; // the child is not a test runner's worker
    delete env.NODE_CHANNEL_FD;
    env.PATH = `${binDir}:${env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}:/usr/sbin:/sbin`;
    for (const [k, v] of Object.entries(options.env ?? {})) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
    env.SANDBOX_WORK = workDir;
    env.SANDBOX_HOSTNAME = options.hostname ?? 'mx.example.test';
    env.SANDBOX_TMPFS = [...DEFAULT_TMPFS, ...(options.tmpfs ?? [])].join(' ');
    env.SANDBOX_PRIVATE_DEV = options.privateDev === false ? '0' : '1';
    env.SANDBOX_CWD = options.cwd ?? repoRoot;

    const setup = join(workDir, 'setup.sh');
    writeFileSync(setup, SETUP);
    const child = spawn(
      'unshare',
      ['--mount', '--net', '--pid', '--uts', '--ipc', '--fork', '--kill-child', '--mount-proc', '--propagation', 'private', '/bin/bash', setup, ...argv],
      { env, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // the command may not read its input
    child.stdin.end(options.stdin ?? '');

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 120_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, s) => resolve([c, s]));
    });
    clearTimeout(timer);
    return {
      code,
      signal,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
      timedOut,
      workDir,
    };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Runs an ES module's source text with this Node inside a sandbox (the
 * project's bin/ first on PATH).  Import project code with `distImport()`:
 *   runNodeInSandbox(`const { openLogger } = await import(${JSON.stringify(distImport('src/common/log.js'))}); ...`)
 */
export async function runNodeInSandbox(source: string, options: SandboxOptions & { args?: readonly string[] } = {}): Promise<SandboxResult> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-sandbox-node-'));
  try {
    const file = join(dir, 'main.mjs');
    writeFileSync(file, source);
    return await runInSandbox([process.execPath, file, ...(options.args ?? [])], options);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The file: URL of a compiled project module, e.g. distImport('src/common/log.js'). */
export function distImport(relativePath: string): string {
  return pathToFileURL(join(repoRoot, 'dist', relativePath)).href;
}
