/**
 * What sendmail checks once the .cf is read (in every mode, unless noted),
 * and the extra file-system checks of `sendmail -bC`.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { ERR } from '../common/errors.js';
import { defaultPortOptions } from './defaults.js';
import type { Reporter } from './problems.js';
import type { Config } from './types.js';
import { errnoText } from './values.js';

export type LoadMode = 'daemon' | 'check' | 'test' | 'other';

const MAX_CONFIG_LEVEL = 10;
const VERSION = '8.17.1.9';

/** Fills in derived values and reports what sendmail reports right after reading. */
export function finishConfig(config: Config, report: Reporter, mode: LoadMode): void {
  report.file = null;
  report.line = 0;
  const o = config.options;
  if (config.configLevel > MAX_CONFIG_LEVEL) {
    report.error(
      ERR.CONFIG_SYNTAX,
      `Warning: .cf version level (${config.configLevel}) exceeds sendmail version ${VERSION} functionality (${MAX_CONFIG_LEVEL})`,
    );
  }
  if (o.HostStatusDirectory !== null && o.ConnectionCacheSize === 0) {
    o.HostStatusDirectory = null;
    report.warn('Warning: HostStatusDirectory disabled with ConnectionCacheSize = 0');
  }
  if (config.configLevel < MAX_CONFIG_LEVEL) {
    report.warn(
      `Warning: .cf file is out of date: sendmail ${VERSION} supports version ${MAX_CONFIG_LEVEL}, .cf file is version ${config.configLevel}`,
    );
  }
  if (config.configLevel < 3) o.UseErrorsTo = true;

  // daemons get their default names and port; the default queue its directory
  if (o.DaemonPortOptions.length === 0) {
    o.DaemonPortOptions.push(defaultPortOptions());
  }
  o.DaemonPortOptions.forEach((d, i) => {
    d.Name ??= `Daemon${i}`;
    if (d.Port === null && (d.Family === 'inet' || d.Family === 'inet6')) d.Port = 25;
  });
  for (const [family, c] of Object.entries(o.ClientPortOptions)) {
    if (c !== undefined) c.Name ??= `Client${family}`;
  }
  const mqueue = config.queueGroups.get('mqueue');
  if (mqueue !== undefined && mqueue.line === null) {
    mqueue.path = o.QueueDirectory;
    mqueue.runners = o.MaxRunnersPerQueue;
    mqueue.nice = o.NiceQueueRun;
  }
  for (const q of config.queueGroups.values()) {
    if (q.runners === null) q.runners = o.MaxRunnersPerQueue > 0 ? o.MaxRunnersPerQueue : 1;
  }

  if (mode !== 'test' && !config.mailers.has('local')) {
    report.error(ERR.CONFIG_MISSING, 'No local mailer defined', 70);
  }
  if (mode !== 'test' && (o.QueueDirectory === null || o.QueueDirectory === '')) {
    report.error(ERR.CONFIG_MISSING, 'QueueDirectory (Q) option must be set', 78);
  }
  if (mode === 'daemon') {
    for (const name of o.InputMailFilters) {
      if (!config.milters.has(name)) {
        report.error(ERR.CONFIG_MISSING, `InputFilter ${name} not defined`, 78);
        break;
      }
    }
  }
}

/**
 * `sendmail -bC` also looks at the queue directory (which must exist), the
 * directories above each queue group (writable by others: a warning), and
 * the host status directory.
 */
export function checkFilesystem(config: Config, report: Reporter): void {
  const o = config.options;
  if (o.QueueDirectory !== null && o.QueueDirectory !== '') checkQueues(config, report, o.QueueDirectory);
  if (o.HostStatusDirectory !== null) {
    try {
      if (!statSync(o.HostStatusDirectory).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
    } catch (e) {
      report.warn(`Warning: Cannot use HostStatusDirectory = ${o.HostStatusDirectory}: ${errnoText(e)}`);
    }
  }
  for (const name of o.InputMailFilters) {
    if (!config.milters.has(name)) report.warn(`InputFilter ${name} not defined`, false, ERR.CONFIG_MISSING);
  }
}

function checkQueues(config: Config, report: Reporter, queueDir: string): void {
  // the base directory: QueueDirectory without a trailing wildcard, with a trailing slash
  let base = queueDir;
  if (base.endsWith('*')) base = base.slice(0, base.lastIndexOf('/') + 1);
  else if (!base.endsWith('/')) base += '/';
  try {
    if (!statSync(base).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' });
  } catch (e) {
    report.error(ERR.CONFIG_MISSING, `can not chdir(${base}): ${errnoText(e)}`, 78);
    return;
  }
  for (const q of config.queueGroups.values()) {
    const path = q.path ?? queueDir;
    if (!path.startsWith('/')) {
      report.error(ERR.CONFIG_MISSING, `QueuePath ${path} not absolute`, 78);
      continue;
    }
    if (!path.startsWith(base) && path !== base.slice(0, -1)) {
      report.error(ERR.CONFIG_MISSING, `QueuePath ${path} not subpath of QueueDirectory ${base}`, 78);
      continue;
    }
    // sendmail checks the queue path as RunAsUser, and warns only when that is root
    if (!path.includes('*') && runsAsRoot(config)) warnWritableDirs(config, report, path);
  }
}

function runsAsRoot(config: Config): boolean {
  const user = config.options.RunAsUser?.user ?? null;
  return user === null || user === 0 || user === 'root';
}

/** sendmail's safedirpath() warnings for the directories of a path (the root excepted). */
function warnWritableDirs(config: Config, report: Reporter, dir: string): void {
  const dbs = config.options.DontBlameSendmail;
  let path = '';
  for (const part of dir.split('/')) {
    if (part === '') continue;
    path = join(path === '' ? '/' : path, part);
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch {
      return;
    }
    const trustedSticky = (mode & 0o1000) !== 0 && dbs.has('TrustStickyBit');
    if (trustedSticky) continue;
    if ((mode & 0o002) !== 0) report.warn(`WARNING: World writable directory ${path}`);
    else if ((mode & 0o020) !== 0 && !dbs.has('GroupWritableDirPathSafe')) {
      report.warn(`WARNING: Group writable directory ${path}`);
    }
  }
}
