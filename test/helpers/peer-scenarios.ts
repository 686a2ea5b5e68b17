/**
 * The outer half of the remote-delivery tests that run scenarios in the
 * sandbox against dnsmasq and Postfix's smtp-sink: the skip checks, the run,
 * and the JSON the script prints after its @@RESULT@@ marker.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { debianPackage } from './peers.js';
import { runInSandbox, sandboxSkipReason, type SandboxResult } from './sandbox.js';

const MARKER = '@@RESULT@@';

/**
 * Runs `script` (given where Postfix's package is unpacked) in the sandbox;
 * undefined when the test was skipped (no sandbox, smtp-sink, or dnsmasq when
 * `dns` asks for it), with the reason.
 */
export async function runWithSmtpSink(
  t: TestContext,
  script: (postfixRoot: string) => string,
  options: { timeoutMs: number; hostname?: string; dns?: boolean },
): Promise<SandboxResult | undefined> {
  const skip = await sandboxSkipReason();
  if (skip !== null) return void t.skip(skip);
  if (options.dns === true && !existsSync('/usr/sbin/dnsmasq')) return void t.skip('dnsmasq is not installed (Debian package dnsmasq-base; .ci/run installs it)');
  const postfix = await debianPackage('postfix');
  if ('skip' in postfix) return void t.skip(postfix.skip);
  if (!existsSync(join(postfix.root, 'usr/sbin/smtp-sink'))) return void t.skip('the postfix package has no smtp-sink');
  return runInSandbox(script(postfix.root), { timeoutMs: options.timeoutMs, ...(options.hostname !== undefined ? { hostname: options.hostname } : {}) });
}

/** The scenarios' results; undefined when the test was skipped (no sandbox, dnsmasq or smtp-sink), with the reason. */
export async function runSinkScenarios(t: TestContext, script: (postfixRoot: string) => string, timeoutMs: number): Promise<Record<string, unknown> | undefined> {
  const run = await runWithSmtpSink(t, script, { timeoutMs, dns: true });
  if (run === undefined) return undefined;
  const marker = run.stdout.indexOf(MARKER);
  assert.ok(marker >= 0, `the scenarios did not finish (code ${run.code}):\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(run.stdout.slice(marker + MARKER.length)) as Record<string, unknown>;
}
