'use strict';
// dist/bundle/boot.cjs: what bin/sendmail runs.  It loads postern.cjs (the
// command, one CommonJS file) through V8's code cache, postern.cjs.cache,
// made at build time by one warm-up run: the functions every start runs
// (command line, sendmail.cf reader) are then not compiled again at each of
// the thousands of starts cron and PHP make.  A cache V8 refuses (another
// Node, another build) or a missing one only costs the compile it would save.
const { readFileSync, renameSync, writeFileSync } = require('fs');
const { join } = require('path');
const { Script } = require('vm');
const Module = require('module');

const file = join(__dirname, 'postern.cjs');
const cacheFile = `${file}.cache`;
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
if (process.env.POSTERN_BUILD_CODE_CACHE === cacheFile) {
  // the build's warm-up run: keep what it compiled, once the command is done
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
script.runInThisContext()(module_.exports, Module.createRequire(file), module_, file, __dirname);
