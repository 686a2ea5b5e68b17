/**
 * Who this host is, as sendmail works it out at start-up ("WHO AM I" in
 * sendmail's cf/README): $k the node name, $j the canonical (qualified)
 * name, $w the short name, $m the domain part.  The canonical name is the
 * node name when qualified, otherwise the first qualified name that
 * /etc/hosts gives the node name (sendmail asks the resolver; /etc/hosts is
 * what the resolver answers from for the local name on every system
 * Postern targets, and reading it cannot hang on DNS).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface SystemIdentity {
  /** $w: the host name without its domain */
  readonly shortName: string;
  /** $j: the canonical, fully qualified host name */
  readonly canonicalName: string;
  /** $m: the domain part of $j */
  readonly domain: string;
  /** $k: the UUCP node name (uname) */
  readonly nodeName: string;
  /** false when no qualified name was found ("local host name is not qualified") */
  readonly qualified: boolean;
}

export function systemIdentity(nodeName: string = hostname(), hostsFile = '/etc/hosts'): SystemIdentity {
  const canonical = nodeName.includes('.') ? nodeName : (qualifiedAlias(nodeName, hostsFile) ?? nodeName);
  const dot = canonical.indexOf('.');
  return {
    shortName: dot < 0 ? canonical : canonical.slice(0, dot),
    canonicalName: canonical,
    domain: dot < 0 ? '' : canonical.slice(dot + 1),
    nodeName,
    qualified: dot >= 0,
  };
}

function qualifiedAlias(name: string, hostsFile: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(hostsFile, 'utf8');
  } catch {
    return undefined;
  }
  const wanted = name.toLowerCase();
  for (const line of text.split('\n')) {
    const names = line.replace(/#.*/, '').trim().split(/\s+/).slice(1);
    if (!names.some((n) => n.toLowerCase() === wanted || n.toLowerCase().startsWith(`${wanted}.`))) continue;
    const qualified = names.find((n) => n.includes('.'));
    if (qualified !== undefined) return qualified;
  }
  return undefined;
}
