/**
 * Frozen configurations.  `sendmail -t` reads submit.cf at every start, and
 * cron and PHP start it thousands of times: parsing the file was 2 of the
 * 12 ms a submission spent beyond Node's own start.  So a run as root (the
 * daemon as it starts, src/msp/all-modes.ts, or a submission) that parses a
 * .cf cleanly leaves the parse beside it, `submit.cf` →
 * `submit.fc` (sendmail 8.6 had frozen configurations, `-bz`, under that
 * name), and later submissions take it instead of parsing, when
 *   - it is a regular file owned by root and writable by no one else, in the
 *     .cf's own directory (whose path openConfigFile() found safe), opened
 *     without following a link;
 *   - this very build made it (the parser's code is part of what it holds);
 *   - the .cf's path and text, and every file the parse read (F lines' class
 *     files: their text, or that they were missing), are the same now.
 * Anything else, or any error reading it, means parsing as before.  As it
 * is readable by all, it is made only of files anyone could read (the .cf
 * and class files world-readable, under directories anyone may search).  It
 * holds the parse of the file alone: loadConfig() applies the command
 * line's options and finishConfig() afterwards (see FROZEN_OPTIONS).
 */
import { chmodSync, closeSync, constants, fstatSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Inputs } from './inputs.js';
import type { Config } from './types.js';

interface FrozenFile {
  readonly build: string;
  readonly path: string;
  readonly text: string;
  readonly inputs: ReadonlyArray<readonly [string, string | null]>;
  /** the configuration as JSON holds it: each Map as its entries, each Set as its values */
  readonly config: unknown;
  /** where those Maps and Sets were, innermost first */
  readonly containers: ReadonlyArray<readonly [Path, 'Map' | 'Set']>;
}

type Path = ReadonlyArray<string | number>;

/** `/etc/mail/submit.cf` → `/etc/mail/submit.fc`; a name not ending in .cf gets .fc added. */
export function frozenPath(cfPath: string): string {
  return cfPath.endsWith('.cf') ? `${cfPath.slice(0, -3)}.fc` : `${cfPath}.fc`;
}

/** The configuration frozen for this .cf text, or null when there is none to trust. */
export function thaw(cfPath: string, text: string, build: string): Config | null {
  let fd: number;
  try {
    fd = openSync(frozenPath(cfPath), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== 0 || (st.mode & 0o022) !== 0) return null;
    const frozen = JSON.parse(readFileSync(fd, 'utf8')) as FrozenFile;
    if (frozen.build !== build || frozen.path !== cfPath || frozen.text !== text) return null;
    for (const [file, was] of frozen.inputs) if (currentText(file) !== was) return null;
    return rebuild(frozen.config, frozen.containers) as Config;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Leaves the parse beside the .cf, when running as root (the only writer
 * thaw() trusts).  Best effort: a directory root cannot write, or a
 * configuration the file format cannot hold exactly, leaves nothing.
 */
export function freeze(cfPath: string, text: string, inputs: Inputs, config: Config, build: string): void {
  if (process.getuid?.() !== 0 || inputs.unfreezable) return;
  // what it holds may be read by anyone: only what anyone could read already
  if (![cfPath, ...[...inputs.files].filter(([, was]) => was !== null).map(([file]) => file)].every(readableByAll)) return;
  const containers: Array<[Path, 'Map' | 'Set']> = [];
  const plain = flatten(config, [], containers);
  const encoded = JSON.stringify(plain);
  if (!isDeepStrictEqual(rebuild(JSON.parse(encoded), containers), config)) return;
  const frozen = `{"build":${JSON.stringify(build)},"path":${JSON.stringify(cfPath)},"text":${JSON.stringify(text)},"inputs":${JSON.stringify([...inputs.files])},"containers":${JSON.stringify(containers)},"config":${encoded}}`;
  const target = frozenPath(cfPath);
  const temporary = join(dirname(target), `.${basename(target)}.${process.pid}`);
  try {
    writeFileSync(temporary, frozen, { mode: 0o644, flag: 'wx' });
    // whatever root's umask: the submissions of every user read it
    chmodSync(temporary, 0o644);
    renameSync(temporary, target);
  } catch {
    try {
      unlinkSync(temporary);
    } catch {
      // nothing was written
    }
  }
}

/** A world-readable file under directories anyone may search. */
function readableByAll(file: string): boolean {
  try {
    if ((statSync(file).mode & 0o004) === 0) return false;
    for (let dir = dirname(resolve(file)); ; dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) return false;
      if (dirname(dir) === dir) return true;
    }
  } catch {
    return false;
  }
}

function currentText(file: string): string | null | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? null : undefined;
  }
}

// JSON has no Map or Set: they are written as arrays (a Map's entries, a Set's
// values) and their paths listed, innermost first, so that thawing converts just
// them instead of walking every value (measured: 0.25 against 0.5 ms, cold).
// freeze() checks that what it wrote reads back equal, so a configuration holding
// anything else JSON cannot keep (undefined, a class instance) is never frozen.

function flatten(value: unknown, path: Path, containers: Array<[Path, 'Map' | 'Set']>): unknown {
  let out: unknown;
  if (value instanceof Map) {
    out = [...value].map(([k, v], i) => [k, flatten(v, [...path, i, 1], containers)]);
    containers.push([path, 'Map']);
  } else if (value instanceof Set) {
    out = [...value].map((v, i) => flatten(v, [...path, i], containers));
    containers.push([path, 'Set']);
  } else if (Array.isArray(value)) {
    out = value.map((v, i) => flatten(v, [...path, i], containers));
  } else if (value !== null && typeof value === 'object') {
    const record: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) record[k] = flatten(v, [...path, k], containers);
    out = record;
  } else {
    out = value;
  }
  return out;
}

function rebuild(plain: unknown, containers: FrozenFile['containers']): unknown {
  const holder: Record<string | number, unknown> = { root: plain };
  for (const [path, kind] of containers) {
    let parent = holder;
    let key: string | number = 'root';
    for (const step of path) {
      parent = parent[key] as Record<string | number, unknown>;
      key = step;
    }
    const items = parent[key] as Iterable<never>;
    parent[key] = kind === 'Map' ? new Map(items) : new Set(items);
  }
  return holder['root'];
}
