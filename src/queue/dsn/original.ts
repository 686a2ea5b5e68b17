/**
 * The original message inside a report, streamed: its header block is read
 * first (the report's own headers depend on its Content-Transfer-Encoding),
 * then, when the body is returned, the rest passes through chunk by chunk.
 * Nothing holds more than the header block and one chunk.
 */

const NL_DASHES = Buffer.from('\n--');

/** Header blocks longer than this are cut at a line end (sendmail's own limit, MaxHeadersLength, is 32 KiB). */
const MAX_HEADER_BYTES = 1 << 20;

export interface OpenedOriginal {
  /** the header lines, each ending in a line feed, without the blank line after them */
  readonly header: Buffer;
  /** whether a blank line and a body (possibly empty) follow the header */
  readonly hasBody: boolean;
  /** the body: what was read past the blank line, then the rest of the source */
  body(): AsyncGenerator<Buffer>;
  /** stops reading (headers-only reports), releasing the source */
  close(): Promise<void>;
}

/** Index just past the blank line that ends the header at or after `from`, and where the header ends; null if not yet seen. */
function headerEnd(buf: Buffer, from: number): { headerEnd: number; bodyStart: number } | null {
  if (buf.length > 0 && (buf[0] === 0x0a || (buf[0] === 0x0d && buf[1] === 0x0a))) {
    return { headerEnd: 0, bodyStart: buf[0] === 0x0a ? 1 : 2 };
  }
  for (let i = buf.indexOf(0x0a, Math.max(0, from - 1)); i >= 0; i = buf.indexOf(0x0a, i + 1)) {
    const next = buf[i + 1];
    if (next === 0x0a) return { headerEnd: i + 1, bodyStart: i + 2 };
    if (next === 0x0d && buf[i + 2] === 0x0a) return { headerEnd: i + 1, bodyStart: i + 3 };
  }
  return null;
}

/** Reads the original's header block from `source`; the body stays unread until asked for. */
export async function openOriginal(source: AsyncIterable<Buffer | string>): Promise<OpenedOriginal> {
  const it = source[Symbol.asyncIterator]();
  let acc: Buffer = Buffer.alloc(0);
  let found: { headerEnd: number; bodyStart: number } | null = null;
  let ended = false;
  while (found === null) {
    const r = await it.next();
    if (r.done === true) {
      ended = true;
      break;
    }
    const chunk = typeof r.value === 'string' ? Buffer.from(r.value, 'latin1') : r.value;
    const from = acc.length;
    acc = acc.length === 0 ? chunk : Buffer.concat([acc, chunk]);
    found = headerEnd(acc, from);
    if (found === null && acc.length > MAX_HEADER_BYTES) break;
  }
  let header: Buffer;
  let rest: Buffer;
  if (found !== null) {
    header = acc.subarray(0, found.headerEnd);
    rest = acc.subarray(found.bodyStart);
  } else if (ended) {
    // no blank line: all header (a message without a body)
    header = acc.length > 0 && acc[acc.length - 1] !== 0x0a ? Buffer.concat([acc, Buffer.from('\n')]) : acc;
    rest = Buffer.alloc(0);
  } else {
    // an endless header: cut at the last line end, the remainder counts as body
    const cut = acc.lastIndexOf(0x0a, MAX_HEADER_BYTES) + 1;
    header = acc.subarray(0, cut);
    rest = acc.subarray(cut);
  }
  let closed = false;
  return {
    header,
    hasBody: !ended || found !== null,
    async *body(): AsyncGenerator<Buffer> {
      if (rest.length > 0) yield rest;
      rest = Buffer.alloc(0);
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done === true) break;
        yield typeof r.value === 'string' ? Buffer.from(r.value, 'latin1') : r.value;
      }
      ended = true;
    },
    async close(): Promise<void> {
      if (closed || ended) return;
      closed = true;
      await it.return?.();
    },
  };
}

/** An unfolded header field's value from a header block (first occurrence), or undefined. */
export function headerValue(header: Buffer, name: string): string | undefined {
  const lines = header.toString('latin1').split('\n');
  const want = `${name.toLowerCase()}:`;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.toLowerCase().startsWith(want)) continue;
    let v = lines[i]!.slice(want.length);
    while (i + 1 < lines.length && /^[ \t]/.test(lines[i + 1]!)) v += lines[++i];
    return v.replace(/\r/g, '').trim();
  }
  return undefined;
}

/**
 * The body with every line that starts with `--boundary` shifted by a space,
 * as sendmail's putbody() does, so that the original cannot end the report's
 * MIME part early; the last line gets its line feed if it had none.
 * A null boundary (plain-text reports) only does the latter.
 */
export async function* guardBoundary(body: AsyncIterable<Buffer>, boundary: string | null): AsyncGenerator<Buffer> {
  if (boundary === null) {
    let end = 0x0a;
    for await (const chunk of body) {
      if (chunk.length === 0) continue;
      end = chunk[chunk.length - 1]!;
      yield chunk;
    }
    if (end !== 0x0a) yield Buffer.from('\n');
    return;
  }
  const marker = Buffer.from(`--${boundary}`, 'latin1');
  const space = Buffer.from(' ');
  let atLineStart = true;
  let carry = Buffer.alloc(0);
  let last = 0x0a;
  for await (const chunk of body) {
    if (chunk.length === 0) continue;
    const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    carry = Buffer.alloc(0);
    const pieces: Buffer[] = [];
    let emitted = 0;
    const shiftIfMarker = (at: number): void => {
      if (buf.length - at >= marker.length && buf.compare(marker, 0, marker.length, at, at + marker.length) === 0) {
        pieces.push(buf.subarray(emitted, at), space);
        emitted = at;
      }
    };
    if (atLineStart) shiftIfMarker(0);
    // only lines that start with "--" can be the boundary: let indexOf find them
    for (let i = buf.indexOf(NL_DASHES); i >= 0; i = buf.indexOf(NL_DASHES, i + 1)) shiftIfMarker(i + 1);
    const lastNl = buf.lastIndexOf(0x0a);
    const lastStart = lastNl >= 0 ? lastNl + 1 : atLineStart ? 0 : -1;
    const left = buf.length - lastStart;
    if (lastStart >= 0 && left > 0 && left < marker.length && marker.subarray(0, left).equals(buf.subarray(lastStart))) {
      // too short to tell yet: decide when the next chunk comes
      carry = Buffer.from(buf.subarray(lastStart));
    }
    const end = buf.length - carry.length;
    pieces.push(buf.subarray(emitted, end));
    if (end > 0) last = buf[end - 1]!;
    atLineStart = carry.length > 0 || last === 0x0a;
    for (const p of pieces) if (p.length > 0) yield p;
  }
  if (carry.length > 0) {
    yield carry;
    last = carry[carry.length - 1]!;
  }
  if (last !== 0x0a) yield Buffer.from('\n');
}
