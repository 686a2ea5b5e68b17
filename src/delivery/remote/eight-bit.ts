/**
 * An 8-bit message for a peer that does not offer 8BITMIME, as sendmail's
 * mime8to7 treats it: every MIME leaf part holding 8-bit bytes is re-encoded,
 * text as quoted-printable and everything else as base64, through multipart
 * and message/rfc822 nesting.  A message without MIME-Version goes as it is
 * under EightBitMode=pass8 (sendmail's default), is made a quoted-printable
 * text/plain under mimify, and is refused under strict.
 *
 * The message is held whole while converting: this runs only for the rare
 * 8-bit message to a 7-bit peer, and MIME structure cannot be rewritten in
 * a single forward pass without knowing each part's end.
 */
import type { EightBitMode } from '../../config/types.js';

export type Conversion =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'converted'; readonly message: Buffer }
  | { readonly kind: 'refused' };

export function has8bit(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) if (data[i]! >= 0x80) return true;
  return false;
}

interface Entity {
  /** Header lines, each with its continuation lines, without line ends. */
  readonly headers: string[];
  readonly body: Buffer;
}

const CRLF = Buffer.from('\r\n');

/** Splits at the first empty line; header text is latin1 so that bytes survive the round trip. */
function parseEntity(data: Buffer): Entity {
  const text = data.toString('latin1');
  const m = /\r?\n\r?\n/.exec(text);
  const headerText = m === null ? text : text.slice(0, m.index);
  const bodyStart = m === null ? data.length : m.index + m[0].length;
  const headers: string[] = [];
  for (const line of headerText.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && headers.length > 0) headers[headers.length - 1] += `\r\n${line}`;
    else if (line !== '') headers.push(line);
  }
  return { headers, body: data.subarray(bodyStart) };
}

function header(entity: Entity, name: string): string | undefined {
  const prefix = `${name.toLowerCase()}:`;
  const h = entity.headers.find((l) => l.toLowerCase().startsWith(prefix));
  return h?.slice(prefix.length).replace(/\r\n/g, '').trim();
}

function contentType(entity: Entity): { type: string; boundary?: string } {
  const value = header(entity, 'Content-Type') ?? 'text/plain';
  const type = (value.split(';')[0] ?? '').trim().toLowerCase() || 'text/plain';
  const b = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(value);
  const boundary = b?.[1] ?? b?.[2];
  return boundary !== undefined ? { type, boundary } : { type };
}

function serialise(headers: readonly string[], body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(headers.map((h) => `${h}\r\n`).join(''), 'latin1'), CRLF, body]);
}

function withEncoding(headers: readonly string[], encoding: string): string[] {
  const kept = headers.filter((h) => !h.toLowerCase().startsWith('content-transfer-encoding:'));
  return [...kept, `Content-Transfer-Encoding: ${encoding}`];
}

/** RFC 2045 quoted-printable, lines of at most 76 characters, CRLF line ends. */
export function quotedPrintable(data: Buffer): Buffer {
  const out: string[] = [];
  const lines = data.toString('latin1').split(/\r?\n/);
  // a final line end leaves an empty last element: it is not a line of its own
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    let encoded = '';
    let width = 0;
    for (let i = 0; i < line.length; i++) {
      const code = line.charCodeAt(i);
      const last = i === line.length - 1;
      const literal = (code >= 33 && code <= 126 && code !== 61) || ((code === 32 || code === 9) && !last);
      const piece = literal ? line[i]! : `=${code.toString(16).toUpperCase().padStart(2, '0')}`;
      if (width + piece.length > 75) {
        encoded += '=\r\n';
        width = 0;
      }
      encoded += piece;
      width += piece.length;
    }
    out.push(encoded);
  }
  return Buffer.from(out.map((l) => `${l}\r\n`).join(''), 'latin1');
}

function base64Lines(data: Buffer): Buffer {
  const b64 = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1');
}

