// Queue commit throughput: messages committed per second with 1, 10 and 50
// concurrent submitters of 4 KB messages, and how many fsync'd transactions
// (group commits) that took.  Run after `npm run build`:
//   node bench/queue-commit.mjs [seconds-per-run]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { openQueue } = await import(pathToFileURL(join(root, 'dist/src/queue/index.js')).href);

const seconds = Number(process.argv[2] ?? 3);
const body = Buffer.alloc(4096, 'x');
const envelope = () => ({
  sender: 'bench@example.org',
  recipients: [{ address: 'rcpt@example.net', state: 'pending' }],
  hopCount: 0,
  relay: 'localhost [127.0.0.1]',
  arrival: Date.now(),
});

console.log(`queue commit bench, 4 KB messages, ${seconds} s per run, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}, dir ${tmpdir()}`);
for (const submitters of [1, 10, 50]) {
  const dir = mkdtempSync(join(tmpdir(), 'postern-bench-queue-'));
  const q = await openQueue({ dir });
  const end = Date.now() + seconds * 1000;
  const started = process.hrtime.bigint();
  let done = 0;
  await Promise.all(
    Array.from({ length: submitters }, async () => {
      while (Date.now() < end) {
        await q.accept(envelope(), [body]);
        done++;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const { commits, dirSyncs, largestBatch } = q.stats;
  console.log(
    `${String(submitters).padStart(2)} submitters: ${(done / elapsed).toFixed(0).padStart(6)} msg/s  ${done} messages in ${commits} transactions (${dirSyncs} directory fsyncs, ${(done / Math.max(commits, 1)).toFixed(1)} msg/transaction, largest ${largestBatch})`,
  );
  await q.close();
  rmSync(dir, { recursive: true, force: true });
}
