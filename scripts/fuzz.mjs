// `npm run fuzz [count] [seed]`: the SMTP engine against random and mutated
// sessions (test/helpers/smtp-fuzz.ts), 100,000 by default.  Prints the
// failures with the seed that replays each.  Needs `npm run build` first.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { runFuzz } = await import(join(root, 'dist/test/helpers/smtp-fuzz.js'));
const count = Number(process.argv[2] ?? 100_000);
const seed = Number(process.argv[3] ?? 1);
const summary = await runFuzz({ count, seed, concurrency: 24, progress: (n) => process.stderr.write(`\r${n} of ${count}`) });
process.stderr.write('\n');
console.log(`${summary.inputs} inputs from seed ${seed} in ${summary.seconds.toFixed(0)} s: ${summary.failures.length} failures${summary.serverCrashed ? ', THE ENGINE CRASHED' : ''}`);
for (const f of summary.failures.slice(0, 20)) console.log(`  seed ${f.seed}: ${f.problem}`);
process.exit(summary.failures.length === 0 && !summary.serverCrashed ? 0 : 1);
