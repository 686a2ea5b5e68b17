/**
 * At worker start: can this process (RunAsUser, no groups) reach the Unix
 * sockets of the filters its listeners use?  sendmail, running as root,
 * warns only of a missing socket (`WARNING: Xname: local socket name PATH
 * missing`); a worker that is not root can also be shut out by the
 * permissions of the socket or of a directory above it, which is the usual
 * mistake when a milter's socket is made for root only.  Each problem is
 * one line, so the administrator sees it once at start, not only as a
 * tempfail per connection.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Config, PortOptions } from '../config/index.js';
import { errnoText } from '../config/values.js';
import { submissionDaemon } from './local-milters.js';

/** The filters any of these listeners (and local submissions) use. */
function filtersInUse(config: Config, daemons: readonly Pick<PortOptions, 'InputMailFilters'>[]): string[] {
  const names = new Set<string>();
  for (const d of daemons) for (const n of d.InputMailFilters ?? config.options.InputMailFilters) if (config.milters.has(n)) names.add(n);
  return [...names];
}

function whoAmI(): string {
  const uid = process.getuid?.() ?? 0;
  let name = String(uid);
  try {
    name = userInfo().username;
  } catch {
    // an uid without a passwd entry
  }
  return `${name} (uid ${uid})`;
}

/** One warning per filter socket this process cannot use. */
export function milterReachProblems(config: Config, daemons: readonly Pick<PortOptions, 'InputMailFilters'>[]): string[] {
  const submit = submissionDaemon(config);
  const problems: string[] = [];
  for (const name of filtersInUse(config, submit === undefined ? daemons : [...daemons, submit])) {
    const def = config.milters.get(name)!;
    if (def.socket.family !== 'local') continue;
    const path = def.socket.path;
    try {
      statSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problems.push(
        code === 'ENOENT'
          ? `WARNING: X${name}: local socket name ${path} missing`
          : `WARNING: X${name}: local socket name ${path} cannot be reached by ${whoAmI()}: ${errnoText(e)}`,
      );
      continue;
    }
    try {
      // connect() on a Unix socket needs write permission on it
      accessSync(path, constants.W_OK);
    } catch (e) {
      problems.push(`WARNING: X${name}: local socket name ${path} cannot be reached by ${whoAmI()}: ${errnoText(e)}`);
    }
  }
  return problems;
}
