/**
 * The table of dist/bundle/submit.cjs, the bundle bin/sendmail starts by
 * default: only the submission (-bm, -t).  Why a bundle of its own: a start
 * reads, deserialises and initialises the whole bundle it runs, and the
 * submission needs about a third of the command (measured: 4 ms of the
 * 15 ms a `sendmail -t` spent beyond Node's own start were the bundle's
 * load and top-level code).
 */
import { deliverMode } from './deliver-mode.js';
import type { ModeTable } from './mode-table.js';

/** What scripts/boot.cjs leaves for a bundle that needs another: runs dist/bundle/<name>.cjs through its code cache. */
const RUN_BUNDLE = Symbol.for('postern.runBundle');

export const SUBMISSION_MODES: ModeTable = {
  covers: (mode) => mode === 'deliver',
  run: deliverMode,
  handOver,
};

function handOver(): Promise<number> {
  const runBundle = (globalThis as { [RUN_BUNDLE]?: (name: string) => void })[RUN_BUNDLE];
  // started as `node dist/bundle/submit.cjs`, without the boot file: the plain loader
  // (node:module is loaded only then: it took 0.4 ms of every start)
  if (runBundle === undefined) process.getBuiltinModule('node:module').createRequire(import.meta.filename)('./postern.cjs');
  else runBundle('postern');
  // the whole command now runs from the same process.argv and sets the exit status when it is done
  return new Promise<number>(() => undefined);
}
