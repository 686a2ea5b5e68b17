/** Shared set-up for the submission tests: a parsed command line, a default config, a user. */
import { parseCommandLine } from '../../src/msp/cmdline/parse.js';
import { newConfig } from '../../src/config/defaults.js';
import type { Config } from '../../src/config/index.js';
import type { PasswdEntry } from '../../src/privsep/passwd.js';
import type { SystemIdentity } from '../../src/common/identity.js';
import { readSubmission, type Submission } from '../../src/msp/submission/index.js';

export const identity: SystemIdentity = { shortName: 'mx', canonicalName: 'mx.example.test', domain: 'example.test', nodeName: 'mx', qualified: true };
export const alice: PasswdEntry = { name: 'alice', uid: 1001, gid: 1001, gecos: 'Alice Example,Room 1,,', home: '/home/alice', shell: '/bin/bash' };
export const root: PasswdEntry = { name: 'root', uid: 0, gid: 0, gecos: 'root', home: '/root', shell: '/bin/bash' };

export function config(): Config {
  const c = newConfig('/etc/mail/submit.cf');
  c.options.PrivacyOptions.add('authwarnings');
  c.classes.set('t', new Set(['root', 'daemon', 'uucp']));
  return c;
}

export async function* chunks(text: string | Buffer, size = 7): AsyncGenerator<Buffer> {
  const b = Buffer.from(text);
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

export async function collect(body: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const b of body) parts.push(b);
  return Buffer.concat(parts).toString('latin1');
}

export const NOW = new Date(Date.UTC(2026, 10, 22, 8, 44, 54));

export async function submit(
  input: string,
  args: string[],
  opts: { caller?: PasswdEntry; config?: Config; untrustedConfig?: string; smtpSession?: boolean } = {},
): Promise<Submission & { bodyText: string }> {
  const { invocation } = parseCommandLine('sendmail', args, () => ({ notices: [] }));
  const s = await readSubmission(chunks(input), {
    invocation,
    config: opts.config ?? config(),
    caller: opts.caller ?? alice,
    identity,
    queueId: '6AM8isji000082',
    now: NOW,
    ...(opts.untrustedConfig !== undefined ? { untrustedConfig: opts.untrustedConfig } : {}),
    ...(opts.smtpSession !== undefined ? { smtpSession: opts.smtpSession } : {}),
  });
  return { ...s, bodyText: await collect(s.body) };
}
