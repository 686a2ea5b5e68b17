/**
 * Files a configuration is read from besides the .cf itself: the class
 * files of F lines, and /etc/services for a port given by name.  While
 * frozen.ts freezes a parse it notes each of them, because a frozen
 * configuration is good only while every one still reads the same.
 */
import { readFileSync } from 'node:fs';

export interface Inputs {
  /** each file read, with its text, or null when it did not exist */
  readonly files: Map<string, string | null>;
  /** something was read that the record cannot hold (an error other than a missing file, a cached look-up) */
  unfreezable: boolean;
}

let recording: Inputs | null = null;

/** readFileSync(path, 'utf8'), noted when a parse is being recorded. */
export function readInput(path: string): string {
  try {
    const text = readFileSync(path, 'utf8');
    recording?.files.set(path, text);
    return text;
  } catch (e) {
    if (recording !== null) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') recording.files.set(path, null);
      else recording.unfreezable = true;
    }
    throw e;
  }
}

/** A parse that depends on something not read through readInput() cannot be frozen. */
export function noteUnrecordedInput(): void {
  if (recording !== null) recording.unfreezable = true;
}

/** Runs `parse` and returns what it returned with the files it read. */
export function recordInputs<T>(parse: () => T): { result: T; inputs: Inputs } {
  const outer = recording;
  const inputs: Inputs = { files: new Map(), unfreezable: false };
  recording = inputs;
  try {
    return { result: parse(), inputs };
  } finally {
    recording = outer;
  }
}
