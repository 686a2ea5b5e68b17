/**
 * `-d0.1`: the version, the features of this build and the system identity
 * after the configuration is read, in the layout of sendmail's report.
 * Postern gives its own version: scripts that read it should learn what
 * they are talking to.
 */
import type { SystemIdentity } from '../common/identity.js';
import type { Config } from '../config/index.js';
import { POSTERN_VERSION } from './modes.js';

/** Features present in this build, named as sendmail's compile options are. */
const FEATURES = ['LOG'];

/** True when a -d list turns on category 0 at level 1 or more (`-d0.1`, `-d0-99.1`, bare `-d`). */
export function wantsVersionReport(debug: readonly string[]): boolean {
  for (const spec of debug) {
    for (const item of spec.split(',')) {
      const m = /^(\d*)(?:-(\d*))?(?:\.(\d+))?$/.exec(item);
      if (m === null) continue;
      const from = m[1] === '' ? 0 : Number(m[1]);
      const level = m[3] === undefined ? 1 : Number(m[3]);
      if (from === 0 && level >= 1) return true;
    }
  }
  return false;
}

export function versionReport(config: Config, id: SystemIdentity): string[] {
  const macro = (name: string, fallback: string) => config.macros.get(name) ?? fallback;
  return [
    `Version ${POSTERN_VERSION} (Postern)`,
    ` Compiled with: ${FEATURES.join(' ')}`,
    '',
    '============ SYSTEM IDENTITY (after readcf) ============',
    `      (short domain name) $w = ${macro('w', id.shortName)}`,
    `  (canonical domain name) $j = ${macro('j', id.canonicalName)}`,
    `         (subdomain name) $m = ${macro('m', id.domain)}`,
    `              (node name) $k = ${macro('k', id.nodeName)}`,
    '========================================================',
    '',
  ];
}
