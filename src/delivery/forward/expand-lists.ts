/**
 * The broker's side of .forward files and :include: lists: which files to
 * read and as whom, what their lines say, and in whose name their programs
 * and files will run.  The reading itself is the as-user agent's.
 *
 * Identities, as sendmail's include() and deliver() choose them:
 *   - a .forward is read as its user, and its programs and files run as
 *     that user; so do lists it includes;
 *   - an :include: list reached from the aliases file is read as the list's
 *     owner (sendmail reads it as DefaultUser and then takes the owner's
 *     identity; reading as the owner means that only the owner can sway the
 *     reading of a list whose programs run as the owner) and its programs
 *     run as the owner; a list of root's (or of no known user) is read as,
 *     and runs as, DefaultUser;
 *   - lists included from there keep that identity.
 * A user whose shell is not in /etc/shells may not have programs run or
 * files written through them; nor may a list found unsafe but allowed by
 * DontBlameSendmail.
 */
import { statSync } from 'node:fs';
import { ERR } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { RecipientOrigin } from '../../queue/envelope.js';
import { lookupUser, type PasswdEntry } from '../../privsep/passwd.js';
import type { AliasTarget } from '../aliases/index.js';
import { failed, type DeliveryStatus } from '../mailbox/status.js';
import type { ListResult, ReadListsAnswer, ReadListsRequest } from '../as-user/protocol.js';
import { identityOf, type RunIdentity } from '../as-user/spawn.js';
import type { LocalMailerSettings } from '../broker/local-settings.js';
import { isDirectoryProblem } from '../safefile/rules.js';
import { forwardCandidates } from './forward-path.js';
import { parseListText } from './list-text.js';
import { userShellOk } from './shells.js';

/** Why a list's programs and files may not be used. */
export type Refusal =
  | { readonly kind: 'bogus-shell'; readonly user: string }
  | { readonly kind: 'unknown-uid'; readonly uid: number }
  | { readonly kind: 'unsafe'; readonly address: string };

export interface ListContext {
  readonly reader: RunIdentity;
  readonly runAs: RunIdentity;
  readonly refusal?: Refusal;
  /** what the targets carry back to the broker */
  readonly origin: RecipientOrigin;
}

export interface ExpandedTarget {
  /** as written in the list */
  readonly item: string;
  readonly target: AliasTarget;
  readonly file: string;
  readonly context: ListContext;
  /** an :include: that could not be read now: the runner tries it again as a recipient of its own */
  readonly unexpanded?: boolean;
}

export interface ListDeps {
  readonly settings: LocalMailerSettings;
  readonly log: Logger;
  readonly queueId: string;
  /** runs the as-user agent's read-lists request */
  readonly readLists: (who: RunIdentity, request: ReadListsRequest) => Promise<ReadListsAnswer | { error: string }>;
}

const MAX_LIST_BYTES = 1024 * 1024;

export function refusalText(refusal: Refusal, what: 'programs' | 'files', hostName: string): string {
  switch (refusal.kind) {
    case 'bogus-shell':
      return `User ${refusal.user}@${hostName} doesn't have a valid shell for mailing to ${what}`;
    case 'unknown-uid':
      return `UID ${refusal.uid} is an unknown user: cannot mail to ${what}`;
    case 'unsafe':
      return `Address ${refusal.address} is unsafe for mailing to ${what}`;
  }
}

function request(deps: ListDeps, who: RunIdentity, lists: ReadListsRequest['lists'], firstOnly: boolean): ReadListsRequest {
  const s = deps.settings;
  return {
    v: 1,
    kind: 'read-lists',
    lists,
    firstOnly,
    who: { uid: who.uid, gid: who.gid, user: who.name, ...(s.trustedUid !== undefined ? { trustedUid: s.trustedUid } : {}) },
    dbs: [...s.dbs],
    maxBytes: MAX_LIST_BYTES,
  };
}

