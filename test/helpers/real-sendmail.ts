/**
 * The outer half of the tests that compare Postern with the real sendmail
 * 8.17 in the sandbox: the skip checks, a work directory with the real
 * binary and its configuration, the run, and the cleanup.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { stockConfigs, type GeneratedConfig } from './m4cf.js';
import { realSendmail } from './peers.js';
import { runInSandbox, type SandboxResult } from './sandbox.js';

export interface RealSendmailRun {
  /** sendmail.cf and submit.cf; default the stock ones (stockConfigs()) */
  readonly configs?: () => Promise<GeneratedConfig | { skip: string }>;
  /** more files for the work directory, by name */
  readonly files?: Readonly<Record<string, string>>;
}

/**
 * Runs `script(work)` in the sandbox, `work` holding the real binary as
 * `sendmail` with submit.cf, sendmail.cf and `files` (see
 * realSendmailPreamble()); undefined when the test was skipped (no real
 * sendmail or no m4), with the reason.
 */
export async function runRealSendmail(t: TestContext, script: (work: string) => string, run: RealSendmailRun = {}): Promise<SandboxResult | undefined> {
  const bin = await realSendmail();
  if (typeof bin !== 'string') return void t.skip(bin.skip);
  const cfs = await (run.configs ?? stockConfigs)();
  if ('skip' in cfs) return void t.skip(cfs.skip);
  const work = mkdtempSync(join(tmpdir(), 'postern-real-sendmail-'));
  try {
    writeFileSync(join(work, 'submit.cf'), cfs.submitCf);
    writeFileSync(join(work, 'sendmail.cf'), cfs.sendmailCf);
    writeFileSync(join(work, 'sendmail'), readFileSync(bin));
    for (const [name, text] of Object.entries(run.files ?? {})) writeFileSync(join(work, name), text);
    return await runInSandbox(script(work), { hostname: 'mx.example.test', timeoutMs: 200_000 });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
