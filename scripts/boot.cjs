'use strict';
// dist/bundle/boot.cjs: what bin/sendmail runs.  It runs one of the two
// bundles of the command, each one CommonJS file, through V8's code cache
// (<bundle>.cjs.cache), made at build time by one warm-up run: the
// functions every start runs (command line, configuration reader) are then
// not compiled again at each of the thousands of starts cron and PHP make.
// A cache V8 refuses (another Node, another build) or a missing one only
// costs the compile it would save.
//   submit.cjs   the submission (-bm, -t): what cron and PHP start
//   postern.cjs  the whole command, which the submission bundle hands every other mode to
const { readFileSync, renameSync, writeFileSync } = require('fs');
const { basename, join } = require('path');
const { Script } = require('vm');

// Names only the whole command answers to.  The submission bundle would hand
// them over too (it decides from the parsed command line); this spares them its start.
const WHOLE_COMMAND_NAMES = new Set(['mailq', 'newaliases', 'hoststat', 'purgestat', 'smrsh', 'makemap']);

function runBundle(name) {
  const file = join(__dirname, `${name}.cjs`);
  const cacheFile = `${file}.cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  // Module.wrap()'s text, without loading node:module (0.4 ms of a start); latin1: the
  // bundles are ASCII (esbuild escapes the rest), and this decodes without a scan
  const source = `(function (exports, require, module, __filename, __dirname) { ${readFileSync(file, 'latin1')}\n});`;
  const script = new Script(source, { filename: file, cachedData });
  if (process.env.POSTERN_BUILD_CODE_CACHE === cacheFile) {
    // the build's warm-up run: keep what it compiled, once the command is done (a
    // finished submission ends by _exit(2), after emitting 'exit': src/msp/exit-at-once.ts)
    process.on('exit', () => {
      try {
        writeFileSync(`${cacheFile}.tmp`, script.createCachedData());
        renameSync(`${cacheFile}.tmp`, cacheFile);
      } catch (e) {
        process.stderr.write(`boot: cannot write ${cacheFile}: ${e.message}\n`);
      }
    });
  }
  const module_ = { exports: {} };
  // the bundles sit beside this file, so its require() resolves for them as their own would
  script.runInThisContext()(module_.exports, require, module_, file, __dirname);
}

globalThis[Symbol.for('postern.runBundle')] = runBundle;
runBundle(WHOLE_COMMAND_NAMES.has(basename(process.argv0)) ? 'postern' : 'submit');
