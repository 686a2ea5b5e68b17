/**
 * The text of a .forward file or an :include: list, as sendmail's include()
 * reads it: one comma-separated list per line (the aliases file's list
 * syntax), lines starting with `#` and empty lines skipped, and ` #@# `
 * starting a comment anywhere (sendmail's marker for files in Japanese
 * encodings, where a plain `#` may be part of a character).
 */
import { classifyTarget, splitAddressList, type AliasTarget } from '../aliases/index.js';

export interface ListItem {
  /** as written in the file */
  readonly text: string;
  readonly target: AliasTarget;
  readonly line: number;
}

function stripJapaneseComment(line: string): string {
  const m = /[ \t]#@#(?:[ \t]|$)/.exec(line);
  return m === null ? line : line.slice(0, m.index).replace(/[ \t]+$/, '');
}

export function parseListText(text: string): ListItem[] {
  const items: ListItem[] = [];
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = stripJapaneseComment(raw.replace(/\r$/, ''));
    if (line === '' || line.startsWith('#')) continue;
    for (const item of splitAddressList(line)) items.push({ text: item, target: classifyTarget(item), line: i + 1 });
  }
  return items;
}