function validResults(answer: ReadListsAnswer | { error: string }): ListResult[] | string {
  if ('error' in answer) return answer.error;
  if (!Array.isArray(answer.results)) return 'as-user agent gave no results';
  return answer.results.filter((r) => typeof r?.path === 'string' && typeof r.ok === 'boolean');
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether anything may be at a candidate: root's stat is cheap, and spares most deliveries an agent. */
function mayExist(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (error) {
    return (error as { code?: string }).code !== 'ENOENT' && (error as { code?: string }).code !== 'ENOTDIR';
  }
}

function shellRefusal(user: PasswdEntry, settings: LocalMailerSettings): Refusal | undefined {
  return userShellOk(user.name, user.shell, settings.trustedUsers) ? undefined : { kind: 'bogus-shell', user: user.name };
}

export type ForwardOutcome =
  | { readonly kind: 'none' }
  | { readonly kind: 'forwarded'; readonly file: string; readonly targets: ExpandedTarget[] }
  | { readonly kind: 'deferred'; readonly status: DeliveryStatus };

/** The user's .forward: the first usable ForwardPath candidate, its lines, and the lists it includes. */
export async function expandForward(user: PasswdEntry, detail: string, address: string, deps: ListDeps): Promise<ForwardOutcome> {
  const s = deps.settings;
  const candidates = forwardCandidates(s.forwardPath, { home: user.home, user: user.name, detail, shortName: s.shortName, hostName: s.hostName });
  if (!candidates.some(mayExist)) return { kind: 'none' };
  const who = identityOf(user);
  const results = validResults(await deps.readLists(who, request(deps, who, candidates.map((path) => ({ path, kind: 'forward' as const })), true)));
  if (typeof results === 'string') return { kind: 'deferred', status: failed(ERR.FORWARD_TEMPFAIL, `forward: ${results}`) };
  let transient = false;
  let chosen: Extract<ListResult, { ok: true }> | undefined;
  for (const r of results) {
    if (r.ok) {
      chosen = r;
      break;
    }
    if (r.transient) {
      transient = true;
      deps.log.err(2, deps.queueId, `forward ${r.path}: transient error: ${r.text}`);
    } else if (r.code === 'ENOENT') {
      /* no such candidate: not worth a word */
    } else if (isDirectoryProblem(r.code) && s.dbs.has('DontWarnForwardFileInUnsafeDirPath') && !exists(r.path)) {
      /* asked not to warn about candidates that are not there */
    } else {
      deps.log.warning(2, deps.queueId, `forward ${r.path}: ${r.text}`);
    }
  }
  if (chosen === undefined) {
    return transient ? { kind: 'deferred', status: failed(ERR.FORWARD_TEMPFAIL, 'transient .forward open error: message queued') } : { kind: 'none' };
  }
  const refusal = shellRefusal(user, s) ?? (chosen.unsafeAddress !== undefined ? { kind: 'unsafe' as const, address } : undefined);
  const context: ListContext = { reader: who, runAs: who, ...(refusal ? { refusal } : {}), origin: { kind: 'forward', user: user.name, ...(detail !== '' ? { detail } : {}), uid: who.uid } };
  const items = parseListText(chosen.text);
  if (items.length === 0) return { kind: 'none' }; // an empty .forward: the mailbox, as in sendmail
  for (const item of items) deps.log.info(10, deps.queueId, `forward ${address} => ${item.text}`);
  const targets = await expandItems(items, chosen.path, context, deps, 1, new Set([chosen.path]));
  return { kind: 'forwarded', file: chosen.path, targets };
}

export type IncludeOutcome = { readonly kind: 'targets'; readonly targets: ExpandedTarget[] } | { readonly kind: 'failed'; readonly status: DeliveryStatus };

const cannotOpen = (path: string, text: string, transient: boolean): IncludeOutcome => ({
  kind: 'failed',
  status: failed(transient ? ERR.INCLUDE_TEMPFAIL : ERR.INCLUDE_CANNOT_OPEN, `Cannot open ${path}: ${text}`),
});

/** The identity of a list reached from the aliases file: its owner's, as root's stat tells. */
export function ownerContext(path: string, settings: LocalMailerSettings): ListContext | { problem: IncludeOutcome } {
  let st;
  try {
    st = statSync(path);
  } catch (error) {
    const code = (error as { code?: string }).code ?? '';
    const text = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : (error as Error).message;
    return { problem: cannotOpen(path, text, ['EIO', 'EAGAIN', 'ETIMEDOUT', 'ESTALE'].includes(code)) };
  }
  const origin = (runAs: RunIdentity): RecipientOrigin => ({ kind: 'include', file: path, uid: runAs.uid });
  // sendmail reads these lists as DefaultUser: a list it could not read stays unreadable here too,
  // though Postern reads it as its owner (so that only the owner can sway what runs in the owner's name)
  const d = settings.defaultUser;
  const readable = st.uid === d.uid ? st.mode & 0o400 : d.groups.includes(st.gid) || st.gid === d.gid ? st.mode & 0o040 : st.mode & 0o004;
  if (!readable) return { problem: cannotOpen(path, 'Permission denied', false) };
  if (st.uid === 0) return { reader: settings.defaultUser, runAs: settings.defaultUser, origin: origin(settings.defaultUser) };
  const owner = lookupUser(st.uid);
  if (owner === undefined) {
    const runAs: RunIdentity = { name: String(st.uid), uid: st.uid, gid: st.gid, groups: [st.gid], home: '/' };
    return { reader: settings.defaultUser, runAs, refusal: { kind: 'unknown-uid', uid: st.uid }, origin: origin(runAs) };
  }
  const who = identityOf(owner);
  const refusal = shellRefusal(owner, settings);
  return { reader: who, runAs: who, ...(refusal ? { refusal } : {}), origin: origin(who) };
}

/** The context a target's origin gives, for an :include: met by the runner or a program or file to run. */
export function contextOfOrigin(origin: RecipientOrigin | undefined, includePath: string | undefined, settings: LocalMailerSettings): ListContext | { problem: IncludeOutcome } | undefined {
  if (origin?.kind === 'forward') {
    const user = lookupUser(origin.user);
    if (user === undefined) return { problem: cannotOpen(includePath ?? origin.user, 'User unknown', false) };
    const who = identityOf(user);
    const refusal = shellRefusal(user, settings);
    return { reader: who, runAs: who, ...(refusal ? { refusal } : {}), origin };
  }
  if (origin?.kind === 'include') return ownerContext(origin.file, settings);
  return includePath !== undefined ? ownerContext(includePath, settings) : undefined;
}

/** One :include: list in a context, and the lists it includes in turn. */
export async function expandInclude(path: string, context: ListContext, deps: ListDeps, depth = 0, seen: Set<string> = new Set()): Promise<IncludeOutcome> {
  const results = validResults(await deps.readLists(context.reader, request(deps, context.reader, [{ path, kind: 'include' }], false)));
  if (typeof results === 'string') return cannotOpen(path, results, true);
  const r = results[0];
  if (r === undefined) return cannotOpen(path, 'no answer', true);
  if (!r.ok) return cannotOpen(path, r.text, r.transient);
  seen.add(path);
  const refusal = context.refusal ?? (r.unsafeAddress !== undefined ? { kind: 'unsafe' as const, address: `:include:${path}` } : undefined);
  const inner: ListContext = { ...context, ...(refusal ? { refusal } : {}) };
  const targets = await expandItems(parseListText(r.text), path, inner, deps, depth + 1, seen);
  return { kind: 'targets', targets };
}

async function expandItems(items: ReturnType<typeof parseListText>, file: string, context: ListContext, deps: ListDeps, depth: number, seen: Set<string>): Promise<ExpandedTarget[]> {
  const out: ExpandedTarget[] = [];
  for (const item of items) {
    if (deps.settings.maxForwardEntries > 0 && out.length >= deps.settings.maxForwardEntries) {
      deps.log.err(0, deps.queueId, `SYSERR: Attempt to forward to more than ${deps.settings.maxForwardEntries} addresses (in ${file})!`);
      break;
    }
    if (item.target.kind !== 'include') {
      out.push({ item: item.text, target: item.target, file, context });
      continue;
    }
    const path = item.target.path;
    if (seen.has(path) || depth > deps.settings.maxDepth) continue; // a list that includes itself adds nothing more
    const nested = await expandInclude(path, context, deps, depth, seen);
    if (nested.kind === 'targets') out.push(...nested.targets);
    else out.push({ item: item.text, target: item.target, file, context, unexpanded: true });
  }
  return out;
}
