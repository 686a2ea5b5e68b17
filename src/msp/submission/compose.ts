/**
 * The header text sendmail's MSP (submit.cf) adds, in its form:
 *   arpaDate()       RFC 5322 date as sendmail's arpadate() writes it
 *   gecosFullName()  the passwd GECOS field as a full name (sm_pwfullname)
 *   quoteFullName()  a -F name with specials in quotes (main.c's rfc822_string/addquotes)
 *   fromHeaderValue() `$x <$g>` after sendmail's crackaddr quoting of the phrase
 */

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/**
 * `Sun, 22 Nov 2026 08:44:54 GMT` when local time is UTC, otherwise
 * `Mon, 2 Jan 2023 10:00:00 +0100 (CET)`: the day of the month without a
 * leading zero (taken from ctime), the numeric offset, the zone's
 * abbreviation in parentheses when there is one.
 */
export function arpaDate(when: Date, zoneName?: string): string {
  const off = -when.getTimezoneOffset();
  const base =
    `${DAYS[when.getDay()]}, ${when.getDate()} ${MONTHS[when.getMonth()]} ${when.getFullYear()} ` +
    `${two(when.getHours())}:${two(when.getMinutes())}:${two(when.getSeconds())}`;
  if (off === 0) return `${base} GMT`;
  const abs = Math.min(Math.abs(off), 23 * 60 + 59);
  const name = zoneName ?? localZoneName(when);
  const zone = name !== undefined && name !== '' ? ` (${name})` : '';
  return `${base} ${off < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}${two(abs % 60)}${zone}`;
}

/** The C library's tm_zone for the local zone: "CET", "EST", or "+03" for zones without a name. */
let zoneFormat: Intl.DateTimeFormat | undefined;

export function localZoneName(when: Date): string | undefined {
  try {
    // one formatter for the process: making one costs more than the rest of a Date header
    zoneFormat ??= new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
    const part = zoneFormat.formatToParts(when).find((p) => p.type === 'timeZoneName');
    if (part === undefined) return undefined;
    const gmt = /^(?:GMT|UTC)([+-])(\d{1,2})(?::(\d\d))?$/.exec(part.value);
    if (gmt === null) return part.value;
    return `${gmt[1]}${gmt[2]!.padStart(2, '0')}${gmt[3] ?? ''}`;
  } catch {
    return undefined;
  }
}

/** `YYYYMMDDhhmm` in UTC: sendmail's $t, the start of its Message-Id. */
export function numericTime(when: Date): string {
  return `${when.getUTCFullYear()}${two(when.getUTCMonth() + 1)}${two(when.getUTCDate())}${two(when.getUTCHours())}${two(when.getUTCMinutes())}`;
}

/**
 * The full name in a GECOS field: a leading `*` dropped, up to the first
 * `,` `;` or `%`, each `&` replaced by the login name with its first letter
 * in capitals.  Longer than sendmail's buffer (255): the login name.
 */
export function gecosFullName(gecos: string, login: string): string {
  let g = gecos.startsWith('*') ? gecos.slice(1) : gecos;
  const stop = g.search(/[,;%]/);
  if (stop >= 0) g = g.slice(0, stop);
  const name = g.replace(/&/g, login.charAt(0).toUpperCase() + login.slice(1));
  return name.length > 255 ? login : name;
}

/** sendmail's MustQuoteChars default. */
const MUST_QUOTE = "@,;:\\()[].'";

/** sendmail's rfc822_string(): balanced quotes and comments, no specials outside them. */
export function isRfc822String(s: string): boolean {
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      i++;
      if (i >= s.length) return false;
    } else if (depth === 0 && c === '"') {
      quoted = !quoted;
    } else if (!quoted) {
      if (c === ')') {
        if (depth === 0) return false;
        depth--;
      } else if (c === '(') {
        depth++;
      } else if (depth === 0 && MUST_QUOTE.includes(c)) {
        return false;
      }
    }
  }
  return !quoted && depth === 0;
}

/** `"..."` around s, with `\` and `"` escaped (sendmail's addquotes). */
export function addQuotes(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => '\\' + c)}"`;
}

/** A -F full name as sendmail keeps it: newlines folded away, quoted when it has specials. */
export function quoteFullName(name: string): string {
  const flat = name.replace(/\r?\n[ \t]*/g, ' ');
  return isRfc822String(flat) ? flat : addQuotes(flat);
}

/**
 * The From: header sendmail's MSP writes: `$x <$g>`, or `$g` alone without
 * a full name.  Like crackaddr(), the phrase is put in quotes (only `"`
 * escaped) when it has a special character outside quotes and comments or
 * an angle bracket of its own.
 */
export function fromHeaderValue(fullName: string | undefined, sender: string): string {
  if (fullName === undefined || fullName === '') return sender;
  return `${needsPhraseQuotes(fullName) ? `"${fullName.replace(/"/g, '\\"')}"` : fullName} <${sender}>`;
}

function needsPhraseQuotes(phrase: string): boolean {
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < phrase.length; i++) {
    const c = phrase[i]!;
    if (c === '\\') {
      if (depth === 0 && !quoted) return true;
      i++;
    } else if (quoted) {
      if (c === '"') quoted = false;
    } else if (c === '"' && depth === 0) {
      quoted = true;
    } else if (c === '(') {
      depth++;
    } else if (c === ')') {
      if (depth === 0) return true;
      depth--;
    } else if (depth === 0 && (MUST_QUOTE.includes(c) || c === '<' || c === '>')) {
      return true;
    }
  }
  return false;
}
