/**
 * Which domains are this host's, for alias names written `user@host`:
 * class w (Cw, Fw), this host's names, localhost, and [127.x.y.z].
 */
import { systemIdentity, type SystemIdentity } from '../../common/identity.js';
import type { Config } from '../../config/index.js';

export function localDomainPredicate(config: Config, identity: SystemIdentity = systemIdentity()): (domain: string) => boolean {
  const names = new Set<string>(['localhost', 'localhost.localdomain']);
  for (const n of config.classes.get('w') ?? []) names.add(n.toLowerCase());
  for (const n of [identity.canonicalName, identity.shortName, identity.nodeName]) if (n !== '') names.add(n.toLowerCase());
  const j = config.macros.get('j');
  if (j !== undefined && !j.includes('$')) names.add(j.toLowerCase());
  return (domain) => {
    const d = domain.toLowerCase().replace(/\.$/, '');
    return names.has(d) || /^\[127\.\d{1,3}\.\d{1,3}\.\d{1,3}\]$/.test(d) || d === '[ipv6:::1]';
  };
}
