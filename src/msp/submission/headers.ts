/** Header fields of a message as read, kept as written (continuation lines included). */

export interface Header {
  /** the field name as written */
  readonly name: string;
  /** the name in lower case */
  readonly lname: string;
  /** the whole field as it will be stored: `Name: value\n` with its continuation lines */
  readonly text: string;
}

/** The header names sendmail counts as hops (conf.c's H_TRACE headers). */
export const TRACE_HEADERS: ReadonlySet<string> = new Set(['received', 'x400-received', 'via', 'mail-from']);

/** Groups header lines (each ending in LF) into fields. */
export function parseHeaders(lines: readonly string[]): Array<Header & { readonly value: string }> {
  const out: Array<Header & { value: string }> = [];
  for (const line of lines) {
    const last = out[out.length - 1];
    if (/^[ \t]/.test(line) && last !== undefined) {
      out[out.length - 1] = { ...last, text: last.text + line, value: last.value + line.replace(/\n$/, '') };
      continue;
    }
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).replace(/[ \t]+$/, '');
    out.push({ name, lname: name.toLowerCase(), text: line, value: line.slice(colon + 1).replace(/\n$/, '') });
  }
  return out;
}
