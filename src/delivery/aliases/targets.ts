/**
 * The right-hand side of an alias (or a .forward / :include: line): a list
 * split on commas, as sendmail's sendtolist splits it, and what each item
 * is.  A comma inside double quotes, angle brackets or a comment does not
 * split: `"|/usr/bin/prog a,b", bob` is two items.
 */
import { lastAtOutsideQuotes, stripComments } from '../../common/address-text.js';

export type AliasTarget =
  /** A mail address: a local name (`domain` undefined) or name@domain. */
  | { readonly kind: 'address'; readonly address: string; readonly local: string; readonly domain: string | undefined; readonly noAlias: boolean }
  /** `|command` or `"|command with args"`: the command without the bar. */
  | { readonly kind: 'program'; readonly command: string }
  /** `/path`: append the message to the file. */
  | { readonly kind: 'file'; readonly path: string }
  /** `:include:/path`: the addresses listed in that file. */
  | { readonly kind: 'include'; readonly path: string }
  /** `error:5.1.1:550 text`, `error:nouser text`, `error:text`: fail with that. */
  | { readonly kind: 'error'; readonly status: string | undefined; readonly keyword: string | undefined; readonly text: string };

/** Splits a list on the commas that separate addresses; empty items are dropped. */
export function splitAddressList(list: string): string[] {
  const items: string[] = [];
  let quoted = false;
  let comment = 0;
  let angle = 0;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c === '\\') {
      i++;
    } else if (quoted) {
      if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
    } else if (c === '(') {
      comment++;
    } else if (c === ')' && comment > 0) {
      comment--;
    } else if (comment === 0 && c === '<') {
      angle++;
    } else if (comment === 0 && c === '>' && angle > 0) {
      angle--;
    } else if (c === ',' && comment === 0 && angle === 0) {
      items.push(list.slice(start, i));
      start = i + 1;
    }
  }
  items.push(list.slice(start));
  return items.map((s) => s.trim()).filter((s) => s !== '');
}

function unquoteWhole(s: string): string {
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s;
}

/** What one item of a list is. */
export function classifyTarget(item: string): AliasTarget {
  const raw = item.trim();
  if (/^:include:/i.test(raw)) return { kind: 'include', path: raw.slice(':include:'.length).trim() };
  const unquoted = unquoteWhole(raw);
  if (unquoted.startsWith('|')) return { kind: 'program', command: unquoted.slice(1) };
  if (unquoted.startsWith('/')) return { kind: 'file', path: unquoted };
  if (/^error:/i.test(raw)) return errorTarget(raw.slice('error:'.length));
  let address = stripComments(raw).trim();
  const lt = address.lastIndexOf('<');
  const gt = address.lastIndexOf('>');
  if (lt >= 0 && gt > lt) address = address.slice(lt + 1, gt).trim();
  const noAlias = address.startsWith('\\');
  if (noAlias) address = address.slice(1);
  const at = lastAtOutsideQuotes(address);
  const domain = at < 0 ? undefined : address.slice(at + 1).toLowerCase().replace(/\.$/, '');
  let local = at < 0 ? address : address.slice(0, at);
  const inner = unquoteWhole(local);
  if (inner !== local && !/[\s"\\()<>@,;:[\]]/.test(inner) && inner !== '') local = inner;
  return { kind: 'address', address, local, domain: domain === '' ? undefined : domain, noAlias };
}

/** The forms the stock sendmail.cf accepts (proto.m4's `error:` rules). */
function errorTarget(rest: string): AliasTarget {
  const dsn = /^\s*(\d\.\d{1,3}\.\d{1,3}):(.*)$/s.exec(rest);
  if (dsn !== null) return { kind: 'error', status: dsn[1], keyword: undefined, text: dsn[2]!.trim() };
  const keyword = /^\s*(\S+)\s+(.*)$/s.exec(rest);
  if (keyword !== null) return { kind: 'error', status: undefined, keyword: unquoteWhole(keyword[1]!), text: keyword[2]!.trim() };
  return { kind: 'error', status: undefined, keyword: undefined, text: rest.trim() };
}

/** The name aliases are looked up under: the local part, lower-cased (ASCII). */
export function aliasKey(local: string): string {
  return local.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}
