import { basename } from 'node:path';
import { main } from './msp/main.js';

// The launcher passes the caller's argv[0] as node's own argv[0]; when run as
// `node dist/bundle/postern.cjs` directly, the script path stands in for it.
// (No top-level await: the command is bundled as CommonJS, see scripts/build.mjs.)
const argv0 = basename(process.argv0) === 'node' ? (process.argv[1] ?? 'sendmail') : process.argv0;

async function run(): Promise<void> {
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

// An error nothing else caught is a bug: said in one line and EX_SOFTWARE, not a stack trace
// in cron's mail (POSTERN_DEBUG=1 shows the stack).
run().catch((e: unknown) => {
  process.stderr.write(`${argv0}: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
  if (process.env['POSTERN_DEBUG'] === '1' && e instanceof Error) process.stderr.write(`${e.stack ?? ''}\n`);
  process.exitCode = 70;
});
