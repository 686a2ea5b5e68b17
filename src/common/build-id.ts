/**
 * A digest of the sources, set by scripts/build.mjs in the bundles (undefined
 * in tsc's output): a frozen configuration (src/config/frozen.ts) is good for
 * the build that made it only.
 */
declare const __POSTERN_BUILD_ID__: string | undefined;

export const BUILD_ID = typeof __POSTERN_BUILD_ID__ === 'string' ? __POSTERN_BUILD_ID__ : undefined;
