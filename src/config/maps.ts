/**
 * K lines (map definitions) and AliasFile specifications.
 *
 *   Kaccess hash -T<TMPF> -o /etc/mail/access
 *   O AliasFile=/etc/mail/aliases,nis:mail.aliases
 *
 * The map classes are those of Debian's sendmail build.  Classes read like a
 * database map (sendmail's map_parseargs) have their flags and file parsed;
 * the others keep their arguments as written.
 */
import type { AliasSpec, MapDef } from './types.js';
import { ValueError, isSpace } from './values.js';

interface MapClassInfo {
  /** Arguments are `-x` flags, then a file name, then a rebuild spec. */
  readonly dbArgs: boolean;
  /** A file name may be missing. */
  readonly optionalFile: boolean;
  /** Usable for aliases. */
  readonly aliasOk: boolean;
}

const CLASSES: Record<string, MapClassInfo> = {};
function define(names: string, dbArgs: boolean, optionalFile: boolean, aliasOk: boolean): void {
  for (const n of names.split(' ')) CLASSES[n] = { dbArgs, optionalFile, aliasOk };
}
define('hash btree nis nisplus text stab implicit program switch socket', true, false, true);
define('userdb', true, false, false);
define('bestmx user', true, true, false);
define('null', true, true, true);
define('ldap dns', false, true, true);
define('host dequote regex sequence syslog macro arith arpa', false, true, false);
CLASSES['sequence'] = { dbArgs: false, optionalFile: true, aliasOk: true };

/** Flags of map_parseargs, and whether the value may follow after white space. */
const DB_FLAGS = 'AaDdfkmNOoqSTtvz';

export function isMapClass(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(CLASSES, name);
}

/** Parses a K line (after K and read-time macro expansion). */
export function parseMapLine(line: string, lineNo: number): MapDef {
  let p = 0;
  while (p < line.length && isSpace(line[p]!)) p++;
  if (!/^[A-Za-z0-9]$/.test(line[p] ?? '')) throw new ValueError('readcf: config K line: no map name');
  const start = p;
  p++;
  while (p < line.length && /[A-Za-z0-9_.]/.test(line[p]!)) p++;
  const name = line.slice(start, p);
  if (p < line.length) p++; // the character that ends the name goes with it
  while (p < line.length && isSpace(line[p]!)) p++;
  if (!/^[A-Za-z0-9]$/.test(line[p] ?? '')) throw new ValueError(`readcf: config K line, map ${name}: no map class`);
  const cstart = p;
  p++;
  while (p < line.length && /[A-Za-z0-9]/.test(line[p]!)) p++;
  const mapClass = line.slice(cstart, p);
  if (p < line.length) p++;
  while (p < line.length && isSpace(line[p]!)) p++;
  const info = CLASSES[mapClass];
  if (info === undefined) throw new ValueError(`readcf: map ${name}: class ${mapClass} not available`);
  const args = line.slice(p);
  if (!info.dbArgs) return { name, mapClass, args, flags: [], file: null, line: lineNo };
  const { flags, file } = parseDbArgs(args, name);
  if (file === null && !info.optionalFile) throw new ValueError(`No file name for ${mapClass} map ${name}`);
  return { name, mapClass, args, flags, file, line: lineNo };
}

function parseDbArgs(args: string, mapName: string): { flags: { flag: string; value: string }[]; file: string | null } {
  const flags: { flag: string; value: string }[] = [];
  let p = 0;
  for (;;) {
    while (p < args.length && isSpace(args[p]!)) p++;
    if (args[p] !== '-') break;
    const flag = args[p + 1] ?? '';
    p += 2;
    if (!DB_FLAGS.includes(flag) || flag === '') throw new ValueError(`Illegal option ${flag} map ${mapName}`);
    if (flag === 'k' || flag === 'v') while (p < args.length && isSpace(args[p]!)) p++;
    const vstart = p;
    while (p < args.length && !isSpace(args[p]!)) p++;
    flags.push({ flag, value: args.slice(vstart, p) });
  }
  if (p >= args.length) return { flags, file: null };
  const fstart = p;
  while (p < args.length && !isSpace(args[p]!)) p++;
  return { flags, file: args.slice(fstart, p) };
}

/**
 * AliasFile value: comma-separated specs (commas inside double quotes do not
 * split), each `class:spec` or a plain file name (class implicit).
 */
export function parseAliasSpecs(value: string): AliasSpec[] {
  const out: AliasSpec[] = [];
  let p = 0;
  while (p < value.length) {
    while (p < value.length && isSpace(value[p]!)) p++;
    if (p >= value.length) break;
    let q = p;
    let quoted = false;
    for (; q < value.length; q++) {
      if (value[q] === '"') quoted = !quoted;
      else if (value[q] === ',' && !quoted) break;
    }
    const item = value.slice(p, q);
    p = q + 1;
    const sep = item.search(/[ ,/:]/);
    let mapClass = 'implicit';
    let spec = item;
    if (sep >= 0 && item[sep] === ':') {
      mapClass = item.slice(0, sep);
      spec = item.slice(sep + 1);
    }
    const info = CLASSES[mapClass];
    if (info === undefined) throw new ValueError(`setalias: unknown alias class ${mapClass}`);
    if (!info.aliasOk) throw new ValueError(`setalias: map class ${mapClass} can't handle aliases`);
    out.push({ mapClass, spec });
  }
  return out;
}
