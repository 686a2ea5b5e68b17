/**
 * `makemap [-N] [-c cachesize] [-d] [-e] [-f] [-l] [-o] [-r] [-s] [-t delim]
 * [-u] [-v] [-D commentchar] [-C cf] [-i type] type mapname < text`:
 * sendmail's makemap, building Postern's map files (map-file.ts).
 *
 * Input, as makemap.c reads it: lines of at most 1023 bytes (its 1024-byte
 * fgets buffer; the rest of a longer line is read as the next "line", and
 * counts as one); blank lines and lines starting with the comment character
 * skipped; the key runs to the first blank (or -t character), folded to
 * lower case unless -f; the value is the rest after the separators, kept as
 * it is (trailing blanks and a CR included).  Problems go to standard error
 * as `makemap: MAP: line N: ...` and exit 65; the map is built all the same.
 *
 * Types: hash and btree (implicit means hash; btree dumps in key order, hash
 * in input order); dbm and cdb are refused as a build without them refuses
 * them.  As root, makemap reads sendmail.cf (-C) for TrustedUser, who then
 * owns the map, and for the map's type when the type given is `cf`/`CF`.
 */
import { accessSync, constants, existsSync, readFileSync, statSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { errnoText } from '../config/values.js';
import { ERR } from '../common/errors.js';
import { EX } from '../common/sysexits.js';
import { lookupUser } from '../privsep/passwd.js';
import { standardInput } from '../msp/stdin.js';
import { parseMakemapArgs, usageLines, type MakemapOptions } from './makemap-args.js';
import { buildMap, mapFilePath, openMap, type MapType, type OnDuplicate } from './map-file.js';

export interface MakemapIO {
  readonly stdin: () => Promise<Buffer>;
  readonly stdout: (data: Buffer | string) => void;
  readonly stderr: (line: string) => void;
  /** Effective uid: root reads sendmail.cf. */
  readonly euid: number;
}

const SUPPORTED: readonly string[] = ['hash', 'btree', 'implicit'];
/** Types sendmail's makemap knows but Postern builds no file for: the hint sendmail prints. */
const NOT_BUILT: Readonly<Record<string, string>> = { dbm: 'NDBM', cdb: 'CDB' };
const LINE_BUFFER = 1024;
const DEFAULT_CF = '/etc/mail/sendmail.cf';

function processIO(): MakemapIO {
  const write = (fd: number, data: Buffer | string) => {
    const b = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < b.length; ) off += writeSync(fd, b, off);
  };
  return {
    stdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of standardInput()) chunks.push(Buffer.from(c));
      return Buffer.concat(chunks);
    },
    stdout: (d) => write(1, d),
    stderr: (l) => write(2, `${l}\n`),
    euid: process.geteuid?.() ?? 0,
  };
}

