// Runs every compiled test file (dist/test/**/*.test.js) with node:test.
// Files are listed explicitly so that helper modules under test/ are never
// taken for tests.  Extra arguments narrow the run to paths containing them:
//   node scripts/run-tests.mjs cmdline config
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const testRoot = join(root, 'dist', 'test');

function* testFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* testFiles(path);
    else if (entry.name.endsWith('.test.js')) yield path;
  }
}

const filters = process.argv.slice(2);
const files = [...testFiles(testRoot)]
  .filter((f) => filters.length === 0 || filters.some((word) => relative(testRoot, f).includes(word)))
  .sort();
if (files.length === 0) {
  console.error(`no test files under ${testRoot} match ${filters.join(' ')}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit', cwd: root });
process.exit(result.status ?? 1);
