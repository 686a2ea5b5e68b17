/**
 * The caller's ~/dead.letter, where sendmail's MSP saves a message some of
 * whose recipients were refused for good (measured with 8.17: `sendmail
 * nosuch` as alice appends `From alice <ctime>`, the headers as the MSP
 * made them, the body and an empty line to /home/alice/dead.letter, mode
 * 0600, and prints `/home/alice/dead.letter... Saved message in
 * /home/alice/dead.letter` on standard output).
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ctime } from '../common/ctime.js';
import { errnoText } from '../config/values.js';
import { lookupUser } from '../privsep/passwd.js';
import type { Caller } from './permissions.js';

/** Appends `message` (starting `Return-Path: <sender>`) to the caller's dead.letter; the line to print. */
export function saveDeadLetter(message: Buffer, caller: Caller, now = new Date()): string {
  const home = lookupUser(caller.uid)?.home ?? process.env['HOME'] ?? '/';
  const path = join(home, 'dead.letter');
  const sender = /^Return-Path: <(.*)>\n/.exec(message.subarray(0, 1024).toString('latin1'))?.[1] ?? caller.name;
  try {
    const fd = openSync(path, 'a', 0o600);
    try {
      writeSync(fd, Buffer.from(`From ${sender || 'MAILER-DAEMON'} ${ctime(now)}\n`, 'latin1'));
      writeSync(fd, message);
      writeSync(fd, Buffer.from(message.length > 0 && message[message.length - 1] !== 0x0a ? '\n\n' : '\n'));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    return `${path}: cannot save the message: ${errnoText(e)}`;
  }
  return `${path}... Saved message in ${path}`;
}
