/**
 * The milter wire protocol, version 6, as sendmail 8.17's MTA side speaks
 * it: every packet is a 4-byte big-endian length (the command byte
 * included), one command byte, then the command's data.  Names follow
 * libmilter's mfdef.h / mfapi.h so that the code reads against its docs.
 */

/** The protocol version the MTA offers (SMFI_PROT_VERSION). */
export const SMFI_PROT_VERSION = 6;
/** Body chunks are at most this long (MILTER_CHUNK_SIZE). */
export const MILTER_CHUNK_SIZE = 65535;
/**
 * The largest packet data either side may send (MILTER_MAX_DATA_SIZE).
 * Debian builds sendmail without _FFR_MDS_NEGOTIATE, so it never offers the
 * 256K / 1M sizes, and a reply longer than this is a protocol error.
 */
export const MILTER_MAX_DATA_SIZE = 65535;

/** Commands, MTA to filter. */
export const SMFIC = {
  ABORT: 'A',
  BODY: 'B',
  CONNECT: 'C',
  MACRO: 'D',
  BODYEOB: 'E',
  HELO: 'H',
  QUIT_NC: 'K',
  HEADER: 'L',
  MAIL: 'M',
  EOH: 'N',
  OPTNEG: 'O',
  QUIT: 'Q',
  RCPT: 'R',
  DATA: 'T',
  UNKNOWN: 'U',
} as const;

/** Replies and actions, filter to MTA. */
export const SMFIR = {
  ADDRCPT: '+',
  DELRCPT: '-',
  ADDRCPT_PAR: '2',
  SHUTDOWN: '4',
  ACCEPT: 'a',
  REPLBODY: 'b',
  CONTINUE: 'c',
  DISCARD: 'd',
  CHGFROM: 'e',
  CONN_FAIL: 'f',
  ADDHEADER: 'h',
  INSHEADER: 'i',
  SETSYMLIST: 'l',
  CHGHEADER: 'm',
  PROGRESS: 'p',
  QUARANTINE: 'q',
  REJECT: 'r',
  SKIP: 's',
  TEMPFAIL: 't',
  REPLYCODE: 'y',
} as const;

/** Actions a filter may ask for (SMFIF_*), negotiated at OPTNEG. */
export const SMFIF = {
  ADDHDRS: 0x001,
  CHGBODY: 0x002,
  ADDRCPT: 0x004,
  DELRCPT: 0x008,
  CHGHDRS: 0x010,
  QUARANTINE: 0x020,
  CHGFROM: 0x040,
  ADDRCPT_PAR: 0x080,
  SETSYMLIST: 0x100,
} as const;
/** Every action this MTA allows (SMFI_CURR_ACTS). */
export const SMFI_CURR_ACTS = 0x1ff;

/** Protocol steps a filter may leave out or not answer (SMFIP_*). */
export const SMFIP = {
  NOCONNECT: 0x000001,
  NOHELO: 0x000002,
  NOMAIL: 0x000004,
  NORCPT: 0x000008,
  NOBODY: 0x000010,
  NOHDRS: 0x000020,
  NOEOH: 0x000040,
  NR_HDR: 0x000080,
  NOUNKNOWN: 0x000100,
  NODATA: 0x000200,
  SKIP: 0x000400,
  RCPT_REJ: 0x000800,
  NR_CONN: 0x001000,
  NR_HELO: 0x002000,
  NR_MAIL: 0x004000,
  NR_RCPT: 0x008000,
  NR_DATA: 0x010000,
  NR_UNKN: 0x020000,
  NR_EOH: 0x040000,
  NR_BODY: 0x080000,
  HDR_LEADSPC: 0x100000,
} as const;
/** Every protocol bit this MTA offers (SMFI_CURR_PROT). */
export const SMFI_CURR_PROT = 0x1fffff;

/** Macro stages (SMFIM_*): the index a filter uses in its OPTNEG macro lists. */
export const SMFIM = { connect: 0, helo: 1, envfrom: 2, envrcpt: 3, data: 4, eom: 5, eoh: 6 } as const;
export type MacroStage = keyof typeof SMFIM;

/** Address families in SMFIC_CONNECT. */
export const SMFIA = { UNKNOWN: 'U', UNIX: 'L', INET: '4', INET6: '6' } as const;

/** One packet: the command byte and its data. */
export interface Packet {
  readonly cmd: string;
  readonly data: Buffer;
}

/** The bytes of one packet. */
export function encodePacket(cmd: string, data: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(data.length + 1, 0);
  head.write(cmd, 4, 'latin1');
  return data.length === 0 ? head : Buffer.concat([head, data]);
}

/** NUL-terminated strings, one after another (the form of most command data). */
export function cstrings(...parts: readonly string[]): Buffer {
  return Buffer.from(parts.map((p) => p + '\0').join(''), 'latin1');
}

/**
 * Splits data into its NUL-terminated strings.  A trailing piece without
 * its NUL is kept (sendmail's milter_split_response does the same).
 */
export function splitCStrings(data: Buffer): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === 0) {
      out.push(data.toString('latin1', start, i));
      start = i + 1;
    }
  }
  if (start < data.length) out.push(data.toString('latin1', start));
  return out;
}

/** The OPTNEG data the MTA sends: version, actions, protocol steps. */
export function optnegData(version = SMFI_PROT_VERSION, actions = SMFI_CURR_ACTS, protocol = SMFI_CURR_PROT): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(version, 0);
  b.writeUInt32BE(actions, 4);
  b.writeUInt32BE(protocol >>> 0, 8);
  return b;
}

/** What a filter answered at OPTNEG. */
export interface Negotiated {
  readonly version: number;
  readonly actions: number;
  readonly protocol: number;
  /** macro lists the filter asked for, by stage (smfi_setsymlist) */
  readonly macros: Partial<Record<MacroStage, string[]>>;
}

const STAGE_BY_INDEX = Object.fromEntries(Object.entries(SMFIM).map(([k, v]) => [v, k])) as Record<number, MacroStage>;

/** Decodes a filter's OPTNEG reply; returns an error text (sendmail's log words) when it is not usable. */
export function decodeOptneg(data: Buffer): Negotiated | { error: string } {
  if (data.length < 4) return { error: 'did not return valid info' };
  if (data.length < 12) return { error: 'did not return enough info' };
  const version = data.readUInt32BE(0);
  const actions = data.readUInt32BE(4);
  const protocol = data.readUInt32BE(8);
  const macros: Partial<Record<MacroStage, string[]>> = {};
  // what follows is (stage index, NUL-terminated list) pairs; an unknown index ends the list as in milter_getsymlist
  let p = 12;
  while (p + 4 < data.length) {
    const stage = STAGE_BY_INDEX[data.readUInt32BE(p)];
    if (stage === undefined) break;
    p += 4;
    let end = data.indexOf(0, p);
    if (end < 0) end = data.length;
    macros[stage] = splitMacroList(data.toString('latin1', p, end));
    p = end + 1;
  }
  return { version, actions, protocol, macros };
}

/** A macro list as milter_set_macros reads it: names separated by commas or white space. */
export function splitMacroList(text: string): string[] {
  return text.split(/[\s,]+/).filter((s) => s !== '');
}

/** Names of commands and replies, for log lines. */
export function printable(cmd: string): string {
  return /^[\x21-\x7e]$/.test(cmd) ? cmd : `\\x${cmd.charCodeAt(0).toString(16).padStart(2, '0')}`;
}
