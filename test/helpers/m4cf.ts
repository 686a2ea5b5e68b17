/**
 * Real sendmail.cf / submit.cf files, generated the way administrators make
 * them: m4 over Debian's sendmail-cf package (unpacked, never installed).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { debianPackage } from './peers.js';

const run = promisify(execFile);

export interface GeneratedConfig {
  readonly sendmailCf: string;
  readonly submitCf: string;
}

/** Runs m4 over an .mc text (or one of sendmail-cf's cf/*.mc by name) and returns the .cf text. */
export async function m4Config(mc: { text: string } | { shipped: string }): Promise<string | { skip: string }> {
  const peer = await debianPackage('sendmail-cf');
  if ('skip' in peer) return peer;
  const cfDir = join(peer.root, 'usr/share/sendmail/cf');
  let mcPath: string;
  let scratch: string | undefined;
  if ('shipped' in mc) {
    mcPath = join(cfDir, 'cf', mc.shipped);
  } else {
    scratch = mkdtempSync(join(tmpdir(), 'postern-mc-'));
    mcPath = join(scratch, 'config.mc');
    writeFileSync(mcPath, mc.text);
  }
  try {
    const { stdout } = await run('m4', [`-D_CF_DIR_=${cfDir}/`, join(cfDir, 'm4/cf.m4'), mcPath], { maxBuffer: 16 << 20 });
    return stdout;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOENT') return { skip: 'm4 is not installed (.ci/run installs it)' };
    throw e;
  } finally {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  }
}

/** sendmail-cf's generic-linux.mc and submit.mc, as a stock installation would have them. */
export async function stockConfigs(): Promise<GeneratedConfig | { skip: string }> {
  const sendmailCf = await m4Config({ shipped: 'generic-linux.mc' });
  if (typeof sendmailCf !== 'string') return sendmailCf;
  const submitCf = await m4Config({ shipped: 'submit.mc' });
  if (typeof submitCf !== 'string') return submitCf;
  return { sendmailCf, submitCf };
}
