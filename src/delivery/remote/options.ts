/**
 * RemoteOptions from a loaded sendmail.cf: $j (or HeloName) for EHLO, class w
 * for loop detection, the S macro, the mailertable map, Timeout.*, the
 * 8-bit, TLS and connection-cache options, the mailers' ports, and the
 * access and authinfo maps' per-server policy.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { SystemIdentity } from '../../common/identity.js';
import type { Config } from '../../config/index.js';
import { openMap } from '../../maps/index.js';
import { localDomains } from '../route.js';
import { mailertablePath } from './routing.js';
import { serverPolicyFromConfig } from './server-policy.js';
import type { HostStatusOptions, KeyLookup, RemoteOptions } from './types.js';

/** A macro's value when it needs no run-time expansion; undefined otherwise. */
function plainMacro(config: Config, name: string): string | undefined {
  const v = config.macros.get(name);
  return v !== undefined && !v.includes('$') ? v : undefined;
}

/**
 * Opens the mailertable named by the cf's Kmailertable line.  A map that
 * cannot be opened is reported through `onProblem` and treated as empty, as
 * sendmail treats an optional (-o) map.
 */
export function openMailertable(config: Config, onProblem?: (text: string) => void): KeyLookup | null {
  const path = mailertablePath(config);
  if (path === undefined) return null;
  try {
    return openMap(path);
  } catch (e) {
    onProblem?.(`mailertable ${path}: ${e instanceof Error ? e.message : String(e)}`);
    return null;
  }
}

export function remoteOptionsFromConfig(config: Config, identity: SystemIdentity, onProblem?: (text: string) => void): RemoteOptions {
  const o = config.options;
  let ca: string | undefined;
  if (o.CACertFile) {
    try {
      ca = readFileSync(o.CACertFile, 'utf8');
    } catch (e) {
      onProblem?.(`CACertFile ${o.CACertFile}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return {
    heloName: o.HeloName ?? plainMacro(config, 'j') ?? identity.canonicalName,
    localNames: localDomains(config, identity),
    smartHost: plainMacro(config, 'S') ?? null,
    fallbackMxHost: o.FallbackMXhost,
    mailertable: openMailertable(config, onProblem),
    timeouts: o.Timeout,
    eightBitMode: o.EightBitMode,
    defaultCharset: o.DefaultCharSet,
    tryNullMxList: o.TryNullMXList,
    tlsFallbackToClear: o.TLSFallbacktoClear,
    ...(ca !== undefined ? { caCertificates: ca } : {}),
    connectionCacheSize: o.ConnectionCacheSize,
    connectionCacheTimeout: o.ConnectionCacheTimeout,
    hostStatus: hostStatusOptions(config),
    mailerPorts: mailerPorts(config),
    serverPolicy: serverPolicyFromConfig(config, onProblem),
    authMechanisms: o.AuthMechanisms,
    authParamOnlyWhenAuthenticated: o.AuthOptions.has('A'),
  };
}

/** Ports of IPC mailers whose argument vector names one, as `A=TCP $h 587` does (RELAY_MAILER_ARGS). */
export function mailerPorts(config: Config): Map<string, number> {
  const ports = new Map<string, number>();
  for (const m of config.mailers.values()) {
    const [kind, , port] = m.argv;
    if (m.path === '[IPC]' && kind?.toUpperCase() === 'TCP' && port !== undefined && /^\d+$/.test(port)) ports.set(m.name, Number(port));
  }
  return ports;
}

/**
 * HostStatusDirectory as sendmail uses it: a relative name is taken in the
 * queue directory, where sendmail has changed directory by then.
 */
export function hostStatusDirectory(config: Config): string | null {
  const o = config.options;
  if (o.HostStatusDirectory === null || o.HostStatusDirectory === '') return null;
  if (isAbsolute(o.HostStatusDirectory)) return o.HostStatusDirectory;
  if (o.QueueDirectory === null || o.QueueDirectory === '') return null;
  // a queue-group wildcard (/var/spool/mqueue/q*) names its parent directory
  const queue = o.QueueDirectory.endsWith('*') ? o.QueueDirectory.slice(0, o.QueueDirectory.lastIndexOf('/') + 1) : o.QueueDirectory;
  return resolve(queue, o.HostStatusDirectory);
}

function hostStatusOptions(config: Config): HostStatusOptions | null {
  const directory = hostStatusDirectory(config);
  if (directory === null) return null;
  const ignoredByMailers = new Set([...config.mailers.values()].filter((m) => m.flags.has('W')).map((m) => m.name));
  return { directory, timeout: config.options.Timeout.hoststatus, fileMode: config.options.TempFileMode, ignoredByMailers };
}
