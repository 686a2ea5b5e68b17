/**
 * The alias database: building it (newaliases) and looking names up.
 *
 * Each AliasFile is a text file (`/etc/mail/aliases`) and its database
 * (`/etc/mail/aliases.db`, Postern's map format, src/maps/map-file.ts).  The
 * database is built whole and renamed into place, and ends with sendmail's
 * `@` → `@` entry, which marks a finished database (sendmail's AliasWait
 * waits for it; a Postern database always has it, since it only appears by
 * rename, but one copied in by hand might not).
 *
 * Look-ups, as sendmail's "implicit" alias class does them:
 *   - the database when there is one; when it is older than the text file
 *     (or lacks `@`), it is still used, and a warning says
 *     `alias database /etc/mail/aliases.db out of date` (sendmail logs that
 *     and carries on; it does not rebuild by itself since 8.12);
 *   - no database, or one that is not Postern's (a Berkeley DB file left by
 *     sendmail): the text file, parsed as newaliases would;
 *   - several AliasFiles: the first that has the name wins.
 * `hash:` and `btree:` specs use the database only.  A source that cannot
 * be read (no database for `hash:`, no text file for an implicit spec) is
 * passed over, but a name found nowhere then throws
 * ALIAS_DATABASE_UNAVAILABLE, so that mail is deferred rather than bounced
 * ("alias database unavailable", as sendmail defers it).  Other classes
 * (nis, ldap, ...) are not supported and are skipped with a warning.
 */
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ERR, PosternError } from '../../common/errors.js';
import type { AliasSpec, Config } from '../../config/index.js';
import { buildMap, isMapFile, mapFilePath, openMap, type MapReader, type MapType } from '../../maps/map-file.js';
import { localDomainPredicate } from './local-names.js';
import { parseAliases, type AliasParseOptions, type ParsedAliases } from './parse.js';
import { splitAddressList } from './targets.js';

/** The key whose presence marks a complete alias database. */
export const SENTINEL = '@';

export interface AliasSource {
  readonly file: string;
  readonly from: 'database' | 'text' | 'unavailable' | 'unsupported';
  readonly reason?: string;
}

export interface AliasDatabase {
  /** The right-hand side of `name`, split into its items; undefined when `name` is not an alias. */
  lookup(name: string): string[] | undefined;
  /** The right-hand side as written. */
  value(name: string): string | undefined;
  readonly sources: readonly AliasSource[];
  /** What sendmail would log on opening: `alias database /etc/mail/aliases.db out of date`, ... */
  readonly warnings: readonly string[];
  close(): void;
}

export interface OpenAliasOptions extends Partial<AliasParseOptions> {}

/** The text file an AliasFile spec names (its last word: map flags may precede it). */
export function aliasSpecFile(spec: AliasSpec): string {
  const words = spec.spec.trim().split(/\s+/);
  return words[words.length - 1] ?? spec.spec;
}

function mtimeSeconds(path: string): number | undefined {
  try {
    return Math.floor(statSync(path).mtimeMs / 1000);
  } catch {
    return undefined;
  }
}

interface Source {
  readonly info: AliasSource;
  get(name: string): string | undefined;
  close(): void;
}

