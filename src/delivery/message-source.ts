/**
 * The queued message as a local delivery gets it: a descriptor of its
 * content file (a big message), or its bytes, which the queue runner sent
 * with the request (a small message lives in the queue database, which the
 * broker, as root, does not open).  A program or an as-user agent reads it
 * on its standard input either way.
 */
import type { ChildProcess } from 'node:child_process';

export type MessageSource = { readonly fd: number } | { readonly bytes: Buffer };

/** What to give spawn() as the child's standard input. */
export function stdinFor(source: MessageSource | undefined): number | 'pipe' | 'ignore' {
  if (source === undefined) return 'ignore';
  return 'fd' in source ? source.fd : 'pipe';
}

/**
 * Writes the message into a child spawned with stdinFor()'s 'pipe'.  A
 * program that exits without reading all of it (EPIPE) is its own business,
 * as with a descriptor: its exit status says how the delivery went.
 */
export function feedStdin(child: ChildProcess, source: MessageSource | undefined): void {
  if (source === undefined || 'fd' in source || child.stdin === null) return;
  child.stdin.on('error', () => undefined);
  child.stdin.end(source.bytes);
}