export async function makemapMain(argv0: string, args: readonly string[], io: MakemapIO = processIO()): Promise<number> {
  const progname = basename(argv0);
  const parsed = parseMakemapArgs(argv0, args);
  for (const line of parsed.stderr) io.stderr(line);
  const o = parsed.options;
  if (o.list !== undefined) {
    const types = o.list === 'x' ? ['hash:db', 'btree:db', 'implicit:'] : [...SUPPORTED];
    io.stdout(`${(o.list === 'L' ? ['cf', 'CF', ...types] : types).join('\n')}\n`);
    return EX.OK;
  }
  if (parsed.usage) {
    for (const line of usageLines(progname)) io.stderr(line);
    return EX.USAGE;
  }
  let type = o.operands[0]!;
  const mapname = o.operands[1]!;
  const cfFile = o.cfFile ?? DEFAULT_CF;
  let trustedUid: number | undefined;
  const fromCf = type.toLowerCase() === 'cf';
  if (io.euid === 0 || fromCf) {
    let cf: string;
    try {
      cf = readFileSync(cfFile, 'latin1');
    } catch (e) {
      io.stderr(`makemap: ${cfFile}: ${errnoText(e)}`);
      return EX.NOINPUT;
    }
    trustedUid = trustedUserOf(cf, io);
    if (fromCf) {
      const found = mapClassFromCf(cf, mapname, type === 'cf');
      if (found === undefined) {
        if (o.fallbackType === undefined || o.fallbackType === '') {
          io.stderr(`${progname}: mapfile ${mapname}: not found in ${cfFile}`);
          return ERR.MAP_INPUT.exit;
        }
        if (o.verbose) io.stderr(`${progname}: mapfile ${mapname}: not found in ${cfFile}, using fallback ${o.fallbackType}`);
        type = o.fallbackType;
      } else {
        type = found;
      }
    }
  }
  const opening = (reason: string) => {
    io.stderr(`${progname}: error opening type ${type} map ${mapname}: ${reason}`);
    return ERR.MAP_CANNOT_OPEN.exit;
  };
  if (NOT_BUILT[type] !== undefined) {
    io.stderr(`${progname}: Need to recompile with -D${NOT_BUILT[type]} for ${type} support`);
    return ERR.MAP_UNSUPPORTED_TYPE.exit;
  }
  if (!SUPPORTED.includes(type)) {
    io.stderr(`${progname}: error opening type ${type} map ${mapname}: Unknown database type`);
    return ERR.MAP_UNSUPPORTED_TYPE.exit;
  }
  const mapType: MapType = type === 'btree' ? 'btree' : 'hash';
  if (o.unmake) return dump(mapname, mapType, o, io, opening);

  const file = mapFilePath(mapname);
  try {
    accessSync(dirname(file), constants.W_OK);
    if (o.append) statSync(file);
  } catch (e) {
    return opening(errnoText(e));
  }
  const input = await io.stdin();
  let status: number = EX.OK;
  try {
    const owner = trustedUid === undefined || trustedUid === 0 ? undefined : { uid: trustedUid, gid: existsSync(file) ? statSync(file).gid : 0 };
    buildMap(mapname, { type: mapType, append: o.append, ...(owner ? { owner } : {}) }, (writer) => {
      status = loadLines(input, o, (message) => io.stderr(`${progname}: ${mapname}: ${message}`), (key, value) => {
        if (o.verbose) io.stdout(Buffer.concat([Buffer.from('key=`'), stripNul(key), Buffer.from("', val=`"), stripNul(value), Buffer.from("'\n")]));
        const onDuplicate: OnDuplicate = o.allowDuplicates ? 'add' : o.replace ? 'replace' : 'keep';
        return writer.put(key, value, onDuplicate) || onDuplicate !== 'keep';
      });
    });
  } catch (e) {
    return opening(errnoText(e));
  }
  return status;
}

const stripNul = (b: Buffer) => (b.length > 0 && b[b.length - 1] === 0 ? b.subarray(0, -1) : b);

function isSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/**
 * Reads makemap's input lines and hands each key and value to `put` (false:
 * a duplicate key).  Returns the exit status (0, or 65 after any problem).
 */
