/**
 * RFC 5322 address lists as found in To/Cc/Bcc headers and on the command
 * line: `a@b, Name <c@d>, "quoted local"@e, group: f@g, h@i;, (comment) j`.
 * Returns the addr-specs (what sendmail queues): comments and folding
 * white space dropped, quoted strings kept as written, source routes kept.
 * Lenient like sendmail: an address without a domain is a local name.
 */

/** Splits an address list into its addresses (groups flattened, empty groups give nothing). */
export function parseAddressList(text: string): string[] {
  const out: string[] = [];
  const tokens = tokenize(text.replace(/\r?\n/g, ''));
  let current: Token[] = [];
  let inGroup = false;
  const flush = () => {
    const a = mailbox(current);
    if (a !== '') out.push(a);
    current = [];
  };
  for (const t of tokens) {
    if (t.kind === 'special' && t.text === ',') {
      flush();
    } else if (t.kind === 'special' && t.text === ':' && !inGroup && !current.some((c) => c.kind === 'special' && c.text === '<')) {
      current = []; // the group's display name
      inGroup = true;
    } else if (t.kind === 'special' && t.text === ';' && inGroup) {
      flush();
      inGroup = false;
    } else {
      current.push(t);
    }
  }
  flush();
  return out;
}

interface Token {
  readonly kind: 'atom' | 'quoted' | 'special' | 'literal';
  readonly text: string;
}

function tokenize(s: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '(') {
      let depth = 0;
      for (; i < s.length; i++) {
        if (s[i] === '\\') i++;
        else if (s[i] === '(') depth++;
        else if (s[i] === ')' && --depth === 0) break;
      }
      i++;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < s.length && s[j] !== '"'; j++) if (s[j] === '\\') j++;
      tokens.push({ kind: 'quoted', text: s.slice(i, j + 1) });
      i = j + 1;
    } else if (c === '[') {
      const j = s.indexOf(']', i);
      const end = j < 0 ? s.length : j + 1;
      tokens.push({ kind: 'literal', text: s.slice(i, end) });
      i = end;
    } else if ('<>@,;:.'.includes(c)) {
      tokens.push({ kind: 'special', text: c });
      i++;
    } else {
      let j = i;
      while (j < s.length && !' \t()"[<>@,;:.'.includes(s[j]!)) j++;
      tokens.push({ kind: 'atom', text: s.slice(i, j) });
      i = j;
    }
  }
  return tokens;
}

/** One mailbox's tokens → its addr-spec: the part in angle brackets when there is one. */
function mailbox(tokens: Token[]): string {
  const open = tokens.findIndex((t) => t.kind === 'special' && t.text === '<');
  let spec = tokens;
  if (open >= 0) {
    const close = tokens.findIndex((t, n) => n > open && t.kind === 'special' && t.text === '>');
    spec = tokens.slice(open + 1, close < 0 ? tokens.length : close);
  }
  return spec
    .filter((t) => !(t.kind === 'special' && (t.text === '<' || t.text === '>')))
    .map((t) => t.text)
    .join('');
}

/** Same address for sendmail's purposes: the domain compared without regard to case. */
export function addressKey(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : address.slice(0, at) + address.slice(at).toLowerCase();
}

/** A user name sendmail's MSP qualifies: an atom or dot-atom without a domain (not `|prog`, `/file`, `"quoted"`, `Unknown UID n`). */
const BARE_NAME = /^[A-Za-z0-9!#$%&'*+=?^_`{}~.-]+$/;

/**
 * An address with this host's names made canonical as sendmail's MSP and
 * MTA make them (ruleset 96, Canonify2): a bare user name gets @$j, and so
 * does one at `localhost`, `localhost.$m`, `localhost.UUCP` or the loopback
 * literal (measured with 8.17: `alice`, `alice@localhost`,
 * `Bob@LocalHost.example.test`, `dave@localhost.uucp` and
 * `alice@[127.0.0.1]` all reach the MTA at mx.example.test).  The user part
 * keeps its case.  Undefined when the address is not one of these.
 */
export function canonicalLocalAddress(address: string, domain: string): string | undefined {
  if (BARE_NAME.test(address)) return `${address}@${domain}`;
  const at = address.lastIndexOf('@');
  if (at <= 0 || !BARE_NAME.test(address.slice(0, at))) return undefined;
  const host = address.slice(at + 1).toLowerCase();
  const parent = domain.includes('.') ? domain.slice(domain.indexOf('.') + 1).toLowerCase() : '';
  const self = ['localhost', 'localhost.uucp', '[127.0.0.1]', '[ipv6:::1]', ...(parent !== '' ? [`localhost.${parent}`] : [])];
  return self.includes(host) ? `${address.slice(0, at)}@${domain}` : undefined;
}

/**
 * An envelope address as sendmail's MTA receives it from the MSP (its qf,
 * log and mailq): angle brackets gone, `<>` the null sender (''), this
 * host's names canonical (canonicalLocalAddress); anything else as it was.
 */
export function qualifiedEnvelopeAddress(address: string, domain: string): string {
  const bare = address.trim().replace(/^<(.*)>$/, '$1');
  return canonicalLocalAddress(bare, domain) ?? bare;
}
