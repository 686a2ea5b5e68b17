/**
 * What the broker asks of the as-user agent, a small program it starts with
 * the identity the work is done for (the recipient, a list's owner, or
 * DefaultUser), and what the agent answers.
 *
 *   request: the environment variable POSTERN_AGENT_REQUEST (one JSON
 *            object; a process's environment is readable only by its own
 *            user and root, unlike its command line)
 *   stdin:   for an append, the queued message itself: the broker hands over
 *            its descriptor of the queue file, so end of file is the end of
 *            the message and nothing can arrive cut short
 *   stdout:  one JSON line, the answer
 */
import type { Checker, SafeCode } from '../safefile/rules.js';
import type { ListKind } from '../safefile/list-file.js';
import type { DeliveryStatus } from '../mailbox/status.js';

export const AGENT_REQUEST_ENV = 'POSTERN_AGENT_REQUEST';
export const AGENT_PROTOCOL_VERSION = 1;

export interface ReadListsRequest {
  readonly v: typeof AGENT_PROTOCOL_VERSION;
  readonly kind: 'read-lists';
  /** candidates in order; with `firstOnly`, the first usable one ends the search (ForwardPath) */
  readonly lists: ReadonlyArray<{ readonly path: string; readonly kind: ListKind }>;
  readonly firstOnly: boolean;
  readonly who: Checker;
  readonly dbs: readonly string[];
  /** a list longer than this is cut there (sendmail reads any length; a bound keeps the broker's memory bounded) */
  readonly maxBytes: number;
}

export type ListResult =
  | {
      readonly path: string;
      readonly ok: true;
      readonly text: string;
      readonly truncated: boolean;
      readonly uid: number;
      readonly gid: number;
      readonly dev: number;
      readonly ino: number;
      readonly unsafeAddress?: string;
    }
  | { readonly path: string; readonly ok: false; readonly code: SafeCode; readonly text: string; readonly transient: boolean };

export interface ReadListsAnswer {
  readonly results: ListResult[];
}

export interface AppendFileRequest {
  readonly v: typeof AGENT_PROTOCOL_VERSION;
  readonly kind: 'append-file';
  /** the file as named in the list */
  readonly path: string;
  /** SafeFileEnvironment, when set: the file is taken inside it */
  readonly safeFileEnvironment: string | null;
  readonly sender: string;
  /** ms since the epoch, for the From_ line */
  readonly now: number;
  /** mode of a file made new (sendmail's FileMode) */
  readonly createMode: number;
  readonly toSymlink: boolean;
  readonly toHardLink: boolean;
  readonly lockTimeoutMs: number;
}

export type AgentRequest = ReadListsRequest | AppendFileRequest;
export type AppendFileAnswer = DeliveryStatus;

const isId = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** The request, or undefined when it is not a well-formed one. */
export function parseAgentRequest(text: string | undefined): AgentRequest | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text ?? '');
  } catch {
    return undefined;
  }
  const r = value as Record<string, unknown> | null;
  if (r === null || typeof r !== 'object' || r['v'] !== AGENT_PROTOCOL_VERSION) return undefined;
  if (r['kind'] === 'read-lists') {
    const who = r['who'] as Record<string, unknown> | undefined;
    const lists = r['lists'];
    if (!Array.isArray(lists) || !lists.every((l: { path?: unknown; kind?: unknown }) => typeof l?.path === 'string' && (l.kind === 'forward' || l.kind === 'include'))) return undefined;
    if (!isId(who?.['uid']) || !isId(who?.['gid']) || !Array.isArray(r['dbs']) || !isId(r['maxBytes']) || typeof r['firstOnly'] !== 'boolean') return undefined;
    return value as ReadListsRequest;
  }
  if (r['kind'] === 'append-file') {
    if (typeof r['path'] !== 'string' || typeof r['sender'] !== 'string' || !isId(r['now']) || !isId(r['createMode']) || !isId(r['lockTimeoutMs'])) return undefined;
    if (r['safeFileEnvironment'] !== null && typeof r['safeFileEnvironment'] !== 'string') return undefined;
    if (typeof r['toSymlink'] !== 'boolean' || typeof r['toHardLink'] !== 'boolean') return undefined;
    return value as AppendFileRequest;
  }
  return undefined;
}
