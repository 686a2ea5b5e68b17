#!/usr/bin/env node
// The SMTP AUTH credential file's manager (src/mta/auth/passwd-command.ts):
//   npm run passwd -- add USER      (the password is read from standard input)
//   npm run passwd -- delete USER
//   npm run passwd -- list
// Runs the compiled code under dist/src (npm run build makes it).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist/src/mta/auth/passwd-command.js');
if (!existsSync(entry)) {
  process.stderr.write(`postern-passwd: ${entry} is missing; run npm run build first\n`);
  process.exit(70);
}
const { passwdMain, readPasswordFromStdin } = await import(pathToFileURL(entry).href);
const status = await passwdMain(process.argv.slice(2), {
  readPassword: readPasswordFromStdin,
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
  euid: process.geteuid?.() ?? 0,
});
process.exit(status);
