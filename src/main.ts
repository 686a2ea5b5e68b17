// The whole command: every mode of sendmail and its other names (see
// src/submit-main.ts for the bundle bin/sendmail starts first).
// (No top-level await: the command is bundled as CommonJS, see scripts/build.mjs.)
import { basename } from 'node:path';
import { ALL_MODES } from './msp/all-modes.js';
import { main } from './msp/main.js';
import { runCommand } from './msp/run-command.js';

runCommand(async (argv0, args) => {
  if (basename(argv0) === 'smrsh') {
    const { smrshMain } = await import('./delivery/smrsh/main.js');
    return smrshMain(argv0, args);
  }
  if (basename(argv0) === 'makemap') {
    const { makemapMain } = await import('./maps/makemap.js');
    return makemapMain(argv0, args);
  }
  return main(argv0, args, ALL_MODES);
});
