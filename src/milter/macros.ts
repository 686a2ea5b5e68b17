/**
 * The macros sent before each stage (SMFIC_MACRO).  Which ones: the
 * filter's own list when it asked for one at OPTNEG (smfi_setsymlist),
 * else `Milter.macros.<stage>`, else what sendmail's m4 (cfhead.m4) puts in
 * every sendmail.cf that defines a filter: the sendmail binary itself has
 * no default, so a hand-written .cf without these options sends none, but
 * every generated one does, and filters (opendkim: `i`, `j`,
 * `{daemon_name}`, `{auth_type}`) count on them.
 */
import type { MilterOptions } from '../config/types.js';
import { cstrings, SMFIC, type MacroStage } from './protocol.js';

/** cfhead.m4's confMILTER_MACROS_* (sendmail 8.17). */
export const DEFAULT_MILTER_MACROS: Readonly<Record<MacroStage, readonly string[]>> = Object.freeze({
  connect: ['j', '_', '{daemon_name}', '{if_name}', '{if_addr}'],
  helo: ['{tls_version}', '{cipher}', '{cipher_bits}', '{cert_subject}', '{cert_issuer}'],
  envfrom: ['i', '{auth_type}', '{auth_authen}', '{auth_ssf}', '{auth_author}', '{mail_mailer}', '{mail_host}', '{mail_addr}'],
  envrcpt: ['{rcpt_mailer}', '{rcpt_host}', '{rcpt_addr}'],
  data: [],
  eoh: [],
  eom: ['{msg_id}'],
});

/** The command a stage's macros are sent with. */
export const STAGE_COMMAND: Readonly<Record<MacroStage, string>> = Object.freeze({
  connect: SMFIC.CONNECT,
  helo: SMFIC.HELO,
  envfrom: SMFIC.MAIL,
  envrcpt: SMFIC.RCPT,
  data: SMFIC.DATA,
  eoh: SMFIC.EOH,
  eom: SMFIC.BODYEOB,
});

/** The lists in force for the MTA: the configuration's, or the m4 defaults where it sets none. */
export function configuredMacros(options: MilterOptions | undefined): Record<MacroStage, readonly string[]> {
  const out = {} as Record<MacroStage, readonly string[]>;
  for (const stage of Object.keys(DEFAULT_MILTER_MACROS) as MacroStage[]) {
    out[stage] = options?.macros[stage] ?? DEFAULT_MILTER_MACROS[stage];
  }
  return out;
}

/**
 * The macro's name for lookups: `{daemon_name}` → `daemon_name`, `j` → `j`.
 * sendmail's macid() treats `{x}` as `x`, and so do we.
 */
export function macroKey(written: string): string {
  return written.length > 2 && written.startsWith('{') && written.endsWith('}') ? written.slice(1, -1) : written;
}

/** Looks up a macro's current value (undefined: not set, and not sent). */
export type MacroLookup = (name: string) => string | undefined;

/**
 * The SMFIC_MACRO data: the command the macros belong to, then name and
 * value pairs for the macros that have a value.  An empty list sends
 * nothing; a list whose macros are all unset still sends the command
 * letter alone, as milter_send_macros does.
 */
export function macroPacketData(stage: MacroStage, names: readonly string[], lookup: MacroLookup): Buffer | null {
  if (names.length === 0) return null;
  const parts: string[] = [];
  for (const name of names) {
    const value = lookup(macroKey(name));
    if (value === undefined) continue;
    parts.push(name, value);
  }
  return Buffer.concat([Buffer.from(STAGE_COMMAND[stage], 'latin1'), cstrings(...parts)]);
}
