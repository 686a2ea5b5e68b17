// Builds what `npm install` leaves runnable: dist/ (tsc), the bundled entry
// point dist/bundle/postern.mjs (esbuild), and bin/ (the native launcher under
// every name sendmail answers to).  The native addon and launcher themselves
// are compiled by node-gyp in the package's "install" script.
import { execFileSync } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const invocationNames = ['mailq', 'newaliases', 'hoststat', 'purgestat', 'smrsh', 'makemap'];

function typescript() {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], {
    stdio: 'inherit',
  });
}

async function bundle() {
  rmSync(join(root, 'dist/bundle'), { recursive: true, force: true });
  await build({
    // the command, and each process or thread it starts (found by entryPoint())
    entryPoints: {
      postern: join(root, 'src/main.ts'),
      smtpd: join(root, 'src/mta/worker-main.ts'),
      'queue-db': join(root, 'src/queue/db-worker.ts'),
      broker: join(root, 'src/delivery/broker/main.ts'),
      runner: join(root, 'src/queue/runner-main.ts'),
      'mailbox-agent': join(root, 'src/delivery/mailbox/agent.ts'),
    },
    outdir: join(root, 'dist/bundle'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    sourcemap: 'linked',
    metafile: false,
    logLevel: 'warning',
  });
}

function binaries() {
  const launcher = join(root, 'src/privsep/native/build/Release/postern-launch');
  if (!existsSync(launcher)) throw new Error(`${launcher} is missing: run npm install (node-gyp builds it)`);
  const bin = join(root, 'bin');
  mkdirSync(bin, { recursive: true });
  const sendmail = join(bin, 'sendmail');
  rmSync(sendmail, { force: true });
  copyFileSync(launcher, sendmail);
  chmodSync(sendmail, 0o755);
  for (const name of invocationNames) {
    const link = join(bin, name);
    rmSync(link, { force: true });
    symlinkSync('sendmail', link);
  }
}

// --bundle-only: the bundle and bin/ without the type check (while another change is half-way)
if (!process.argv.includes('--bundle-only')) typescript();
await bundle();
binaries();
