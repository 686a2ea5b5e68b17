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

/**
 * An envelope address as sendmail's MTA receives it from the MSP: submit.cf's
 * relay mailer adds @$j to a bare user name (`alice` → `<alice@mx.example.test>`
 * in the MTA's qf, its log and mailq; measured with 8.17).  The null sender,
 * qualified addresses and anything that is not a plain name (`|prog`, `/file`,
 * `"quoted"`, `Unknown UID n`) are left as they are.
 */
export function qualifiedEnvelopeAddress(address: string, domain: string): string {
  return /^[A-Za-z0-9!#$%&'*+=?^_`{}~.-]+$/.test(address) ? `${address}@${domain}` : address;
}
