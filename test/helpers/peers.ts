/**
 * Real programs the tests run against (the real sendmail, its m4 files,
 * Postfix's smtp-source/smtp-sink, logwatch...) come from Debian packages that
 * are downloaded and unpacked into var/test-peers/<package>/, never installed:
 * installing an MTA package would start a daemon and take port 25.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const repoRoot = findRepoRoot();
const peersDir = join(repoRoot, 'var', 'test-peers');

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

export interface Peer {
  /** The unpacked package's root: files are at join(root, 'usr/...'). */
  readonly root: string;
}

/**
 * Unpacks Debian package `name` (downloaded with apt-get, extracted with
 * dpkg -x) and returns where, or a reason it cannot be had here, for the
 * test to skip with.
 */
export async function debianPackage(name: string): Promise<Peer | { skip: string }> {
  const root = join(peersDir, name);
  if (existsSync(join(root, '.complete'))) return { root };
  mkdirSync(peersDir, { recursive: true });
  const work = mkdtempSync(join(peersDir, `.${name}-`));
  try {
    try {
      await run('apt-get', ['download', name], { cwd: work });
    } catch (e) {
      return { skip: `Debian package ${name} cannot be downloaded here (${firstLine(e)})` };
    }
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (deb === undefined) return { skip: `apt-get download ${name} produced no .deb` };
    const unpacked = join(work, 'root');
    await run('dpkg', ['-x', join(work, deb), unpacked]);
    await run('touch', [join(unpacked, '.complete')]);
    try {
      renameSync(unpacked, root);
    } catch (e) {
      // another test process unpacked it first; use theirs
      if (!existsSync(join(root, '.complete'))) throw e;
    }
    return { root };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function firstLine(e: unknown): string {
  const text = e instanceof Error ? ((e as { stderr?: string }).stderr || e.message) : String(e);
  return text.trim().split('\n').pop() ?? text;
}

/** The real sendmail 8.17 binary from Debian's sendmail-bin, runnable from its unpacked folder. */
export async function realSendmail(): Promise<string | { skip: string }> {
  const peer = await debianPackage('sendmail-bin');
  if ('skip' in peer) return peer;
  const bin = join(peer.root, 'usr/libexec/sendmail/sendmail');
  try {
    await run(bin, ['-bz']).catch((e: { code?: unknown }) => {
      if (e.code !== 64) throw e; // "Frozen configurations unsupported" is how it answers
    });
  } catch (e) {
    return { skip: `the real sendmail does not run here (${firstLine(e)}); .ci/run installs its libraries` };
  }
  return bin;
}