export function loadLines(input: Buffer, o: MakemapOptions, complain: (message: string) => void, put: (key: Buffer, value: Buffer) => boolean): number {
  let status: number = EX.OK;
  const sep = o.separator === undefined ? undefined : Buffer.from(o.separator, 'latin1')[0]!;
  const isSep = (b: number) => (sep === undefined ? isSpace(b) : b === sep);
  const comment = o.comment === '' ? undefined : Buffer.from(o.comment, 'latin1')[0];
  let offset = 0;
  let lineno = 0;
  while (offset < input.length) {
    // one fgets(buf, 1024): up to and including a newline, at most 1023 bytes
    const newline = input.indexOf(0x0a, offset);
    const limit = Math.min(input.length, offset + LINE_BUFFER - 1);
    const end = newline >= 0 && newline < limit ? newline + 1 : limit;
    let line = input.subarray(offset, end);
    offset = end;
    lineno++;
    if (line[line.length - 1] === 0x0a) line = line.subarray(0, -1);
    else if (line.length === LINE_BUFFER - 1) {
      complain(`line ${lineno}: line too long (${LINE_BUFFER} bytes max)`);
      status = ERR.MAP_INPUT.exit;
      continue;
    }
    if (line.length === 0 || line[0] === comment) continue;
    if (sep === undefined && isSpace(line[0]!)) {
      complain(`line ${lineno}: syntax error (leading space)`);
      status = ERR.MAP_INPUT.exit;
      continue;
    }
    let p = 0;
    const key = Buffer.from(line);
    while (p < key.length && !isSep(key[p]!)) {
      if (o.foldCase && key[p]! >= 0x41 && key[p]! <= 0x5a) key[p] = key[p]! + 0x20;
      p++;
    }
    const keyBytes = key.subarray(0, p);
    const keyText = keyBytes.toString('latin1');
    if (p < key.length) p++;
    while (p < key.length && isSep(key[p]!)) p++;
    if (!o.allowEmpty && p >= key.length) {
      complain(`line ${lineno}: no RHS for LHS ${keyText}`);
      status = ERR.MAP_INPUT.exit;
      continue;
    }
    const value = key.subarray(p);
    const nul = Buffer.from([0]);
    const ok = put(o.includeNull ? Buffer.concat([keyBytes, nul]) : keyBytes, o.includeNull ? Buffer.concat([value, nul]) : value);
    if (!ok) {
      complain(`line ${lineno}: key ${keyText}: duplicate key`);
      status = ERR.MAP_INPUT.exit;
    }
  }
  return status;
}

function dump(mapname: string, type: MapType, o: MakemapOptions, io: MakemapIO, opening: (reason: string) => number): number {
  let reader;
  try {
    reader = openMap(mapname, { foldCase: false, watch: false });
  } catch (e) {
    const text = (e as Error).message;
    return opening(text.includes('No such file') ? 'No such file or directory' : text.replace(/^[^:]*: /, ''));
  }
  try {
    if (reader.type !== type) return opening('Invalid argument');
    const sep = Buffer.from(o.separator ?? '\t', 'latin1');
    const nl = Buffer.from('\n');
    const chunks: Buffer[] = [];
    // printf's %.*s: a stored NUL (makemap -N) ends what is printed
    const upToNul = (b: Buffer) => (b.indexOf(0) >= 0 ? b.subarray(0, b.indexOf(0)) : b);
    for (const e of reader.entries()) chunks.push(upToNul(e.key), sep, upToNul(e.value), nl);
    io.stdout(Buffer.concat(chunks));
    return EX.OK;
  } finally {
    reader.close();
  }
}

/** makemap's reading of `O TrustedUser=` in sendmail.cf: a uid, or a name looked up. */
function trustedUserOf(cf: string, io: MakemapIO): number | undefined {
  let uid: number | undefined;
  for (const line of cf.split('\n')) {
    const m = /^O TrustedUser(?![A-Za-z0-9])[^=]*=\s*(.*)$/i.exec(line);
    if (m === null) continue;
    const who = m[1]!.trim();
    if (/^\d/.test(who)) uid = parseInt(who, 10);
    else {
      uid = lookupUser(who)?.uid;
      if (uid === undefined) io.stderr(`TrustedUser: unknown user ${who}`);
    }
  }
  return uid;
}

/** The class of the first K line whose file is mapname (`CF`: compare base names without extension). */
function mapClassFromCf(cf: string, mapname: string, fullPath: boolean): string | undefined {
  const wanted = fullPath ? mapname : basename(mapname).replace(/\.[^.]*$/, '');
  for (const line of cf.split('\n')) {
    const m = /^K\s*[A-Za-z0-9][A-Za-z0-9_.]*\s+([A-Za-z0-9]+)\s.*?(\S+)\s*$/.exec(line);
    if (m === null) continue;
    const file = fullPath ? m[2]! : basename(m[2]!).replace(/\.[^.]*$/, '');
    if (file === wanted) return m[1];
  }
  return undefined;
}
