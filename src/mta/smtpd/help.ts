/**
 * HELP, answered from sendmail's help file (HelpFile, /etc/mail/helpfile):
 * lines `topic<TAB>text`; a `#vers 2` file has its $-macros expanded; the
 * topic is matched as a prefix of the line, in lower case, as sendmail does.
 */
import { readFileSync } from 'node:fs';
import { expandMacros } from '../../config/index.js';
import { POSTERN_VERSION } from '../../msp/modes.js';
import { formatMultiline } from './replies.js';

/** The reply lines (CRLF included) to `HELP topic`. */
export function helpReply(helpFile: string | null, topic: string, macros: (name: string) => string | undefined): string {
  let text: string | undefined;
  try {
    if (helpFile !== null) text = readFileSync(helpFile, 'latin1');
  } catch {
    text = undefined;
  }
  if (text === undefined) return formatMultiline(502, '5.3.0', [`Postern ${POSTERN_VERSION} -- HELP not implemented`]);
  const asked = topic.trim() !== '';
  const key = asked ? topic.trim().toLowerCase() : 'smtp';
  let version = -1;
  const lines: string[] = [];
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#')) {
      const m = /^#vers\s+(\d+)/.exec(raw);
      if (m !== null && version < 0) version = Number(m[1]);
      continue;
    }
    if (!raw.startsWith(key)) continue;
    if (lines.length === 0 && version < 2 && !asked) lines.push(`This is Postern version ${POSTERN_VERSION}`);
    const sep = raw.search(/[ \t]/);
    let body = sep < 0 ? '' : raw.slice(sep + 1);
    body = body.replace(/\r$/, '');
    if (version >= 2) body = expandMacros(body, macros);
    lines.push(body);
  }
  if (lines.length === 0) {
    return asked ? formatMultiline(504, '5.3.0', [`HELP topic "${key.slice(0, 10)}" unknown`]) : formatMultiline(214, '2.0.0', ['End of HELP info']);
  }
  return formatMultiline(214, '2.0.0', [...lines, 'End of HELP info']);
}
