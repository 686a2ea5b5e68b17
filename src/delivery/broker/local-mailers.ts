/**
 * The broker's local mailers besides the mailbox: .forward and :include:
 * expansion, |program and /file delivery (see protocol.ts for the requests).
 * Root here only decides and hands over: lists are read, programs run and
 * files written by processes with the identity sendmail would use.
 */
import { statSync } from 'node:fs';
import { ERR } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { lookupUser } from '../../privsep/passwd.js';
import type { RecipientOrigin } from '../../queue/envelope.js';
import { parseAgentRequest } from '../as-user/protocol.js';
import type { ReadListsAnswer } from '../as-user/protocol.js';
import { runAsUserAgent } from '../as-user/run-agent.js';
import type { RunIdentity } from '../as-user/spawn.js';
import {
  contextOfOrigin,
  expandForward,
  expandInclude,
  ownerContext,
  refusalText,
  type ExpandedTarget,
  type ListContext,
  type ListDeps,
} from '../forward/expand-lists.js';
import { describeError, failed, parseStatus, type DeliveryStatus } from '../mailbox/status.js';
import { runProgram } from '../program/run-program.js';
import type { MessageSource } from '../message-source.js';
import type { LocalMailerSettings } from './local-settings.js';
import type { BrokerReply, FileRequest, ForwardedTarget, LocalMailerRequest, ProgramRequest } from './protocol.js';

export interface LocalMailerDeps {
  readonly settings: LocalMailerSettings;
  readonly log: Logger;
  /** the queued message: the bytes the runner sent, or its content file opened and checked as the mailbox delivery checks it */
  readonly openContent: (queueId: string) => MessageSource;
  readonly closeContent: (source: MessageSource) => void;
}

function listDeps(deps: LocalMailerDeps, queueId: string): ListDeps {
  return {
    settings: deps.settings,
    log: deps.log,
    queueId,
    readLists: async (who, request) => {
      const run = await runAsUserAgent(who, request, { timeoutMs: deps.settings.fileOpenTimeoutMs, ...agentPath(deps) });
      return 'error' in run ? run : (run.answer as ReadListsAnswer);
    },
  };
}

const agentPath = (deps: LocalMailerDeps) => (deps.settings.asUserAgentPath !== undefined ? { agentPath: deps.settings.asUserAgentPath } : {});

/** How the runner writes a target down as a recipient address. */
function asForwarded(t: ExpandedTarget): ForwardedTarget {
  const origin = t.context.origin;
  switch (t.target.kind) {
    case 'program':
      return { address: `|${t.target.command}`, origin };
    case 'file':
      return { address: t.target.path, origin };
    case 'include':
      return { address: `:include:${t.target.path}`, origin };
    case 'address':
      return { address: t.target.noAlias ? `\\${t.target.address}` : t.target.address, origin };
    case 'error':
      return { address: t.item, origin };
  }
}

export async function handleLocalMailer(request: LocalMailerRequest, deps: LocalMailerDeps): Promise<BrokerReply> {
  const ld = listDeps(deps, request.queueId);
  switch (request.kind) {
    case 'forward': {
      const user = lookupUser(request.user);
      if (user === undefined) return failed(ERR.LOCAL_USER_UNKNOWN, `${request.user}... User unknown`);
      const outcome = await expandForward(user, request.detail ?? '', request.address, ld);
      if (outcome.kind === 'none') return { status: 'none' };
      if (outcome.kind === 'deferred') return outcome.status;
      return { status: 'forwarded', file: outcome.file, targets: outcome.targets.map(asForwarded) };
    }
    case 'include': {
      // an :include: met inside a .forward or a list: it must be listed there (the runner says where it came from, and is not taken at its word)
      if (request.origin !== undefined && !(request.origin.kind === 'include' && request.origin.file === request.path)) {
        const listed = await findIncludeIn(request.path, request.origin, ld);
        if (listed !== true) return listed;
      }
      const context = contextOfOrigin(request.origin, request.path, deps.settings);
      if (context === undefined) return failed(ERR.INCLUDE_CANNOT_OPEN, `Cannot open ${request.path}`);
      if ('problem' in context) return context.problem.kind === 'failed' ? context.problem.status : failed(ERR.INTERNAL, 'include');
      const outcome = await expandInclude(request.path, context, ld);
      if (outcome.kind === 'failed') {
        if (outcome.status.status === 'deferred') deps.log.err(2, request.queueId, `include ${request.path}: transient error: ${outcome.status.text}`);
        return outcome.status;
      }
      return { status: 'forwarded', file: request.path, targets: outcome.targets.map(asForwarded) };
    }
    case 'program':
    case 'file':
      return deliverTarget(request, deps, ld);
  }
}

