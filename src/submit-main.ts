// The submission: what bin/sendmail starts unless its name is one only the
// whole command answers to.  Every mode but -bm/-t is handed to
// dist/bundle/postern.cjs (src/main.ts) before anything is done.
import { basename } from 'node:path';
import { main } from './msp/main.js';
import { runCommand, STANDALONE_NAMES } from './msp/run-command.js';
import { SUBMISSION_MODES } from './msp/submission-modes.js';

runCommand((argv0, args) =>
  STANDALONE_NAMES.has(basename(argv0)) ? SUBMISSION_MODES.handOver() : main(argv0, args, SUBMISSION_MODES),
);
