/**
 * `newaliases` / `sendmail -bi`: rebuild the database of every AliasFile,
 * saying what sendmail 8.17 says (measured against Debian's build):
 *   stdout  `/etc/mail/aliases: line 7: missing colon`   (each problem)
 *           `/etc/mail/aliases: 12 aliases, longest 10 bytes, 152 bytes total`
 *           `newaliases: cannot open /etc/mail/x: No such file or directory`
 *   syslog  `alias database /etc/mail/aliases rebuilt by root` (notice)
 *           `NOQUEUE: SYSERR(root): /etc/mail/aliases: line 7: missing colon` (crit)
 *           the statistics line (info)
 * Exit status: 0, or that of the first problem that sets one (70 for the
 * errors sendmail reports as system errors, 64 for a bad address as a name);
 * a missing aliases file is reported and leaves it 0, as in sendmail.
 * Who may run it is checked before (permissions.ts).
 */
import { errnoText } from '../config/values.js';
import { ERR, PosternError } from '../common/errors.js';
import { EX } from '../common/sysexits.js';
import { NOQUEUE, type Logger } from '../common/log.js';
import { aliasStatsLine } from '../common/log-format.js';
import type { Config } from '../config/index.js';
import { aliasSpecFile, problemMessage, rebuildAliasDatabase } from '../delivery/aliases/index.js';
import { localDomainPredicate } from '../delivery/aliases/local-names.js';
import type { ParsedAliases } from '../delivery/aliases/parse.js';
import type { Invocation } from './cmdline/invocation.js';
import type { Output } from './output.js';
import { callerIdentity } from './permissions.js';

/** Classes whose files newaliases rebuilds; others (nis, ldap, ...) are not rebuildable and are passed over silently. */
const REBUILDABLE = new Set(['implicit', 'hash', 'btree']);

export async function initAliases(_inv: Invocation, config: Config, log: Logger, out: Output): Promise<number> {
  const caller = callerIdentity();
  const user = caller.name.startsWith('Unknown UID ') ? `UID${caller.uid}` : caller.name;
  const syserr = (message: string) => log.log(0, 'crit', NOQUEUE, `SYSERR(${user}): ${message}`);
  const isLocalDomain = localDomainPredicate(config);
  let exit: number = EX.OK;
  const setExit = (status: number) => {
    if (exit === EX.OK) exit = status;
  };

  for (const spec of config.options.AliasFile) {
    if (!REBUILDABLE.has(spec.mapClass)) continue;
    const file = aliasSpecFile(spec);
    let parsed: ParsedAliases;
    try {
      parsed = rebuildAliasDatabase(file, {
        isLocalDomain,
        blankSub: config.options.BlankSub,
        type: spec.mapClass === 'btree' ? 'btree' : 'hash',
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
        if ((e as NodeJS.ErrnoException).path === file || code === 'EISDIR') {
          out.stdout(`newaliases: cannot open ${file}: ${errnoText(e)}`);
          continue;
        }
      }
      const err = new PosternError(ERR.ALIAS_CANNOT_REBUILD, `Cannot create database for alias file ${file}: ${errnoText(e)}`, { cause: e });
      out.stdout(err.message);
      syserr(err.message);
      setExit(err.exit);
      continue;
    }
    log.logAliasRebuilt({ file, user });
    for (const p of parsed.problems) {
      const message = problemMessage(file, p);
      out.stdout(message);
      if (p.severity === 'system') syserr(message);
      if (p.exit !== 0) setExit(p.exit);
    }
    const stats = { file, ...parsed.stats };
    out.stdout(aliasStatsLine(stats));
    log.logAliasStats(stats);
  }
  return exit;
}
