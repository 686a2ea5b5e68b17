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
import { runInSandbox, sandboxSkipReason } from './sandbox.js';

const MARKER = '@@RESULT@@';

/** The scenarios' results; undefined when the test was skipped (no sandbox, dnsmasq or smtp-sink), with the reason. */
export async function runSinkScenarios(t: TestContext, script: (postfixRoot: string) => string, timeoutMs: number): Promise<Record<string, unknown> | undefined> {
  const skip = await sandboxSkipReason();
  if (skip !== null) return void t.skip(skip);
  if (!existsSync('/usr/sbin/dnsmasq')) return void t.skip('dnsmasq is not installed (Debian package dnsmasq-base; .ci/run installs it)');
  const postfix = await debianPackage('postfix');
  if ('skip' in postfix) return void t.skip(postfix.skip);
  if (!existsSync(join(postfix.root, 'usr/sbin/smtp-sink'))) return void t.skip('the postfix package has no smtp-sink');

  const run = await runInSandbox(script(postfix.root), { timeoutMs });
  const marker = run.stdout.indexOf(MARKER);
  assert.ok(marker >= 0, `the scenarios did not finish (code ${run.code}):\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(run.stdout.slice(marker + MARKER.length)) as Record<string, unknown>;
}