function textSource(file: string, options: AliasParseOptions, reason?: string): Source {
  let parsed: ParsedAliases;
  try {
    parsed = parseAliases(readFileSync(file), options);
  } catch (e) {
    return unavailable(file, `cannot open ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const table = new Map<string, string>();
  for (const e of parsed.entries) table.set(e.name, e.value);
  return { info: { file, from: 'text', ...(reason ? { reason } : {}) }, get: (n) => table.get(n), close: () => {} };
}

function unavailable(file: string, reason: string): Source {
  return {
    info: { file, from: 'unavailable', reason },
    get: () => {
      throw new PosternError(ERR.ALIAS_DATABASE_UNAVAILABLE, 'alias database unavailable');
    },
    close: () => {},
  };
}

function openSource(spec: AliasSpec, options: AliasParseOptions, warnings: string[]): Source | undefined {
  const file = aliasSpecFile(spec);
  if (!['implicit', 'hash', 'btree'].includes(spec.mapClass)) {
    warnings.push(`alias map class ${spec.mapClass} is not supported by Postern: ${spec.mapClass}:${spec.spec} ignored`);
    return undefined;
  }
  const dbFile = mapFilePath(file);
  let reader: MapReader | undefined;
  if (isMapFile(dbFile)) {
    try {
      reader = openMap(dbFile, { foldCase: true });
    } catch (e) {
      warnings.push(`alias database ${dbFile}: ${(e as Error).message}`);
    }
  }
  if (reader === undefined) {
    if (spec.mapClass !== 'implicit') return unavailable(file, `no usable database ${dbFile}`);
    return textSource(file, options, `no usable database ${dbFile}`);
  }
  const textTime = mtimeSeconds(file);
  const dbTime = mtimeSeconds(dbFile);
  if (reader.get(SENTINEL) === undefined || (textTime !== undefined && dbTime !== undefined && dbTime < textTime)) {
    warnings.push(`alias database ${dbFile} out of date`);
  }
  const r = reader;
  return { info: { file, from: 'database' }, get: (n) => r.get(n), close: () => r.close() };
}

/** Opens every AliasFile of the configuration for look-ups. */
export function openAliases(config: Config, options: OpenAliasOptions = {}): AliasDatabase {
  const parseOptions: AliasParseOptions = {
    isLocalDomain: options.isLocalDomain ?? localDomainPredicate(config),
    blankSub: options.blankSub ?? config.options.BlankSub,
  };
  const warnings: string[] = [];
  const sources = config.options.AliasFile.flatMap((spec) => openSource(spec, parseOptions, warnings) ?? []);
  const value = (name: string): string | undefined => {
    const key = name.replace(/[A-Z]+/g, (m) => m.toLowerCase());
    if (key === SENTINEL) return undefined;
    // as sendmail's sequence map: an unavailable source is passed over, and
    // matters only when no other source has the name
    let failure: unknown;
    for (const s of sources) {
      try {
        const v = s.get(key);
        if (v !== undefined) return v;
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
    return undefined;
  };
  return {
    lookup(name) {
      const v = value(name);
      return v === undefined ? undefined : splitAddressList(v);
    },
    value,
    sources: sources.map((s) => s.info),
    warnings,
    close() {
      for (const s of sources) s.close();
    },
  };
}

/**
 * Rebuilds the database of one alias text file.  Returns what the text
 * held (entries, problems, statistics); throws what reading the text or
 * writing the database throws (ENOENT, EACCES...), before anything is
 * replaced.
 */
export function rebuildAliasDatabase(file: string, options: AliasParseOptions & { readonly type?: MapType }): ParsedAliases {
  const parsed = parseAliases(readFileSync(file), options);
  buildMap(file, { type: options.type ?? 'hash', source: file }, (writer) => {
    for (const e of parsed.entries) writer.put(e.name, e.value, 'replace');
    writer.put(SENTINEL, SENTINEL, 'replace');
  });
  return parsed;
}

/**
 * sendmail's AliasWait: waits until the database has its `@` entry, at most
 * `seconds`, re-opening it between tries (2 s, doubling, at most 60 s).
 * Resolves true when the entry is there.
 */
export async function waitForAliasDatabase(file: string, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  let pause = 2000;
  for (;;) {
    try {
      const reader = openMap(mapFilePath(file), { watch: false });
      try {
        if (reader.get(SENTINEL) !== undefined) return true;
      } finally {
        reader.close();
      }
    } catch {
      // not there yet
    }
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(pause, Math.max(0, deadline - Date.now())));
    pause = Math.min(pause * 2, 60_000);
  }
}
