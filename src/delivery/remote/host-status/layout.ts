/**
 * Where sendmail 8.17 keeps a host's status: the name's labels reversed,
 * each directory label with a trailing dot, the host's own label as the
 * file (mx.example.net → DIR/net./example./mx, [192.0.2.1] →
 * DIR/1./2./0./192).  Names are lower-cased and `/` becomes `:`.  Entries
 * whose names start with a dot are not host status (sendmail skips them),
 * which is where temporary files go.
 */
import { isIP } from 'node:net';
import { join, relative, sep } from 'node:path';

/** MAXHOSTNAMELEN and MAXPATHLEN of Linux, as sendmail is built there. */
const MAX_HOST = 256;
const MAX_PATH = 4096;

/** The labels of the path for `host`, root first; undefined for a name sendmail keeps no status for. */
export function hostStatusLabels(host: string): string[] | undefined {
  if (host === '' || host.startsWith('.') || host.length > MAX_HOST - 1) return undefined;
  const bracketed = host.startsWith('[');
  let name = bracketed ? host.slice(1) : host;
  // trailing dots, and the closing bracket of a literal, are not part of the name
  name = name.replace(bracketed ? /[.\]]+$/ : /\.+$/, '');
  if (bracketed) {
    const v6 = /^ipv6:/i.test(name) ? name.slice(5) : name;
    if (isIP(name) !== 4 && isIP(v6) !== 6) return undefined;
  }
  if (name === '' || name.includes('..')) return undefined;
  const labels = name.split('.').reverse().map((l) => l.toLowerCase().replace(/\//g, ':'));
  return labels.map((l, i) => (i < labels.length - 1 ? `${l}.` : l));
}

/** The status file of `host` under `root`, or undefined when sendmail would keep none. */
export function hostStatusPath(root: string, host: string): string | undefined {
  const labels = hostStatusLabels(host);
  if (labels === undefined) return undefined;
  const path = join(root, ...labels);
  return path.length < MAX_PATH ? path : undefined;
}

/**
 * The host a status file stands for, read back from its path as sendmail
 * does: the file's label, then each directory above it that ends in a dot.
 */
export function hostFromPath(root: string, path: string): string {
  const parts = relative(root, path).split(sep);
  const host: string[] = [];
  const last = parts.pop()!;
  host.push(last.endsWith('.') ? last.slice(0, -1) : last);
  while (parts.length > 0 && parts[parts.length - 1]!.endsWith('.')) host.push(parts.pop()!.slice(0, -1));
  return host.join('.');
}
