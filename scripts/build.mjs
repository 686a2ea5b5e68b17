// Builds what `npm install` leaves runnable: dist/ (tsc), the bundled command
// dist/bundle/{submit,postern}.cjs and the other bundles (esbuild), and bin/
// (the native launcher under every name sendmail answers to).  The native addon and launcher themselves
// are compiled by node-gyp in the package's "install" script.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
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
  // The command, as two CommonJS files: submit.cjs (the submission, -bm and
  // -t) and postern.cjs (everything; submit.cjs hands it every other mode).
  // cron and PHP start the command for every message, and Node's ESM loader
  // costs a resolve, a read and a compile per module (measured: about 30 ms
  // more than one file under load); a start also reads, deserialises and
  // initialises all of the file it runs, so the submission has one of its own
  // (src/msp/submission-modes.ts).  esbuild turns dynamic imports into lazily
  // run closures, so a mode's code runs only when that mode does.
  // import.meta.url becomes the file's URL, worked out on first use (node:url's
  // pathToFileURL took 0.5 ms of every start, and a submission seldom asks).
  await build({
    ...common,
    entryPoints: { postern: join(root, 'src/main.ts'), submit: join(root, 'src/submit-main.ts') },
    outdir: join(root, 'dist/bundle'),
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    charset: 'ascii',
    define: {
      'import.meta.url': '__postern_import_meta.url',
      'import.meta.filename': '__filename',
      __POSTERN_BUILD_ID__: JSON.stringify(sourceDigest()),
    },
    banner: { js: "var __postern_import_meta = { get url() { return require('url').pathToFileURL(__filename).href; } };" },
  });
  copyFileSync(join(root, 'scripts/boot.cjs'), join(root, 'dist/bundle/boot.cjs'));
  codeCaches();
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

/** Identifies the build: a frozen configuration (src/config/frozen.ts) made by another is not used. */
function sourceDigest() {
  const hash = createHash('sha256');
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'build') walk(path);
      } else if (/\.(ts|c|h)$/.test(entry.name)) {
        hash.update(`${path}\0`).update(readFileSync(path)).update('\0');
      }
    }
  };
  walk(join(root, 'src'));
  return hash.digest('hex').slice(0, 32);
}

/**
 * The bundles' V8 code caches (see scripts/boot.cjs), each made by a warm-up
 * run of what most starts of it do.  postern.cjs: reads submit.cf and parses
 * a command line, then stops (-bv is not built, and writes nothing anywhere).
 * submit.cjs: a whole `sendmail -t` whose daemon socket and client queue do
 * not exist, so that it fails at the end having written nothing but, when
 * the build runs as root, the frozen submit.cf (src/config/frozen.ts) the
 * run before it left: the cache then holds what submissions do once root
 * has frozen /etc/mail/submit.cf.
 */
function codeCaches() {
  const warmUp = mkdtempSync(join(tmpdir(), 'postern-warm-up-'));
  try {
    const missing = join(warmUp, 'missing');
    const submitCf = join(warmUp, 'submit.cf');
    const text = readFileSync(join(root, 'conf/submit.cf'), 'utf8')
      .replace(/^D\{SubmitSocket\}.*$/m, `D{SubmitSocket}${missing}/submit.sock`)
      .replace(/^O QueueDirectory=.*$/m, `O QueueDirectory=${missing}`);
    writeFileSync(submitCf, text, { mode: 0o644 });
    const submission = ['-C', submitCf, '-t', '-i'];
    const runs = [
      ['postern', ['-C', join(root, 'conf/submit.cf'), '-bv', 'root'], ''],
      [null, submission, 'To: root\nSubject: warm-up\n\nwarm-up\n'],
      ['submit', submission, 'To: root\nSubject: warm-up\n\nwarm-up\n'],
    ];
    for (const [name, args, input] of runs) {
      const cache = name === null ? null : join(root, `dist/bundle/${name}.cjs.cache`);
      spawnSync(process.execPath, [join(root, 'dist/bundle/boot.cjs'), ...args], {
        env: { PATH: '/usr/bin:/bin', ...(cache === null ? {} : { POSTERN_BUILD_CODE_CACHE: cache }) },
        input,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      if (cache !== null && !existsSync(cache)) console.warn(`build: no code cache was made (${cache}); bin/sendmail works without it, a little slower`);
    }
    if (existsSync(missing)) throw new Error(`build: the warm-up submission wrote ${missing}`);
  } finally {
    rmSync(warmUp, { recursive: true, force: true });
  }
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
