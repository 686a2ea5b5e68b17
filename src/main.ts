import { basename } from 'node:path';
import { main } from './msp/main.js';

// The launcher passes the caller's argv[0] as node's own argv[0]; when run as
// `node dist/bundle/postern.cjs` directly, the script path stands in for it.
// (No top-level await: the command is bundled as CommonJS, see scripts/build.mjs.)
async function run(): Promise<void> {
  const argv0 = basename(process.argv0) === 'node' ? (process.argv[1] ?? 'sendmail') : process.argv0;
  if (basename(argv0) === 'smrsh') {
    const { smrshMain } = await import('./delivery/smrsh/main.js');
    process.exitCode = await smrshMain(argv0, process.argv.slice(2));
  } else if (basename(argv0) === 'makemap') {
    const { makemapMain } = await import('./maps/makemap.js');
    process.exitCode = await makemapMain(argv0, process.argv.slice(2));
  } else {
    process.exitCode = await main(argv0, process.argv.slice(2));
  }
}

void run();
