/**
 * Where a command's messages go.  sendmail writes user errors to standard
 * output and getopt's complaints to standard error; in daemon modes its
 * errors take the form of SMTP replies.  Writes are synchronous so that the
 * order of the two streams is the order of events, as with sendmail's
 * unbuffered stdio, and nothing is lost when the process exits.
 */
import { writeSync } from 'node:fs';
import type { Diagnostic } from './cmdline/invocation.js';

export interface Output {
  stdout(line: string): void;
  stderr(line: string): void;
}

function writeAll(fd: number, text: string): void {
  const data = Buffer.from(text);
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(fd, data, offset);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') return;
      throw e;
    }
  }
}

export const processOutput: Output = {
  stdout: (line) => writeAll(1, `${line}\n`),
  stderr: (line) => writeAll(2, `${line}\n`),
};

/** Text that already ends its lines, such as a listing. */
export function writeRaw(out: Output, text: string): void {
  const lines = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (lines !== '') for (const line of lines.split('\n')) out.stdout(line);
}

export function emit(out: Output, diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) out[d.stream](d.text);
}
