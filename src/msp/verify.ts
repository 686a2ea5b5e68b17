/**
 * `sendmail -bv addr...`: where each address would go, in sendmail's words,
 * without sending anything:
 *
 *   nosuch... User unknown
 *   bob... deliverable: mailer local, user bob
 *   "|/bin/true"... deliverable: mailer prog, user |/bin/true
 *   /tmp/x... deliverable: mailer *file*, user /tmp/x
 *   someone@remote.example... deliverable: mailer esmtp, host remote.example, user someone@remote.example
 *
 * Aliases are expanded (their targets are listed, duplicates once); failures
 * are printed as they are met, the deliverable addresses after them, and the
 * exit status is 67 (EX_NOUSER) when any address fails, as sendmail's.  An
 * ordinary user gets sendmail's notice, then sendmail's refusal of the queue
 * directory it cannot enter.  .forward files are not followed here (they are
 * read as their owner, by the delivery broker, at delivery).
 */
import { accessSync, constants } from 'node:fs';
import { systemIdentity } from '../common/identity.js';
import { EX } from '../common/sysexits.js';
import type { Config } from '../config/index.js';
import { openAliases, resolveAliases, splitAddressList, type ResolvedTarget } from '../delivery/aliases/index.js';
import { bareAddress, localDomains, route } from '../delivery/route.js';
import { lookupUser } from '../privsep/passwd.js';
import type { Output } from './output.js';
import { cannotEnterQueue } from './queue-access.js';

/** The deliverable line of one final target, or its failure. */
function describe(target: ResolvedTarget, local: ReadonlySet<string>, smartHost: string): { ok: string; key: string } | { failed: string } {
  const t = target.target;
  switch (t.kind) {
    case 'program':
      return { ok: `"|${t.command}"... deliverable: mailer prog, user |${t.command}`, key: `|${t.command}` };
    case 'file':
      return { ok: `${t.path}... deliverable: mailer *file*, user ${t.path}`, key: t.path };
    case 'include':
      return { ok: `:include:${t.path}... deliverable: mailer *include*, user :include:${t.path}`, key: `:include:${t.path}` };
    case 'error':
      return { failed: `error:${t.status !== undefined ? `${t.status}:` : ''}${t.text}... User unknown` };
    case 'address': {
      const where = route(t.address, local);
      switch (where.kind) {
        case 'local':
          return { ok: `${t.address}... deliverable: mailer local, user ${where.user}`, key: `local:${where.user}` };
        case 'unknown-user':
          return { failed: `${t.address}... User unknown` };
        case 'remote':
          return smartHost !== ''
            ? { ok: `${t.address}... deliverable: mailer relay, host ${smartHost}, user ${bareAddress(t.address)}`, key: bareAddress(t.address).toLowerCase() }
            : { ok: `${t.address}... deliverable: mailer esmtp, host ${where.domain}, user ${bareAddress(t.address)}`, key: bareAddress(t.address).toLowerCase() };
        default:
          return { ok: `${t.address}... deliverable: mailer local, user ${t.address}`, key: t.address };
      }
    }
  }
}

function hostOf(line: string): string {
  return (/, host ([^,]+),/.exec(line)?.[1] ?? '').toLowerCase();
}

export function verifyAddresses(operands: readonly string[], config: Config, out: Output): number {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) {
    out.stdout('Notice: -bv may give misleading output for non-privileged user');
    const dir = config.options.QueueDirectory;
    if (dir !== null) {
      try {
        accessSync(dir, constants.X_OK);
      } catch (e) {
        return cannotEnterQueue(dir, e, out);
      }
    }
  }
  const local = localDomains(config, systemIdentity());
  const aliases = openAliases(config);
  const smartHost = (config.macros.get('S') ?? '').replace(/^[a-z0-9]+:/i, '');
  const deliverable: Array<{ line: string; host: string }> = [];
  const seen = new Set<string>();
  let failed = false;
  try {
    for (const address of operands.flatMap((o) => splitAddressList(o))) {
      let resolution;
      try {
        resolution = resolveAliases(address, (name) => aliases.lookup(name), {
          isLocalDomain: (d) => local.has(d.toLowerCase()),
          isUser: (n) => lookupUser(n) !== undefined,
        });
      } catch (e) {
        out.stdout(`${address}... ${e instanceof Error ? e.message : String(e)}`);
        failed = true;
        continue;
      }
      for (const e of resolution.errors) {
        out.stdout(`${e.address}... ${e.error.message}`);
        failed = true;
      }
      for (const target of resolution.targets) {
        const line = describe(target, local, smartHost);
        if ('failed' in line) {
          out.stdout(line.failed);
          failed = true;
        } else if (!seen.has(line.key)) {
          seen.add(line.key);
          deliverable.push({ line: line.ok, host: hostOf(line.ok) });
        }
      }
    }
  } finally {
    aliases.close();
  }
  // sendmail's send queue is kept sorted by host (sorthost), local mailers (no host) first,
  // each group in the order its addresses were met
  const sorted = deliverable.map((d, i) => ({ ...d, i })).sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.i - b.i));
  for (const d of sorted) out.stdout(d.line);
  return failed ? EX.NOUSER : EX.OK;
}
