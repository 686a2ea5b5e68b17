// Builds what `npm install` leaves runnable: dist/ (tsc), the bundled entry
// point dist/bundle/postern.cjs (esbuild), and bin/ (the native launcher under
// every name sendmail answers to).  The native addon and launcher themselves
// are compiled by node-gyp in the package's "install" script.
import { execFileSync, spawnSync } from 'node:child_process';
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

const common = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  outExtension: { '.js': '.mjs' },
  sourcemap: 'linked',
  logLevel: 'warning',
};

async function bundle() {
  rmSync(join(root, 'dist/bundle'), { recursive: true, force: true });
  // The command, as one CommonJS file.  cron and PHP start it for every
  // message, and Node's ESM loader costs a resolve, a read and a compile per
  // module (measured: about 30 ms more than this single file under load);
  // esbuild turns its dynamic imports into lazily run closures, so a mode's
  // code runs only when that mode does.  import.meta.url becomes the file's URL.
  await build({
    ...common,
    entryPoints: [join(root, 'src/main.ts')],
    outfile: join(root, 'dist/bundle/postern.cjs'),
    format: 'cjs',
    outExtension: undefined,
    define: { 'import.meta.url': '__postern_import_meta_url' },
    banner: { js: "var __postern_import_meta_url = require('url').pathToFileURL(__filename).href;" },
  });
  copyFileSync(join(root, 'scripts/boot.cjs'), join(root, 'dist/bundle/boot.cjs'));
  codeCache();
  // Each process or thread the command starts (found by entryPoint()): one file apiece.
  await build({
    ...common,
    entryPoints: {
      smtpd: join(root, 'src/mta/worker-main.ts'),
      'queue-db': join(root, 'src/queue/db-worker.ts'),
      broker: join(root, 'src/delivery/broker/main.ts'),
      runner: join(root, 'src/queue/runner-main.ts'),
      'as-user-agent': join(root, 'src/delivery/as-user/agent.ts'),
    },
    outdir: join(root, 'dist/bundle'),
    splitting: false,
  });
}

/**
 * The command's V8 code cache (see scripts/boot.cjs): one warm-up run that
 * reads submit.cf and parses a command line, as every submission does, then
 * stops (-bv is not built, and writes nothing anywhere).
 */
function codeCache() {
  const cache = join(root, 'dist/bundle/postern.cjs.cache');
  spawnSync(process.execPath, [join(root, 'dist/bundle/boot.cjs'), '-C', join(root, 'conf/submit.cf'), '-bv', 'root'], {
    env: { PATH: '/usr/bin:/bin', POSTERN_BUILD_CODE_CACHE: cache },
    stdio: 'ignore',
  });
  if (!existsSync(cache)) console.warn(`build: no code cache was made (${cache}); bin/sendmail works without it, a little slower`);
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