/** Whether an :include: the broker could not read before is still listed where its origin says. */
async function findIncludeIn(path: string, origin: RecipientOrigin, ld: ListDeps): Promise<true | DeliveryStatus> {
  let targets: ExpandedTarget[] = [];
  if (origin.kind === 'forward') {
    const user = lookupUser(origin.user);
    if (user === undefined) return failed(ERR.LOCAL_USER_UNKNOWN, `${origin.user}... User unknown`);
    const outcome = await expandForward(user, origin.detail ?? '', origin.user, ld);
    if (outcome.kind === 'deferred') return outcome.status;
    if (outcome.kind === 'forwarded') targets = outcome.targets;
  } else {
    const context = ownerContext(origin.file, ld.settings);
    if ('problem' in context) return context.problem.kind === 'failed' ? context.problem.status : failed(ERR.INTERNAL, 'include');
    const outcome = await expandInclude(origin.file, context, ld);
    if (outcome.kind === 'failed') return outcome.status;
    targets = outcome.targets;
  }
  // listed and unreadable, or listed and read now: either proves it is reached from there
  if (targets.some((t) => (t.target.kind === 'include' && t.target.path === path) || t.file === path)) return true;
  return failed(ERR.LOCAL_TARGET_NOT_LISTED, `:include:${path} is not in ${origin.kind === 'forward' ? `${origin.user}'s .forward` : origin.file}`);
}

const sameTarget = (t: ExpandedTarget, request: ProgramRequest | FileRequest) =>
  request.kind === 'program' ? t.target.kind === 'program' && t.target.command === request.command : t.target.kind === 'file' && t.target.path === request.path;

/** The context a program or file runs in, found again in the list it came from. */
async function findContext(request: ProgramRequest | FileRequest, origin: RecipientOrigin, ld: ListDeps): Promise<ListContext | DeliveryStatus> {
  let targets: ExpandedTarget[];
  let listName: string;
  if (origin.kind === 'forward') {
    const user = lookupUser(origin.user);
    if (user === undefined) return failed(ERR.LOCAL_USER_UNKNOWN, `${origin.user}... User unknown`);
    const outcome = await expandForward(user, origin.detail ?? '', origin.user, ld);
    if (outcome.kind === 'deferred') return outcome.status;
    targets = outcome.kind === 'forwarded' ? outcome.targets : [];
    listName = `${origin.user}'s .forward`;
  } else {
    const context = ownerContext(origin.file, ld.settings);
    if ('problem' in context) return context.problem.kind === 'failed' ? context.problem.status : failed(ERR.INTERNAL, 'include');
    const outcome = await expandInclude(origin.file, context, ld);
    if (outcome.kind === 'failed') return outcome.status;
    targets = outcome.targets;
    listName = origin.file;
  }
  const found = targets.find((t) => sameTarget(t, request));
  if (found === undefined) return failed(ERR.LOCAL_TARGET_NOT_LISTED, `${request.kind === 'program' ? `"|${request.command}"` : request.path} is no longer in ${listName}`);
  return found.context;
}

/** sendmail's last ditch: nothing runs as root; DefaultUser stands in. */
const notRoot = (who: RunIdentity, settings: LocalMailerSettings): RunIdentity => (who.uid === 0 ? settings.defaultUser : who);

/** An aliases-file file target whose file is set-user-ID (or set-group-ID) is written as its owner (or group), as sendmail does. */
function setIdentityOfFile(path: string, who: RunIdentity): RunIdentity {
  try {
    const st = statSync(path);
    if (!st.isFile() || st.mode & 0o111) return who;
    const owner = st.mode & 0o4000 && st.uid !== 0 ? lookupUser(st.uid) : undefined;
    const base: RunIdentity = owner !== undefined ? { name: owner.name, uid: owner.uid, gid: owner.gid, groups: [owner.gid], home: owner.home } : who;
    return st.mode & 0o2000 && st.gid !== 0 ? { ...base, gid: st.gid, groups: [st.gid] } : base;
  } catch {
    return who;
  }
}

async function deliverTarget(request: ProgramRequest | FileRequest, deps: LocalMailerDeps, ld: ListDeps): Promise<BrokerReply> {
  const s = deps.settings;
  let runAs: RunIdentity;
  if (request.origin === undefined) {
    runAs = request.kind === 'file' ? setIdentityOfFile(request.path, s.defaultUser) : s.defaultUser;
  } else {
    const context = await findContext(request, request.origin, ld);
    if ('status' in context) return context;
    if (context.refusal !== undefined) {
      const text = refusalText(context.refusal, request.kind === 'program' ? 'programs' : 'files', s.hostName);
      return failed(context.refusal.kind === 'unsafe' ? ERR.LOCAL_UNSAFE_ADDRESS : ERR.LOCAL_BAD_SHELL, text);
    }
    runAs = context.runAs;
  }
  runAs = notRoot(runAs, s);
  const ctladdr = { name: runAs.name, uid: runAs.uid, gid: runAs.gid };
  if (request.kind === 'file' && (request.path === '/dev/null' || request.path.replace(/\/+$/, '') === '/dev/null')) {
    return { status: 'sent', dsn: '2.0.0', text: 'Sent', ctladdr };
  }
  let content: MessageSource;
  try {
    content = deps.openContent(request.queueId);
  } catch (e) {
    return failed(ERR.BROKER_CONTENT, `df/${request.queueId}: ${describeError(e)}`);
  }
  try {
    const status = request.kind === 'program' ? await deliverProgram(request, runAs, content, deps) : await deliverFile(request, runAs, content, deps);
    return { ...status, ctladdr };
  } finally {
    deps.closeContent(content);
  }
}

function deliverProgram(request: ProgramRequest, runAs: RunIdentity, content: MessageSource, deps: LocalMailerDeps): Promise<DeliveryStatus> {
  const s = deps.settings;
  return runProgram({
    command: request.command,
    who: runAs,
    content,
    smrshDir: s.smrshDir,
    smrshPath: s.smrshPath,
    timeoutMs: s.programTimeoutMs,
    log: deps.log,
    queueId: request.queueId,
  });
}

async function deliverFile(request: FileRequest, runAs: RunIdentity, content: MessageSource, deps: LocalMailerDeps): Promise<DeliveryStatus> {
  const s = deps.settings;
  const agentRequest = parseAgentRequest(
    JSON.stringify({
      v: 1,
      kind: 'append-file',
      path: request.path,
      safeFileEnvironment: s.safeFileEnvironment,
      sender: request.sender,
      now: Date.now(),
      createMode: s.fileMode,
      toSymlink: s.dbs.has('FileDeliveryToSymLink'),
      toHardLink: s.dbs.has('FileDeliveryToHardLink'),
      lockTimeoutMs: s.fileOpenTimeoutMs,
    }),
  );
  if (agentRequest === undefined) return failed(ERR.INTERNAL, 'append-file request');
  const run = await runAsUserAgent(runAs, agentRequest, { stdin: content, timeoutMs: s.programTimeoutMs, ...agentPath(deps) });
  if ('error' in run) return failed(ERR.LOCAL_AGENT_FAILED, run.error);
  return parseStatus(run.answer) ?? failed(ERR.LOCAL_AGENT_FAILED, 'as-user agent gave no status');
}
