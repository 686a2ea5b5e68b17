/**
 * The as-user agent: started by the root broker with the identity a piece
 * of local delivery belongs to (see protocol.ts), it reads .forward files
 * and :include: lists, or appends to a /file target, and answers with one
 * JSON line.  It refuses to work as root: that is what it exists to avoid.
 */
import { ERR } from '../../common/errors.js';
import { native } from '../../privsep/native.js';
import { failed } from '../mailbox/status.js';
import { appendToFile } from './append-file.js';
import { AGENT_REQUEST_ENV, parseAgentRequest } from './protocol.js';
import { readLists } from './read-lists.js';

async function main(): Promise<unknown> {
  process.umask(0o077);
  process.on('SIGXFSZ', () => {}); // a file size limit fails the write (EFBIG) rather than killing us mid-append
  const stop = new AbortController();
  process.on('SIGTERM', () => {
    stop.abort('timed out');
    process.stdin.destroy();
  });
  try {
    native().setNoNewPrivs();
  } catch {
    /* hardening only */
  }
  const request = parseAgentRequest(process.env[AGENT_REQUEST_ENV]);
  if (request === undefined) return failed(ERR.LOCAL_AGENT_FAILED, 'as-user agent: malformed request');
  if (process.geteuid?.() === 0 || process.getuid?.() === 0) return failed(ERR.LOCAL_AGENT_FAILED, 'as-user agent: refuses to run as root');
  if (request.kind === 'read-lists') return readLists(request);
  return appendToFile(request, process.stdin, stop.signal);
}

let answer: unknown;
try {
  answer = await main();
} catch (error) {
  answer = failed(ERR.LOCAL_AGENT_FAILED, `as-user agent: ${error instanceof Error ? error.message : String(error)}`);
}
process.stdout.write(JSON.stringify(answer) + '\n', () => process.exit(0));
