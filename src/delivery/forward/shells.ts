/**
 * sendmail's usershellok(): whether a user's login shell allows mail to
 * run programs and write files in that user's name.  An empty shell and the
 * users of class t (trusted) always pass; otherwise the shell must be listed
 * in /etc/shells, or that file must list sendmail's wildcard
 * `/SENDMAIL/ANY/SHELL/`.  The file is read as getusershell(3) reads it:
 * each entry runs from its first `/` to a blank or `#`; `#` lines are
 * comments.  Without /etc/shells, glibc's defaults (/bin/sh, /bin/csh).
 */
import { readFileSync } from 'node:fs';

export const WILDCARD_SHELL = '/SENDMAIL/ANY/SHELL/';

export function listedShells(shellsFile = '/etc/shells'): string[] {
  let text: string;
  try {
    text = readFileSync(shellsFile, 'latin1');
  } catch {
    return ['/bin/sh', '/bin/csh'];
  }
  const shells: string[] = [];
  for (const line of text.split('\n')) {
    const start = line.search(/[#/]/);
    if (start < 0 || line[start] === '#') continue;
    const entry = /^[^\s#]+/.exec(line.slice(start))?.[0] ?? '';
    if (entry.length > 1) shells.push(entry);
  }
  return shells;
}

export function userShellOk(user: string, shell: string, trustedUsers: ReadonlySet<string> = new Set(), shellsFile?: string): boolean {
  if (shell === '' || trustedUsers.has(user)) return true;
  const shells = listedShells(shellsFile);
  return shells.includes(shell) || shells.includes(WILDCARD_SHELL);
}