/** Splits a multipart body at its boundary lines, each kept byte for byte: preamble, delimiter + part pairs, and the closing line with the epilogue. */
function splitMultipart(body: Buffer, boundary: string): { preamble: Buffer; delimiters: Buffer[]; parts: Buffer[]; epilogue: Buffer } | undefined {
  const text = body.toString('latin1');
  const delimiter = new RegExp(`(^|\\r?\\n)--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(--)?[ \\t]*(?=\\r?\\n|$)`, 'g');
  const marks: { start: number; end: number; closing: boolean }[] = [];
  for (let m = delimiter.exec(text); m !== null; m = delimiter.exec(text)) {
    marks.push({ start: m.index, end: m.index + m[0].length, closing: m[2] === '--' });
    if (m[2] === '--') break;
  }
  if (marks.length < 2) return undefined;
  const lineEnd = (pos: number) => (text.startsWith('\r\n', pos) ? pos + 2 : text.startsWith('\n', pos) ? pos + 1 : pos);
  const parts: Buffer[] = [];
  const delimiters: Buffer[] = [];
  for (let i = 0; i + 1 < marks.length; i++) {
    const bodyStart = lineEnd(marks[i]!.end);
    delimiters.push(body.subarray(marks[i]!.start, bodyStart));
    parts.push(body.subarray(bodyStart, marks[i + 1]!.start));
  }
  const last = marks[marks.length - 1]!;
  return { preamble: body.subarray(0, marks[0]!.start), delimiters, parts, epilogue: body.subarray(last.start) };
}

function convertEntity(entity: Entity): Buffer {
  const { type, boundary } = contentType(entity);
  if (type.startsWith('multipart/') && boundary !== undefined) {
    const split = splitMultipart(entity.body, boundary);
    if (split !== undefined) {
      const pieces: Buffer[] = [split.preamble];
      for (const [i, part] of split.parts.entries()) {
        pieces.push(split.delimiters[i]!);
        if (!has8bit(part)) {
          pieces.push(part);
          continue;
        }
        // the line end before the next delimiter belongs to the delimiter, not to the part
        const converted = convertEntity(parseEntity(part));
        pieces.push(converted.subarray(0, converted.length - (converted.subarray(-2).equals(CRLF) ? 2 : 0)));
      }
      pieces.push(split.epilogue);
      return serialise(entity.headers, Buffer.concat(pieces));
    }
  }
  if (type === 'message/rfc822' && has8bit(entity.body)) {
    return serialise(withEncoding(entity.headers, '7bit'), convertEntity(parseEntity(entity.body)));
  }
  if (!has8bit(entity.body)) return serialise(entity.headers, entity.body);
  if (type.startsWith('text/')) return serialise(withEncoding(entity.headers, 'quoted-printable'), quotedPrintable(entity.body));
  return serialise(withEncoding(entity.headers, 'base64'), base64Lines(entity.body));
}

/** What to send to a peer without 8BITMIME. */
export function convertTo7bit(message: Buffer, mode: EightBitMode, defaultCharset?: string | null): Conversion {
  if (!has8bit(message)) return { kind: 'unchanged' };
  const entity = parseEntity(message);
  if (header(entity, 'MIME-Version') === undefined) {
    if (mode === 'pass8') return { kind: 'unchanged' };
    if (mode === 'strict') return { kind: 'refused' };
    const headers = [
      ...entity.headers.filter((h) => !/^content-(type|transfer-encoding):/i.test(h)),
      'MIME-Version: 1.0',
      `Content-Type: text/plain; charset=${defaultCharset || 'unknown-8bit'}`,
    ];
    return { kind: 'converted', message: crlf(serialise(withEncoding(headers, 'quoted-printable'), quotedPrintable(entity.body))) };
  }
  return { kind: 'converted', message: crlf(convertEntity(entity)) };
}

/** One line-end convention for the whole message: parts left alone keep theirs otherwise. */
function crlf(data: Buffer): Buffer {
  return Buffer.from(data.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}
