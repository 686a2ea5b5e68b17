/**
 * The package's root directory (where package.json is), found by walking up
 * from a module's own path, because Postern's modules run from three places
 * at different depths: dist/src/** (tsc), dist/bundle/ and
 * dist/bundle/chunks/ (esbuild).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRootFrom(path: string): string {
  for (let dir = dirname(path); ; ) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${path}`);
    dir = up;
  }
}

let cached: string | undefined;

export function packageRoot(): string {
  cached ??= packageRootFrom(import.meta.filename);
  return cached;
}

/**
 * The file of a separately started entry point (a worker process or thread):
 * `dist/bundle/<bundleName>.mjs` when the caller itself runs from the bundle
 * (esbuild moved it into a chunk, where a path relative to the source file
 * means nothing), otherwise the tsc output next to the caller.
 */
export function entryPoint(callerUrl: string, bundleName: string, relativeToCaller: string): URL {
  if (fileURLToPath(callerUrl).includes('/dist/bundle/')) {
    return new URL(`file://${join(packageRoot(), 'dist', 'bundle', `${bundleName}.mjs`)}`);
  }
  return new URL(relativeToCaller, callerUrl);
}
