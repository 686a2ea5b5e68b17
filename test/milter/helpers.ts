/**
 * Pieces the milter tests share: a sendmail.cf with X lines read by the
 * real configuration reader, a logger that keeps its lines, real filter
 * programs started on a socket of the test's own and stopped by pid, and a
 * whole SMTP-like pass through a MilterChain.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger, MemorySink } from '../../src/common/log.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { headerFromText, MilterChain, type MacroLookup, type MessageOutcome, type MilterHeader, type StageOutcome } from '../../src/milter/index.js';

/** the repository (tests run from dist/test/milter) */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../..');
export const FIXTURES = join(REPO, 'test/milter/fixtures');
/** Debian's python3, where python3-milter is installed (a pyenv shim may come first in PATH) */
export const PYTHON = '/usr/bin/python3';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `postern-milter-${prefix}-`));
}

/**
 * A directory on a path no other user can write to: opendkim refuses a
 * configuration or key under /tmp.  As root, directly under /run (root's,
 * 0755), wherever the checkout is; otherwise under the repository's var/
 * (ignored by git), which is safe when the checkout's path is.
 */
export function safeTempDir(prefix: string): string {
  if (process.getuid?.() === 0) return mkdtempSync(join('/run', `postern-milter-${prefix}-`));
  const base = join(REPO, 'var', 'milter-tests');
  mkdirSync(base, { recursive: true, mode: 0o755 });
  return mkdtempSync(join(base, `${prefix}-`));
}

/** Whether python3-milter can be imported; the reason when not. */
export function pythonMilterMissing(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import Milter'], { encoding: 'utf8' });
  return r.status === 0 ? false : 'python3-milter is not installed (apt-get install python3-milter)';
}

/** A sendmail.cf of X lines (without the X) and options, read by Postern's reader. */
export function milterConfig(dir: string, xLines: readonly string[], options: readonly string[] = []): Config {
  const names = xLines.map((l) => l.split(/[,\s]/)[0]!);
  const cf = [
    'V10/Berkeley',
    'O LogLevel=20',
    `O QueueDirectory=${dir}`,
    'Mlocal, P=/bin/true, F=lsDFMAw5:/|@qPn9S, S=EnvFromL/HdrFromL, R=EnvToL/HdrToL, T=DNS/RFC822/X-Unix, A=true',
    `O InputMailFilters=${names.join(',')}`,
    ...options.map((o) => `O ${o}`),
    ...xLines.map((l) => `X${l}`),
    '',
  ].join('\n');
  const path = join(dir, 'sendmail.cf');
  writeFileSync(path, cf);
  return loadConfig(path).config;
}

export function memoryLogger(level = 20): { log: Logger; sink: MemorySink } {
  const sink = new MemorySink();
  return { log: new Logger({ sink, logLevel: level }), sink };
}

/** Starts a filter program and waits for its Unix socket to appear (or the program to die). */
export async function startFilter(command: string, args: readonly string[], socketPath: string, env?: NodeJS.ProcessEnv): Promise<ChildProcess & { output: () => string }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  let output = '';
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const started = Date.now();
  while (!existsSync(socketPath)) {
    if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode}: ${output}`);
    if (Date.now() - started > 15000) {
      child.kill('SIGKILL');
      throw new Error(`${command}: no socket ${socketPath} after 15s: ${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return Object.assign(child, { output: () => output });
}

/** Stops a program this test started, by its pid. */
export async function stopFilter(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

/** The JSON lines a fixture filter wrote. */
export function readEvents(path: string): Array<Record<string, unknown>> {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function macroTable(values: Record<string, string>): MacroLookup {
  return (name) => values[name];
}

/** Header fields from a header block's text. */
export function parseHeaderBlock(text: string, generated = false): MilterHeader[] {
  const fields: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (/^[ \t]/.test(line) && fields.length > 0) fields[fields.length - 1] += '\n' + line;
    else fields.push(line);
  }
  return fields.map((f) => headerFromText(f, generated));
}

export interface Pass {
  connect: StageOutcome;
  helo?: StageOutcome;
  envfrom?: StageOutcome;
  envrcpt: StageOutcome[];
  data?: StageOutcome;
  message?: MessageOutcome;
}

/** One SMTP session's worth of calls, stopping where the session would. */
export async function smtpPass(
  chain: MilterChain,
  m: { helo: string; from: string[]; rcpts: string[][]; headers: MilterHeader[]; body: string; envelope?: boolean },
): Promise<Pass> {
  const pass: Pass = {
    connect: await chain.connect({ hostname: 'client.example.test', family: 'inet', port: 40123, address: '127.0.0.1' }),
    envrcpt: [],
  };
  const stop = (o: StageOutcome) => o.action !== 'continue';
  if (stop(pass.connect)) return pass;
  pass.helo = await chain.helo(m.helo);
  if (stop(pass.helo)) return pass;
  chain.logId = 'QID000001';
  pass.envfrom = await chain.envfrom(m.from);
  if (pass.envfrom.action === 'reject' || pass.envfrom.action === 'tempfail' || pass.envfrom.action === 'shutdown') return pass;
  for (const r of m.rcpts) {
    const o = await chain.envrcpt(r);
    pass.envrcpt.push(o);
    if (o.action === 'shutdown') return pass;
  }
  pass.data = await chain.data();
  if (pass.data.action === 'reject' || pass.data.action === 'tempfail' || pass.data.action === 'shutdown') return pass;
  const body = Buffer.from(m.body, 'latin1');
  pass.message = await chain.message({
    headers: m.headers,
    body: async function* () {
      yield body;
    },
    ...(m.envelope === true
      ? { envelope: { sender: m.from[0]!.replace(/^<|>$/g, ''), recipients: m.rcpts.map((r) => ({ address: r[0]!.replace(/^<|>$/g, '') })) } }
      : {}),
  });
  return pass;
}

/** Collects an async iterable body into a string. */
export async function bodyText(body: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const b of body) parts.push(b);
  return Buffer.concat(parts).toString('latin1');
}
